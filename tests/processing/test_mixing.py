"""Mix settings and their pedalboard chains: validation, round trips and what each setting
does to a signal, measured against the physics of the filter or the arithmetic it claims.

Filters: pedalboard's HighpassFilter is first order (6 dB per octave); the engine stacks two,
so a cutoff fc attenuates a frequency f by 2 x 10*log10(1 + (fc/f)^2) dB.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.processing.decode import write
from studio.processing.loudness import measure
from studio.processing.mixdown import StemSource
from studio.processing.mixing import (
    BusSettings,
    Compressor,
    EqBand,
    Gate,
    MixSettings,
    StemSettings,
    process_bus,
    process_stem,
    render_mix_blocks,
)

RATE = 44_100
SETTLE = RATE // 5  # skip the first 0.2 s, where filters ring in


def sine(frequency_hz: float, *, amplitude: float = 0.5, seconds: float = 2.0) -> np.ndarray:
    """The same sine in both channels, float32 (2, n)."""
    t = np.arange(round(seconds * RATE)) / RATE
    wave = (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)
    return np.tile(wave, (2, 1))


def noise(*, seconds: float = 2.0, level: float = 0.1, seed: int = 7) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, level, (2, round(seconds * RATE)))).astype(
        np.float32
    )


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def db(ratio: float) -> float:
    return 20 * math.log10(ratio)


def highpass_loss_db(frequency_hz: float, cutoff_hz: float) -> float:
    """Attenuation of two first-order high-pass sections, in dB (positive)."""
    return 2 * 10 * math.log10(1 + (cutoff_hz / frequency_hz) ** 2)


def stereo_from(mid: np.ndarray, side: np.ndarray) -> np.ndarray:
    return np.stack([mid + side, mid - side]).astype(np.float32)


def mid_side(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (x[0] + x[1]) / 2, (x[0] - x[1]) / 2


# Settings: validation and round trips ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"gain_db": 30}, "gain_db"),
        ({"gain_db": -61}, "gain_db"),
        ({"gain_db": True}, "gain_db"),
        ({"gain_db": float("nan")}, "gain_db"),
        ({"pan": 1.5}, "pan"),
        ({"width": -0.1}, "width"),
        ({"width": 2.5}, "width"),
        ({"mute": "yes"}, "mute"),
        ({"highpass_hz": 5}, "highpass_hz"),
        ({"mono_below_hz": 1000}, "mono_below_hz"),
        ({"eq": [{"freq_hz": 5, "gain_db": -3}]}, "freq_hz"),
        ({"eq": [{"freq_hz": 1000, "gain_db": 40}]}, "gain_db"),
        ({"eq": [{"freq_hz": 1000, "gain_db": -3, "q": 0}]}, "q"),
        ({"compressor": {"ratio": 50}}, "ratio"),
        ({"compressor": {"threshold_db": 3}}, "threshold_db"),
        ({"gate": {"release_ms": 1}}, "release_ms"),
    ],
)
def test_stem_settings_refuse_an_out_of_range_value_naming_the_field(data, field):
    with pytest.raises(ValueError, match=field):
        StemSettings.from_dict(data)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"reverb": 0.3}, "reverb"),
        ({"eq": [{"freq_hz": 1000, "gain_db": -3, "shape": "shelf"}]}, "shape"),
        ({"compressor": {"knee_db": 6}}, "knee_db"),
        ({"gate": {"hold_ms": 10}}, "hold_ms"),
    ],
)
def test_stem_settings_refuse_an_unknown_field_naming_it(data, field):
    with pytest.raises(ValueError, match=field):
        StemSettings.from_dict(data)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"ceiling_dbtp": 1.0}, "ceiling_dbtp"),
        ({"gain_db": 31}, "gain_db"),
        ({"target": "louder"}, "target"),
        ({"limiter": True}, "limiter"),
    ],
)
def test_bus_settings_refuse_a_bad_or_unknown_field_naming_it(data, field):
    with pytest.raises(ValueError, match=field):
        BusSettings.from_dict(data)


def test_mix_settings_refuse_an_unknown_top_level_field():
    with pytest.raises(ValueError, match="master"):
        MixSettings.from_dict({"stems": {}, "master": {}})


def test_stem_settings_with_every_field_round_trip_through_json():
    settings = StemSettings(
        gain_db=-3.5,
        pan=-0.25,
        mute=False,
        width=1.4,
        mono_below_hz=110.0,
        highpass_hz=80.0,
        eq=(EqBand(250.0, -4.0, 1.4, source="suggestion:abc"), EqBand(3000.0, 2.0)),
        compressor=Compressor(threshold_db=-20.0, ratio=4.0, makeup_db=3.0),
        gate=Gate(threshold_db=-55.0),
    )
    assert StemSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


def test_mix_settings_round_trip_through_json():
    mix = MixSettings(
        stems={"7": StemSettings(gain_db=-6.0, mute=True), "9": StemSettings(pan=0.5)},
        bus=BusSettings(gain_db=2.0, ceiling_dbtp=-1.0, target="streaming"),
    )
    assert MixSettings.from_dict(json.loads(json.dumps(mix.to_dict()))) == mix


def test_empty_settings_are_the_defaults():
    assert StemSettings.from_dict({}) == StemSettings()
    assert MixSettings.from_dict(None) == MixSettings()


# What the stem chain does ------------------------------------------------------------------


def test_gain_minus_6_db_scales_rms_by_0_501():
    x = noise()
    y = process_stem(x, sample_rate=RATE, settings=StemSettings(gain_db=-6.0))
    assert y.shape == x.shape
    assert rms(y) / rms(x) == pytest.approx(10 ** (-6 / 20), rel=0.005)


def test_default_settings_leave_the_signal_untouched():
    x = noise()
    y = process_stem(x, sample_rate=RATE, settings=StemSettings())
    np.testing.assert_array_equal(y, x)


def test_pan_hard_right_moves_everything_right_and_keeps_the_power():
    x = sine(440.0)  # the same in both channels: a centred, mono-ish source
    y = process_stem(x, sample_rate=RATE, settings=StemSettings(pan=1.0))
    assert rms(y[0]) < rms(x) * 1e-6
    power_in = float(np.sum(np.square(x, dtype=np.float64)))
    power_out = float(np.sum(np.square(y, dtype=np.float64)))
    assert 10 * math.log10(power_out / power_in) == pytest.approx(0.0, abs=0.1)


def test_pan_half_left_is_constant_power():
    x = sine(440.0)
    y = process_stem(x, sample_rate=RATE, settings=StemSettings(pan=-0.5))
    assert rms(y[0]) > rms(y[1])
    power_in = float(np.sum(np.square(x, dtype=np.float64)))
    power_out = float(np.sum(np.square(y, dtype=np.float64)))
    assert 10 * math.log10(power_out / power_in) == pytest.approx(0.0, abs=0.1)


def test_width_zero_makes_left_equal_right():
    x = stereo_from(noise(seed=1)[0], noise(seed=2)[0])
    y = process_stem(x, sample_rate=RATE, settings=StemSettings(width=0.0))
    np.testing.assert_array_equal(y[0], y[1])
    # the mid is what is left
    np.testing.assert_allclose(y[0], mid_side(x)[0], atol=1e-6)


def test_width_two_doubles_the_side_and_keeps_the_mid():
    x = stereo_from(noise(seed=1)[0], 0.3 * noise(seed=2)[0])
    y = process_stem(x, sample_rate=RATE, settings=StemSettings(width=2.0))
    mid_in, side_in = mid_side(x)
    mid_out, side_out = mid_side(y)
    np.testing.assert_allclose(mid_out, mid_in, atol=1e-6)
    assert rms(side_out) / rms(side_in) == pytest.approx(2.0, rel=1e-4)


def test_mono_below_120_hz_removes_low_side_and_keeps_high_side_and_the_mid():
    low, mid_tone, high = sine(30.0)[0], sine(60.0)[0], sine(1000.0)[0]
    cases = {}
    for name, side in (("low", low), ("mid", mid_tone), ("high", high)):
        x = stereo_from(0.5 * sine(200.0)[0], 0.5 * side)
        y = process_stem(x, sample_rate=RATE, settings=StemSettings(mono_below_hz=120.0))
        side_in, side_out = mid_side(x)[1][SETTLE:], mid_side(y)[1][SETTLE:]
        cases[name] = db(rms(side_out) / rms(side_in))
        np.testing.assert_allclose(mid_side(y)[0], mid_side(x)[0], atol=1e-6)
    assert cases["low"] < -20.0  # 30 Hz side: theory -24.6 dB
    assert cases["mid"] == pytest.approx(-highpass_loss_db(60.0, 120.0), abs=1.0)
    assert cases["high"] == pytest.approx(0.0, abs=1.0)


def test_highpass_100_hz_cuts_30_hz_and_passes_1_khz():
    settings = StemSettings(highpass_hz=100.0)
    low, high = sine(30.0), sine(1000.0)
    low_out = process_stem(low, sample_rate=RATE, settings=settings)
    high_out = process_stem(high, sample_rate=RATE, settings=settings)
    low_db = db(rms(low_out[:, SETTLE:]) / rms(low[:, SETTLE:]))
    high_db = db(rms(high_out[:, SETTLE:]) / rms(high[:, SETTLE:]))
    assert low_db < -15.0
    assert low_db == pytest.approx(-highpass_loss_db(30.0, 100.0), abs=1.0)
    assert high_db == pytest.approx(0.0, abs=0.5)


def test_mute_gives_silence_of_the_same_shape():
    x = noise()
    y = process_stem(x, sample_rate=RATE, settings=StemSettings(mute=True, gain_db=6.0))
    assert y.shape == x.shape
    assert not np.any(y)


def test_eq_band_minus_12_db_at_1_khz_cuts_a_1_khz_sine_by_12_db():
    settings = StemSettings(eq=(EqBand(1000.0, -12.0, 2.0),))
    x = sine(1000.0)
    y = process_stem(x, sample_rate=RATE, settings=settings)
    assert db(rms(y[:, SETTLE:]) / rms(x[:, SETTLE:])) == pytest.approx(-12.0, abs=1.0)


def test_eq_band_at_1_khz_leaves_an_octave_band_three_octaves_away_nearly_alone():
    settings = StemSettings(eq=(EqBand(1000.0, -12.0, 2.0),))
    x = sine(125.0)
    y = process_stem(x, sample_rate=RATE, settings=settings)
    assert db(rms(y[:, SETTLE:]) / rms(x[:, SETTLE:])) == pytest.approx(0.0, abs=0.5)


def test_mono_stem_is_kept_mono_with_one_channel():
    x = noise()[:1]
    y = process_stem(x, sample_rate=RATE, settings=StemSettings(gain_db=-6.0, pan=0.5))
    assert y.shape == x.shape


# The mix and the bus -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hot_stems(tmp_path_factory) -> list[Path]:
    """Two loud stems of different lengths (3 s and 2 s) whose sum peaks far over 0 dBFS."""
    folder = tmp_path_factory.mktemp("hot")
    rng = np.random.default_rng(11)
    long_ = 0.6 * sine(220.0, amplitude=1.0, seconds=3.0) + rng.normal(0, 0.05, (2, 3 * RATE))
    short = 0.6 * sine(331.0, amplitude=1.0, seconds=2.0) + rng.normal(0, 0.05, (2, 2 * RATE))
    paths = [folder / "keys.wav", folder / "guitar.wav"]
    for path, signal in zip(paths, (long_, short), strict=True):
        write(path, signal.astype(np.float32), sample_rate=RATE, format="WAV", subtype="FLOAT")
    return paths


def render(paths: list[Path], settings: list[StemSettings], bus: BusSettings | None) -> np.ndarray:
    sources = [StemSource.from_path(p) for p in paths]
    return np.concatenate(list(render_mix_blocks(sources, settings, bus=bus)), axis=1)


def test_render_mix_blocks_lasts_as_long_as_the_longest_stem(hot_stems):
    mix = render(hot_stems, [StemSettings(), StemSettings()], None)
    assert mix.shape == (2, 3 * RATE)


def test_render_mix_blocks_without_a_bus_is_the_plain_sum(hot_stems):
    mix = render(hot_stems, [StemSettings(), StemSettings(gain_db=-6.0)], None)
    a = sf.read(hot_stems[0], dtype="float32", always_2d=True)[0].T
    b = sf.read(hot_stems[1], dtype="float32", always_2d=True)[0].T
    expected = a.copy()
    expected[:, : b.shape[1]] += b * np.float32(10 ** (-6 / 20))
    np.testing.assert_allclose(mix, expected, atol=1e-5)


def test_render_mix_blocks_with_a_ceiling_keeps_a_hot_mix_under_it(hot_stems):
    bus = BusSettings(gain_db=3.0, ceiling_dbtp=-1.0)
    mix = render(hot_stems, [StemSettings(), StemSettings()], bus)
    assert mix.shape == (2, 3 * RATE)
    assert db(float(np.abs(mix).max())) <= -1.0
    assert measure(mix, sample_rate=RATE).true_peak_dbtp <= -1.0 + 0.3
    # the limiter did work: the mix is not simply turned down to the ceiling
    assert rms(mix) > 0.3


def test_render_mix_blocks_needs_one_setting_per_stem(hot_stems):
    sources = [StemSource.from_path(p) for p in hot_stems]
    with pytest.raises(ValueError, match="expected 2"):
        list(render_mix_blocks(sources, [StemSettings()]))


def test_render_mix_blocks_gives_the_same_mix_whatever_the_block_size(hot_stems):
    sources = [StemSource.from_path(p) for p in hot_stems]
    settings = [StemSettings(highpass_hz=100.0), StemSettings(eq=(EqBand(1000.0, -6.0),))]
    bus = BusSettings(ceiling_dbtp=-1.0)
    big = np.concatenate(list(render_mix_blocks(sources, settings, bus=bus)), axis=1)
    small = np.concatenate(
        list(render_mix_blocks(sources, settings, bus=bus, block_frames=10_000)), axis=1
    )
    assert big.shape == small.shape
    np.testing.assert_allclose(big, small, atol=1e-4)


def test_render_mix_blocks_from_a_start_frame_is_the_plain_sum_from_there(hot_stems):
    settings = [StemSettings(), StemSettings(gain_db=-6.0)]
    whole = render(hot_stems, settings, None)
    sources = [StemSource.from_path(p) for p in hot_stems]
    start = RATE + 123

    tail = np.concatenate(
        list(render_mix_blocks(sources, settings, start_frame=start, block_frames=9_999)), axis=1
    )

    assert tail.shape == (2, 3 * RATE - start)
    np.testing.assert_array_equal(tail, whole[:, start:])


def test_render_mix_blocks_on_threads_gives_the_same_mix(hot_stems):
    sources = [StemSource.from_path(p) for p in hot_stems]
    settings = [StemSettings(highpass_hz=100.0), StemSettings(eq=(EqBand(1000.0, -6.0),))]
    one = np.concatenate(list(render_mix_blocks(sources, settings, block_frames=9_000)), axis=1)
    two = np.concatenate(
        list(render_mix_blocks(sources, settings, block_frames=9_000, threads=2)), axis=1
    )
    np.testing.assert_array_equal(one, two)


def test_a_threaded_render_read_only_in_part_stops_its_producer(hot_stems):
    sources = [StemSource.from_path(p) for p in hot_stems]
    before = threading.active_count()
    blocks = render_mix_blocks(sources, [StemSettings()] * 2, block_frames=4_000, threads=2)
    next(blocks)
    blocks.close()  # as an excerpt that has what it needs does
    assert threading.active_count() == before


def test_process_bus_keeps_the_length_and_limits_true_peak():
    x = 3.0 * noise(seconds=2.0, level=0.2)
    y = process_bus(x, sample_rate=RATE, bus=BusSettings(ceiling_dbtp=-1.0))
    assert y.shape == x.shape
    assert measure(y, sample_rate=RATE).true_peak_dbtp <= -1.0 + 0.3


def test_process_bus_gain_alone_is_exact():
    x = noise()
    y = process_bus(x, sample_rate=RATE, bus=BusSettings(gain_db=-6.0))
    assert y.shape == x.shape
    assert rms(y) / rms(x) == pytest.approx(10 ** (-6 / 20), rel=0.005)
