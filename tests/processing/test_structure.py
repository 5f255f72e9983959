"""Song structure: sections, labels, energy and repeats of synthesised songs with known layouts.

Songs come from :func:`studio.processing.synth.compose_arrangement`, whose sections are the
answers. They render mono at 22,050 Hz (the analysis rate: no resampling) to keep the file
fast; each song is analysed once per module.
"""

from __future__ import annotations

import json

import mir_eval
import numpy as np
import pytest

from studio.processing import loudness, synth
from studio.processing.frontend import SpectralFrames, SpectralFrontEnd
from studio.processing.structure import (
    StructureAnalyzer,
    StructureReport,
    analyze_structure,
)

RATE = 22_050
LAYOUT = ("intro", "verse", "chorus", "breakdown", "verse", "chorus", "chorus", "outro")
# Measured: F = 1.0 at 3 s on both songs below (0.92 on average over the benchmark corpus).
MIN_F_AT_3_S = 0.8


def render(song: synth.Song, *, drums: bool = True) -> np.ndarray:
    stems = synth.render_stems(song, sample_rate=RATE, stereo=False)
    if not drums:
        del stems["drums"]
    return synth.mix(stems)


@pytest.fixture(scope="module")
def song() -> synth.Song:
    return synth.compose_arrangement(LAYOUT, tonic=4, mode="major", tempo_bpm=124.0, seed=11)


@pytest.fixture(scope="module")
def signal(song: synth.Song) -> np.ndarray:
    return render(song)


@pytest.fixture(scope="module")
def report(signal: np.ndarray) -> StructureReport:
    """Beats and downbeats found by the rhythm analysis, as in the pipeline."""
    return analyze_structure(signal, RATE)


@pytest.fixture(scope="module")
def band_song() -> synth.Song:
    labels = ("intro", "verse", "chorus", "bridge", "chorus", "outro")
    return synth.compose_arrangement(labels, tonic=9, mode="minor", tempo_bpm=88.0, seed=12)


@pytest.fixture(scope="module")
def band_signal(band_song: synth.Song) -> np.ndarray:
    return render(band_song, drums=False)


@pytest.fixture(scope="module")
def band_report(band_song: synth.Song, band_signal: np.ndarray) -> StructureReport:
    """No drums; the score's own beats and downbeats."""
    return analyze_structure(
        band_signal,
        RATE,
        beats_s=band_song.beat_times_s,
        downbeats_s=band_song.downbeat_times_s,
    )


def boundary_f(song: synth.Song, report: StructureReport, *, window_s: float) -> float:
    reference = np.array([[start, end] for _, start, end in song.section_bounds_s])
    ends = [min(s.end_s, song.duration_s) for s in report.sections]
    starts = [s.start_s for s in report.sections]
    estimated = np.array([[a, b] for a, b in zip(starts, ends, strict=True) if b > a])
    return mir_eval.segment.detection(reference, estimated, window=window_s, trim=True)[2]


def section_at(report: StructureReport, time_s: float) -> str:
    return next(s.label for s in report.sections if s.start_s <= time_s < s.end_s)


def middle_of(song: synth.Song, index: int) -> float:
    _, start, end = song.section_bounds_s[index]
    return 0.5 * (start + end)


# --------------------------------------------------------------------------- boundaries


def test_boundaries_hit_known_sections_within_3_s(song, report) -> None:
    assert boundary_f(song, report, window_s=3.0) >= MIN_F_AT_3_S


def test_boundaries_without_drums_hit_known_sections_within_3_s(band_song, band_report) -> None:
    assert boundary_f(band_song, band_report, window_s=3.0) >= MIN_F_AT_3_S


def test_boundaries_lie_on_bar_lines(report) -> None:
    bars = np.array(report.bar_times_s)
    for boundary in report.boundaries_s:
        assert np.min(np.abs(bars - boundary)) < 1e-6


def test_sections_tile_the_signal(report) -> None:
    starts = [s.start_s for s in report.sections]
    ends = [s.end_s for s in report.sections]
    assert starts[0] == 0.0
    assert starts[1:] == ends[:-1]
    assert ends[-1] == pytest.approx(report.duration_s, abs=1e-3)
    assert tuple(starts[1:]) == report.boundaries_s


