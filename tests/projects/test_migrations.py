"""Data migrations, run on rows as the migration before them left them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE, AFTER = ("projects", "0008_workers"), ("projects", "0009_mp3_analyses_again")


def migrate(target: tuple[str, str]):
    """Move the schema to ``target``; return the models as they are there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def stem(apps, project, name: str, format: str):
    return apps.get_model("projects", "Stem").objects.create(
        project=project,
        name=name,
        original_name=f"{name}.{format.lower()}",
        file=f"stems/{name}",
        format=format,
        subtype="PCM_16",
        sample_rate=44100,
        channels=2,
        frames=44100,
        duration_s=1.0,
        size_bytes=1000,
        checksum=name * 8,
    )


def test_analyses_of_mp3_stems_and_their_mixes_are_done_again():
    apps = migrate(BEFORE)
    user = apps.get_model("auth", "User").objects.create(username="alice")
    Project, Analysis = (
        apps.get_model("projects", "Project"),
        apps.get_model("projects", "Analysis"),
    )
    with_mp3, without = (
        Project.objects.create(name="A", owner=user),
        Project.objects.create(name="B", owner=user),
    )
    rows = {}
    for project, stems in (
        (with_mp3, (("vox", "MP3"), ("bass", "WAV"))),
        (without, (("keys", "FLAC"),)),
    ):
        for name, format in stems:
            made = stem(apps, project, name, format)
            rows[name] = Analysis.objects.create(
                project=project, stem=made, target=f"stem:{made.pk}", input_key=name, status="done"
            )
        rows[f"mix {project.name}"] = Analysis.objects.create(
            project=project, target="mix", input_key=project.name, status="done"
        )
    failed = stem(apps, with_mp3, "lead", "MP3")
    rows["lead"] = Analysis.objects.create(
        project=with_mp3, stem=failed, target=f"stem:{failed.pk}", input_key="x", status="failed"
    )

    apps = migrate(AFTER)
    status = {
        name: apps.get_model("projects", "Analysis").objects.get(pk=row.pk).status
        for name, row in rows.items()
    }
    assert status == {
        "vox": "queued",  # decoded with holes
        "bass": "done",
        "mix A": "queued",  # summed from the MP3 with holes
        "keys": "done",
        "mix B": "done",
        "lead": "failed",  # left to people, who see why it failed and may retry
    }
