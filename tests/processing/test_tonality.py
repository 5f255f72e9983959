"""Key, mode and chroma: synthesised music with known keys, tones, silence, noise and drums.

Everything is rendered here by :mod:`studio.processing.synth`, whose scores are the answers.
Songs render at 22,050 Hz (the analysis rate, so the front end does not resample) to keep the
file fast; one test checks a 44,100 Hz stereo render too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.processing import synth
from studio.processing.frontend import N_BINS, SpectralFrames, SpectralFrontEnd
from studio.processing.tonality import (
    CHROMA_HOP_S,
    PITCH_CLASS_NAMES,
    TonalityAnalyzer,
    TonalityReport,
    analyze_tonality,
    key_name,
)

RATE = 22_050
ALL_KEYS = [(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
SOME_KEYS = [(0, "major"), (9, "minor"), (6, "major"), (3, "minor"), (10, "major"), (4, "minor")]


def song_stems(*, tonic: int, mode: str, n_bars: int = 16, seed: int = 0, tempo_bpm: float = 104):
    song = synth.compose_song(tonic=tonic, mode=mode, tempo_bpm=tempo_bpm, n_bars=n_bars, seed=seed)
    return synth.render_stems(song, sample_rate=RATE, stereo=False)


def frames_of(signal: np.ndarray, *, sample_rate: int = RATE, block: int = 65_536) -> list:
    """The front end's runs of frames for a (channels, n) signal pushed in ``block`` samples."""
    runs: list[SpectralFrames] = []
    front = SpectralFrontEnd(sample_rate=sample_rate, channels=signal.shape[0], sink=runs.append)
    for start in range(0, signal.shape[1], block):
        front.push(signal[:, start : start + block])
    front.finish()
    return runs


def analyze_runs(runs: list[SpectralFrames]) -> TonalityReport:
    analyzer = TonalityAnalyzer()
    for run in runs:
        analyzer.push(run)
    return analyzer.result()


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(("tonic", "mode"), ALL_KEYS)
def test_chord_progression_gives_its_key(tonic: int, mode: str) -> None:
    audio = synth.chord_progression_audio(tonic=tonic, mode=mode, n_bars=8, sample_rate=RATE)
    report = analyze_tonality(audio, sample_rate=RATE)
    assert report.key == key_name(tonic=tonic, mode=mode)
    assert (report.tonic, report.mode) == (tonic, mode)
    assert report.key_confidence > 0.5


@pytest.mark.parametrize(("tonic", "mode"), SOME_KEYS)
def test_melody_alone_gives_its_key(tonic: int, mode: str) -> None:
    lead = song_stems(tonic=tonic, mode=mode, n_bars=8, seed=tonic)["lead"]
    assert analyze_tonality(lead, sample_rate=RATE).key == key_name(tonic=tonic, mode=mode)


@pytest.mark.parametrize("drums", [True, False], ids=["with-drums", "without-drums"])
@pytest.mark.parametrize(("tonic", "mode"), SOME_KEYS[:4])
def test_rendered_song_gives_its_key(tonic: int, mode: str, drums: bool) -> None:
    stems = song_stems(tonic=tonic, mode=mode, seed=7 + tonic)
    if not drums:
        del stems["drums"]
    report = analyze_tonality(synth.mix(stems), sample_rate=RATE)
    assert report.key == key_name(tonic=tonic, mode=mode)
    assert report.key_confidence > 0.5
    assert report.runner_up not in (None, report.key)
    assert report.runner_up_confidence < report.key_confidence


def test_stereo_song_at_44100_gives_its_key() -> None:
    song = synth.compose_song(tonic=1, mode="minor", tempo_bpm=128, n_bars=16, seed=3)
    mix = synth.mix(synth.render_stems(song, sample_rate=44_100, stereo=True))
    assert analyze_tonality(mix, sample_rate=44_100).key == "C# minor"