# --------------------------------------------------------------------------- labels


def test_repeated_verses_share_a_letter(song, report) -> None:
    first, second = (section_at(report, middle_of(song, i)) for i in (1, 4))
    assert first.rstrip("'") == second.rstrip("'")


def test_repeated_choruses_share_a_letter_unlike_the_verse(song, report) -> None:
    chorus, again = (section_at(report, middle_of(song, i)) for i in (2, 5))
    assert chorus.rstrip("'") == again.rstrip("'")
    assert chorus.rstrip("'") != section_at(report, middle_of(song, 1)).rstrip("'")


def test_letters_follow_first_appearance(report) -> None:
    seen: list[str] = []
    for section in report.sections:
        letter = section.label.rstrip("'")
        if letter not in seen:
            seen.append(letter)
    assert seen == [chr(ord("A") + i) for i in range(len(seen))]


def test_bridge_gets_a_letter_of_its_own(band_song, band_report) -> None:
    letters = [section_at(band_report, middle_of(band_song, i)).rstrip("'") for i in range(6)]
    assert letters[3] not in letters[:3] + letters[4:]
    assert letters[2] == letters[4]


# --------------------------------------------------------------------------- repeats


def test_identical_choruses_back_to_back_are_an_unchanged_repeat(song, report) -> None:
    _, start_s, end_s = song.section_bounds_s[5]  # two identical 4-bar chorus phrases
    found = [
        r
        for r in report.repeats
        if r.unchanged and r.times >= 2 and abs(r.start_s - start_s) < 0.5 and r.end_s > end_s - 1
    ]
    assert found, report.repeats
    assert found[0].bars == 4


def test_no_unchanged_repeat_where_the_song_changes(song, report) -> None:
    """The intro and the breakdown are played once: no unchanged repeat starts in them."""
    once = [song.section_bounds_s[i] for i in (0, 3)]
    for repeat in report.repeats:
        if repeat.unchanged:
            assert not any(start - 0.5 <= repeat.start_s < end - 1 for _, start, end in once)


# --------------------------------------------------------------------------- energy


def test_energy_rises_from_the_breakdown_into_the_chorus(song, report) -> None:
    breakdown = section_at(report, middle_of(song, 3))
    sections = {s.label: s for s in report.sections}
    chorus_after = next(s for s in report.sections if s.start_s >= song.section_bounds_s[5][1] - 1)
    assert sections[breakdown].energy < 0.5 <= chorus_after.energy
    curve = report.energy_curve
    times = np.array(curve.times_s)
    values = np.array(curve.values)
    _, start, end = song.section_bounds_s[3]
    _, chorus_start, chorus_end = song.section_bounds_s[5]
    quiet = values[(times >= start) & (times < end - 0.1)]
    loud = values[(times >= chorus_start) & (times < chorus_end - 0.1)]
    assert loud.min() > quiet.max()


def test_energy_curve_has_one_value_per_bar_from_0_to_1(report) -> None:
    curve = report.energy_curve
    assert curve.times_s == report.bar_times_s
    assert len(curve.values) == len(curve.loudness_lufs) == len(report.bar_times_s)
    assert min(curve.values) >= 0.0 and max(curve.values) == 1.0


@pytest.mark.parametrize("stereo", [False, True], ids=["mono", "stereo"])
def test_bar_loudness_agrees_with_the_loudness_meter(stereo: bool) -> None:
    """The bars' K-weighted power, averaged, is the ungated BS.1770-4 loudness of the song."""
    song = synth.compose_arrangement(["verse", "chorus", "outro"], tempo_bpm=140.0, seed=4)
    signal = synth.mix(synth.render_stems(song, sample_rate=RATE, stereo=stereo))
    beats = {"beats_s": song.beat_times_s, "downbeats_s": song.downbeat_times_s}
    report = analyze_structure(signal, RATE, **beats)
    lufs = np.array([v for v in report.energy_curve.loudness_lufs if v is not None])
    bar_s = np.diff(np.r_[report.bar_times_s, report.duration_s])[: len(lufs)]
    ours = 10.0 * np.log10(np.sum(bar_s * 10.0 ** (lufs / 10.0)) / report.duration_s)
    momentary = loudness.measure(signal, sample_rate=RATE).momentary_lufs
    power = np.mean([10.0 ** (v / 10.0) if v is not None else 0.0 for v in momentary])
    assert ours == pytest.approx(10.0 * np.log10(power), abs=0.5)


