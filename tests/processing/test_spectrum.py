"""Third-octave spectrum: noise slopes, a sine's band, a bass stem, the series and its memory."""

from __future__ import annotations

import json
import math
import time
import tracemalloc

import numpy as np
import pytest

from studio.processing import synth
from studio.processing.frontend import (
    FRAME_RATE_HZ,
    N_BINS,
    SpectralFrames,
    SpectralFrontEnd,
)
from studio.processing.spectrum import (
    NOMINAL_CENTRES_HZ,
    SERIES_FRAMES,
    TIME_HOP_S,
    SpectrumAnalyzer,
    SpectrumReport,
    band_centres_hz,
    band_edges_hz,
    band_weights,
    band_widths_hz,
    reference_band_levels_db,
    reference_density_db,
    slope_db_per_octave,
)

SEED = 20_240_611
RATE = 44_100
CENTRES = np.array(NOMINAL_CENTRES_HZ)
OCTAVE_DB = 10.0 * math.log10(2.0)


def analyse(
    signal: np.ndarray, *, sample_rate: int = RATE, block_frames: int = 65_536
) -> tuple[SpectrumReport, int]:
    """Run a (channels, n) signal through the front end into a SpectrumAnalyzer.

    Returns the report and the number of frames the front end emitted.
    """
    signal = np.atleast_2d(signal).astype(np.float32)
    analyzer = SpectrumAnalyzer()
    front = SpectralFrontEnd(sample_rate=sample_rate, channels=signal.shape[0], sink=analyzer.push)
    for start in range(0, signal.shape[1], block_frames):
        front.push(signal[:, start : start + block_frames])
    front.finish()
    return analyzer.result(), front.next_frame


