"""Waveform peaks: values a drawing can trust, at every zoom level, whatever the block size."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from studio.processing.decode import write
from studio.processing.peaks import (
    LEVEL_COUNT,
    PEAK_SCALE,
    PeaksAnalyzer,
    waveform_peaks,
    waveform_peaks_file,
)

SEED = 20_240_601
RATE = 44_100
SAMPLES_PER_PEAK = (256, 1_024, 4_096, 16_384, 65_536)


def sine(*, amplitude: float, seconds: float, sample_rate: int = RATE, channels: int = 1):
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    phases = np.random.default_rng(SEED).uniform(0, 2 * np.pi, (channels, 1))
    return (amplitude * np.sin(2 * np.pi * 440.0 * t + phases)).astype(np.float32)


def noise(*, seconds: float = 7.3, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return rng.normal(0, 0.2, (channels, round(seconds * RATE))).astype(np.float32)


def direct_peaks(signal: np.ndarray, samples_per_peak: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of every bucket, straight from the samples, quantised."""
    starts = np.arange(0, signal.shape[1], samples_per_peak)
    lows = np.minimum.reduceat(signal, starts, axis=1)
    highs = np.maximum.reduceat(signal, starts, axis=1)

    def quantise(x):
        return np.rint(np.clip(x, -1, 1) * PEAK_SCALE).astype(np.int8)

    return quantise(lows), quantise(highs)


