"""Tests for the deterministic song synthesiser (no Django needed)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.processing import synth
from studio.processing.synth import (
    CLOSED_HAT,
    KICK,
    SNARE,
    Note,
    Song,
    chord_progression_audio,
    click_track,
    compose_song,
    key_name,
    midi_to_hz,
    mix,
    render_stems,
)

SAMPLE_RATE = 44100
ALL_KEYS = [(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
PITCHED_PARTS = ("bass", "keys", "lead")


@pytest.fixture(scope="module")
def song() -> Song:
    return compose_song()


@pytest.fixture(scope="module")
def stems(song: Song) -> dict[str, np.ndarray]:
    return render_stems(song, sample_rate=SAMPLE_RATE)


@pytest.fixture(scope="module")
def split_stems(song: Song) -> dict[str, np.ndarray]:
    return render_stems(song, sample_rate=SAMPLE_RATE, split_drums=True)


def _dbfs(value: float) -> float:
    return 20.0 * np.log10(max(value, 1e-12))


def _allowed_pitch_classes(song: Song, note: Note) -> set[int]:
    """The documented rule: natural scale, plus the leading tone over V/V7 in minor."""
    allowed = set(song.scale_pitch_classes)
    chord = song.chord_at(beat=note.start_beat)
    is_dominant = chord.root == (song.tonic + 7) % 12 and chord.quality in ("major", "dominant7")
    if song.mode == "minor" and is_dominant:
        allowed.add((song.tonic + 11) % 12)
    return allowed


def _energy_fraction(signal: np.ndarray, *, low_hz: float, high_hz: float) -> float:
    """Fraction of the signal's spectral energy between two frequencies."""
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64).sum(axis=0))) ** 2
    frequencies = np.fft.rfftfreq(signal.shape[1], d=1.0 / SAMPLE_RATE)
    band = (frequencies >= low_hz) & (frequencies < high_hz)
    return float(spectrum[band].sum() / spectrum.sum())


def _onset_times_s(signal: np.ndarray, *, threshold: float, quiet_s: float = 0.03) -> np.ndarray:
    """First samples where |signal| reaches ``threshold * peak`` after ``quiet_s`` below it."""
    magnitude = np.abs(signal[0])
    hop = SAMPLE_RATE // 1000
    n_frames = magnitude.size // hop
    frame_peaks = magnitude[: n_frames * hop].reshape(n_frames, hop).max(axis=1)
    above = frame_peaks >= threshold * magnitude.max()
    quiet_frames = round(quiet_s * 1000)
    count = np.concatenate([[0], np.cumsum(above)])
    recent = count[np.arange(n_frames)] - count[np.maximum(np.arange(n_frames) - quiet_frames, 0)]
    onset_frames = np.flatnonzero(above & (recent == 0))
    starts = [
        frame * hop
        + int(np.argmax(magnitude[frame * hop : (frame + 1) * hop] >= threshold * magnitude.max()))
        for frame in onset_frames
    ]
    return np.array(starts) / SAMPLE_RATE


def _dominant_frequency_hz(segment: np.ndarray) -> float:
    """Peak of a Hann-windowed, zero-padded spectrum, refined by parabolic interpolation."""
    n_fft = 1 << 18
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size), n=n_fft))
    peak = int(np.argmax(spectrum[1:-1])) + 1
    left, centre, right = np.log(spectrum[peak - 1 : peak + 2])
    shift = 0.5 * (left - right) / (left - 2.0 * centre + right)
    return (peak + shift) * SAMPLE_RATE / n_fft


# ----------------------------------------------------------------------------- score


def test_compose_song_is_deterministic_for_a_seed() -> None:
    assert compose_song(seed=7) == compose_song(seed=7)


def test_different_seeds_give_different_melodies() -> None:
    melodies = {tuple(n.midi for n in compose_song(seed=seed).lead) for seed in range(5)}
    assert len(melodies) == 5


def test_seed_does_not_change_chords_or_sections() -> None:
    first, second = compose_song(seed=1), compose_song(seed=2)
    assert (first.chords, first.sections) == (second.chords, second.sections)


@pytest.mark.parametrize(("tonic", "mode"), ALL_KEYS)
def test_pitched_notes_lie_in_the_scale_except_leading_tone_over_dominant(
    tonic: int, mode: str
) -> None:
    song = compose_song(tonic=tonic, mode=mode)
    outside = [
        (part, note)
        for part in PITCHED_PARTS
        for note in getattr(song, part)
        if note.midi % 12 not in _allowed_pitch_classes(song, note)
    ]
    assert outside == []