def pink_noise(*, n_samples: int, sample_rate: int, seed: int = SEED) -> np.ndarray:
    """Seeded pink noise: white Gaussian spectrum shaped by 1/sqrt(f) (power 1/f), RMS 0.1."""
    rng = np.random.default_rng(seed)
    spectrum = rng.standard_normal(n_samples // 2 + 1) + 1j * rng.standard_normal(
        n_samples // 2 + 1
    )
    frequencies = np.fft.rfftfreq(n_samples, d=1.0 / sample_rate)
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(frequencies[1:])
    noise = np.fft.irfft(spectrum, n=n_samples)
    return (0.1 * noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def white_noise(*, n_samples: int, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.1, n_samples).astype(np.float32)


def levels(report: SpectrumReport, low_hz: float, high_hz: float) -> np.ndarray:
    """Band levels of the bands whose nominal centres lie within [low_hz, high_hz]."""
    mask = (low_hz <= CENTRES) & (high_hz >= CENTRES)
    return np.array([report.band_levels_db[i] for i in np.flatnonzero(mask)], dtype=float)


# Bands ------------------------------------------------------------------------------------


def test_bands_are_the_27_iso_266_third_octaves_from_25_hz_to_10_khz():
    centres = band_centres_hz()
    assert len(NOMINAL_CENTRES_HZ) == centres.size == 27
    # Nominal values are the exact base-10 centres rounded to ISO 266's preferred numbers.
    assert np.allclose(centres, CENTRES, rtol=0.03)
    edges = band_edges_hz()
    assert np.allclose(edges[1:, 0], edges[:-1, 1])  # contiguous
    assert edges[-1, 1] == pytest.approx(11_025.0)  # the 10 kHz band is cut at Nyquist


def test_band_weights_share_each_bin_out_without_counting_it_twice():
    weights = band_weights()
    assert weights.shape == (27, N_BINS)
    column_sums = weights.sum(axis=0)
    frequencies = np.fft.rfftfreq(2048, d=1 / 22_050)
    inside = (frequencies > 30.0) & (frequencies < 11_000.0)
    assert np.allclose(column_sums[inside], 1.0, atol=1e-6)
    assert np.all(column_sums <= 1.0 + 1e-6)
    # Each band takes its width's worth of bins (the top one, ending on the Nyquist bin that
    # stands for half a bin spacing, half a bin more); the 25 Hz band, narrower than one bin,
    # takes about half a bin.
    spacing = 22_050 / 2048
    expected = band_widths_hz() / spacing
    expected[-1] += 0.5
    assert np.allclose(weights.sum(axis=1), expected, rtol=1e-4)
    assert weights[0].sum() == pytest.approx(5.8 / spacing, rel=0.01)


# Noise slopes -----------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [44_100, 48_000])
def test_pink_noise_tilts_minus_3_db_per_octave_and_matches_the_reference(sample_rate):
    noise = pink_noise(n_samples=20 * sample_rate, sample_rate=sample_rate)
    report, _ = analyse(noise, sample_rate=sample_rate)
    assert report.tilt_db_per_octave == pytest.approx(-OCTAVE_DB, abs=0.25)
    # Equal energy per band, so the band levels are flat...
    flat = levels(report, 50.0, 8_000.0)
    assert np.ptp(flat) < 1.5
    # ...and the reference is pink above 100 Hz: small deviation there.
    deviation = [
        d for c, d in zip(CENTRES, report.deviation_db, strict=True) if 100.0 <= c <= 5_000.0
    ]
    assert max(abs(d) for d in deviation) < 1.0


@pytest.mark.parametrize("sample_rate", [44_100, 48_000])
def test_white_noise_band_levels_rise_3_db_per_octave_and_its_tilt_is_flat(sample_rate):
    # White noise has equal power per Hz; a third-octave band doubles in width every octave,
    # so band levels rise 10 log10(2) = 3.01 dB per octave while the density tilt is 0.
    report, _ = analyse(white_noise(n_samples=20 * sample_rate), sample_rate=sample_rate)
    mask = (CENTRES >= 50.0) & (CENTRES <= 8_000.0)
    slope = slope_db_per_octave(
        frequencies_hz=band_centres_hz()[mask], levels_db=levels(report, 50.0, 8_000.0)
    )
    assert slope == pytest.approx(OCTAVE_DB, abs=0.2)
    assert report.tilt_db_per_octave == pytest.approx(0.0, abs=0.2)


def test_band_powers_add_up_to_the_mean_square_of_band_limited_noise():
    # White noise loses the half of its power above the 11,025 Hz analysis Nyquist; the
    # bands (22 Hz to Nyquist) hold nearly all of the rest.
    report, _ = analyse(white_noise(n_samples=10 * RATE))
    total_db = 10.0 * math.log10(report.band_power().sum())
    assert total_db == pytest.approx(10.0 * math.log10(0.01 * 11_025 / 22_050), abs=0.3)


# A sine -----------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sample_rate", [44_100, 48_000])
def test_a_1_khz_sine_puts_its_energy_in_the_1_khz_band(sample_rate, channels):
    t = np.arange(5 * sample_rate) / sample_rate
    sine = np.tile(0.5 * np.sin(2 * np.pi * 1000.0 * t), (channels, 1))
    report, _ = analyse(sine, sample_rate=sample_rate)
    k = NOMINAL_CENTRES_HZ.index(1000.0)
    # Mean square 0.125: -9.03 dB in the RMS convention (a full-scale sine reads -3.01 dB).
    assert report.band_levels_db[k] == pytest.approx(10 * math.log10(0.125), abs=0.1)
    others = [level for i, level in enumerate(report.band_levels_db) if i != k]
    assert max(others) < report.band_levels_db[k] - 40.0
    assert report.spectral_centroid_hz == pytest.approx(1000.0, rel=0.05)


# Synth stems ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stems() -> dict[str, np.ndarray]:
    return synth.render_stems(synth.compose_song(n_bars=8), sample_rate=RATE)


def test_a_bass_stem_has_most_of_its_energy_below_250_hz(stems):
    report, _ = analyse(stems["bass"])
    power = report.band_power()
    assert power[CENTRES <= 250.0].sum() / power.sum() > 0.9
    assert report.spectral_centroid_hz < 300.0


def test_the_keys_stem_is_darker_than_the_lead(stems):
    keys, _ = analyse(stems["keys"])
    lead, _ = analyse(stems["lead"])
    assert keys.spectral_centroid_hz < lead.spectral_centroid_hz


# Stereo width per band --------------------------------------------------------------------


def test_width_per_band_is_none_for_mono_and_zero_for_identical_channels():
    noise = white_noise(n_samples=5 * RATE)
    mono, _ = analyse(noise)
    assert mono.width_per_band is None
    stereo, _ = analyse(np.stack([noise, noise]))
    assert stereo.width_per_band is not None
    assert all(width == 0.0 for width in stereo.width_per_band)


def test_width_per_band_is_about_1_for_unrelated_channels():
    left = white_noise(n_samples=10 * RATE, seed=1)
    right = white_noise(n_samples=10 * RATE, seed=2)
    report, _ = analyse(np.stack([left, right]))
    widths = [w for c, w in zip(CENTRES, report.width_per_band, strict=True) if c >= 200.0]
    assert np.allclose(widths, 1.0, atol=0.15)


# Series, memory, streaming ----------------------------------------------------------------


def test_series_has_about_four_values_per_second():
    duration_s = 30.0
    report, n_frames = analyse(white_noise(n_samples=int(duration_s * RATE)))
    assert report.time_hop_s == pytest.approx(TIME_HOP_S) == pytest.approx(0.2554, abs=1e-4)
    assert len(report.band_levels_over_time_db) == 27
    items = {len(row) for row in report.band_levels_over_time_db}
    assert items == {math.ceil(n_frames / SERIES_FRAMES)}
    assert items.pop() == pytest.approx(duration_s / TIME_HOP_S, abs=2)
    # Rounded to 0.1 dB, and steady for steady noise.
    row = report.band_levels_over_time_db[20]
    assert all(value == round(value, 1) for value in row)
    assert np.ptp(row[1:-1]) < 2.0


def test_memory_grows_only_by_the_series():
    """Pushing 30 minutes in short runs keeps about 27 float32 values per 0.255 s, no more."""
    rng = np.random.default_rng(SEED)
    run = 7  # short runs, the worst case for bookkeeping
    mid = rng.random((N_BINS, run), dtype=np.float32)
    analyzer = SpectrumAnalyzer()

    def push_minutes(minutes: float, start: int) -> int:
        n_runs = int(minutes * 60 * FRAME_RATE_HZ / run)
        for k in range(n_runs):
            analyzer.push(SpectralFrames(mid=mid, side=None, start_frame=start + k * run))
        return start + n_runs * run

    next_frame = push_minutes(1.0, 0)
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    next_frame_after = push_minutes(30.0, next_frame)
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    items = (next_frame_after - next_frame) / SERIES_FRAMES
    series_bytes = items * 27 * 4
    assert after - before < 1.5 * series_bytes + 100_000
    report = analyzer.result()
    assert len(report.band_levels_over_time_db[0]) == math.ceil(next_frame_after / SERIES_FRAMES)


def test_result_does_not_depend_on_how_the_frames_are_cut():
    rng = np.random.default_rng(SEED)
    mid = rng.random((N_BINS, 500), dtype=np.float32)
    side = rng.random((N_BINS, 500), dtype=np.float32)
    whole = SpectrumAnalyzer()
    whole.push(SpectralFrames(mid=mid, side=side, start_frame=0))
    pieces = SpectrumAnalyzer()
    cuts = [0, 1, 4, 15, 16, 100, 233, 234, 500]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        pieces.push(SpectralFrames(mid=mid[:, a:b], side=side[:, a:b], start_frame=a))
    one, other = whole.result().to_dict(), pieces.result().to_dict()
    assert one.keys() == other.keys()
    for key in one:
        assert np.allclose(
            np.array(one[key], dtype=float), np.array(other[key], dtype=float), atol=0.011
        ), key


def test_frames_out_of_order_are_refused():
    analyzer = SpectrumAnalyzer()
    mid = np.zeros((N_BINS, 3), dtype=np.float32)
    analyzer.push(SpectralFrames(mid=mid, side=None, start_frame=0))
    with pytest.raises(ValueError, match="starting at frame 3, found 5"):
        analyzer.push(SpectralFrames(mid=mid, side=None, start_frame=5))
    with pytest.raises(ValueError, match="mono"):
        analyzer.push(SpectralFrames(mid=mid, side=mid, start_frame=3))
    with pytest.raises(ValueError, match="shaped"):
        analyzer.push(SpectralFrames(mid=mid[:10], side=None, start_frame=3))


# Silence and JSON -------------------------------------------------------------------------


def test_silence_gives_none_figures_and_goes_to_json():
    report, _ = analyse(np.zeros((2, 3 * RATE), dtype=np.float32))
    assert all(level is None for level in report.band_levels_db)
    assert report.tilt_db_per_octave is None
    assert report.spectral_centroid_hz is None
    assert all(value is None for value in report.deviation_db)
    assert all(value is None for row in report.band_levels_over_time_db for value in row)
    assert report.width_per_band is not None and all(w is None for w in report.width_per_band)
    json.dumps(report.to_dict(), allow_nan=False)


def test_report_goes_to_json_and_back():
    report, _ = analyse(pink_noise(n_samples=3 * RATE, sample_rate=RATE))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["band_centres_hz"][0] == 25.0
    assert len(data["band_levels_over_time_db"]) == 27
    assert data["width_per_band"] is None
    assert set(data) == set(SpectrumReport.__dataclass_fields__)


# Reference --------------------------------------------------------------------------------


def test_reference_is_pink_between_its_roll_offs():
    frequencies = np.array([200.0, 400.0, 800.0, 1600.0, 3200.0])
    density = reference_density_db(frequency_hz=frequencies)
    assert np.allclose(np.diff(density), -OCTAVE_DB, atol=0.05)
    assert reference_density_db(frequency_hz=40.0) - (-10 * math.log10(0.04)) == pytest.approx(
        -3.0, abs=0.05
    )
    bands = reference_band_levels_db()
    # Flat (pink) from 100 Hz to 5 kHz but for the roll-offs' tails (0.1 dB at either end).
    assert np.ptp(bands[(CENTRES >= 100.0) & (CENTRES <= 5_000.0)]) < 0.3


def test_reference_is_aligned_on_the_mean_from_100_hz_to_5_khz():
    report, _ = analyse(white_noise(n_samples=5 * RATE))
    mask = (CENTRES >= 100.0) & (CENTRES <= 5_000.0)
    ours = np.array(report.band_levels_db, dtype=float)[mask]
    reference = np.array(report.reference_db, dtype=float)[mask]
    assert ours.mean() == pytest.approx(reference.mean(), abs=0.01)
    deviation = np.array(report.deviation_db, dtype=float)
    assert np.allclose(
        deviation, np.array(report.band_levels_db, dtype=float) - report.reference_db, atol=0.02
    )


# Speed ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stereo", [False, True])
def test_three_minutes_of_frames_analyse_quickly(stereo):
    rng = np.random.default_rng(SEED)
    n_frames = int(180 * FRAME_RATE_HZ)
    # As the front end hands them over: runs of about 1.5 s of (N_BINS, n) views.
    mid = rng.random((n_frames, N_BINS), dtype=np.float32).T
    side = rng.random((n_frames, N_BINS), dtype=np.float32).T if stereo else None
    analyzer = SpectrumAnalyzer()
    started = time.perf_counter()
    for start in range(0, n_frames, 64):
        analyzer.push(
            SpectralFrames(
                mid=mid[:, start : start + 64],
                side=None if side is None else side[:, start : start + 64],
                start_frame=start,
            )
        )
    analyzer.result()
    # About 20 ms (mono) and 30 ms (stereo) on a 2-core machine; the bound catches regressions.
    assert time.perf_counter() - started < 0.25
