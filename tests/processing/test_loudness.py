"""Loudness meter: EBU conformance cases, synthesised here, and the meter's own promises.

EBU conformance cases
=====================
Every case below is synthesised from its published description; nothing is read from the EBU
test set. Tolerances are the published ones. "Stereo" means the same signal in L and R; tones
are 1 kHz sines whose peak level is given in dBFS, at 48 kHz unless a test says otherwise.

EBU Tech 3341 (v3 2016 and v4 2023, Table 1, "minimum requirements test signals")
  1   20 s at -23 dBFS                            M, S, I = -23.0 +/-0.1 LUFS
  2   20 s at -33 dBFS                            M, S, I = -33.0 +/-0.1 LUFS
  3   -36 / -23 / -36 dBFS for 10 / 60 / 10 s     I = -23.0 +/-0.1 LUFS
  4   -72 / -36 / -23 / -36 / -72 dBFS for
      10 / 10 / 60 / 10 / 10 s                    I = -23.0 +/-0.1 LUFS
  5   -26 / -20 / -26 dBFS for 20 / 20.1 / 20 s   I = -23.0 +/-0.1 LUFS
  6   5.0 channels, 20 s: L and R at -28 dBFS,
      C at -24, Ls and Rs at -30 (weights 1, 1,
      1, 1.41, 1.41)                              I = -23.0 +/-0.1 LUFS
  7, 8  authentic programme excerpts: NOT REPRODUCIBLE from a description (they need the EBU's
      recordings), so not tested here.
  9   (1.34 s at -20, 1.66 s at -30 dBFS) x 5     S = -23.0 +/-0.1 LUFS, constant after 3 s
  10  file-based meters, 20 files; file i (0-19): i x 0.15 s of silence, 3 s at -23 dBFS,
      1 s of silence                              max S = -23.0 +/-0.1 LUFS in every file
  11  live meters only (successive maxima read off a running meter): not tested.
  12  (0.18 s at -20, 0.22 s at -30 dBFS) x 25    M = -23.0 +/-0.1 LUFS, constant after 1 s
  13  file-based meters, 20 files; file i (0-19): i x 0.02 s of silence, 0.4 s at -23 dBFS,
      1 s of silence                              max M = -23.0 +/-0.1 LUFS in every file
  14  live meters only: not tested.
  15  sine at fs/4, 0.50 full scale, 0 deg        true peak = -6.0 +0.2/-0.4 dBTP
  16  sine at fs/4, 0.50 FS, 45 deg               true peak = -6.0 +0.2/-0.4 dBTP
  17  sine at fs/6, 0.50 FS, 60 deg               true peak = -6.0 +0.2/-0.4 dBTP
  18  sine at fs/8, 0.50 FS, 67.5 deg             true peak = -6.0 +0.2/-0.4 dBTP
  19  sine at fs/4, 1.41 FS, 45 deg               true peak = +3.0 +0.2/-0.4 dBTP
      (15-19: 10 ms fade in and out; 1 s here)
  20-23  a sine at fs/6, 0.50 FS, holding one period of a sine at fs/4, 1.00 FS, continuous
      in phase; made at 4 fs, low-pass filtered at fs/2 and decimated to fs starting at sample
      0, 1, 2 and 3 of the 4 fs signal                true peak = 0.0 +0.2/-0.4 dBTP
      (The table leaves the low-pass filter open; here a 511-tap Kaiser-windowed sinc. The
      sample peaks this gives, -0.13, -0.46, -2.50 and -0.46 dBFS, are those reported for the
      official files, -0.1, -0.5, -2.5 and -0.5.)

EBU Tech 3342 (v3 2016 and v4 2023, Table 1)
  1   20 s at -20, then 20 s at -30 dBFS          LRA = 10 +/-1 LU
  2   20 s at -20, then 20 s at -15 dBFS          LRA = 5 +/-1 LU
  3   20 s at -40, then 20 s at -20 dBFS          LRA = 20 +/-1 LU
  4   -50 / -35 / -20 / -35 / -50 dBFS, 20 s each LRA = 15 +/-1 LU
  5, 6  authentic programme excerpts: NOT REPRODUCIBLE from a description; not tested.

Sources. The EBU PDFs could not be opened from here, so the table was rebuilt from public
transcriptions that agree with each other: the expected responses and tolerances as quoted by
open-source meters that pass the official files; the signal descriptions from open-source
suites that synthesise them (eko/qc internal/audiotest/conformance.go for 3341 cases 1-6, 9, 12
and 15-19 and 3342 cases 1-4; nocarryr/lupy tests/compliance_cases.py for the same, though it
puts 17 and 18 at fs/4 and only the right channel at the given phase; two further suites whose
transcriptions of Table 1 give cases 10, 13 and 20-23 as above). The sample peaks of the
official true-peak files published alongside such results (-6.0, -9.0, -7.2, -6.7 and 0.0 dBFS
for 15-19) match the sines above.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy import signal as sp_signal

from studio.processing.decode import write
from studio.processing.loudness import (
    PUBLISHED_48K_SOS,
    LoudnessMeter,
    LoudnessReport,
    k_weighting_sos,
    measure,
    measure_file,
    true_peak_oversampling,
    true_peak_phases,
)

RATE = 48_000
SEED = 20_240_601
LOUDNESS_TOLERANCE_LU = 0.1
RANGE_TOLERANCE_LU = 1.0
TRUE_PEAK_ABOVE_DB, TRUE_PEAK_BELOW_DB = 0.2, 0.4


def tones(
    segments: list[tuple[float | None, float]],
    *,
    sample_rate: int = RATE,
    channels: int = 2,
    frequency_hz: float = 1_000.0,
) -> np.ndarray:
    """A sine whose peak level steps through ``(level_dbfs or None for silence, seconds)``."""
    amplitude = np.concatenate(
        [
            np.full(round(seconds * sample_rate), 0.0 if level is None else 10 ** (level / 20))
            for level, seconds in segments
        ]
    )
    t = np.arange(amplitude.size) / sample_rate
    wave = (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)
    return np.tile(wave, (channels, 1))


def faded_sine(
    *, divisor: float, amplitude: float, phase_deg: float, sample_rate: int = RATE
) -> np.ndarray:
    """Stereo sine at sample_rate / divisor, 1 s, with 10 ms linear fades (3341 cases 15-19)."""
    n = sample_rate
    k = np.arange(n)
    fade = np.minimum(1.0, np.minimum(k, n - 1 - k) / (0.01 * sample_rate))
    wave = fade * amplitude * np.sin(2 * np.pi * k / divisor + np.deg2rad(phase_deg))
    return np.tile(wave.astype(np.float32), (2, 1))


def intersample_burst(*, offset: int, sample_rate: int = RATE) -> np.ndarray:
    """3341 cases 20-23: fs/6 at 0.5 holding one period of fs/4 at 1.0, made at 4 fs."""
    up = 4
    n = sample_rate * up  # 1 s at 4 fs
    base_period, burst_period = 6 * up, 4 * up  # fs/6 and fs/4, in samples at 4 fs
    start = (n // 2) // base_period * base_period  # an upward zero crossing of the base
    i = np.arange(n)
    # The base sine pauses during the burst and resumes at the same phase: continuous.
    base_clock = np.where(i < start, i, i - burst_period)
    wave = 0.5 * np.sin(2 * np.pi * base_clock / base_period)
    burst = (i >= start) & (i < start + burst_period)
    wave[burst] = np.sin(2 * np.pi * (i[burst] - start) / burst_period)
    wave *= np.minimum(1.0, np.minimum(i, n - 1 - i) / (0.01 * sample_rate * up))
    lowpass = sp_signal.firwin(511, 0.5 * sample_rate, fs=up * sample_rate, window=("kaiser", 10))
    filtered = np.convolve(wave, lowpass, mode="same")
    return np.tile(filtered[offset::up].astype(np.float32), (2, 1))


def programme(*, sample_rate: int = 44_100, seconds: float = 6.0) -> np.ndarray:
    """Music-like stereo: seeded noise in bursts of varying level over a steady low tone."""
    rng = np.random.default_rng(SEED)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    wave = 0.05 * np.sin(2 * np.pi * 110 * t) * np.ones((2, 1))
    for _ in range(12):
        start = int(rng.integers(0, n))
        length = int(rng.integers(sample_rate // 20, sample_rate))
        stop = min(n, start + length)
        wave[:, start:stop] += rng.normal(0, rng.uniform(0.01, 0.3), (2, stop - start))
    return wave.astype(np.float32)


def within(value: float | None, expected: float, *, below: float, above: float) -> bool:
    return value is not None and expected - below <= value <= expected + above


def assert_loudness(value: float | None, expected: float) -> None:
    assert within(value, expected, below=LOUDNESS_TOLERANCE_LU, above=LOUDNESS_TOLERANCE_LU), (
        f"{value} LUFS, expected {expected} +/-{LOUDNESS_TOLERANCE_LU}"
    )


def assert_true_peak(value: float | None, expected: float) -> None:
    assert within(value, expected, below=TRUE_PEAK_BELOW_DB, above=TRUE_PEAK_ABOVE_DB), (
        f"{value} dBTP, expected {expected} +{TRUE_PEAK_ABOVE_DB}/-{TRUE_PEAK_BELOW_DB}"
    )


def complete(series: tuple[float | None, ...], *, after_s: float) -> list[float | None]:
    """The values of a 10 Hz series whose window ends at or after ``after_s`` seconds."""
    return list(series[round(after_s * 10) - 1 :])


# K-weighting ------------------------------------------------------------------------------


def test_k_weighting_at_48_khz_matches_the_published_coefficients():
    np.testing.assert_allclose(k_weighting_sos(sample_rate=48_000), PUBLISHED_48K_SOS, atol=1e-10)


@pytest.mark.parametrize(
    ("sample_rate", "tolerance_db"),
    # The bilinear transform bends the shelf a little when f0 nears Nyquist.
    [(22_050, 0.03), (44_100, 0.01), (88_200, 0.01), (96_000, 0.01), (192_000, 0.01)],
)
def test_k_weighting_response_is_the_same_at_every_sample_rate(sample_rate, tolerance_db):
    frequencies_hz = [20, 50, 100, 500, 1_000, 2_000, 5_000, 10_000]
    frequencies_hz = [f for f in frequencies_hz if f < 0.45 * sample_rate]
    _, reference = sp_signal.sosfreqz(PUBLISHED_48K_SOS, worN=frequencies_hz, fs=48_000)
    _, response = sp_signal.sosfreqz(
        k_weighting_sos(sample_rate=sample_rate), worN=frequencies_hz, fs=sample_rate
    )
    difference_db = 20 * np.log10(np.abs(response) / np.abs(reference))
    assert np.abs(difference_db).max() < tolerance_db, dict(
        zip(frequencies_hz, difference_db, strict=True)
    )


def test_integrated_loudness_equals_a_direct_bs1770_computation_at_48_khz():
    # A plain transcription of BS.1770-4 eqs. (1)-(7) with the published coefficients: every
    # 400 ms block starting at a multiple of 100 ms, both gates strict.
    rng = np.random.default_rng(SEED)
    n = RATE * 20 + 1_234
    level = np.repeat(rng.uniform(0.001, 0.5, 21), RATE)[:n]
    t = np.arange(n) / RATE
    signal = np.stack(
        [level * rng.normal(0, 0.5, n), level * np.sin(2 * np.pi * 3_000 * t)]
    ).astype(np.float32)
    filtered = sp_signal.sosfilt(PUBLISHED_48K_SOS, signal.astype(np.float64), axis=-1)
    block, step = round(0.4 * RATE), round(0.1 * RATE)
    starts = range(0, n - block + 1, step)
    z = np.array([[np.mean(ch[s : s + block] ** 2) for s in starts] for ch in filtered])
    loudness = -0.691 + 10 * np.log10(z.sum(axis=0))
    above_absolute = loudness > -70
    relative = -0.691 + 10 * np.log10(z[:, above_absolute].mean(axis=1).sum()) - 10
    gated = above_absolute & (loudness > relative)
    expected = -0.691 + 10 * np.log10(z[:, gated].mean(axis=1).sum())
    report = measure(signal, sample_rate=RATE)
    assert report.integrated_lufs == pytest.approx(expected, abs=1e-9)


# EBU Tech 3341 ----------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "level_dbfs"), [(1, -23.0), (2, -33.0)])
def test_loudness_meets_ebu_3341_cases_1_and_2(case, level_dbfs):
    report = measure(tones([(level_dbfs, 20)]), sample_rate=RATE)
    assert_loudness(report.integrated_lufs, level_dbfs)
    for value in complete(report.momentary_lufs, after_s=0.4):
        assert_loudness(value, level_dbfs)
    for value in complete(report.short_term_lufs, after_s=3.0):
        assert_loudness(value, level_dbfs)


CASES_3_TO_6 = {
    3: [(-36, 10), (-23, 60), (-36, 10)],
    4: [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)],
    5: [(-26, 20), (-20, 20.1), (-26, 20)],
}


@pytest.mark.parametrize("case", sorted(CASES_3_TO_6))
def test_integrated_loudness_meets_ebu_3341_cases_3_to_5(case):
    report = measure(tones(CASES_3_TO_6[case]), sample_rate=RATE)
    assert_loudness(report.integrated_lufs, -23.0)


def test_integrated_loudness_meets_ebu_3341_case_6_in_five_channels():
    levels_dbfs = (-28, -28, -24, -30, -30)  # L, R, C, Ls, Rs
    signal = np.concatenate([tones([(level, 20)], channels=1) for level in levels_dbfs])
    report = measure(signal, sample_rate=RATE)
    assert_loudness(report.integrated_lufs, -23.0)


def test_short_term_loudness_meets_ebu_3341_case_9():
    report = measure(tones([(-20, 1.34), (-30, 1.66)] * 5), sample_rate=RATE)
    values = complete(report.short_term_lufs, after_s=3.0)
    assert values
    for value in values:
        assert_loudness(value, -23.0)


@pytest.mark.parametrize("file", range(20))
def test_max_short_term_loudness_meets_ebu_3341_case_10(file):
    report = measure(tones([(None, file * 0.15), (-23, 3), (None, 1)]), sample_rate=RATE)
    assert_loudness(report.short_term_max_lufs, -23.0)


def test_momentary_loudness_meets_ebu_3341_case_12():
    report = measure(tones([(-20, 0.18), (-30, 0.22)] * 25), sample_rate=RATE)
    values = complete(report.momentary_lufs, after_s=1.0)
    assert values
    for value in values:
        assert_loudness(value, -23.0)


@pytest.mark.parametrize("file", range(20))
def test_max_momentary_loudness_meets_ebu_3341_case_13(file):
    report = measure(tones([(None, file * 0.02), (-23, 0.4), (None, 1)]), sample_rate=RATE)
    assert_loudness(report.momentary_max_lufs, -23.0)


TRUE_PEAK_SINES = {
    15: (4, 0.50, 0.0, -6.0),
    16: (4, 0.50, 45.0, -6.0),
    17: (6, 0.50, 60.0, -6.0),
    18: (8, 0.50, 67.5, -6.0),
    19: (4, 1.41, 45.0, 3.0),
}


@pytest.mark.parametrize("sample_rate", [48_000, 44_100])
@pytest.mark.parametrize("case", sorted(TRUE_PEAK_SINES))
def test_true_peak_meets_ebu_3341_cases_15_to_19(case, sample_rate):
    divisor, amplitude, phase_deg, expected_dbtp = TRUE_PEAK_SINES[case]
    signal = faded_sine(
        divisor=divisor, amplitude=amplitude, phase_deg=phase_deg, sample_rate=sample_rate
    )
    assert_true_peak(measure(signal, sample_rate=sample_rate).true_peak_dbtp, expected_dbtp)


@pytest.mark.parametrize("case", [20, 21, 22, 23])
def test_true_peak_meets_ebu_3341_cases_20_to_23(case):
    report = measure(intersample_burst(offset=case - 20), sample_rate=RATE)
    assert_true_peak(report.true_peak_dbtp, 0.0)


def test_true_peak_of_ebu_3341_case_22_is_well_above_its_sample_peak():
    report = measure(intersample_burst(offset=2), sample_rate=RATE)
    assert report.sample_peak_dbfs is not None and report.true_peak_dbtp is not None
    assert report.sample_peak_dbfs < -2.0
    assert report.true_peak_dbtp - report.sample_peak_dbfs > 2.0


# EBU Tech 3342 ----------------------------------------------------------------------------

RANGE_CASES = {
    1: ([(-20, 20), (-30, 20)], 10.0),
    2: ([(-20, 20), (-15, 20)], 5.0),
    3: ([(-40, 20), (-20, 20)], 20.0),
    4: ([(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),
}


@pytest.mark.parametrize("case", sorted(RANGE_CASES))
def test_loudness_range_meets_ebu_3342_cases_1_to_4(case):
    segments, expected_lu = RANGE_CASES[case]
    report = measure(tones(segments), sample_rate=RATE)
    assert report.loudness_range_lu is not None
    assert abs(report.loudness_range_lu - expected_lu) <= RANGE_TOLERANCE_LU


# Streaming --------------------------------------------------------------------------------


@pytest.mark.parametrize("block_frames", [1_000, 65_536, 7_777, None])
def test_result_does_not_depend_on_block_size(block_frames):
    signal = programme()
    whole = measure(signal, sample_rate=44_100, block_frames=signal.shape[1])
    frames = block_frames or signal.shape[1]
    assert measure(signal, sample_rate=44_100, block_frames=frames) == whole


def test_blocks_of_uneven_sizes_give_the_same_result():
    signal = programme()
    meter = LoudnessMeter(sample_rate=44_100, channels=2)
    rng = np.random.default_rng(SEED)
    start = 0
    while start < signal.shape[1]:
        stop = start + int(rng.integers(0, 20_000))
        meter.push(signal[:, start:stop])
        start = stop
    assert meter.result() == measure(signal, sample_rate=44_100)


def test_asking_for_a_result_midway_does_not_change_the_final_result():
    signal = programme()
    meter = LoudnessMeter(sample_rate=44_100, channels=2)
    meter.push(signal[:, :100_001])
    midway = meter.result()
    meter.push(signal[:, 100_001:])
    assert midway == measure(signal[:, :100_001], sample_rate=44_100)
    assert meter.result() == measure(signal, sample_rate=44_100)


@pytest.mark.parametrize("sample_rate", [44_100, 48_000, 96_000])
def test_true_peak_equals_a_direct_polyphase_interpolation_of_the_whole_signal(sample_rate):
    # Band-limited bursts whose peaks fall between samples, at the very start, at the very
    # end and across the meter's internal chunk boundaries.
    rng = np.random.default_rng(SEED)
    n = 200_000
    signal = (rng.normal(0, 0.01, (2, n))).astype(np.float32)
    for start in (0, n - 40, 66_130, 67_190, 132_290):
        k = np.arange(40)
        wave = 0.8 * np.sin(2 * np.pi * rng.uniform(0.3, 0.45) * k + rng.uniform(0, 6))
        signal[int(rng.integers(0, 2)), start : start + 40] += wave.astype(np.float32)
    report = measure(signal, sample_rate=sample_rate, block_frames=9_999)
    phases = true_peak_phases(factor=true_peak_oversampling(sample_rate=sample_rate))
    taps = phases.shape[1]
    peak = float(np.abs(signal).max())
    for channel in signal.astype(np.float64):
        padded = np.concatenate([np.zeros(taps), channel, np.zeros(taps)])
        for phase in phases:
            peak = max(peak, float(np.abs(np.convolve(padded, phase, mode="valid")).max()))
    assert report.true_peak_dbtp == pytest.approx(20 * np.log10(peak), abs=1e-4)
    assert report.true_peak_dbtp > report.sample_peak_dbfs + 0.1


@pytest.mark.parametrize("sample_rate", [44_100, 22_050])
def test_loudest_windows_are_found_at_sample_resolution(sample_rate):
    signal = programme(sample_rate=sample_rate, seconds=8.0)
    report = measure(signal, sample_rate=sample_rate, block_frames=12_345)
    filtered = sp_signal.sosfilt(k_weighting_sos(sample_rate=sample_rate), signal.astype(float))
    cumulative = np.concatenate([[0.0], np.cumsum((filtered**2).sum(axis=0))])
    for seconds, value in ((0.4, report.momentary_max_lufs), (3.0, report.short_term_max_lufs)):
        window = round(seconds * sample_rate)
        loudest = (cumulative[window:] - cumulative[:-window]).max() / window
        assert value == pytest.approx(-0.691 + 10 * np.log10(loudest), abs=1e-6)
    assert report.momentary_max_lufs >= max(v for v in report.momentary_lufs if v is not None)


def test_loudness_series_run_every_100_ms_with_silence_before_the_start():
    report = measure(tones([(-23, 5.05)]), sample_rate=RATE)
    assert report.hop_s == 0.1
    assert len(report.momentary_lufs) == len(report.short_term_lufs) == 50
    # The first short-term window holds 0.1 s of tone and 2.9 s of silence before the start.
    assert report.short_term_lufs[0] == pytest.approx(-23.0 + 10 * np.log10(0.1 / 3), abs=0.05)
    assert report.duration_s == pytest.approx(5.05)


# Sample rates, channels, silence ---------------------------------------------------------


def test_sample_rates_agree_on_a_1_khz_sine():
    reports = [
        measure(tones([(-20, 10)], sample_rate=rate), sample_rate=rate)
        for rate in (44_100, 48_000, 96_000)
    ]
    for name in ("integrated_lufs", "momentary_max_lufs", "short_term_max_lufs"):
        values = [getattr(report, name) for report in reports]
        assert max(values) - min(values) <= 0.05, (name, values)
    true_peaks = [report.true_peak_dbtp for report in reports]
    assert max(true_peaks) - min(true_peaks) <= 0.05


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_silence_gives_none_figures(channels):
    report = measure(np.zeros((channels, RATE * 4), dtype=np.float32), sample_rate=RATE)
    for name in (
        "integrated_lufs",
        "loudness_range_lu",
        "momentary_max_lufs",
        "short_term_max_lufs",
        "sample_peak_dbfs",
        "true_peak_dbtp",
        "rms_dbfs",
        "crest_factor_db",
    ):
        assert getattr(report, name) is None, name
    assert report.momentary_lufs == (None,) * 40
    json.dumps(report.to_dict(), allow_nan=False)


def test_an_empty_signal_gives_an_empty_report():
    report = measure(np.zeros((2, 0), dtype=np.float32), sample_rate=RATE)
    assert report.momentary_lufs == () and report.integrated_lufs is None
    assert report.duration_s == 0.0


def test_a_signal_shorter_than_a_gating_block_has_no_integrated_loudness():
    report = measure(tones([(-23, 0.3)]), sample_rate=RATE)
    assert report.integrated_lufs is None and report.loudness_range_lu is None
    assert report.momentary_max_lufs is not None and report.true_peak_dbtp is not None


def test_stereo_reads_3_db_louder_than_the_same_signal_in_mono():
    mono = measure(tones([(-23, 10)], channels=1), sample_rate=RATE)
    stereo = measure(tones([(-23, 10)], channels=2), sample_rate=RATE)
    assert stereo.integrated_lufs - mono.integrated_lufs == pytest.approx(3.0103, abs=0.001)
    assert stereo.true_peak_dbtp == pytest.approx(mono.true_peak_dbtp, abs=1e-9)


def test_surround_channels_weigh_1_5_db_more_than_front_channels():
    tone = tones([(-23, 10)], channels=1)[0]
    silence = np.zeros_like(tone)
    in_left = measure(np.stack([tone, silence, silence, silence, silence]), sample_rate=RATE)
    in_ls = measure(np.stack([silence, silence, silence, tone, silence]), sample_rate=RATE)
    difference = in_ls.integrated_lufs - in_left.integrated_lufs
    assert difference == pytest.approx(10 * np.log10(1.41), abs=0.001)


def test_explicit_channel_weights_can_leave_a_channel_out():
    signal = programme(seconds=4.0)
    left_only = measure(signal, sample_rate=44_100, channel_weights=(1.0, 0.0))
    assert left_only.integrated_lufs == pytest.approx(
        measure(signal[0], sample_rate=44_100).integrated_lufs, abs=1e-9
    )


def test_level_figures_of_a_full_scale_sine():
    report = measure(tones([(0.0, 5)]), sample_rate=RATE)
    assert report.sample_peak_dbfs == pytest.approx(0.0, abs=1e-4)
    assert report.rms_dbfs == pytest.approx(-3.0103, abs=1e-3)
    assert report.crest_factor_db == pytest.approx(3.0103, abs=1e-3)


def test_float64_samples_are_measured_as_float32():
    signal = programme(seconds=4.0)
    assert measure(signal.astype(np.float64), sample_rate=44_100) == measure(
        signal, sample_rate=44_100
    )


def test_report_goes_to_json_and_back():
    report = measure(programme(seconds=4.0), sample_rate=44_100)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    fields = {key: tuple(v) if isinstance(v, list) else v for key, v in data.items()}
    assert LoudnessReport(**fields) == report


# Files ------------------------------------------------------------------------------------


def test_measure_file_equals_measure_on_the_array(tmp_path):
    signal = programme(seconds=5.0)
    path = tmp_path / "programme.wav"
    write(path, signal, sample_rate=44_100, subtype="FLOAT")
    assert measure_file(path, block_frames=10_000) == measure(signal, sample_rate=44_100)


def test_measure_file_of_a_16_bit_wav_is_within_quantisation_of_the_array(tmp_path):
    signal = programme(seconds=5.0) / 4  # no clipping on the way to 16 bits
    path = tmp_path / "programme-16.wav"
    write(path, signal, sample_rate=44_100)
    from_file, from_array = measure_file(path), measure(signal, sample_rate=44_100)
    for name in ("integrated_lufs", "loudness_range_lu", "true_peak_dbtp", "rms_dbfs"):
        assert getattr(from_file, name) == pytest.approx(getattr(from_array, name), abs=0.01)


# Errors -----------------------------------------------------------------------------------


def test_block_with_the_wrong_channel_count_is_refused():
    meter = LoudnessMeter(sample_rate=RATE, channels=2)
    with pytest.raises(ValueError, match=r"shaped \(2, n_samples\), found \(1, 100\)"):
        meter.push(np.zeros((1, 100), dtype=np.float32))


def test_integer_samples_are_refused():
    meter = LoudnessMeter(sample_rate=RATE, channels=1)
    with pytest.raises(TypeError, match="found int16"):
        meter.push(np.zeros(100, dtype=np.int16))


def test_non_finite_samples_are_refused_and_leave_the_meter_as_it_was():
    meter = LoudnessMeter(sample_rate=RATE, channels=1)
    meter.push(np.full(1_000, 0.5, dtype=np.float32))
    before = meter.result()
    with pytest.raises(ValueError, match="NaN or infinity"):
        meter.push(np.array([0.1, np.nan], dtype=np.float32))
    assert meter.result() == before


def test_six_channels_need_explicit_weights():
    with pytest.raises(ValueError, match="found 6"):
        LoudnessMeter(sample_rate=RATE, channels=6)
    LoudnessMeter(sample_rate=RATE, channels=6, channel_weights=(1, 1, 1, 0, 1.41, 1.41))


@pytest.mark.parametrize("sample_rate", [4_000, 400_000])
def test_sample_rates_outside_the_studio_range_are_refused(sample_rate):
    with pytest.raises(ValueError, match="sample rate"):
        LoudnessMeter(sample_rate=sample_rate, channels=2)


# Speed ------------------------------------------------------------------------------------


def test_three_minutes_of_stereo_measure_quickly():
    rng = np.random.default_rng(SEED)
    signal = rng.normal(0, 0.1, (2, 44_100 * 180)).astype(np.float32)
    started = time.perf_counter()
    measure(signal, sample_rate=44_100)
    # About 0.2 s on a 2-core CI machine; the bound only catches a gross regression.
    assert time.perf_counter() - started < 2.0