# Values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [22_050, 44_100, 96_000])
@pytest.mark.parametrize("channels", [1, 2])
def test_a_half_scale_sine_peaks_at_half_of_127_at_every_level(sample_rate, channels):
    peaks = waveform_peaks(
        sine(amplitude=0.5, seconds=4.0, sample_rate=sample_rate, channels=channels),
        sample_rate=sample_rate,
    )
    assert [level.samples_per_peak for level in peaks.levels] == list(SAMPLES_PER_PEAK)
    for level in peaks.levels:
        assert level.max.dtype == np.int8 and level.min.dtype == np.int8
        assert level.max.shape == (channels, -(-peaks.length_samples // level.samples_per_peak))
        # 0.5 * 127 = 63.5; the samples of a sampled sine reach just under its amplitude. The
        # last peak may hold too few samples to reach a crest.
        assert set(np.unique(level.max[:, :-1])) <= {63, 64}, level.samples_per_peak
        assert set(np.unique(level.min[:, :-1])) <= {-64, -63}, level.samples_per_peak


@pytest.mark.parametrize("position", [0, 255, 256, 70_000, 199_999])
def test_a_click_lands_in_its_own_bucket_at_every_level(position):
    signal = np.zeros((1, 200_000), dtype=np.float32)
    signal[0, position] = 0.8
    signal[0, 100_000] = -0.6
    peaks = waveform_peaks(signal, sample_rate=RATE)
    for level in peaks.levels:
        expected_max = np.zeros(level.n_peaks, dtype=np.int8)
        expected_max[position // level.samples_per_peak] = round(0.8 * 127)
        expected_min = np.zeros(level.n_peaks, dtype=np.int8)
        expected_min[100_000 // level.samples_per_peak] = round(-0.6 * 127)
        np.testing.assert_array_equal(level.max[0], expected_max)
        np.testing.assert_array_equal(level.min[0], expected_min)


def test_each_level_is_four_peaks_of_the_level_below():
    peaks = waveform_peaks(noise(), sample_rate=RATE)
    for finer, coarser in zip(peaks.levels, peaks.levels[1:], strict=False):
        groups = np.arange(0, finer.n_peaks, 4)
        np.testing.assert_array_equal(coarser.max, np.maximum.reduceat(finer.max, groups, axis=1))
        np.testing.assert_array_equal(coarser.min, np.minimum.reduceat(finer.min, groups, axis=1))


def test_every_level_equals_the_samples_taken_directly():
    signal = noise()
    peaks = waveform_peaks(signal, sample_rate=RATE)
    for level in peaks.levels:
        lows, highs = direct_peaks(signal, level.samples_per_peak)
        np.testing.assert_array_equal(level.min, lows)
        np.testing.assert_array_equal(level.max, highs)


def test_stereo_channels_keep_their_own_peaks():
    signal = np.zeros((2, 100_000), dtype=np.float32)
    signal[0, 10_000] = 0.9
    signal[1, 80_000] = -0.9
    peaks = waveform_peaks(signal, sample_rate=RATE)
    for level in peaks.levels:
        left, right = 10_000 // level.samples_per_peak, 80_000 // level.samples_per_peak
        assert level.max[0, left] == 114 and level.max[0].sum() == 114
        assert level.min[1, right] == -114 and level.min[1].sum() == -114
        assert not level.max[1].any() and not level.min[0].any()


def test_samples_beyond_full_scale_draw_at_full_scale():
    signal = np.array([[1.7, -3.0, 0.2]], dtype=np.float32)
    level = waveform_peaks(signal, sample_rate=RATE).peaks_at(level_index=0)
    assert level.max.tolist() == [[127]] and level.min.tolist() == [[-127]]


def test_a_custom_base_gives_levels_four_times_apart():
    peaks = waveform_peaks(noise(seconds=1.0), sample_rate=RATE, base_samples_per_peak=100)
    assert [level.samples_per_peak for level in peaks.levels] == [100, 400, 1_600, 6_400, 25_600]
    assert len(peaks.levels) == LEVEL_COUNT


def test_an_empty_signal_has_empty_levels():
    peaks = waveform_peaks(np.zeros((2, 0), dtype=np.float32), sample_rate=RATE)
    assert peaks.length_samples == 0
    assert all(level.max.shape == (2, 0) for level in peaks.levels)


# Streaming --------------------------------------------------------------------------------


@pytest.mark.parametrize("block_frames", [1, 100, 255, 256, 257, 1_000, 65_536])
def test_peaks_do_not_depend_on_block_size(block_frames):
    signal = noise(seconds=1.3 if block_frames == 1 else 7.3)
    whole = waveform_peaks(signal, sample_rate=RATE, block_frames=signal.shape[1])
    assert waveform_peaks(signal, sample_rate=RATE, block_frames=block_frames) == whole


def test_blocks_of_uneven_sizes_give_the_same_peaks():
    signal = noise()
    analyzer = PeaksAnalyzer(sample_rate=RATE, channels=2)
    rng = np.random.default_rng(SEED)
    start = 0
    while start < signal.shape[1]:
        stop = start + int(rng.integers(0, 3_000))
        analyzer.push(signal[:, start:stop])
        start = stop
    assert analyzer.result() == waveform_peaks(signal, sample_rate=RATE)


def test_asking_for_peaks_midway_does_not_change_the_final_peaks():
    signal = noise()
    analyzer = PeaksAnalyzer(sample_rate=RATE, channels=2)
    analyzer.push(signal[:, :100_001])
    assert analyzer.result() == waveform_peaks(signal[:, :100_001], sample_rate=RATE)
    analyzer.push(signal[:, 100_001:])
    assert analyzer.result() == waveform_peaks(signal, sample_rate=RATE)


def test_peaks_of_a_file_equal_peaks_of_its_samples(tmp_path):
    signal = noise(seconds=3.0)
    path = tmp_path / "noise.wav"
    write(path, signal, sample_rate=RATE, format="WAV", subtype="FLOAT")
    assert waveform_peaks_file(path, block_frames=10_000) == waveform_peaks(
        signal, sample_rate=RATE
    )


# Output -----------------------------------------------------------------------------------


def test_peaks_go_to_json_as_small_integers():
    peaks = waveform_peaks(noise(), sample_rate=RATE)
    data = json.loads(json.dumps(peaks.to_dict()))
    assert data["scale"] == 127 and data["channels"] == 2
    assert data["length_samples"] == peaks.length_samples
    assert [level["samples_per_peak"] for level in data["levels"]] == list(SAMPLES_PER_PEAK)
    for level, original in zip(data["levels"], peaks.levels, strict=True):
        assert level["max"] == original.max.tolist()
        assert all(-127 <= v <= 127 for channel in level["min"] for v in channel)


def test_to_dict_can_send_only_some_levels():
    peaks = waveform_peaks(noise(), sample_rate=RATE)
    data = peaks.to_dict(level_indices=(2, 4))
    assert [level["samples_per_peak"] for level in data["levels"]] == [4_096, 65_536]


def test_level_for_width_is_the_coarsest_with_a_peak_per_pixel():
    peaks = waveform_peaks(noise(seconds=60.0, channels=1), sample_rate=RATE)
    # 60 s at 44.1 kHz: 10,336 / 2,584 / 646 / 162 / 41 peaks.
    assert peaks.level_for_width(width_px=600).samples_per_peak == 4_096
    assert peaks.level_for_width(width_px=40).samples_per_peak == 65_536
    assert peaks.level_for_width(width_px=50_000).samples_per_peak == 256


def test_a_level_that_does_not_exist_is_refused():
    peaks = waveform_peaks(noise(seconds=1.0), sample_rate=RATE)
    with pytest.raises(IndexError, match="0 to 4, found 5"):
        peaks.peaks_at(level_index=5)


# Refusals ---------------------------------------------------------------------------------


def test_block_with_the_wrong_channel_count_is_refused():
    analyzer = PeaksAnalyzer(sample_rate=RATE, channels=2)
    with pytest.raises(ValueError, match=r"shaped \(2, n_samples\), found \(1, 100\)"):
        analyzer.push(np.zeros((1, 100), dtype=np.float32))


def test_integer_samples_are_refused():
    analyzer = PeaksAnalyzer(sample_rate=RATE, channels=1)
    with pytest.raises(TypeError, match="found int16"):
        analyzer.push(np.zeros(100, dtype=np.int16))


@pytest.mark.parametrize("at", [10, 300, 999])
def test_non_finite_samples_are_refused_and_leave_the_analyzer_as_it_was(at):
    analyzer = PeaksAnalyzer(sample_rate=RATE, channels=1)
    analyzer.push(np.full(100, 0.5, dtype=np.float32))
    before = analyzer.result()
    bad = np.zeros(1_000, dtype=np.float32)
    bad[at] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        analyzer.push(bad)
    assert analyzer.result() == before


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"sample_rate": 4_000, "channels": 1}, ValueError),
        ({"sample_rate": RATE, "channels": 0}, ValueError),
        ({"sample_rate": RATE, "channels": 1, "base_samples_per_peak": 0}, ValueError),
        ({"sample_rate": 44_100.0, "channels": 1}, TypeError),
    ],
)
def test_bad_arguments_are_refused(arguments, error):
    with pytest.raises(error):
        PeaksAnalyzer(**arguments)


# Speed ------------------------------------------------------------------------------------


def test_three_minutes_of_stereo_take_little_time():
    signal = np.random.default_rng(SEED).normal(0, 0.1, (2, RATE * 180)).astype(np.float32)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        waveform_peaks(signal, sample_rate=RATE)
        best = min(best, time.perf_counter() - started)
    # About 20 ms here; the bound only catches a gross regression (a loop per sample).
    assert best < 0.5