# --------------------------------------------------------------------------- edge cases


def test_silence_gives_an_empty_report() -> None:
    report = analyze_structure(np.zeros((2, 20 * RATE), dtype=np.float32), RATE)
    assert report.sections == () and report.boundaries_s == () and report.repeats == ()
    assert report.duration_s == pytest.approx(20.0, abs=0.05)


def test_very_short_input_gives_an_empty_report() -> None:
    t = np.arange(RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    assert analyze_structure(tone, RATE).sections == ()
    assert analyze_structure(np.zeros(0, dtype=np.float32), RATE).sections == ()


def test_no_pulse_falls_back_to_fixed_bars(band_signal) -> None:
    report = analyze_structure(band_signal, RATE, beats_s=[], downbeats_s=[])
    assert report.bar_source == "fixed"
    assert report.sections


def test_report_round_trips_through_json(report) -> None:
    data = report.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert {"sections", "boundaries_s", "energy_curve", "repeats", "bar_times_s"} <= set(data)


@pytest.mark.parametrize(
    "beats_s",
    [[0.0, float("nan")], [1.0, 0.5], [-1.0, 0.5], [[0.0, 1.0]], ["soon"]],
    ids=["nan", "descending", "negative", "nested", "text"],
)
def test_bad_beats_raise_value_error(beats_s) -> None:
    with pytest.raises(ValueError, match="beats_s"):
        StructureAnalyzer().result(beats_s=beats_s, downbeats_s=[])


def test_bad_signal_raises_value_error() -> None:
    with pytest.raises(ValueError, match="shaped"):
        analyze_structure(np.zeros((3, RATE), dtype=np.float32), RATE)
    with pytest.raises(ValueError, match="sample_rate"):
        analyze_structure(np.zeros(RATE, dtype=np.float32), 0)


def test_push_out_of_order_raises_value_error() -> None:
    analyzer = StructureAnalyzer()
    mid = np.zeros((1025, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="starting at frame 0"):
        analyzer.push(SpectralFrames(mid=mid, side=None, start_frame=3))


def test_result_does_not_depend_on_how_frames_were_cut(band_song, band_signal, band_report) -> None:
    signal = band_signal
    analyzer = StructureAnalyzer()
    front = SpectralFrontEnd(sample_rate=RATE, channels=1, sink=analyzer.push)
    for start in range(0, signal.shape[1], 7_777):
        front.push(signal[:, start : start + 7_777])
    front.finish()
    again = analyzer.result(beats_s=band_song.beat_times_s, downbeats_s=band_song.downbeat_times_s)
    assert [s.label for s in again.sections] == [s.label for s in band_report.sections]
    assert again.boundaries_s == band_report.boundaries_s
    np.testing.assert_allclose(
        again.energy_curve.values, band_report.energy_curve.values, atol=2e-3
    )


# --------------------------------------------------------------------------- synth additions


@pytest.mark.parametrize("n_bars", [4, 12, 20, 28])
def test_arrangement_of_compose_songs_labels_is_that_song(n_bars: int) -> None:
    labels = synth.song_phrase_labels(n_bars)
    arranged = synth.compose_arrangement(labels, tonic=2, mode="minor", tempo_bpm=101, seed=n_bars)
    assert arranged == synth.compose_song(
        tonic=2, mode="minor", tempo_bpm=101, n_bars=n_bars, seed=n_bars
    )


def test_breakdown_has_no_drums_and_no_lead(song) -> None:
    breakdown = next(s for s in song.sections if s.label == "breakdown")
    beats = (breakdown.start_bar * 4, breakdown.end_bar * 4)
    for part in (song.drums, song.lead):
        assert not [n for n in part if beats[0] <= n.start_beat < beats[1]]
    assert [n for n in song.keys if beats[0] <= n.start_beat < beats[1]]


def test_arrangement_rejects_unknown_labels() -> None:
    with pytest.raises(ValueError, match="labels"):
        synth.compose_arrangement(["intro", "solo"])