@pytest.mark.parametrize("cents", [-40.0, 30.0])
def test_detuned_song_keeps_its_key_and_reports_the_tuning(cents: float) -> None:
    mix = synth.mix(song_stems(tonic=2, mode="major", seed=1))
    # Declaring a higher rate than the signal's plays it sharp by ``cents``.
    report = analyze_tonality(mix, sample_rate=round(RATE * 2.0 ** (cents / 1200.0)))
    assert report.key == "D major"
    assert report.tuning_cents == pytest.approx(cents, abs=5.0)


def test_a_few_seconds_are_reported_with_less_confidence_than_the_whole() -> None:
    audio = synth.chord_progression_audio(tonic=7, mode="major", n_bars=8, sample_rate=RATE)
    whole = analyze_tonality(audio, sample_rate=RATE)
    start = round(8.0 * RATE)
    short = analyze_tonality(audio[:, start : start + 3 * RATE], sample_rate=RATE)
    assert whole.key_confidence > 0.5
    assert short.key_confidence < 0.5 * whole.key_confidence


# --------------------------------------------------------------------------- chroma


@pytest.mark.parametrize("frequency_hz", [55.0, 110.0, 261.63, 392.0, 1318.5, 3520.0])
def test_pure_tone_chroma_peaks_at_its_pitch_class(frequency_hz: float) -> None:
    t = np.arange(3 * RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)
    report = analyze_tonality(tone, sample_rate=RATE)
    pitch_class = round(69 + 12 * np.log2(frequency_hz / 440.0)) % 12
    assert int(np.argmax(report.chroma_mean)) == pitch_class
    assert report.chroma_mean[pitch_class] > 0.9
    assert report.tonic == pitch_class  # a lone note is heard as a tonic, major or minor
    assert report.runner_up is not None and report.runner_up.startswith(
        PITCH_CLASS_NAMES[pitch_class] + " "
    )


def test_overtones_do_not_move_the_chroma_peak_off_the_fundamental() -> None:
    # A sawtooth on G3: harmonics 3 and 6 are D, 5 is B, all loud (1/h).
    t = np.arange(3 * RATE) / RATE
    saw = sum(np.sin(2 * np.pi * 196.0 * h * t) / h for h in range(1, 20))
    report = analyze_tonality((0.2 * saw).astype(np.float32), sample_rate=RATE)
    assert int(np.argmax(report.chroma_mean)) == 7
    assert report.chroma_mean[7] > 0.7


def test_chroma_mean_of_a_chord_holds_its_three_notes() -> None:
    t = np.arange(4 * RATE) / RATE
    chord = sum(np.sin(2 * np.pi * synth.midi_to_hz(m) * t) for m in (57, 60, 64))  # A C E
    report = analyze_tonality((0.2 * chord).astype(np.float32), sample_rate=RATE)
    strongest = sorted(np.argsort(report.chroma_mean)[-3:].tolist())
    assert strongest == [0, 4, 9]
    assert sum(report.chroma_mean[i] for i in strongest) > 0.95


def test_chromagram_has_twelve_rows_of_columns_in_unit_range() -> None:
    audio = synth.chord_progression_audio(tonic=9, mode="minor", n_bars=8, sample_rate=RATE)
    report = analyze_tonality(audio, sample_rate=RATE)
    duration_s = audio.shape[1] / RATE
    assert report.chroma_hop_s == pytest.approx(CHROMA_HOP_S)
    assert 1.8 < 1 / report.chroma_hop_s < 2.2
    assert len(report.chroma) == 12
    assert {len(row) for row in report.chroma} == {int(duration_s / report.chroma_hop_s) + 1}
    values = np.array(report.chroma)
    assert values.min() >= 0.0 and values.max() == 1.0
    assert np.array_equal(values, np.round(values, 3))
    assert sum(report.chroma_mean) == pytest.approx(1.0, abs=1e-5)