def test_minor_song_uses_the_leading_tone_only_over_the_dominant(song: Song) -> None:
    leading_tone = (song.tonic + 11) % 12
    chords = {
        song.chord_at(beat=note.start_beat).symbol
        for part in PITCHED_PARTS
        for note in getattr(song, part)
        if note.midi % 12 == leading_tone
    }
    assert chords == {"E7"}


def test_pitched_notes_stay_inside_their_bar(song: Song) -> None:
    crossing = [
        note
        for part in PITCHED_PARTS
        for note in getattr(song, part)
        if note.end_beat > (note.start_beat // 4 + 1) * 4 + 1e-9
    ]
    assert crossing == []


def test_bass_plays_the_chord_root_on_every_downbeat(song: Song) -> None:
    downbeat_roots = [n.midi % 12 for n in song.bass if n.start_beat % song.beats_per_bar == 0]
    assert downbeat_roots == [chord.root for chord in song.chords]


def test_bass_notes_start_with_the_kicks(song: Song) -> None:
    kick_beats = [n.start_beat for n in song.drums if n.midi == KICK]
    assert [n.start_beat for n in song.bass] == kick_beats


def test_drums_have_kick_on_1_and_3_and_snare_on_2_and_4(song: Song) -> None:
    def beats_with(midi: int) -> set[float]:
        return {n.start_beat for n in song.drums if n.midi == midi}

    n_bars = song.n_bars
    assert {4.0 * bar + beat for bar in range(n_bars) for beat in (0, 2)} <= beats_with(KICK)
    assert {4.0 * bar + beat for bar in range(n_bars) for beat in (1, 3)} <= beats_with(SNARE)


def test_hats_play_eighths_except_during_fills(song: Song) -> None:
    hat_bars = [
        sorted(
            n.start_beat % 4
            for n in song.drums
            if n.midi == CLOSED_HAT and n.start_beat // 4 == bar
        )
        for bar in range(song.n_bars)
    ]
    fill_bars = {section.end_bar - 1 for section in song.sections[:-1]}
    full_bars = [hats for bar, hats in enumerate(hat_bars) if bar not in fill_bars]
    assert all(hats == [i / 2 for i in range(8)] for hats in full_bars)
    assert all(len(hat_bars[bar]) < 8 for bar in fill_bars)


def test_section_ends_have_snare_fills(song: Song) -> None:
    for section in song.sections[:-1]:
        bar = section.end_bar - 1
        snares = [n for n in song.drums if n.midi == SNARE and n.start_beat // 4 == bar]
        assert len(snares) > 2, section


def test_lead_plays_chord_tones_on_beats_1_and_3(song: Song) -> None:
    strong = [n for n in song.lead if n.start_beat % 2 == 0]
    assert strong
    assert all(n.midi % 12 in song.chord_at(beat=n.start_beat).pitch_classes for n in strong)


def test_keys_play_exactly_the_chord_tones_of_each_bar(song: Song) -> None:
    for bar, chord in enumerate(song.chords):
        played = {n.midi % 12 for n in song.keys if n.start_beat // 4 == bar}
        assert played == set(chord.pitch_classes), chord


@pytest.mark.parametrize("mode", ["major", "minor"])
def test_progression_has_a_dominant_seventh_to_tonic_cadence(mode: str) -> None:
    numerals = [chord.numeral for chord in compose_song(mode=mode).chords]
    tonic = "I" if mode == "major" else "i"
    assert ("V7", tonic) in set(zip(numerals, numerals[1:], strict=False))


def test_default_song_layout_and_chords(song: Song) -> None:
    layout = [(s.label, s.start_bar, s.n_bars) for s in song.sections]
    assert layout == [("intro", 0, 4), ("verse", 4, 4), ("chorus", 8, 4), ("outro", 12, 4)]
    symbols = [chord.symbol for chord in song.chords]
    assert symbols == (
        ["Am", "F", "C", "G"]
        + ["Am", "Dm", "G", "C"]
        + ["F", "G", "E7", "Am"]
        + ["F", "Esus4", "E7", "Am"]
    )


def test_repeated_sections_repeat_their_melody() -> None:
    song = compose_song(n_bars=24)
    choruses = [s for s in song.sections if s.label == "chorus"]
    melodies = [
        [
            (n.start_beat - 4 * s.start_bar, n.midi)
            for n in song.lead
            if s.start_bar <= n.start_beat // 4 < s.end_bar
        ]
        for s in choruses
    ]
    assert len(melodies) == 2
    assert melodies[0] == melodies[1]


@pytest.mark.parametrize(
    ("n_bars", "labels"),
    [
        (4, ["chorus"]),
        (8, ["verse", "chorus"]),
        (12, ["intro", "verse", "chorus"]),
        (20, ["intro", "verse", "chorus", "outro"]),
        (24, ["intro", "verse", "chorus", "verse", "chorus", "outro"]),
    ],
)
def test_section_labels_follow_the_song_length(n_bars: int, labels: list[str]) -> None:
    song = compose_song(n_bars=n_bars)
    assert [s.label for s in song.sections] == labels
    assert song.sections[-1].end_bar == n_bars == len(song.chords)


@pytest.mark.parametrize(("tonic", "mode"), ALL_KEYS)
def test_compose_song_works_in_every_key(tonic: int, mode: str) -> None:
    song = compose_song(tonic=tonic, mode=mode)
    assert song.key_name == key_name(tonic=tonic, mode=mode)
    assert song.chords[0].root == tonic and song.chords[-1].root == tonic
    assert all(getattr(song, part) for part in synth.PARTS)
    assert song.lead[-1].midi % 12 == tonic


@pytest.mark.parametrize("tempo_bpm", [60.0, 72.0, 90.0, 96.0, 110.5, 128.0, 150.0, 180.0])
def test_song_timing_follows_the_tempo(tempo_bpm: float) -> None:
    song = compose_song(tempo_bpm=tempo_bpm)
    seconds_per_beat = 60.0 / tempo_bpm
    assert song.duration_s == pytest.approx(16 * 4 * seconds_per_beat)
    np.testing.assert_allclose(np.diff(song.beat_times_s), seconds_per_beat)
    np.testing.assert_allclose(song.downbeat_times_s, song.beat_times_s[::4])
    assert song.downbeat_times_s.size == 16


@pytest.mark.parametrize(
    ("tonic", "mode", "expected"),
    [(t, "major", f"{name} major") for t, name in enumerate(synth.PITCH_CLASS_NAMES)]
    + [(t, "minor", f"{name} minor") for t, name in enumerate(synth.PITCH_CLASS_NAMES)],
)
def test_key_name_formats_all_24_keys(tonic: int, mode: str, expected: str) -> None:
    assert key_name(tonic=tonic, mode=mode) == expected


def test_key_names_use_sharps() -> None:
    assert key_name(tonic=6, mode="major") == "F# major"
    assert key_name(tonic=10, mode="minor") == "A# minor"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tonic": 12},
        {"tonic": -1},
        {"mode": "dorian"},
        {"n_bars": 10},
        {"n_bars": 0},
        {"tempo_bpm": 0},
    ],
)
def test_compose_song_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="expected"):
        compose_song(**kwargs)


