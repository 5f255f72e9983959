"""Job-running processes beat; the running jobs of a process that stopped are queued
again, with the attempt counted and shown; a live process's jobs are left alone."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from projects import services, suggestions, versions, workers
from projects.models import Analysis, Event, JobStatus, MixVersion, WorkerBeat
from tests.conftest import upload_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def stem(project, alice, audio_file):
    path = audio_file("bass.wav", duration_s=1.0)
    return services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))


def dead_pid() -> int:
    """The pid of a process of this host that has just ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_the_jobs_of_a_live_process_are_left_alone(stem):
    name = workers.process_name()
    workers.beat(name)
    claimed = services.analysis_claim(worker=f"{name}/0")
    assert workers.recover(lease_s=30) == 0
    assert Analysis.objects.get(pk=claimed.pk).status == JobStatus.RUNNING


def test_a_process_that_stopped_beating_loses_its_jobs_after_the_lease(stem):
    other = "elsewhere.example:4242"
    workers.beat(other)
    claimed = services.analysis_claim(worker=f"{other}/1")
    assert workers.recover(lease_s=30) == 0  # still within its lease
    WorkerBeat.objects.filter(name=other).update(seen_at=timezone.now() - timedelta(seconds=31))
    assert workers.recover(lease_s=30) == 1
    row = Analysis.objects.get(pk=claimed.pk)
    assert row.status == JobStatus.QUEUED and row.attempts == 1
    queued = Event.objects.filter(type="analysis.queued").order_by("-seq").first()
    assert queued.payload["analysis"]["attempts"] == 1  # people see it tried before


def test_a_process_gone_from_this_host_loses_its_jobs_at_once(stem):
    name = f"{socket.gethostname()}:{dead_pid()}"
    workers.beat(name)  # it beat a moment ago, but its pid is gone
    services.analysis_claim(worker=f"{name}/0")
    assert workers.recover(lease_s=3600) == 1


def test_suggestion_runs_and_renders_are_recovered_too(project, alice, stem):
    gone = "gone.example:1/0"
    analysis = services.analysis_claim(worker="live.example:1/0")
    assert services.analysis_finish(analysis=analysis, report={}, summary={})
    run = suggestions.suggest_claim(worker=gone)
    version = versions.version_create(user=alice, project_id=project.pk, name="v", formats=["mp3"])
    versions.version_claim(worker=gone)
    workers.beat("live.example:1")
    assert workers.recover(lease_s=60) == 2
    assert Analysis.objects.get(pk=run.pk).suggest_status == JobStatus.QUEUED
    assert MixVersion.objects.get(pk=version.pk).status == JobStatus.QUEUED
    assert Event.objects.filter(type="version.queued").exists()


@pytest.mark.django_db(transaction=True)
def test_a_heart_beats_for_its_process(stem, settings):
    settings.STUDIO_WORKER_BEAT_S = 0.05
    woken = []
    heart = workers.Heart(on_recovered=lambda: woken.append(True)).start()
    try:
        first = WorkerBeat.objects.get(name=workers.process_name()).seen_at
        services.analysis_claim(worker="gone.example:2/0")
        deadline = timezone.now() + timedelta(seconds=5)
        while not woken and timezone.now() < deadline:
            heart.stopped.wait(0.05)
        assert woken  # it found the stopped process's job and said so
        assert WorkerBeat.objects.get(name=workers.process_name()).seen_at > first
    finally:
        heart.stop()
        heart.thread.join(timeout=5)