def test_chromagram_follows_the_chords_bar_by_bar() -> None:
    song = synth.compose_song(tonic=0, mode="major", tempo_bpm=60, n_bars=4)  # vi IV V7 I
    audio = synth.chord_progression_audio(tonic=0, mode="major", tempo_bpm=60, n_bars=4)
    report = analyze_tonality(audio, sample_rate=44_100)
    chroma = np.array(report.chroma)
    bar_s = 4 * song.seconds_per_beat
    for bar, chord in enumerate(song.chords):
        middle = round((bar + 0.5) * bar_s / report.chroma_hop_s)
        column = chroma[:, middle]
        assert set(np.argsort(column)[-3:].tolist()) <= set(chord.pitch_classes)


# --------------------------------------------------------------------------- no key


def test_silence_has_no_key() -> None:
    report = analyze_tonality(np.zeros((1, 5 * RATE), dtype=np.float32), sample_rate=RATE)
    assert report.key is None and report.runner_up is None
    assert report.tonic is None and report.mode is None
    assert report.key_confidence == 0.0 and report.runner_up_confidence == 0.0
    assert report.chroma_mean == (0.0,) * 12
    assert np.array(report.chroma).max() == 0.0


def test_empty_input_has_no_key() -> None:
    report = TonalityAnalyzer().result()
    assert report.key is None and report.chroma == [[] for _ in range(12)]


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_noise_has_no_key_or_a_low_confidence(colour: str) -> None:
    rng = np.random.default_rng(20_240_601)
    noise = rng.standard_normal(10 * RATE)
    if colour == "pink":
        spectrum = np.fft.rfft(noise)
        noise = np.fft.irfft(spectrum / np.sqrt(np.maximum(np.arange(spectrum.size), 1)))
    noise = (0.25 * noise / np.abs(noise).max()).astype(np.float32)
    report = analyze_tonality(noise, sample_rate=RATE)
    assert report.key is None or report.key_confidence < 0.2
    assert report.clarity < 0.1


@pytest.mark.parametrize("part", ["drums", "kick", "snare", "hats"])
def test_drums_alone_have_no_key_or_a_low_confidence(part: str) -> None:
    song = synth.compose_song(tonic=4, mode="minor", n_bars=8, seed=2)
    stems = synth.render_stems(song, sample_rate=RATE, stereo=False, split_drums=part != "drums")
    report = analyze_tonality(stems[part], sample_rate=RATE)
    assert report.key is None or report.key_confidence < 0.2


def test_click_track_has_no_key() -> None:
    clicks = synth.click_track(tempo_bpm=120, duration_s=8, sample_rate=RATE)
    assert analyze_tonality(clicks, sample_rate=RATE).key is None


# --------------------------------------------------------------------------- names, JSON


def test_key_names_use_sharps() -> None:
    assert key_name(tonic=6, mode="minor") == "F# minor"
    assert key_name(tonic=10, mode="major") == "A# major"
    names = [key_name(tonic=t, mode=m) for t, m in ALL_KEYS]
    assert names == [synth.key_name(tonic=t, mode=m) for t, m in ALL_KEYS]
    assert not any("b" in name.split()[0] for name in names)


