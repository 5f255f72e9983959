"""Tonal balance: energy in third-octave bands, over time and on average, against a target.

:class:`SpectrumAnalyzer` reads the shared front end's frames (:mod:`studio.processing.frontend`)
and keeps, per third-octave band, running sums for the average and one value per
``SERIES_FRAMES`` frames (about 4 per second) for drawing: an hour of audio adds about 14,000
values per band, nothing else grows.

Bands
-----
The 27 third-octave bands of IEC 61260-1 with the nominal centres of ISO 266, 25 Hz to 10 kHz
(the last centre below the 11,025 Hz Nyquist frequency of the 22,050 Hz analysis rate). Exact
centres are ``1000 * 10 ** (k / 10)`` Hz and edges lie a factor ``10 ** (1 / 20)`` either side
(IEC 61260-1, base-10 system). The 10 kHz band is cut at Nyquist (8,913 to 11,025 Hz instead of
11,220 Hz) and :func:`band_widths_hz` says so.

Each spectrogram bin stands for the frequencies within half a bin spacing (10.77 Hz) of its
centre, and a band takes from each bin the fraction of that interval it covers. The bins'
powers are thereby shared out among the bands with nothing counted twice, and a band narrower
than a bin (25 to 50 Hz: 5.8 to 11.6 Hz wide) takes a share of one or two bins, as if the power
were spread evenly within each bin: its level is right for a smooth spectrum, but its
resolution is the bin's (and the Hann window's main lobe spans 4 bins), not the band's.

Levels (dB)
-----------
Per-bin power is normalised (Parseval, corrected for the Hann window's energy) so that the
powers of all bins add up to the mean square of the frame. Band levels are
``10 * log10(mean square)`` in dB relative to full scale in the RMS convention of
:attr:`LoudnessReport.rms_dbfs`: a full-scale square wave would read 0 dB and a full-scale sine
-3.01 dB in the band that holds it. The signal measured is the front end's mid, ``(L + R) / 2``.
Digital silence reads ``None`` (never ``-inf``).

Tilt
----
``tilt_db_per_octave`` is the slope of the spectral *density* (power per Hz), fitted by least
squares over the bands centred 50 Hz to 8 kHz: pink noise reads -3.01 dB/octave and white noise
0. Band *levels* of third-octave bands rise 3.01 dB/octave faster than the density because the
bands double in width every octave (white noise: +3.01 dB/octave in ``band_levels_db``, pink
noise flat); :func:`slope_db_per_octave` fits either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import scipy.sparse

from studio.processing.frontend import (
    ANALYSIS_SAMPLE_RATE,
    FRAME_RATE_HZ,
    HOP_SAMPLES,
    N_BINS,
    N_FFT,
    SpectralFrames,
    bin_frequencies_hz,
)

# ISO 266 nominal centres of the third-octave bands kept (IEC 61260-1 band numbers -16 to 10).
NOMINAL_CENTRES_HZ = (
    25.0, 31.5, 40.0, 50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0,
    500.0, 630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0, 5000.0,
    6300.0, 8000.0, 10000.0,
)  # fmt: skip
_BAND_NUMBERS = np.arange(-16, 11)
# IEC 61260-1 base-10 system: exact centres and the half-band factor.
_BAND_EDGE_FACTOR = 10.0 ** (1.0 / 20.0)

# About 4 values per second for the series: 11 frames of 512 samples at 22,050 Hz = 0.2554 s.
SERIES_FRAMES = 11
TIME_HOP_S = SERIES_FRAMES * HOP_SAMPLES / ANALYSIS_SAMPLE_RATE
_SERIES_BLOCKS_MAX = 256

# Bands over which the reference is aligned to the measurement, and the tilt is fitted.
ALIGN_RANGE_HZ = (100.0, 5000.0)
TILT_RANGE_HZ = (50.0, 8000.0)

# The reference target (see reference_density_db).
REFERENCE_LOW_CORNER_HZ = 40.0
REFERENCE_HIGH_CORNER_HZ = 12_000.0

_OCTAVE_DB = 10.0 * math.log10(2.0)  # 3.0103 dB: doubling a bandwidth doubles its power


def band_centres_hz() -> np.ndarray:
    """Exact (base-10) centre frequencies of the bands, in Hz, shaped (n_bands,)."""
    return 1000.0 * 10.0 ** (_BAND_NUMBERS / 10.0)


def band_edges_hz() -> np.ndarray:
    """Lower and upper edge of each band, in Hz, shaped (n_bands, 2); the top cut at Nyquist."""
    centres = band_centres_hz()
    edges = np.stack([centres / _BAND_EDGE_FACTOR, centres * _BAND_EDGE_FACTOR], axis=1)
    return np.minimum(edges, ANALYSIS_SAMPLE_RATE / 2.0)


def band_widths_hz() -> np.ndarray:
    """Width of each band as analysed (the top band cut at Nyquist), in Hz, shaped (n_bands,)."""
    edges = band_edges_hz()
    return edges[:, 1] - edges[:, 0]


def band_weights() -> np.ndarray:
    """Share of each spectrogram bin's power that goes to each band.

    Bin ``k`` stands for the interval within half a bin spacing of its centre (DC and Nyquist
    bins for half an interval), and band ``b`` takes the fraction of that interval it overlaps.

    Returns
    -------
    numpy.ndarray
        float32, shaped (n_bands, N_BINS); each column sums to 1 inside the bands' range and to
        0 outside, so band powers are shares of the frame's power and nothing is counted twice.
    """
    frequencies = bin_frequencies_hz()
    spacing = frequencies[1] - frequencies[0]
    low = np.maximum(frequencies - spacing / 2.0, 0.0)
    high = np.minimum(frequencies + spacing / 2.0, ANALYSIS_SAMPLE_RATE / 2.0)
    edges = band_edges_hz()
    overlap = np.minimum(high[None, :], edges[:, 1:2]) - np.maximum(low[None, :], edges[:, 0:1])
    return (np.maximum(overlap, 0.0) / (high - low)[None, :]).astype(np.float32)


def bin_power_scale() -> np.ndarray:
    """Factor turning ``|X[k]| ** 2`` of a Hann-windowed frame into that bin's mean-square share.

    Parseval for a one-sided spectrum, divided by the window's energy: interior bins count
    twice (their negative-frequency twin), DC and Nyquist once, so that the scaled powers of
    all bins add up to the mean square of the (unwindowed) frame.

    Returns
    -------
    numpy.ndarray
        float64, shaped (N_BINS,).
    """
    window = np.hanning(N_FFT + 1)[:-1]  # the front end's periodic Hann window
    scale = np.full(N_BINS, 2.0 / (N_FFT * float(np.sum(window**2))))
    scale[[0, -1]] /= 2.0
    return scale


def reference_density_db(*, frequency_hz: np.ndarray | float) -> np.ndarray:
    """Target spectral density of a balanced mix, in dB per Hz relative to 1 kHz.

    The target is pink: equal energy per octave, so the density falls 3.01 dB per octave
    (``-10 * log10(f / 1000)``), which is the rule of thumb engineers balance mixes against
    (a pink-noise reference) and about where long-term spectra of modern pop and rock mixes
    sit from 100 Hz up. Two second-order (12 dB/octave) roll-offs, -3 dB at 40 Hz and at
    12 kHz, stand for the sub-bass and air that mixes leave out and that this target should
    not ask for. It is a documented rule of thumb, not a measurement of any catalogue:
    mixes that are darker above 4 kHz by a few dB are common and not a fault.

    Parameters
    ----------
    frequency_hz : float or numpy.ndarray
        Frequencies in Hz, > 0.

    Returns
    -------
    numpy.ndarray
        Density in dB (0 dB at 1 kHz before the roll-offs), shaped like ``frequency_hz``.
    """
    f = np.asarray(frequency_hz, dtype=np.float64)
    pink = -10.0 * np.log10(f / 1000.0)
    low_cut = -10.0 * np.log10(1.0 + (REFERENCE_LOW_CORNER_HZ / f) ** 4)
    high_cut = -10.0 * np.log10(1.0 + (f / REFERENCE_HIGH_CORNER_HZ) ** 4)
    return pink + low_cut + high_cut


def reference_band_levels_db() -> np.ndarray:
    """The reference as third-octave band levels: density at the centre times the band width.

    Pink is flat in band levels (each band holds the same energy) apart from the roll-offs and
    the 10 kHz band, which is narrower for being cut at Nyquist. Unaligned: 0 dB is arbitrary.
    """
    return reference_density_db(frequency_hz=band_centres_hz()) + 10.0 * np.log10(band_widths_hz())


def slope_db_per_octave(*, frequencies_hz: np.ndarray, levels_db: np.ndarray) -> float:
    """Least-squares slope of levels against ``log2`` of frequency, in dB per octave.

    Parameters
    ----------
    frequencies_hz : numpy.ndarray
        Frequencies in Hz, shaped (n,), n >= 2.
    levels_db : numpy.ndarray
        Levels in dB, shaped (n,).
    """
    octaves = np.log2(np.asarray(frequencies_hz, dtype=np.float64))
    slope, _ = np.polyfit(octaves, np.asarray(levels_db, dtype=np.float64), 1)
    return float(slope)


@dataclass(frozen=True)
class SpectrumReport:
    """Third-octave band levels of a signal, and how they compare with the reference.

    Attributes
    ----------
    band_centres_hz : tuple of float
        ISO 266 nominal centre of each band, in Hz (25 to 10,000).
    band_levels_db : tuple of (float or None)
        Mean power in each band over the whole signal (silent stretches included), in dB
        relative to full scale (RMS convention: a full-scale sine reads -3.01 dB), rounded to
        0.01 dB; ``None`` for a band with no energy at all.
    band_levels_over_time_db : list of list of (float or None)
        ``[band][item]``: mean power in each band over each run of ``SERIES_FRAMES`` frames,
        same dB, rounded to 0.1 dB. Item ``j`` covers frames ``j * 11`` to ``j * 11 + 10``,
        i.e. from ``j * time_hop_s`` seconds; the last item may cover fewer frames.
    time_hop_s : float
        Time between items of the series, in s (0.2554).
    reference_db : tuple of (float or None)
        The reference (:func:`reference_band_levels_db`) at each band, shifted so that its mean
        over the bands centred 100 Hz to 5 kHz equals the mean of ``band_levels_db`` there,
        in the same dB; all ``None`` if any of those bands is silent.
    deviation_db : tuple of (float or None)
        ``band_levels_db - reference_db`` per band, in dB: positive where the signal has more
        than the target.
    tilt_db_per_octave : float or None
        Slope of the spectral density over the bands centred 50 Hz to 8 kHz, in dB/octave
        (pink noise -3.01, white noise 0, a dark mix steeper than -3); ``None`` if any of those
        bands is silent.
    spectral_centroid_hz : float or None
        Centroid of the long-term average magnitude spectrum, in Hz: librosa's magnitude
        weighting, over the whole signal (louder frames weigh more, silence nothing).
    width_per_band : tuple of (float or None), or None
        Side energy over mid energy in each band (0 for identical channels, 1 for unrelated
        channels of equal level); ``None`` in a band without mid energy, and ``None`` as a
        whole for mono.
    duration_s : float
        Time covered by the frames, in s (frames times the hop).
    """

    band_centres_hz: tuple[float, ...]
    band_levels_db: tuple[float | None, ...]
    band_levels_over_time_db: list[list[float | None]]
    time_hop_s: float
    reference_db: tuple[float | None, ...]
    deviation_db: tuple[float | None, ...]
    tilt_db_per_octave: float | None
    spectral_centroid_hz: float | None
    width_per_band: tuple[float | None, ...] | None
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict: tuples as lists, silence as ``None``."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = list(value)
            elif field.name == "band_levels_over_time_db":
                value = [list(row) for row in value]
            out[field.name] = value
        return out

    def band_power(self) -> np.ndarray:
        """Mean power per band as a mean-square share (linear, 0 for silent bands)."""
        return np.array([0.0 if v is None else 10.0 ** (v / 10.0) for v in self.band_levels_db])


class SpectrumAnalyzer:
    """Streaming third-octave spectrum of the front end's frames.

    Push the frames of one signal in order (runs of any length, as the front end emits them)
    and ask for :meth:`result` at any time.
    """

    def __init__(self) -> None:
        weights = band_weights()
        scale = bin_power_scale().astype(np.float32)
        # Fold the Parseval scale into the band weights: band power = W' @ |X|^2.
        self._weights = scipy.sparse.csr_matrix(weights * scale[None, :])
        self._frequencies = bin_frequencies_hz()
        self._n_bands = weights.shape[0]
        self._mid_sum = np.zeros(self._n_bands)
        self._side_sum = np.zeros(self._n_bands)
        self._magnitude_sum = np.zeros(N_BINS)
        self._frames = 0
        self._stereo: bool | None = None
        self._series: list[np.ndarray] = []  # (n_bands, items) float32 blocks of whole items
        self._partial = np.zeros(self._n_bands)
        self._partial_frames = 0

    def push(self, frames: SpectralFrames) -> None:
        """Add the next run of frames.

        Parameters
        ----------
        frames : SpectralFrames
            Consecutive frames; ``mid`` (and ``side``) shaped (N_BINS, n_frames).

        Raises
        ------
        ValueError
            If the spectra are not shaped (N_BINS, n), the run does not follow the previous
            one, or mono and stereo runs are mixed.
        """
        frames.check_follows(self._frames)
        mid = frames.mid
        stereo = frames.side is not None
        if self._stereo is None:
            self._stereo = stereo
        elif stereo != self._stereo:
            raise ValueError("Expected every run of a signal to be mono, or every run stereo.")
        if not mid.shape[1]:
            return
        mid_power = self._weights @ frames.mid_power
        self._mid_sum += mid_power.sum(axis=1, dtype=np.float64)
        if frames.side is not None:
            side_power = self._weights @ np.square(frames.side, dtype=np.float32, order="C")
            self._side_sum += side_power.sum(axis=1, dtype=np.float64)
        self._magnitude_sum += mid.sum(axis=1, dtype=np.float64)
        self._frames += mid.shape[1]
        self._add_to_series(mid_power)

    def _add_to_series(self, power: np.ndarray) -> None:
        """Sum runs of SERIES_FRAMES frames, carrying an incomplete run to the next push."""
        position, n = 0, power.shape[1]
        if self._partial_frames:
            take = min(SERIES_FRAMES - self._partial_frames, n)
            self._partial += power[:, :take].sum(axis=1, dtype=np.float64)
            self._partial_frames += take
            position = take
            if self._partial_frames == SERIES_FRAMES:
                self._series.append((self._partial / SERIES_FRAMES).astype(np.float32)[:, None])
                self._partial = np.zeros(self._n_bands)
                self._partial_frames = 0
        whole = (n - position) // SERIES_FRAMES
        if len(self._series) >= _SERIES_BLOCKS_MAX:
            # Short runs would leave many tiny arrays; one array keeps the overhead flat.
            self._series = [np.concatenate(self._series, axis=1)]
        if whole:
            end = position + whole * SERIES_FRAMES
            items = power[:, position:end].reshape(self._n_bands, whole, SERIES_FRAMES)
            self._series.append(items.mean(axis=2, dtype=np.float64).astype(np.float32))
            position = end
        if position < n:
            self._partial += power[:, position:].sum(axis=1, dtype=np.float64)
            self._partial_frames += n - position

    def result(self) -> SpectrumReport:
        """Return the figures for everything pushed so far; the analyzer can take more after."""
        n_bands = self._n_bands
        series = list(self._series)
        if self._partial_frames:
            series.append((self._partial / self._partial_frames).astype(np.float32)[:, None])
        over_time = np.concatenate(series, axis=1) if series else np.zeros((n_bands, 0))
        mean_power = self._mid_sum / self._frames if self._frames else np.zeros(n_bands)
        levels = _power_to_db(mean_power)
        reference, deviation = _compare_with_reference(levels)
        return SpectrumReport(
            band_centres_hz=NOMINAL_CENTRES_HZ,
            band_levels_db=tuple(_rounded(levels, 2)),
            band_levels_over_time_db=[_rounded(_power_to_db(row), 1) for row in over_time],
            time_hop_s=TIME_HOP_S,
            reference_db=tuple(_rounded(reference, 2)),
            deviation_db=tuple(_rounded(deviation, 2)),
            tilt_db_per_octave=_tilt(levels),
            spectral_centroid_hz=_centroid(self._magnitude_sum, self._frequencies),
            width_per_band=self._width() if self._stereo else None,
            duration_s=self._frames / FRAME_RATE_HZ,
        )

    def _width(self) -> tuple[float | None, ...]:
        return tuple(
            round(float(side / mid), 4) if mid > 0.0 else None
            for side, mid in zip(self._side_sum, self._mid_sum, strict=True)
        )


def _power_to_db(power: np.ndarray) -> np.ndarray:
    """10 log10 of power, NaN where the power is 0 (turned into None when rounded)."""
    power = np.asarray(power, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(power > 0.0, 10.0 * np.log10(np.maximum(power, 1e-300)), np.nan)


def _rounded(values: np.ndarray, digits: int) -> list[float | None]:
    return [None if math.isnan(v) else round(float(v), digits) for v in values]


def _in_range(range_hz: tuple[float, float]) -> np.ndarray:
    centres = np.array(NOMINAL_CENTRES_HZ)
    return (centres >= range_hz[0]) & (centres <= range_hz[1])


def _compare_with_reference(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference aligned on the mean over ALIGN_RANGE_HZ, and levels minus reference."""
    reference = reference_band_levels_db()
    aligned = _in_range(ALIGN_RANGE_HZ)
    if np.isnan(levels[aligned]).any():
        nothing = np.full(levels.shape, np.nan)
        return nothing, nothing
    reference = reference + float(np.mean(levels[aligned]) - np.mean(reference[aligned]))
    return reference, levels - reference


def _tilt(levels: np.ndarray) -> float | None:
    """Density slope: fit band level minus 10 log10(width) against log2(centre)."""
    fitted = _in_range(TILT_RANGE_HZ)
    if np.isnan(levels[fitted]).any():
        return None
    density = levels[fitted] - 10.0 * np.log10(band_widths_hz()[fitted])
    slope = slope_db_per_octave(frequencies_hz=band_centres_hz()[fitted], levels_db=density)
    return round(slope, 3)


def _centroid(magnitude_sum: np.ndarray, frequencies: np.ndarray) -> float | None:
    total = float(magnitude_sum.sum())
    if total <= 0.0:
        return None
    return round(float(magnitude_sum @ frequencies) / total, 2)
