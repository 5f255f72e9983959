"""Previews of a mixing move: the excerpt without and with it, matched in loudness (BS.1770)
so that the move is heard for what it changes, not for being louder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from studio.processing.loudness import measure
from studio.processing.mixdown import StemSource
from studio.processing.mixing import (
    BusSettings,
    Compressor,
    EqBand,
    Gate,
    StemSettings,
    render_mix_blocks,
)
from studio.processing.preview import (
    PRE_ROLL_S,
    match_loudness,
    render_excerpt,
    render_preview,
)

RATE = 44_100
CEILING = 10 ** (-0.1 / 20)


def programme(*, seconds: float = 4.0, seed: int = 5) -> np.ndarray:
    """Music-like stereo: a low tone under noise bursts of varying level, float32 (2, n)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    envelope = np.repeat(rng.uniform(0.2, 1.0, math.ceil(n / (RATE // 4))), RATE // 4)[:n]
    noise = rng.normal(0, 0.05, (2, n)) * envelope
    tone = 0.2 * np.sin(2 * np.pi * 110 * t)
    return (noise + tone).astype(np.float32)


def lufs(signal: np.ndarray) -> float:
    return measure(np.ascontiguousarray(signal, dtype=np.float32), sample_rate=RATE).integrated_lufs


def rms_dbfs(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


# match_loudness ----------------------------------------------------------------------------


def test_match_loudness_brings_two_signals_6_db_apart_within_0_1_lu():
    a = programme()
    b = a * np.float32(2.0)  # +6.02 dB
    a_out, b_out, (la, lb, gain_b) = match_loudness(a, b, sample_rate=RATE)
    assert lb - la == pytest.approx(20 * math.log10(2.0), abs=0.05)
    assert lufs(a_out) == pytest.approx(lufs(b_out), abs=0.1)
    assert max(np.abs(a_out).max(), np.abs(b_out).max()) <= CEILING


def test_match_loudness_turns_the_louder_down_never_the_quieter_up():
    a = programme()
    b = a * np.float32(0.5)  # b is the quieter: a comes down to it
    a_out, b_out, (_, _, gain_b) = match_loudness(a, b, sample_rate=RATE)
    np.testing.assert_array_equal(b_out, b)
    assert gain_b == 0.0
    assert lufs(a_out) == pytest.approx(lufs(b), abs=0.1)


def test_match_loudness_reports_the_gain_put_on_b():
    a = programme()
    b = a * np.float32(2.0)
    _, b_out, (_, _, gain_b) = match_loudness(a, b, sample_rate=RATE)
    assert gain_b == pytest.approx(-20 * math.log10(2.0), abs=0.05)
    assert 20 * math.log10(np.abs(b_out).max() / np.abs(b).max()) == pytest.approx(gain_b, abs=1e-3)


def test_match_loudness_keeps_hot_signals_under_minus_0_1_dbfs_and_matched():
    a = programme() * np.float32(6.0)  # peaks well over full scale
    b = a * np.float32(1.5)
    a_out, b_out, _ = match_loudness(a, b, sample_rate=RATE)
    assert max(np.abs(a_out).max(), np.abs(b_out).max()) <= CEILING
    assert lufs(a_out) == pytest.approx(lufs(b_out), abs=0.1)


def test_match_loudness_leaves_silence_alone():
    a = np.zeros((2, RATE), dtype=np.float32)
    b = programme(seconds=1.0)
    a_out, b_out, (la, _, gain_b) = match_loudness(a, b, sample_rate=RATE)
    assert la is None and gain_b == 0.0
    assert not np.any(a_out)
    np.testing.assert_array_equal(b_out, b)


# render_excerpt and render_preview --------------------------------------------------------


@pytest.fixture
def two_stems(audio_file):
    """Two 3 s stereo sines (0.5 peak, a little noise): keys at 440 Hz, guitar at 2 kHz."""
    keys = audio_file("keys.wav", frequency_hz=440.0, duration_s=3.0, subtype="PCM_24")
    guitar = audio_file("guitar.wav", frequency_hz=2000.0, duration_s=3.0, seed=1)
    return [str(keys), str(guitar)]


def test_render_excerpt_cuts_the_window_out_of_the_whole_mix(two_stems):
    settings = [StemSettings(), StemSettings(gain_db=-6.0)]
    whole, rate = render_excerpt(two_stems, settings, BusSettings(), start_s=0.0, duration_s=10.0)
    part, _ = render_excerpt(two_stems, settings, BusSettings(), start_s=1.0, duration_s=1.5)
    assert rate == RATE
    assert whole.shape == (2, 3 * RATE)
    np.testing.assert_array_equal(part, whole[:, RATE : RATE + round(1.5 * RATE)])


def test_render_excerpt_is_shorter_at_the_end_of_the_song(two_stems):
    part, _ = render_excerpt(
        two_stems, [StemSettings()] * 2, BusSettings(), start_s=2.5, duration_s=2.0
    )
    assert part.shape == (2, round(0.5 * RATE))


@pytest.fixture
def long_song(tmp_path):
    """Three 16 s stems, longer than the pre-roll: a 44.1 kHz stereo WAV, a 48 kHz mono FLAC
    (resampled into the mix) and a 44.1 kHz stereo MP3."""
    paths = []
    for name, rate, channels, seed in (
        ("drums.wav", RATE, 2, 1),
        ("bass.flac", 48_000, 1, 2),
        ("keys.mp3", RATE, 2, 3),
    ):
        signal = programme(seconds=16.0, seed=seed)[:channels]
        if rate != RATE:
            signal = programme(seconds=16.0 * rate / RATE, seed=seed)[:channels]
        path = tmp_path / name
        sf.write(path, signal.T, rate)
        paths.append(str(path))
    return paths


HEAVY = StemSettings(
    highpass_hz=80.0,
    eq=(EqBand(300.0, 6.0, 2.0),),
    compressor=Compressor(threshold_db=-30.0, ratio=8.0, attack_ms=5.0, release_ms=2000.0),
    gate=Gate(threshold_db=-30.0, release_ms=2000.0),
)


@pytest.mark.parametrize(
    "bus", [BusSettings(), BusSettings(gain_db=9.0, ceiling_dbtp=-1.0, release_ms=2000.0)]
)
def test_an_excerpt_late_in_the_song_sounds_as_the_whole_render_there(long_song, bus):
    settings = [HEAVY, StemSettings(gain_db=-3.0, eq=(EqBand(90.0, 4.0),)), HEAVY]
    whole, rate = render_excerpt(long_song, settings, bus, start_s=0.0, duration_s=20.0)

    part, _ = render_excerpt(long_song, settings, bus, start_s=11.5, duration_s=3.0)

    start = round(11.5 * rate)
    there = whole[:, start : start + part.shape[1]]
    assert part.shape == (2, 3 * rate)
    # The render began PRE_ROLL_S earlier, every envelope from rest: what is left of that
    # is far under what anyone hears (under -60 dB of the excerpt's peak).
    error_db = 20 * math.log10(np.abs(part - there).max() / np.abs(there).max())
    assert error_db < -60.0


def test_an_excerpt_renders_from_its_pre_roll_not_from_the_top(long_song, monkeypatch):
    starts = []

    def spy(sources, settings, *, bus, start_frame):
        starts.append(start_frame)
        return render_mix_blocks(sources, settings, bus=bus, start_frame=start_frame)

    monkeypatch.setattr("studio.processing.preview.render_mix_blocks", spy)
    rate = StemSource.from_path(long_song[0]).sample_rate

    render_excerpt(long_song, [StemSettings()] * 3, BusSettings(), start_s=11.5, duration_s=1.0)
    render_excerpt(long_song, [StemSettings()] * 3, BusSettings(), start_s=2.0, duration_s=1.0)

    assert starts == [round(11.5 * rate) - round(PRE_ROLL_S * rate), 0]


def test_render_preview_writes_two_flacs_matched_in_loudness_that_differ(two_stems, tmp_path):
    before = [StemSettings().to_dict(), StemSettings().to_dict()]
    cut = StemSettings(eq=(EqBand(2000.0, -12.0, 1.4, source="suggestion:1"),))
    after = [StemSettings().to_dict(), cut.to_dict()]
    out_before, out_after = tmp_path / "before.flac", tmp_path / "after.flac"
    result = render_preview(
        paths=two_stems,
        before=before,
        after=after,
        bus_before={},
        bus_after={},
        start_s=0.5,
        duration_s=2.0,
        out_before=str(out_before),
        out_after=str(out_after),
    )
    a_info, b_info = sf.info(str(out_before)), sf.info(str(out_after))
    assert (a_info.format, b_info.format) == ("FLAC", "FLAC")
    assert a_info.frames == b_info.frames == 2 * RATE
    a = sf.read(str(out_before), dtype="float32", always_2d=True)[0].T
    b = sf.read(str(out_after), dtype="float32", always_2d=True)[0].T
    assert lufs(a) == pytest.approx(lufs(b), abs=0.2)
    assert max(np.abs(a).max(), np.abs(b).max()) <= CEILING + 1e-4  # 16-bit rounding
    assert rms_dbfs(a - b) > -40.0  # the cut is audible
    assert result["duration_s"] == pytest.approx(2.0)
    assert result["before_lufs"] > result["after_lufs"]  # the cut took loudness away


def test_render_preview_of_no_change_gives_identical_files(two_stems, tmp_path):
    same = [StemSettings().to_dict()] * 2
    out_before, out_after = tmp_path / "a.flac", tmp_path / "b.flac"
    result = render_preview(
        paths=two_stems,
        before=same,
        after=same,
        bus_before={},
        bus_after={},
        start_s=0.0,
        duration_s=1.0,
        out_before=str(out_before),
        out_after=str(out_after),
    )
    a = sf.read(str(out_before), dtype="float32")[0]
    b = sf.read(str(out_after), dtype="float32")[0]
    np.testing.assert_array_equal(a, b)
    assert result["gain_applied_db"] <= 0.0


def test_render_preview_refuses_bad_settings(two_stems, tmp_path):
    with pytest.raises(ValueError, match="gain_db"):
        render_preview(
            paths=two_stems,
            before=[{}, {}],
            after=[{}, {"gain_db": 99}],
            bus_before={},
            bus_after={},
            start_s=0.0,
            duration_s=1.0,
            out_before=str(tmp_path / "a.flac"),
            out_after=str(tmp_path / "b.flac"),
        )
