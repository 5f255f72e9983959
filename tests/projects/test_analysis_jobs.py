"""Analysis jobs: queued on upload, run by workers, reported live, failures as data."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client

from projects import jobs, services
from projects.errors import Conflict, Forbidden, NotFound
from projects.models import MIX_TARGET, Analysis, Event, JobStatus
from studio.processing import decode, synth
from studio.processing.analysis import run_in_worker
from tests.conftest import upload_of

pytestmark = pytest.mark.django_db

SUMMARY_KEYS = {
    "duration_s",
    "sample_rate",
    "channels",
    "tempo_bpm",
    "tempo_confidence",
    "beats_s",
    "key",
    "key_confidence",
    "integrated_lufs",
    "loudness_range_lu",
    "sample_peak_dbfs",
    "true_peak_dbtp",
    "crest_factor_db",
    "stereo_correlation",
    "stereo_width",
    "role",
    "momentary_max_lufs",
    "short_term_max_lufs",
    "issues",
}


@pytest.fixture(scope="module")
def song_stems(tmp_path_factory):
    """The drums and bass of a synthesised song in A minor at 100 BPM, as WAV files."""
    song = synth.compose_song(tonic=9, mode="minor", tempo_bpm=100.0, n_bars=8, seed=3)
    stems = synth.render_stems(song, sample_rate=44100)
    folder = tmp_path_factory.mktemp("song")
    paths = {}
    for part in ("drums", "bass"):
        paths[part] = folder / f"{part}.wav"
        decode.write(paths[part], stems[part], sample_rate=44100, format="WAV", subtype="PCM_24")
    return paths


def upload(project, user, path):
    return services.stem_upload(user=user, project_id=project.pk, upload=upload_of(path))


def types_after(project, seq: int) -> list[str]:
    rows = Event.objects.filter(project=project, seq__gt=seq).order_by("seq")
    return list(rows.values_list("type", flat=True))


def test_upload_queues_the_stem_and_the_mix(project, bob, song_stems):
    stem = upload(project, bob, song_stems["drums"])
    targets = dict(Analysis.objects.filter(project=project).values_list("target", "status"))
    assert targets == {f"stem:{stem.pk}": JobStatus.QUEUED, MIX_TARGET: JobStatus.QUEUED}
    assert types_after(project, 0).count("analysis.queued") == 2


def test_worker_analyses_stems_before_the_mix_and_logs_each_step(project, bob, song_stems):
    drums = upload(project, bob, song_stems["drums"])
    upload(project, bob, song_stems["bass"])
    project.refresh_from_db()
    seen = project.last_seq
    assert jobs.run_until_idle() == 6  # 3 analyses, each followed by its suggestion run
    analyses = {a.target: a for a in Analysis.objects.filter(project=project)}
    assert all(a.status == JobStatus.DONE for a in analyses.values())
    assert all(a.suggest_status == JobStatus.DONE for a in analyses.values())
    order = [
        e.payload["analysis"]["target"]
        for e in Event.objects.filter(
            project=project, seq__gt=seen, type="analysis.started"
        ).order_by("seq")
    ]
    assert order[-1] == MIX_TARGET and len(order) == 3
    drums_summary = analyses[f"stem:{drums.pk}"].summary
    assert set(drums_summary) >= SUMMARY_KEYS
    assert drums_summary["tempo_bpm"] == pytest.approx(100.0, rel=0.04)
    mix = analyses[MIX_TARGET].summary
    assert mix["key"] == "A minor"
    assert json.loads(json.dumps(analyses[MIX_TARGET].report))["peaks"]["levels"]


def test_a_stem_that_cannot_be_analysed_fails_with_a_reason_and_the_rest_goes_on(
    project, bob, song_stems
):
    broken = upload(project, bob, song_stems["drums"])
    upload(project, bob, song_stems["bass"])
    with default_storage.open(broken.file.name, "wb") as handle:
        handle.write(b"this is no longer audio" * 100)
    jobs.run_until_idle()
    failed = Analysis.objects.get(stem=broken)
    assert failed.status == JobStatus.FAILED and failed.error
    assert Event.objects.filter(project=project, type="analysis.failed").exists()
    others = Analysis.objects.filter(project=project).exclude(pk=failed.pk)
    assert {a.status for a in others if a.target != MIX_TARGET} == {JobStatus.DONE}


def test_deleting_a_stem_requeues_the_mix_and_the_last_one_removes_it(project, bob, song_stems):
    drums = upload(project, bob, song_stems["drums"])
    bass = upload(project, bob, song_stems["bass"])
    jobs.run_until_idle()
    services.stem_delete(user=bob, project_id=project.pk, stem_id=drums.pk)
    assert Analysis.objects.get(project=project, target=MIX_TARGET).status == JobStatus.QUEUED
    services.stem_delete(user=bob, project_id=project.pk, stem_id=bass.pk)
    assert not Analysis.objects.filter(project=project).exists()
    assert Event.objects.filter(project=project, type="analysis.removed").exists()


def test_a_result_for_an_input_that_changed_meanwhile_is_dropped(project, bob, song_stems):
    upload(project, bob, song_stems["drums"])
    jobs.run_next()  # the drums
    mix = services.analysis_claim(worker="test")
    assert mix.target == MIX_TARGET
    upload(project, bob, song_stems["bass"])  # the mix's input changes while it runs
    assert not services.analysis_finish(analysis=mix, report={}, summary={})
    assert Analysis.objects.get(pk=mix.pk).status == JobStatus.QUEUED


def test_jobs_left_running_by_a_stopped_process_are_queued_again(project, bob, song_stems):
    upload(project, bob, song_stems["drums"])
    claimed = services.analysis_claim(worker="gone")
    assert services.analysis_recover() == 1
    assert Analysis.objects.get(pk=claimed.pk).status == JobStatus.QUEUED


def test_a_job_whose_worker_keeps_dying_fails_after_three_attempts(project, bob, song_stems):
    upload(project, bob, song_stems["drums"])
    for _ in range(services.MAX_ATTEMPTS):
        services.analysis_claim(worker="dies")
        services.analysis_recover()
    assert services.analysis_claim(worker="next") is None
    stem_analysis = Analysis.objects.exclude(target=MIX_TARGET).get(project=project)
    assert stem_analysis.status == JobStatus.FAILED and "3 attempts" in stem_analysis.error


def test_progress_is_kept_on_the_row_but_not_logged(project, bob, song_stems):
    upload(project, bob, song_stems["drums"])
    analysis = services.analysis_claim(worker="test")
    project.refresh_from_db()
    before = project.last_seq
    services.analysis_progress(analysis=analysis, progress=0.4)
    assert Analysis.objects.get(pk=analysis.pk).progress == pytest.approx(0.4)
    project.refresh_from_db()
    assert project.last_seq == before


def test_failed_analysis_can_be_retried_by_an_editor_only(project, bob, carol, song_stems):
    stem = upload(project, bob, song_stems["drums"])
    with default_storage.open(stem.file.name, "wb") as handle:
        handle.write(b"garbage" * 100)
    jobs.run_until_idle()
    failed = Analysis.objects.get(stem=stem)
    with pytest.raises(Forbidden):
        services.analysis_retry(user=carol, project_id=project.pk, analysis_id=failed.pk)
    services.analysis_retry(user=bob, project_id=project.pk, analysis_id=failed.pk)
    assert Analysis.objects.get(pk=failed.pk).status == JobStatus.QUEUED
    with pytest.raises(Conflict):
        services.analysis_retry(user=bob, project_id=project.pk, analysis_id=failed.pk)


def test_mallory_cannot_read_an_analysis(project, bob, mallory, victor, song_stems):
    upload(project, bob, song_stems["drums"])
    jobs.run_until_idle()
    analysis = Analysis.objects.filter(project=project).first()
    with pytest.raises(NotFound):
        services.analysis_get(user=mallory, project_id=project.pk, analysis_id=analysis.pk)
    client = Client()
    client.force_login(mallory)
    url = f"/projects/{project.pk}/analyses/{analysis.pk}/"
    assert client.get(url, HTTP_ACCEPT="application/json").status_code == 404
    client.force_login(victor)
    body = client.get(url, HTTP_ACCEPT="application/json").json()
    assert body["report"]["loudness"]["integrated_lufs"] is not None


def test_analyze_command_prints_one_json_line_per_file_and_names_the_bad_one(
    song_stems, tmp_path, capsys
):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(CommandError, match="1 of 3") as failure:
        call_command(
            "analyze", "--json", str(song_stems["drums"]), str(bad), str(song_stems["bass"])
        )
    assert failure.value.returncode == 1
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [line["path"] for line in lines] == [str(song_stems["drums"]), str(song_stems["bass"])]
    assert all(SUMMARY_KEYS | {"path"} <= set(line) for line in lines)
    assert "broken.wav" in err


def test_engine_pool_analyses_in_another_process_and_passes_progress_on(song_stems):
    pool = jobs.EnginePool(workers=1)
    seen: list[float] = []
    try:
        report, summary = pool.call(
            run_in_worker,
            channel="progress",
            on_message=seen.append,
            paths=[str(song_stems["bass"])],
            name="bass",
            is_mix=False,
        )
    finally:
        pool.executor.shutdown()
        pool.manager.shutdown()
    assert summary["role"] == "bass" and report["loudness"]["integrated_lufs"] < 0
    assert seen and all(0 <= fraction <= 1 for fraction in seen)
