"""Separate job workers through the queue: work reaches them, and a worker killed in the
middle of an analysis or a render hands its job to another, which completes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from projects import services, versions
from projects.models import Analysis, Event, JobStatus, MixVersion, WorkerBeat
from studio.processing import decode
from tests.conftest import upload_of
from tests.scale.conftest import beating, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
RATE = 44100


@pytest.fixture
def long_stem(tmp_path: Path) -> Path:
    """Six minutes of a chord over noise: long enough to be caught mid-analysis."""
    t = np.arange(6 * 60 * RATE) / RATE
    rng = np.random.default_rng(1)
    tone = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 138.6, 164.8)) / 6
    signal = (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)[None, :]
    path = tmp_path / "long pad.wav"
    decode.write(path, signal, sample_rate=RATE, format="WAV", subtype="PCM_16")
    return path


def worker_of(row) -> int:
    """The pid of the process running a job row."""
    return int(row.worker.split("/")[0].rpartition(":")[2])


def test_a_worker_killed_mid_analysis_hands_the_job_to_another(
    start_worker, project, alice, long_stem
):
    first, second = start_worker("first"), start_worker("second")
    wait_for(beating(2), timeout_s=60, what="two workers beating", logs=[first, second])
    stem = services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(long_stem))

    def running() -> bool:
        row = Analysis.objects.get(stem=stem)
        return row.status == JobStatus.RUNNING and row.progress > 0.05

    wait_for(running, timeout_s=60, what="the analysis running", logs=[first, second])
    row = Analysis.objects.get(stem=stem)
    killed = worker_of(row)
    victim = first if _runs(first, row) else second
    survivor = second if victim is first else first
    victim.kill()

    def done() -> bool:
        return Analysis.objects.get(stem=stem).status == JobStatus.DONE

    wait_for(done, timeout_s=90, what="the analysis done by the other worker", logs=[survivor])
    row = Analysis.objects.get(stem=stem)
    assert row.attempts == 2 and worker_of(row) != killed
    requeued = Event.objects.filter(project=project, type="analysis.queued").order_by("seq")
    assert any(e.payload["analysis"]["attempts"] == 1 for e in requeued)  # seen as a retry


def _runs(worker, row) -> bool:
    """Whether ``row`` is run by the pool process of ``worker``."""
    listed = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children")
    children = listed.read_text().split() if listed.exists() else []
    return str(worker_of(row)) in children


def test_a_worker_killed_mid_render_hands_the_version_to_another(
    start_worker, project, alice, long_stem
):
    stem = services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(long_stem))
    first, second = start_worker("first"), start_worker("second")
    wait_for(beating(2), timeout_s=60, what="two workers beating", logs=[first, second])
    wait_for(
        lambda: Analysis.objects.filter(project=project, status=JobStatus.DONE).count() == 2,
        timeout_s=90,
        what="the stem and the mix analysed",
        logs=[first, second],
    )
    version = versions.version_create(
        user=alice, project_id=project.pk, name="Long", formats=["wav", "flac"]
    )

    def rendering() -> bool:
        row = MixVersion.objects.get(pk=version.pk)
        return row.status == JobStatus.RUNNING and row.progress > 0.05

    wait_for(rendering, timeout_s=60, what="the render running", logs=[first, second])
    row = MixVersion.objects.get(pk=version.pk)
    victim = first if _runs(first, row) else second
    survivor = second if victim is first else first
    victim.kill()
    wait_for(
        lambda: MixVersion.objects.get(pk=version.pk).status == JobStatus.DONE,
        timeout_s=90,
        what="the render done by the other worker",
        logs=[survivor],
    )
    row = MixVersion.objects.get(pk=version.pk)
    assert row.attempts == 2 and set(row.files) == {"wav", "flac"}
    assert stem.pk and WorkerBeat.objects.filter(name__endswith=f":{worker_of(row)}").exists()
