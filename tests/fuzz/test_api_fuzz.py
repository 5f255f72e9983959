"""Fuzz the JSON API from its own OpenAPI document with schemathesis.

Every operation of /api/openapi.json gets generated requests, valid ones and ones that
break the schema, sent in-process through Django's WSGI application as alice (owner),
bob (editor), carol (commenter), victor (viewer), mallory (outsider), nobody, or a bogus
token. Path parameters mostly name rows that exist (a project with stems, analyses, a
queued version and a queued idea), so the requests reach the services rather than
stopping at "not found". Each case runs in a transaction rolled back afterwards, so a
deleted project does not starve the cases that follow.

No case may answer 5xx, and every answer must match the document (status code,
content type and body schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from projects import ideas, services, tasks, versions
from projects.models import Analysis, Suggestion
from studio.wsgi import application
from tests.conftest import upload_of
from tests.fuzz.budget import fuzz_settings, record, scaled

pytestmark = pytest.mark.django_db

SCHEMA = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PERSONAS = ("alice", "bob", "carol", "victor", "mallory", None, "bogus")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@dataclass
class World:
    """What the cases can name: API keys by persona and existing ids by path parameter."""

    keys: dict[str | None, str | None]
    ids: dict[str, list[Any]] = field(default_factory=dict)


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """Keep the test's database connection across requests, as Django's test client does:
    the WSGI handler would otherwise close it at every request's start and end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(project, alice, bob, carol, victor, mallory, audio_file) -> World:
    """alice's project with two analysed stems, a queued version and a queued idea."""
    for n, (name, hz) in enumerate((("bass", 110.0), ("keys", 440.0))):
        path = audio_file(f"{name}.wav", duration_s=2.0, frequency_hz=hz, seed=n)
        services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))
    while (claimed := services.analysis_claim(worker="fuzz")) is not None:
        tasks.run_analysis(claimed)
    version = versions.version_create(user=alice, project_id=project.pk, name="v1", formats=["wav"])
    idea = ideas.idea_request(user=alice, project_id=project.pk, kind="chords")
    others = services.project_create(user=mallory, name="Mallory's")
    people = {"alice": alice, "bob": bob, "carol": carol, "victor": victor, "mallory": mallory}
    keys: dict[str | None, str | None] = {
        name: services.token_create(user=user, name="fuzz")[1] for name, user in people.items()
    }
    keys[None] = None
    keys["bogus"] = "st_not-a-real-key"
    return World(
        keys=keys,
        ids={
            "project_id": [project.pk, others.pk],
            "stem_id": list(project.stems.values_list("pk", flat=True)),
            "user_id": [user.pk for user in people.values()],
            "analysis_id": list(
                Analysis.objects.filter(project=project).values_list("pk", flat=True)
            ),
            "suggestion_id": list(
                Suggestion.objects.filter(project=project).values_list("pk", flat=True)
            )
            or [1],
            "version_id": [version.pk],
            "idea_id": [idea.pk],
            "fmt": ["wav", "flac", "mp3", "ogg"],
        },
    )


@st.composite
def requests(draw: st.DrawFn, operation: Any, world: World) -> tuple[Any, str | None]:
    """A generated case of ``operation`` and the persona that sends it.

    Valid cases mostly name existing rows; cases that break the schema keep what was
    generated, so their broken path parameters reach the server as they are.
    """
    mode = draw(st.sampled_from(MODES))
    case = draw(operation.as_strategy(generation_mode=mode))
    if mode is GenerationMode.POSITIVE:
        for name in case.path_parameters or {}:
            known = world.ids.get(name)
            if known and draw(st.integers(0, 3)):
                case.path_parameters[name] = draw(st.sampled_from(known))
    return case, draw(st.sampled_from(PERSONAS))


def run_case(case: Any, key: str | None) -> None:
    """Send one case and check its answer; the changes it made are rolled back."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with transaction.atomic():
        response = case.call(headers=headers)
        record("api")
        case.validate_response(response, checks=CHECKS, headers=headers)
        transaction.set_rollback(True)


def fuzz_operation(operation: Any, world: World) -> None:
    @fuzz_settings(scaled(20))
    @given(request=requests(operation, world))
    def check(request: tuple[Any, str | None]) -> None:
        case, persona = request
        run_case(case, world.keys[persona])

    check()


def test_no_api_request_gets_a_server_error_or_breaks_the_document(
    world: World, wsgi_in_test_transaction: None
) -> None:
    failures: list[str] = []
    for operation in OPERATIONS:
        try:
            fuzz_operation(operation, world)
        except (Exception, BaseExceptionGroup) as error:  # report every operation's failure
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


def test_every_operation_of_the_document_is_fuzzed() -> None:
    assert len(OPERATIONS) >= 30
    assert {op.method.upper() for op in OPERATIONS} >= {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_only_members_read_the_project_through_the_fuzzing_transport(
    world: World, wsgi_in_test_transaction: None
) -> None:
    operation = SCHEMA["/api/projects/{project_id}"]["GET"]
    statuses = {}
    for persona, key in world.keys.items():
        case = operation.Case(path_parameters={"project_id": world.ids["project_id"][0]})
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        statuses[persona] = case.call(headers=headers).status_code
    assert statuses == {
        "alice": 200,
        "bob": 200,
        "carol": 200,
        "victor": 200,
        "mallory": 404,
        None: 401,
        "bogus": 401,
    }
