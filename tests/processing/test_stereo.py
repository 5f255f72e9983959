"""Stereo image: correlation, width, balance and mono fold-down loss, streamed."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from studio.processing.loudness import LoudnessMeter
from studio.processing.stereo import LIMIT_DB, StereoAnalyzer, StereoReport

SEED = 20_240_612
RATE = 44_100


def analyse(
    signal: np.ndarray, *, sample_rate: int = RATE, block_frames: int = 65_536
) -> StereoReport:
    signal = np.atleast_2d(signal).astype(np.float32)
    analyzer = StereoAnalyzer(sample_rate=sample_rate, channels=signal.shape[0])
    for start in range(0, signal.shape[1], block_frames):
        analyzer.push(signal[:, start : start + block_frames])
    return analyzer.result()


def noise(*, seconds: float = 10.0, sample_rate: int = RATE, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.1, round(seconds * sample_rate)).astype(np.float32)


# Identical, opposite and unrelated channels -----------------------------------------------


@pytest.mark.parametrize("sample_rate", [44_100, 48_000])
def test_identical_channels_are_fully_correlated_with_no_width_and_no_fold_loss(sample_rate):
    signal = noise(sample_rate=sample_rate)
    report = analyse(np.stack([signal, signal]), sample_rate=sample_rate)
    assert report.correlation == 1.0
    assert report.correlation_over_time is not None
    assert all(value == 1.0 for value in report.correlation_over_time)
    assert report.width == 0.0
    assert report.width_db is not None and report.width_db <= -60.0
    assert report.balance_db == 0.0
    assert report.mono_fold_loss_lu == pytest.approx(0.0, abs=0.01)
    assert not report.mono_fold_silent


def test_opposite_channels_are_anticorrelated_and_vanish_in_mono():
    signal = noise()
    report = analyse(np.stack([signal, -signal]))
    assert report.correlation == -1.0
    assert report.width is None  # infinite: no mid at all
    assert report.width_db == LIMIT_DB
    # The fold-down is digital silence, below the -70 LUFS gate: the loss is reported as its
    # lower bound, the stereo loudness plus 70 LU, and flagged.
    assert report.mono_fold_silent
    assert report.mono_fold_lufs is None
    assert report.integrated_lufs is not None
    assert report.mono_fold_loss_lu == pytest.approx(report.integrated_lufs + 70.0, abs=0.01)
    assert report.mono_fold_loss_lu > 40.0


@pytest.mark.parametrize("sample_rate", [44_100, 48_000])
def test_unrelated_noise_is_uncorrelated_and_loses_3_lu_in_mono(sample_rate):
    # Equal, unrelated channels of power P: the stereo power sum is 2P; the fold-down
    # (L + R) / 2 has power P / 2 on each of two channels, P in all: 10 log10(2) = 3.01 LU.
    left = noise(sample_rate=sample_rate, seed=1)
    right = noise(sample_rate=sample_rate, seed=2)
    report = analyse(np.stack([left, right]), sample_rate=sample_rate)
    assert report.correlation == pytest.approx(0.0, abs=0.02)
    assert report.width == pytest.approx(1.0, abs=0.03)
    assert report.width_db == pytest.approx(0.0, abs=0.15)
    assert report.mono_fold_loss_lu == pytest.approx(10 * math.log10(2), abs=0.05)
    assert report.balance_db == pytest.approx(0.0, abs=0.1)
    assert report.correlation_over_time is not None
    assert max(abs(value) for value in report.correlation_over_time) < 0.1


def test_the_fold_down_is_measured_as_played_on_both_channels():
    left, right = noise(seed=1), noise(seed=2)
    signal = np.stack([left, 0.5 * left + right])
    fold = 0.5 * (signal[0] + signal[1])
    meter = LoudnessMeter(sample_rate=RATE, channels=2)
    meter.push(np.stack([fold, fold]))
    report = analyse(signal)
    assert report.mono_fold_lufs == pytest.approx(meter.result().integrated_lufs, abs=1e-3)


def test_partly_correlated_channels_read_their_correlation():
    shared, left_own, right_own = (noise(seed=seed) for seed in (1, 2, 3))
    # Correlation of (s + a n1) and (s + a n2) is 1 / (1 + a^2).
    a = 0.75
    report = analyse(np.stack([shared + a * left_own, shared + a * right_own]))
    assert report.correlation == pytest.approx(1.0 / (1.0 + a * a), abs=0.02)


# Balance ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pan", [-0.8, -0.3, 0.0, 0.5, 1.0])
def test_a_panned_source_gives_its_pan_law_balance(pan):
    # Constant-power pan law: L = cos(theta), R = sin(theta), theta = (pan + 1) pi / 4.
    theta = (pan + 1.0) * math.pi / 4.0
    source = noise()
    gains = (0.0, 1.0) if pan == 1.0 else (math.cos(theta), math.sin(theta))
    report = analyse(np.stack([gains[0] * source, gains[1] * source]))
    if pan == 1.0:
        assert report.balance_db == -LIMIT_DB  # hard right: no left energy
        assert report.correlation is None  # a silent channel has no variation
    else:
        expected = 20.0 * math.log10(math.cos(theta) / math.sin(theta))
        assert report.balance_db == pytest.approx(expected, abs=0.01)
        assert report.correlation == pytest.approx(1.0, abs=1e-6)


# Mono, silence, short signals -------------------------------------------------------------


def test_mono_input_reads_as_perfectly_narrow():
    report = analyse(noise()[np.newaxis])
    assert report.correlation == 1.0
    assert report.correlation_over_time is None
    assert report.width == 0.0
    assert report.width_db is None
    assert report.balance_db == 0.0
    assert report.mono_fold_loss_lu == 0.0


@pytest.mark.parametrize("channels", [1, 2])
def test_silence_gives_none_figures_not_nan(channels):
    report = analyse(np.zeros((channels, 3 * RATE), dtype=np.float32))
    for name in ("correlation", "width", "width_db", "balance_db", "mono_fold_loss_lu"):
        assert getattr(report, name) is None, name
    if channels == 2:
        assert report.correlation_over_time is not None
        assert all(value is None for value in report.correlation_over_time)
    json.dumps(report.to_dict(), allow_nan=False)


def test_an_empty_signal_gives_an_empty_report():
    analyzer = StereoAnalyzer(sample_rate=RATE, channels=2)
    analyzer.push(np.zeros((2, 0), dtype=np.float32))
    report = analyzer.result()
    assert report.correlation is None
    assert report.correlation_over_time == ()
    assert report.duration_s == 0.0


def test_correlation_series_runs_every_half_second_and_follows_the_signal():
    first, second = noise(seconds=4.0, seed=1), noise(seconds=4.0, seed=2)
    # 4 s identical, then 4 s unrelated.
    left = np.concatenate([first, first])
    right = np.concatenate([first, second])
    report = analyse(np.stack([left, right]))
    series = report.correlation_over_time
    assert report.window_s == 0.5
    assert series is not None and len(series) == 16
    assert all(value == 1.0 for value in series[:8])
    assert all(abs(value) < 0.1 for value in series[8:])
    assert report.correlation == pytest.approx(0.5, abs=0.03)


# Streaming --------------------------------------------------------------------------------


@pytest.mark.parametrize("block_frames", [1, 1_000, 22_050, 65_536, 1_000_000])
def test_result_does_not_depend_on_block_size(block_frames):
    seconds = 0.3 if block_frames == 1 else 5.3
    left, right = noise(seconds=seconds, seed=1), noise(seconds=seconds, seed=2)
    signal = np.stack([left, 0.5 * left + right])
    reference = analyse(signal, block_frames=signal.shape[1]).to_dict()
    other = analyse(signal, block_frames=block_frames).to_dict()
    assert other.keys() == reference.keys()
    for key, value in reference.items():
        if isinstance(value, list):
            assert np.allclose(other[key], value, atol=2e-3), key
        elif isinstance(value, float):
            assert other[key] == pytest.approx(value, abs=2e-3), key
        else:
            assert other[key] == value, key


def test_a_shared_meter_gives_the_same_figures():
    left, right = noise(seed=1), noise(seed=2)
    signal = np.stack([left, 0.3 * left + right])
    meter = LoudnessMeter(sample_rate=RATE, channels=2)
    shared = StereoAnalyzer(sample_rate=RATE, channels=2, loudness_meter=meter)
    for start in range(0, signal.shape[1], 65_536):
        block = signal[:, start : start + 65_536]
        meter.push(block)
        shared.push(block)
    assert shared.result() == analyse(signal)


def test_a_shared_meter_of_the_wrong_shape_is_refused():
    meter = LoudnessMeter(sample_rate=48_000, channels=2)
    with pytest.raises(ValueError, match="2 channels at 44,100 Hz"):
        StereoAnalyzer(sample_rate=RATE, channels=2, loudness_meter=meter)


# Refusals ---------------------------------------------------------------------------------


def test_more_than_two_channels_are_refused():
    with pytest.raises(ValueError, match="found 3"):
        StereoAnalyzer(sample_rate=RATE, channels=3)


def test_a_block_of_the_wrong_shape_is_refused():
    analyzer = StereoAnalyzer(sample_rate=RATE, channels=2)
    with pytest.raises(ValueError, match=r"\(2, n_samples\)"):
        analyzer.push(np.zeros((1, 100), dtype=np.float32))


def test_non_finite_samples_are_refused_and_leave_the_analyzer_as_it_was():
    signal = np.stack([noise(seconds=2.0, seed=1), noise(seconds=2.0, seed=2)])
    analyzer = StereoAnalyzer(sample_rate=RATE, channels=2)
    analyzer.push(signal)
    bad = signal[:, :1000].copy()
    bad[1, 500] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        analyzer.push(bad)
    assert analyzer.result() == analyse(signal)


def test_integer_samples_are_refused():
    analyzer = StereoAnalyzer(sample_rate=RATE, channels=2)
    with pytest.raises(TypeError, match="float32"):
        analyzer.push(np.zeros((2, 10), dtype=np.int16))


def test_report_goes_to_json_and_back():
    report = analyse(np.stack([noise(seed=1), noise(seed=2)]))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) == set(StereoReport.__dataclass_fields__)
    assert isinstance(data["correlation_over_time"], list)


# Speed ------------------------------------------------------------------------------------


def test_three_minutes_of_stereo_analyse_in_reasonable_time():
    rng = np.random.default_rng(SEED)
    signal = rng.normal(0, 0.1, (2, RATE * 180)).astype(np.float32)
    started = time.perf_counter()
    analyse(signal)
    # About 0.4 s on a 2-core machine, nearly all of it the two loudness meters (the sums
    # take about 30 ms); the bound only catches a gross regression.
    assert time.perf_counter() - started < 3.0
