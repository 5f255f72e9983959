"""The whole scaled arrangement on loopback: nginx in front of two Daphne processes, two
Celery workers, PostgreSQL, Redis and the S3 server. A browser on one Daphne sees what a
worker made of the stems uploaded through the other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import Page, expect

from projects import services
from projects.models import Analysis, Project, Role, Stem
from tests.browser.conftest import fighting, off_the_loop, open_room  # noqa: F401
from tests.scale.arrangement import Arrangement, requests_in

pytest_plugins = ["tests.s3fixture"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]
ARRANGEMENT_WORKERS = 2
SUGGESTION_TIMEOUT_MS = 120_000


def shared_project(alice, bob) -> Project:
    """alice's project, which bob may view."""

    def arrange() -> Project:
        project = services.project_create(user=alice, name="Night Drive")
        services.member_invite(
            user=alice, project_id=project.pk, who=bob.username, role=Role.VIEWER
        )
        return project

    return off_the_loop(arrange)


def test_a_worker_suggestion_for_stems_sent_to_one_daphne_reaches_a_browser_on_the_other(
    arranged: Arrangement,
    person: Callable[..., Page],
    fighting: list[Path],  # noqa: F811
    alice,
    bob,
):
    project = shared_project(alice, bob)
    uploader = open_room(person("alice", backend="a"), project.pk)
    viewer = open_room(person("bob", backend="b"), project.pk)

    uploader.locator("#file-input").set_input_files(fighting)

    card = viewer.locator('#suggestions-open .suggestion[data-code="masking.eq"]')
    expect(card).to_be_visible(timeout=SUGGESTION_TIMEOUT_MS)
    expect(card).to_contain_text("Make room for vocals: cut guitar")
    expect(card.locator(".measure")).to_contain_text("masking of vocals by guitar")
    assert_ran_on_workers(arranged, project)
    assert_stems_in_the_bucket(arranged, project)
    assert_each_person_used_their_daphne(arranged, project)


def job_pids(names: list[str]) -> set[int]:
    """The pids in job rows' worker names (``host:pid/n``)."""
    return {int(name.split("/")[0].rpartition(":")[2]) for name in names if name}


def assert_ran_on_workers(arranged: Arrangement, project: Project) -> None:
    """Every analysis and suggestion run was done by a Celery pool process, none by Daphne."""
    rows = Analysis.objects.filter(project=project)
    ran = job_pids(list(rows.values_list("worker", flat=True)))
    suggested = job_pids(list(rows.values_list("suggest_worker", flat=True)))
    daphnes = {server.child.pid for server in arranged.daphnes.values()}
    assert rows.count() == 3, "two stems and the mix"  # the mix finds the masking
    assert ran and suggested
    assert (ran | suggested) <= arranged.worker_pids(), (ran, suggested, arranged.worker_pids())
    assert not (ran | suggested) & daphnes


def assert_stems_in_the_bucket(arranged: Arrangement, project: Project) -> None:
    s3 = arranged.s3
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name=s3.region,
    )
    stems = Stem.objects.filter(project=project)
    assert sorted(stems.values_list("original_name", flat=True)) == ["guitar.wav", "vocals.wav"]
    for stem in stems:
        stored = client.head_object(Bucket=s3.bucket, Key=stem.file.name)
        assert stored["ContentLength"] == stem.size_bytes


def assert_each_person_used_their_daphne(arranged: Arrangement, project: Project) -> None:
    """alice's upload went to Daphne A, bob's socket to Daphne B (their access logs)."""
    a, b = (arranged.daphnes[name].access() for name in ("a", "b"))
    upload, socket = f"/projects/{project.pk}/stems/", f"/ws/projects/{project.pk}/"
    assert len(requests_in(a, "POST", upload)) == 2 and not requests_in(b, "POST", upload)
    assert requests_in(b, "WSCONNECT", socket), b[-2000:]
    assert requests_in(a, "WSCONNECT", socket), a[-2000:]  # alice's own socket