@pytest.mark.parametrize(("tonic", "mode"), [(12, "major"), (-1, "minor"), (3, "dorian")])
def test_key_name_rejects_what_is_not_a_key(tonic: int, mode: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        key_name(tonic=tonic, mode=mode)


def test_reported_key_is_named_with_a_sharp() -> None:
    audio = synth.chord_progression_audio(tonic=8, mode="major", n_bars=8, sample_rate=RATE)
    report = analyze_tonality(audio, sample_rate=RATE)
    assert report.key == "G# major"
    assert report.key == f"{PITCH_CLASS_NAMES[report.tonic]} {report.mode}"


@pytest.mark.parametrize("kind", ["song", "silence"])
def test_to_dict_round_trips_through_strict_json(kind: str) -> None:
    if kind == "song":
        signal = synth.mix(song_stems(tonic=11, mode="minor", n_bars=8))
    else:
        signal = np.zeros((1, RATE), dtype=np.float32)
    as_dict = analyze_tonality(signal, sample_rate=RATE).to_dict()
    assert json.loads(json.dumps(as_dict, allow_nan=False)) == as_dict
    assert set(as_dict) >= {"key", "key_confidence", "runner_up", "runner_up_confidence"}
    assert isinstance(as_dict["chroma_mean"], list) and len(as_dict["chroma_mean"]) == 12


def test_nan_and_infinity_in_the_signal_spoil_only_their_frames() -> None:
    mix = synth.mix(song_stems(tonic=9, mode="minor", n_bars=8))
    mix[0, 100_000:100_010] = np.nan
    mix[0, 200_000] = np.inf
    report = analyze_tonality(mix, sample_rate=RATE)
    assert report.key == "A minor"
    json.dumps(report.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------- streaming


def test_result_does_not_depend_on_block_size() -> None:
    mix = synth.mix(song_stems(tonic=5, mode="minor", n_bars=8, seed=4))
    reports = [analyze_runs(frames_of(mix, block=block)) for block in (1_000, 4_096, 100_000)]
    for report in reports[1:]:
        assert report.key == reports[0].key and report.runner_up == reports[0].runner_up
        assert report.key_confidence == pytest.approx(reports[0].key_confidence, abs=1e-4)
        assert report.chroma_mean == pytest.approx(reports[0].chroma_mean, abs=1e-6)
        assert np.allclose(report.chroma, reports[0].chroma, atol=1e-3)


def test_result_does_not_depend_on_how_frames_are_split_into_runs() -> None:
    mix = synth.mix(song_stems(tonic=5, mode="major", n_bars=8, seed=4))
    whole = frames_of(mix, block=10**9)
    spectra = np.concatenate([run.mid for run in whole], axis=1)
    cuts = [0, 1, 7, 30, 31, 500, spectra.shape[1]]
    runs = [
        SpectralFrames(mid=spectra[:, a:b], side=None, start_frame=a)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    one, many = analyze_runs(whole), analyze_runs(runs)
    assert one.key == many.key
    assert one.chroma_mean == pytest.approx(many.chroma_mean, abs=1e-6)


def test_asking_for_the_result_midway_changes_nothing() -> None:
    runs = frames_of(synth.mix(song_stems(tonic=2, mode="minor", n_bars=8)), block=8_192)
    analyzer = TonalityAnalyzer()
    for index, run in enumerate(runs):
        analyzer.push(run)
        if index == len(runs) // 2:
            assert analyzer.result().key is not None
    assert analyzer.result() == analyze_runs(runs)


def test_memory_stays_small_for_an_hour() -> None:
    audio = synth.chord_progression_audio(n_bars=8, sample_rate=RATE)
    run = np.concatenate([r.mid for r in frames_of(audio)], axis=1)  # 21 s, pushed again and again
    analyzer = TonalityAnalyzer()
    n_frames = 0
    while n_frames < 3_600 * 22_050 / 512:  # an hour of frames
        analyzer.push(SpectralFrames(mid=run, side=None, start_frame=n_frames))
        n_frames += run.shape[1]
    kept = sum(v.nbytes for v in vars(analyzer).values() if isinstance(v, np.ndarray))
    assert kept < 6_000_000  # the spectra would be 650 MB
    assert len(analyzer.result().chroma[0]) == -(-n_frames // 22)


def test_push_refuses_a_run_out_of_order() -> None:
    analyzer = TonalityAnalyzer()
    run = np.zeros((N_BINS, 10), dtype=np.float32)
    analyzer.push(SpectralFrames(mid=run, side=None, start_frame=0))
    with pytest.raises(ValueError, match="starting at frame 10"):
        analyzer.push(SpectralFrames(mid=run, side=None, start_frame=5))


def test_push_refuses_spectra_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="1025"):
        TonalityAnalyzer().push(
            SpectralFrames(mid=np.zeros((513, 4), dtype=np.float32), side=None, start_frame=0)
        )