def test_note_rejects_bad_velocity() -> None:
    with pytest.raises(ValueError, match="velocity"):
        Note(0.0, 1.0, 60, 1.5)


# ----------------------------------------------------------------------------- rendering


def test_render_is_deterministic_for_a_seed() -> None:
    song = compose_song(n_bars=4, seed=3)
    first, second = render_stems(song), render_stems(song)
    assert all(first[name].tobytes() == second[name].tobytes() for name in synth.PARTS)


def test_stems_have_equal_shape_dtype_and_length(song: Song, stems: dict[str, np.ndarray]) -> None:
    expected = (2, round((song.duration_s + synth.TAIL_S) * SAMPLE_RATE))
    assert list(stems) == list(synth.PARTS)
    assert {signal.shape for signal in stems.values()} == {expected}
    assert {signal.dtype for signal in stems.values()} == {np.dtype(np.float32)}


def test_stems_are_finite(stems: dict[str, np.ndarray]) -> None:
    assert all(np.isfinite(signal).all() for signal in stems.values())


def test_stem_peaks_are_below_minus_1_dbfs(stems: dict[str, np.ndarray]) -> None:
    peaks = {name: _dbfs(float(np.abs(signal).max())) for name, signal in stems.items()}
    assert max(peaks.values()) < -1.0, peaks


def test_mix_peak_is_below_minus_1_dbfs(stems: dict[str, np.ndarray]) -> None:
    assert _dbfs(float(np.abs(mix(stems)).max())) < -1.0


def test_stems_are_not_silent(stems: dict[str, np.ndarray]) -> None:
    levels = {name: _dbfs(float(np.sqrt(np.mean(signal**2)))) for name, signal in stems.items()}
    assert min(levels.values()) > -35.0, levels


def test_split_drums_sum_to_the_drums_stem(
    stems: dict[str, np.ndarray], split_stems: dict[str, np.ndarray]
) -> None:
    drums = split_stems["kick"] + split_stems["snare"] + split_stems["hats"]
    np.testing.assert_allclose(drums, stems["drums"], atol=1e-6)


