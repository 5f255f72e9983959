"""Tempo, beats and downbeats: click tracks, drums, chords and songs with known answers.

Everything is rendered here by :mod:`studio.processing.synth`, whose scores are the answers.
Most signals are rendered at 22,050 Hz (the analysis rate) to keep the file fast; some tests
run at 44,100 and 48,000 Hz, in stereo, so the front end resamples.

numba compiles librosa's beat-tracking kernels on first use (17 to 37 s cold, about 3 s from
its disk cache): one session fixture warms them up, not each test.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest

from studio.processing import rhythm, synth
from studio.processing.frontend import SpectralFrames, SpectralFrontEnd
from studio.processing.rhythm import RhythmAnalyzer, RhythmReport, analyze_rhythm

RATE = 22_050
CLICK_TEMPI_BPM = (60, 72, 90, 100, 120, 128, 140, 160, 180)
CLICK_DURATION_S = 20.0


@pytest.fixture(scope="session", autouse=True)
def warm_numba() -> None:
    rhythm.warm_up()


@cache
def click_report(tempo_bpm: float, sample_rate: int = RATE) -> RhythmReport:
    audio = synth.click_track(
        tempo_bpm=tempo_bpm, duration_s=CLICK_DURATION_S, sample_rate=sample_rate
    )
    return analyze_rhythm(audio, sample_rate=sample_rate)


def click_times_s(tempo_bpm: float) -> np.ndarray:
    return np.arange(0.0, CLICK_DURATION_S - 1e-9, 60.0 / tempo_bpm)


def song(*, tempo_bpm: float, n_bars: int = 16, seed: int = 0) -> synth.Song:
    return synth.compose_song(tonic=2, mode="major", tempo_bpm=tempo_bpm, n_bars=n_bars, seed=seed)


def song_mix(score: synth.Song, *, drums: bool = True, sample_rate: int = RATE) -> np.ndarray:
    stems = synth.render_stems(score, sample_rate=sample_rate, stereo=sample_rate != RATE)
    if not drums:
        del stems["drums"]
    return synth.mix(stems)


def assert_tempo(report: RhythmReport, tempo_bpm: float) -> None:
    assert report.tempo_bpm is not None
    assert report.tempo_bpm == pytest.approx(tempo_bpm, rel=0.04)


def offsets_s(estimated: tuple[float, ...], reference: np.ndarray) -> np.ndarray:
    """For each estimated time, the distance to the nearest reference time."""
    estimated_s = np.asarray(estimated)
    return np.min(np.abs(estimated_s[:, None] - reference[None, :]), axis=1)


def frames_of(signal: np.ndarray, *, sample_rate: int = RATE) -> list[SpectralFrames]:
    runs: list[SpectralFrames] = []
    front = SpectralFrontEnd(sample_rate=sample_rate, channels=signal.shape[0], sink=runs.append)
    front.push(signal)
    front.finish()
    return runs


def analyze_runs(runs: list[SpectralFrames]) -> RhythmReport:
    analyzer = RhythmAnalyzer()
    for run in runs:
        analyzer.push(run)
    return analyzer.result()


# --------------------------------------------------------------------------- click tracks


@pytest.mark.parametrize("tempo_bpm", CLICK_TEMPI_BPM)
def test_click_track_gives_its_tempo(tempo_bpm: float) -> None:
    report = click_report(tempo_bpm)
    assert_tempo(report, tempo_bpm)
    assert report.tempo_confidence > 0.8


@pytest.mark.parametrize("tempo_bpm", CLICK_TEMPI_BPM)
def test_click_track_beats_fall_within_50_ms_of_the_clicks(tempo_bpm: float) -> None:
    report = click_report(tempo_bpm)
    clicks = click_times_s(tempo_bpm)
    assert np.all(offsets_s(report.beats_s, clicks) < 0.05)
    # Every click away from the edges has its beat.
    inner = clicks[(clicks > 2.0) & (clicks < CLICK_DURATION_S - 2.0)]
    assert np.all(offsets_s(tuple(inner), np.asarray(report.beats_s)) < 0.05)


@pytest.mark.parametrize(("sample_rate", "channels"), [(44_100, 1), (48_000, 2)])
def test_click_track_at_other_rates_and_in_stereo(sample_rate: int, channels: int) -> None:
    mono = synth.click_track(tempo_bpm=104.0, duration_s=15.0, sample_rate=sample_rate)
    report = analyze_rhythm(np.repeat(mono, channels, axis=0), sample_rate=sample_rate)
    assert_tempo(report, 104.0)
    assert np.all(offsets_s(report.beats_s, click_times_s(104.0)) < 0.05)


def test_quiet_click_track_gives_the_same_tempo() -> None:
    audio = synth.click_track(tempo_bpm=128.0, duration_s=15.0, sample_rate=RATE)
    assert_tempo(analyze_rhythm(audio * 0.01, sample_rate=RATE), 128.0)


# --------------------------------------------------------------------------- music


@pytest.mark.parametrize("tempo_bpm", [66.0, 118.0, 172.0])
def test_drum_pattern_gives_its_tempo_and_beats(tempo_bpm: float) -> None:
    score = song(tempo_bpm=tempo_bpm, n_bars=8, seed=3)
    drums = synth.render_stems(score, sample_rate=RATE, stereo=False)["drums"]
    report = analyze_rhythm(drums, sample_rate=RATE)
    assert_tempo(report, tempo_bpm)
    assert np.mean(offsets_s(report.beats_s, score.beat_times_s) < 0.07) > 0.95


@pytest.mark.parametrize("tempo_bpm", [78.0, 132.0])
def test_rendered_song_gives_its_tempo_and_beats(tempo_bpm: float) -> None:
    score = song(tempo_bpm=tempo_bpm)
    report = analyze_rhythm(song_mix(score), sample_rate=RATE)
    assert_tempo(report, tempo_bpm)
    assert np.mean(offsets_s(report.beats_s, score.beat_times_s) < 0.07) > 0.95


def test_rendered_song_at_44100_hz_stereo_gives_its_tempo() -> None:
    score = song(tempo_bpm=96.0, n_bars=8)
    report = analyze_rhythm(song_mix(score, sample_rate=44_100), sample_rate=44_100)
    assert_tempo(report, 96.0)


@pytest.mark.parametrize("tempo_bpm", [64.0, 110.0, 168.0])
def test_song_without_drums_gives_its_tempo(tempo_bpm: float) -> None:
    score = song(tempo_bpm=tempo_bpm, n_bars=12, seed=5)
    assert_tempo(analyze_rhythm(song_mix(score, drums=False), sample_rate=RATE), tempo_bpm)


@pytest.mark.parametrize("tempo_bpm", [70.0, 100.0, 150.0])
def test_chords_only_track_gives_its_tempo(tempo_bpm: float) -> None:
    # Whole notes, half notes and a syncopated rhythm, one chord per bar, nothing on beats
    # 2 and 4: only the harmony says where the beat is.
    audio = synth.chord_progression_audio(tempo_bpm=tempo_bpm, n_bars=12, sample_rate=RATE)
    assert_tempo(analyze_rhythm(audio, sample_rate=RATE), tempo_bpm)


def test_melody_alone_gives_its_tempo() -> None:
    score = song(tempo_bpm=92.0, n_bars=8, seed=11)
    lead = synth.render_stems(score, sample_rate=RATE, stereo=False)["lead"]
    assert_tempo(analyze_rhythm(lead, sample_rate=RATE), 92.0)


@pytest.mark.parametrize(("tempo_bpm", "drums"), [(84.0, True), (140.0, True), (120.0, False)])
def test_song_downbeats_fall_on_the_bar_lines(tempo_bpm: float, drums: bool) -> None:
    score = song(tempo_bpm=tempo_bpm, seed=2)
    report = analyze_rhythm(song_mix(score, drums=drums), sample_rate=RATE)
    assert report.beats_per_bar == 4
    assert len(report.downbeats_s) >= score.n_bars - 2
    assert np.all(offsets_s(report.downbeats_s, score.downbeat_times_s) < 0.07)
    assert set(report.downbeats_s) <= set(report.beats_s)


def test_waltz_has_three_beats_per_bar() -> None:
    progression = ("I", "IV", "V", "I", "vi", "ii", "V7", "I")
    chords = tuple(synth.make_chord(tonic=7, mode="major", numeral=n) for n in progression * 3)
    bass, keys = [], []
    for bar, chord in enumerate(chords):
        bass.append(synth.Note(3 * bar, 0.9, 36 + (chord.root - 36) % 12, 0.9))
        voicing = [60 + (pitch_class - 60) % 12 for pitch_class in chord.pitch_classes]
        keys += [synth.Note(3 * bar + b, 0.8, m, 0.6) for b in (1, 2) for m in voicing]
    score = synth.Song(
        tempo_bpm=132.0,
        tonic=7,
        mode="major",
        beats_per_bar=3,
        sections=(synth.Section(label="verse", start_bar=0, n_bars=len(chords)),),
        chords=chords,
        bass=tuple(bass),
        keys=tuple(keys),
    )
    report = analyze_rhythm(song_mix(score), sample_rate=RATE)
    assert_tempo(report, 132.0)
    assert report.beats_per_bar == 3
    assert np.all(offsets_s(report.downbeats_s, score.downbeat_times_s) < 0.07)


# --------------------------------------------------------------------------- no pulse


def test_silence_has_no_tempo() -> None:
    report = analyze_rhythm(np.zeros((1, 10 * RATE), dtype=np.float32), sample_rate=RATE)
    assert report == RhythmReport(
        tempo_bpm=None, tempo_confidence=0.0, beats_s=(), downbeats_s=(), beats_per_bar=None
    )


def test_nothing_pushed_has_no_tempo() -> None:
    assert RhythmAnalyzer().result().tempo_bpm is None


def test_noise_has_no_tempo() -> None:
    noise = 0.1 * np.random.default_rng(7).standard_normal((1, 20 * RATE))
    report = analyze_rhythm(noise.astype(np.float32), sample_rate=RATE)
    assert report.tempo_bpm is None
    assert report.tempo_confidence < rhythm.MIN_CONFIDENCE
    assert report.beats_s == ()


def test_sustained_pad_has_no_tempo() -> None:
    t = np.arange(20 * RATE) / RATE
    pad = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * np.minimum(1.0, t / 2)
    report = analyze_rhythm((0.1 * pad[None, :]).astype(np.float32), sample_rate=RATE)
    assert report.tempo_bpm is None


def test_non_finite_samples_give_a_json_safe_report() -> None:
    audio = synth.click_track(tempo_bpm=120.0, duration_s=12.0, sample_rate=RATE)
    audio[0, 5 * RATE : 5 * RATE + 10] = np.nan
    audio[0, 8 * RATE] = np.inf
    report = analyze_rhythm(audio, sample_rate=RATE)
    json.dumps(report.to_dict(), allow_nan=False)
    assert_tempo(report, 120.0)


def test_signal_too_short_for_a_tempo_has_none() -> None:
    audio = synth.click_track(tempo_bpm=120.0, duration_s=2.0, sample_rate=RATE)
    assert analyze_rhythm(audio, sample_rate=RATE).tempo_bpm is None


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("block_frames", [1_000, 4_096, 100_003])
def test_block_size_fed_to_the_front_end_does_not_change_the_answer(block_frames: int) -> None:
    score = song(tempo_bpm=112.0, n_bars=8, seed=4)
    audio = song_mix(score, sample_rate=44_100)
    reference = analyze_rhythm(audio, sample_rate=44_100, block_frames=65_536)
    report = analyze_rhythm(audio, sample_rate=44_100, block_frames=block_frames)
    assert report.tempo_bpm == pytest.approx(reference.tempo_bpm, abs=0.01)
    assert report.beats_per_bar == reference.beats_per_bar
    np.testing.assert_allclose(report.beats_s, reference.beats_s, atol=0.002)
    np.testing.assert_allclose(report.downbeats_s, reference.downbeats_s, atol=0.002)


def test_runs_of_frames_cut_anywhere_give_the_same_answer() -> None:
    audio = song_mix(song(tempo_bpm=100.0, n_bars=8, seed=6))
    whole = np.concatenate([run.mid for run in frames_of(audio)], axis=1)
    n = whole.shape[1]
    cuts = [0, 1, 2, 7, 64, 65, 333, n // 2, n // 2 + 3, n - 1, n]
    runs = [
        SpectralFrames(mid=whole[:, a:b], side=None, start_frame=a)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    one_run = [SpectralFrames(mid=whole, side=None, start_frame=0)]
    assert analyze_runs(runs) == analyze_runs(one_run)


def test_push_refuses_frames_out_of_order() -> None:
    runs = frames_of(synth.click_track(tempo_bpm=120.0, duration_s=5.0, sample_rate=RATE))
    analyzer = RhythmAnalyzer()
    analyzer.push(runs[0])
    with pytest.raises(ValueError, match="starting at frame"):
        analyzer.push(SpectralFrames(mid=runs[0].mid, side=None, start_frame=10_000))


def test_analyzer_keeps_a_few_floats_per_frame_not_the_spectra() -> None:
    audio = song_mix(song(tempo_bpm=120.0, n_bars=8))
    analyzer = RhythmAnalyzer()
    runs = frames_of(audio)
    for run in runs:
        analyzer.push(run)
    n_frames = sum(run.n_frames for run in runs)
    kept = sum(
        value.size for value in vars(analyzer).values() if isinstance(value, np.ndarray)
    ) + sum(
        item.size for value in vars(analyzer).values() if isinstance(value, list) for item in value
    )
    assert kept <= 10 * n_frames


# --------------------------------------------------------------------------- report


def test_report_round_trips_through_json() -> None:
    report = analyze_rhythm(song_mix(song(tempo_bpm=124.0, n_bars=8)), sample_rate=RATE)
    data = report.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert RhythmReport(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}) == (
        report
    )
    assert set(data) == {"tempo_bpm", "tempo_confidence", "beats_s", "downbeats_s", "beats_per_bar"}


def test_empty_report_round_trips_through_json() -> None:
    data = RhythmAnalyzer().result().to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