def test_kick_onsets_are_at_the_declared_times_within_5_ms(
    song: Song, split_stems: dict[str, np.ndarray]
) -> None:
    declared_s = np.array(
        [song.beat_time_s(beat=n.start_beat) for n in song.drums if n.midi == KICK]
    )
    found_s = _onset_times_s(split_stems["kick"], threshold=0.3)
    assert found_s.size == declared_s.size
    assert np.max(np.abs(found_s - declared_s)) < 0.005
    assert set(np.round(song.beat_times_s[::2], 9)) <= set(np.round(declared_s, 9))


def test_lead_pitch_matches_each_notes_midi_within_1_percent(
    song: Song, stems: dict[str, np.ndarray]
) -> None:
    long_notes = [n for n in song.lead if n.length_beats * song.seconds_per_beat >= 0.3]
    assert len(long_notes) >= 10
    for note in long_notes:
        start_s = song.beat_time_s(beat=note.start_beat) + 0.06
        end_s = song.beat_time_s(beat=note.end_beat) - 0.02
        segment = stems["lead"][0, round(start_s * SAMPLE_RATE) : round(end_s * SAMPLE_RATE)]
        expected_hz = midi_to_hz(note.midi)
        assert _dominant_frequency_hz(segment) == pytest.approx(expected_hz, rel=0.01), note


def test_bass_energy_is_mostly_below_250_hz(stems: dict[str, np.ndarray]) -> None:
    assert _energy_fraction(stems["bass"], low_hz=0.0, high_hz=250.0) > 0.8


def test_hats_energy_is_mostly_above_5_khz(split_stems: dict[str, np.ndarray]) -> None:
    assert _energy_fraction(split_stems["hats"], low_hz=5000.0, high_hz=SAMPLE_RATE) > 0.8


def test_hats_are_panned_right_and_kick_is_centred(split_stems: dict[str, np.ndarray]) -> None:
    hats, kick = split_stems["hats"], split_stems["kick"]
    assert np.sum(hats[1] ** 2) > 1.5 * np.sum(hats[0] ** 2)
    np.testing.assert_array_equal(kick[0], kick[1])


def test_keys_channels_differ_by_detune(stems: dict[str, np.ndarray]) -> None:
    left, right = stems["keys"]
    assert not np.allclose(left, right, atol=1e-3)
    assert np.sum(left**2) == pytest.approx(np.sum(right**2), rel=0.05)


def test_mono_render_has_one_channel(song: Song) -> None:
    short = compose_song(n_bars=4)
    stems = render_stems(short, sample_rate=22050, stereo=False)
    assert {signal.shape for signal in stems.values()} == {
        (1, round((short.duration_s + synth.TAIL_S) * 22050))
    }


def test_mix_rejects_unequal_shapes() -> None:
    with pytest.raises(ValueError, match="equal shapes"):
        mix({"a": np.zeros((2, 10), np.float32), "b": np.zeros((2, 11), np.float32)})


# ----------------------------------------------------------------------------- helpers


def test_click_track_clicks_on_every_beat() -> None:
    clicks = click_track(tempo_bpm=120.0, duration_s=4.0, sample_rate=SAMPLE_RATE)
    assert clicks.shape == (1, 4 * SAMPLE_RATE) and clicks.dtype == np.float32
    onsets_s = _onset_times_s(clicks, threshold=0.3)
    np.testing.assert_allclose(onsets_s, np.arange(8) * 0.5, atol=0.002)


def test_chord_progression_audio_sounds_each_bars_chord() -> None:
    song = compose_song(tonic=2, mode="major", tempo_bpm=100.0, n_bars=8)
    audio = chord_progression_audio(tonic=2, mode="major", tempo_bpm=100.0, n_bars=8)
    assert audio.shape == (1, round((song.duration_s + synth.TAIL_S) * SAMPLE_RATE))
    bar_samples = round(4 * song.seconds_per_beat * SAMPLE_RATE)
    for bar, chord in enumerate(song.chords):
        segment = audio[0, bar * bar_samples : (bar + 1) * bar_samples].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(segment)) ** 2
        frequencies = np.fft.rfftfreq(segment.size, d=1.0 / SAMPLE_RATE)
        audible = frequencies > 30.0
        midi = np.round(69 + 12 * np.log2(frequencies[audible] / 440.0)).astype(int)
        chroma = np.bincount(midi % 12, weights=spectrum[audible], minlength=12)
        top = set(np.argsort(chroma)[::-1][: len(chord.pitch_classes)].tolist())
        assert top == set(chord.pitch_classes), chord
