"""Loudness, loudness range, true peak and level, per ITU-R BS.1770-4 and EBU R 128.

:class:`LoudnessMeter` takes a signal block by block, in order, in blocks of any size, and keeps
only what the figures need: the filter states, the last 3 s of K-weighted power, and one value
per 100 ms. Memory stays flat whatever the length (an hour adds 36,000 floats), and the result
does not depend on how the signal was cut into blocks: the meter works through it in fixed
chunks of whole 100 ms hops, so every block size gives the same numbers, bit for bit.

What is measured
----------------
- K-weighting: the two biquads of BS.1770-4 (Tables 1 and 2), derived for any sample rate from
  their analogue prototypes (:func:`k_weighting_sos`).
- Momentary (400 ms) and short-term (3 s) loudness every 100 ms (EBU Tech 3341), and their
  maxima over every window at sample resolution, as Tech 3341's file-based cases 10 and 13 need
  (a 400 ms burst can fall anywhere between two 100 ms steps).
- Integrated loudness with BS.1770-4 gating (400 ms blocks, 75 % overlap, -70 LKFS absolute and
  -10 LU relative gates).
- Loudness range (EBU Tech 3342): short-term values every 100 ms, -70 LUFS absolute and -20 LU
  relative gates, 95th minus 10th percentile.
- True peak (BS.1770-4 Annex 2): 4x oversampling below 88.2 kHz, 2x below 176.4 kHz, none above,
  by a polyphase windowed-sinc interpolator, streamed across blocks. Frames whose proven bound
  cannot beat the running peak are not interpolated: the figure is the same, found sooner.
- Sample peak, RMS level and crest factor.

Silence
-------
Figures that are the logarithm of zero (digital silence, or no complete window) are ``None``,
never ``-inf`` or NaN, so a :class:`LoudnessReport` goes to JSON as it is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sp_signal

from studio.processing.blocks import (
    Rechunker,
    check_int,
    check_stream,
    checked_block,
    file_blocks,
)
from studio.processing.decode import (
    DEFAULT_BLOCK_FRAMES,
)

HOP_S = 0.1
MOMENTARY_S = 0.4  # EBU Tech 3341; also the BS.1770-4 gating block
SHORT_TERM_S = 3.0  # EBU Tech 3341
_MOMENTARY_HOPS = round(MOMENTARY_S / HOP_S)
_SHORT_TERM_HOPS = round(SHORT_TERM_S / HOP_S)
# BS.1770-4 eq. (2): the constant that makes a 0 dBFS 1 kHz sine in one channel read -3.01 LKFS.
LOUDNESS_OFFSET_DB = -0.691
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770-4 eq. (5), and EBU Tech 3342
RELATIVE_GATE_LU = -10.0  # BS.1770-4 eq. (6)
RANGE_RELATIVE_GATE_LU = -20.0  # EBU Tech 3342
# EBU Tech 3342: LRA = L95 - L10, percentiles interpolated linearly between sorted values.
RANGE_PERCENTILES = (10.0, 95.0)

# BS.1770-4 Table 3 (L, R, C, Ls, Rs); mono and stereo channels weigh 1.0.
SURROUND_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)

# BS.1770-4 Tables 1 and 2: the K-weighting biquads at 48 kHz, as published.
PUBLISHED_48K_SOS = np.array(
    [
        # Pre-filter (high shelf): b0, b1, b2, a0, a1, a2.
        [1.53512485958697, -2.69169618940638, 1.19839281085285,
         1.0, -1.69065929318241, 0.73248077421585],
        # RLB high-pass.
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]
)  # fmt: skip

# Their analogue prototypes, found by inverting the prewarped bilinear transform of the published
# coefficients (each biquad has as many free parameters as coefficients, so the fit is exact).
# Stage 1, a high shelf: H(S) = (Vh S^2 + Vb S/Q + 1) / (S^2 + S/Q + 1), S = s / (2 pi f0).
_SHELF_F0_HZ = 1681.974450955533
_SHELF_Q = 0.7071752369554196
_SHELF_HIGH_GAIN_DB = 3.999843853973347  # Vh, the gain well above f0
_SHELF_MID_GAIN_DB = 1.998589075636732  # Vb, which sets the gain at f0
# Stage 2, the RLB high-pass: H(S) = g S^2 / (S^2 + S/Q + 1). The published numerator [1, -2, 1]
# is not normalised, so its pass-band gain g is 0.043 dB; keeping g fixed in the prototype keeps
# the response the same at every sample rate.
_HIGHPASS_F0_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773
_HIGHPASS_GAIN_DB = 0.04327714626081620

# True-peak interpolator: Kaiser-windowed sinc with its cut-off at the input Nyquist frequency.
_TRUE_PEAK_TAPS_PER_PHASE = 48
_TRUE_PEAK_KAISER_BETA = 8.0
_FFT_FRAME = 4096
# _peak_bounds holds in exact arithmetic; this margin covers the float32 rounding (about 1e-6).
_TRUE_PEAK_BOUND_MARGIN = 1.01
# Internal chunk: whole 100 ms hops, about this many frames.
_CHUNK_TARGET_FRAMES = 65_536


@dataclass(frozen=True)
class LoudnessReport:
    """Loudness, loudness range, peaks and level of a signal.

    Every level figure is ``None`` where it is undefined: for digital silence (the logarithm of
    zero), and for the gated figures when no window passes the gates or is long enough.

    Attributes
    ----------
    integrated_lufs : float or None
        Programme loudness, gated per ITU-R BS.1770-4, in LUFS. ``None`` if no complete 400 ms
        block is louder than -70 LUFS (silence, or a signal shorter than 400 ms).
    loudness_range_lu : float or None
        Loudness range per EBU Tech 3342, in LU. ``None`` if no complete 3 s window is louder
        than -70 LUFS.
    momentary_lufs : tuple of (float or None)
        Momentary loudness, in LUFS, every ``hop_s`` seconds: item ``k`` is the 400 ms ending at
        ``(k + 1) * hop_s`` seconds. Before 0.4 s the window reaches back before the start, which
        counts as silence (as on a live meter). ``None`` where the window is digital silence.
    short_term_lufs : tuple of (float or None)
        Short-term loudness (3 s windows), in LUFS, on the same time grid as ``momentary_lufs``.
    momentary_max_lufs : float or None
        Loudest 400 ms window anywhere in the signal, at sample resolution (so it can exceed
        ``max(momentary_lufs)``, which is sampled every 100 ms), in LUFS.
    short_term_max_lufs : float or None
        Loudest 3 s window anywhere in the signal, at sample resolution, in LUFS.
    sample_peak_dbfs : float or None
        Largest absolute sample value, in dBFS.
    true_peak_dbtp : float or None
        Largest absolute value of the oversampled signal (BS.1770-4 Annex 2), in dBTP.
    rms_dbfs : float or None
        Root mean square of all samples of all channels, in dBFS (a full-scale square wave reads
        0 dBFS and a full-scale sine -3.01 dBFS).
    crest_factor_db : float or None
        ``sample_peak_dbfs - rms_dbfs``, in dB.
    hop_s : float
        Time between items of the loudness series, in seconds (0.1).
    duration_s : float
        Length of the measured signal, in seconds.
    """

    integrated_lufs: float | None
    loudness_range_lu: float | None
    momentary_lufs: tuple[float | None, ...]
    short_term_lufs: tuple[float | None, ...]
    momentary_max_lufs: float | None
    short_term_max_lufs: float | None
    sample_peak_dbfs: float | None
    true_peak_dbtp: float | None
    rms_dbfs: float | None
    crest_factor_db: float | None
    hop_s: float
    duration_s: float

    def to_dict(self) -> dict[str, float | list[float | None] | None]:
        """Return the fields as a JSON-ready dict: series as lists, silence as ``None``."""
        out: dict[str, float | list[float | None] | None] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


def k_weighting_sos(*, sample_rate: int) -> np.ndarray:
    """The K-weighting filter of BS.1770-4 at a sample rate, as second-order sections.

    Each stage's analogue prototype is discretised by the bilinear transform, prewarped at its
    corner frequency. At 48 kHz this gives back the published coefficients of Tables 1 and 2.

    Parameters
    ----------
    sample_rate : int
        Sample rate in Hz; above 3,364 Hz (twice the shelf frequency).

    Returns
    -------
    numpy.ndarray
        float64, shaped ``(2, 6)``: ``[b0, b1, b2, 1, a1, a2]`` for the pre-filter (high shelf)
        then the RLB high-pass, as :func:`scipy.signal.sosfilt` takes them.
    """
    shelf = _bilinear_biquad(
        f0_hz=_SHELF_F0_HZ,
        q=_SHELF_Q,
        numerator=(db_to_gain(_SHELF_HIGH_GAIN_DB), db_to_gain(_SHELF_MID_GAIN_DB), 1.0),
        sample_rate=sample_rate,
    )
    highpass = _bilinear_biquad(
        f0_hz=_HIGHPASS_F0_HZ,
        q=_HIGHPASS_Q,
        numerator=(db_to_gain(_HIGHPASS_GAIN_DB), 0.0, 0.0),
        sample_rate=sample_rate,
    )
    return np.array([shelf, highpass])


def _bilinear_biquad(
    *, f0_hz: float, q: float, numerator: tuple[float, float, float], sample_rate: int
) -> list[float]:
    """Discretise H(S) = (n2 S^2 + n1 S/Q + n0) / (S^2 + S/Q + 1), with S = s / (2 pi f0).

    The prewarped bilinear transform S = (z - 1) / (K (z + 1)), K = tan(pi f0 / fs), maps f0 of
    the prototype exactly onto f0 of the digital filter.
    """
    n2, n1, n0 = numerator
    k = math.tan(math.pi * f0_hz / sample_rate)
    a0 = 1.0 + k / q + k * k
    b = [
        (n2 + n1 * k / q + n0 * k * k) / a0,
        2.0 * (n0 * k * k - n2) / a0,
        (n2 - n1 * k / q + n0 * k * k) / a0,
    ]
    a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return b + a


def true_peak_oversampling(*, sample_rate: int) -> int:
    """Oversampling factor for the true peak: 4 below 88.2 kHz, 2 below 176.4 kHz, else 1."""
    if sample_rate < 88_200:
        return 4
    if sample_rate < 176_400:
        return 2
    return 1


def true_peak_phases(*, factor: int) -> np.ndarray:
    """Polyphase interpolation filters of the true-peak meter.

    A Kaiser-windowed sinc with its cut-off at the input Nyquist frequency, split into its
    ``factor`` phases. Phase 0 is a pure delay (the samples themselves, already counted by the
    sample peak), so only phases 1 to ``factor - 1`` are returned, each scaled to unit gain at
    0 Hz.

    Parameters
    ----------
    factor : int
        Oversampling factor, from :func:`true_peak_oversampling`.

    Returns
    -------
    numpy.ndarray
        float64, shaped ``(factor - 1, taps)``: convolving the signal with row ``p - 1`` gives
        the values at ``p / factor`` of a sample period between samples.
    """
    taps = _TRUE_PEAK_TAPS_PER_PHASE
    if factor == 1:
        return np.zeros((0, taps))
    length = factor * taps + 1
    offsets = np.arange(length) - (length - 1) / 2
    prototype = np.sinc(offsets / factor) * np.kaiser(length, _TRUE_PEAK_KAISER_BETA)
    phases = np.array([prototype[p : p + factor * taps : factor] for p in range(1, factor)])
    return phases / phases.sum(axis=1, keepdims=True)


def default_channel_weights(*, channels: int) -> tuple[float, ...]:
    """BS.1770-4 Table 3 weights: 1.0 for mono and stereo; L, R, C, Ls, Rs for 5 channels.

    Raises
    ------
    ValueError
        For any other channel count, whose layout is ambiguous.
    """
    if channels in (1, 2):
        return (1.0,) * channels
    if channels == 5:
        return SURROUND_WEIGHTS
    raise ValueError(
        f"Expected 1, 2 or 5 channels for the standard channel weights, found {channels}: pass "
        "channel_weights (BS.1770-4 Table 3: 1.0 for L, R and C, 1.41 for Ls and Rs, 0.0 to "
        "leave out an LFE channel)."
    )


def db_to_gain(gain_db: float) -> float:
    """Convert decibels to an amplitude ratio."""
    return float(10.0 ** (gain_db / 20.0))


class LoudnessMeter:
    """Streaming loudness meter (ITU-R BS.1770-4, EBU Tech 3341 and 3342).

    Parameters
    ----------
    sample_rate : int
        Sample rate in Hz, 8,000 to 384,000.
    channels : int
        Number of channels.
    channel_weights : sequence of float, optional
        Weight of each channel (BS.1770-4 Table 3). Defaults to 1.0 for mono and stereo and to
        1.0, 1.0, 1.0, 1.41, 1.41 for 5 channels (L, R, C, Ls, Rs); other channel counts need
        explicit weights (0.0 leaves a channel, such as an LFE, out of the loudness).
    true_peak : bool
        Measure the true peak (default). False skips the 4x oversampling, most of the meter's
        cost, for a meter that only needs loudness; its true peak then reads the sample peak.

    Raises
    ------
    ValueError
        If an argument is out of range.
    TypeError
        If the sample rate or channel count is not an int.

    Attributes
    ----------
    sample_rate : int
        Sample rate in Hz.
    channels : int
        Number of channels.
    channel_weights : tuple of float
        Weight of each channel.
    oversampling : int
        True-peak oversampling factor (:func:`true_peak_oversampling`).

    Notes
    -----
    The 100 ms hop is ``round(sample_rate / 10)`` samples: exact for every rate divisible by 10.

    Examples
    --------
    >>> meter = LoudnessMeter(sample_rate=48_000, channels=2)
    >>> meter.push(np.zeros((2, 48_000), dtype=np.float32))
    >>> meter.result().integrated_lufs is None
    True
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        channels: int,
        channel_weights: Sequence[float] | None = None,
        true_peak: bool = True,
    ) -> None:
        check_stream(sample_rate=sample_rate, channels=channels)
        if channel_weights is None:
            weights = default_channel_weights(channels=channels)
        else:
            weights = tuple(float(weight) for weight in channel_weights)
            if len(weights) != channels:
                raise ValueError(
                    f"Expected one channel weight per channel ({channels}), found {len(weights)}."
                )
            if not all(math.isfinite(w) and w >= 0.0 for w in weights) or not any(weights):
                raise ValueError(
                    f"Expected finite channel weights of 0.0 or more, not all 0.0; found {weights}."
                )
        self.sample_rate = sample_rate
        self.channels = channels
        self.channel_weights = weights
        # Without true peak (a meter that only needs loudness) the report's true peak is the
        # sample peak: the oversampling is most of a meter's cost.
        self.oversampling = true_peak_oversampling(sample_rate=sample_rate) if true_peak else 1
        hop = round(sample_rate * HOP_S)
        self._chunk_frames = hop * max(1, math.ceil(_CHUNK_TARGET_FRAMES / hop))
        self._chunks = Rechunker(channels=channels, chunk_frames=self._chunk_frames)
        self._state = _State(
            sos=k_weighting_sos(sample_rate=sample_rate),
            weights=np.array(weights),
            phases=true_peak_phases(factor=self.oversampling),
            hop=hop,
            channels=channels,
        )
        self._final: _State | None = None

    def push(self, block: np.ndarray) -> None:
        """Measure the next block of the signal.

        Parameters
        ----------
        block : numpy.ndarray
            float32 samples shaped ``(channels, n)`` (``(n,)`` is taken for mono), full scale at
            1.0; any ``n``, including 0. float64 is accepted and rounded to float32.

        Raises
        ------
        TypeError
            If the block is not a float array.
        ValueError
            If its shape does not match the meter's channels, or it holds NaN or infinity.
        """
        block = checked_block(block, channels=self.channels)
        if not block.shape[1]:
            return
        peaks = _abs_max(block)
        if not np.isfinite(peaks).all():
            raise ValueError("Expected finite samples, found NaN or infinity in the block.")
        self._state.sample_peak = np.maximum(self._state.sample_peak, peaks)
        self._final = None
        for chunk in self._chunks.chunks(block):
            self._state.feed(chunk)

    def result(self) -> LoudnessReport:
        """Return the figures for everything pushed so far; the meter can take more after."""
        return self._final_state().report(sample_rate=self.sample_rate)

    def mono_fold_lufs(self) -> float | None:
        """Integrated loudness of a stereo signal's mono fold-down, in LUFS.

        The fold-down ``(L + R) / 2`` played on both channels, gated per BS.1770-4 eqs. (4) to
        (7); ``None`` below the -70 LUFS absolute gate. K-weighting is linear, so the fold of
        the two K-weighted channels is the K-weighted fold: it costs no filtering of its own.

        Raises
        ------
        ValueError
            If the meter does not measure 2 channels.
        """
        if self.channels != 2:
            raise ValueError(f"Expected a meter of 2 channels, found {self.channels}.")
        return self._final_state().fold_lufs()

    def _final_state(self) -> _State:
        """The state with the waiting partial chunk fed, kept until the next block."""
        if self._final is None:
            state = self._state.copy()
            if self._chunks.partial.shape[1]:
                state.feed(self._chunks.partial)
            self._final = state
        return self._final


class _State:
    """Everything the meter carries from one chunk to the next."""

    def __init__(
        self, *, sos: np.ndarray, weights: np.ndarray, phases: np.ndarray, hop: int, channels: int
    ) -> None:
        self.sos = sos
        self.weights = weights
        self.phases = phases
        self.hop = hop
        self.momentary_samples = _MOMENTARY_HOPS * hop
        self.short_term_samples = _SHORT_TERM_HOPS * hop
        # A stereo pair is filtered as one complex signal (see _k_weighted).
        self.pair = channels == 2
        if self.pair:
            self.zi = np.zeros((sos.shape[0], 2), dtype=np.complex128)
        else:
            self.zi = np.zeros((sos.shape[0], channels, 2))
        # The mono fold-down (L + R) / 2 on both channels weighs (w_L + w_R) (L + R)^2 / 4.
        self.fold_weight = float(weights.sum()) / 4.0
        self.fold_hop_energy: list[np.ndarray] = []
        # K-weighted power of the last 3 s, per sample and per sub-block; silence before the start.
        self.sub_block = _sub_block(hop)
        ring_rows = self.short_term_samples // self.sub_block
        self.power_ring = np.zeros((ring_rows, self.sub_block))
        self.sum_tail = np.zeros(ring_rows)
        self.sub_blocks_seen = 0
        self.hop_energy: list[np.ndarray] = []
        self.momentary_max = 0.0
        self.short_term_max = 0.0
        self.sample_peak = np.zeros(channels)
        self.true_peak = 0.0
        taps = phases.shape[1] if phases.size else 0
        self.peak_tail = np.zeros((channels, max(taps - 1, 0)), dtype=np.float32)
        self.sum_squares = 0.0
        self.frames = 0
        self.residual_gains = _residual_gains(phases)
        self._phase_spectra_cache: dict[int, np.ndarray] = {}  # per FFT frame length

    def copy(self) -> _State:
        twin = object.__new__(_State)
        twin.__dict__.update(self.__dict__)
        twin.zi = self.zi.copy()
        twin.power_ring = self.power_ring.copy()
        twin.hop_energy = list(self.hop_energy)
        twin.fold_hop_energy = list(self.fold_hop_energy)
        twin.sample_peak = self.sample_peak.copy()
        twin.peak_tail = self.peak_tail.copy()
        return twin

    def feed(self, chunk: np.ndarray) -> None:
        """Measure a float32 chunk of whole hops, or the last, partial chunk."""
        samples = chunk.astype(np.float64)
        self.frames += samples.shape[1]
        self.sum_squares += float(np.einsum("cn,cn->", samples, samples))
        filtered = self._k_weighted(samples)
        # BS.1770-4 eqs. (1)-(2) and (3)-(4): channel-weighted sum of the squared K-weighted
        # signal, kept per sample here and summed per 100 ms hop.
        power = self.weights @ (filtered * filtered)
        self.hop_energy.append(self._hop_sums(power))
        if self.pair:
            fold = filtered[0] + filtered[1]
            self.fold_hop_energy.append(self._hop_sums(self.fold_weight * (fold * fold)))
        self._track_window_maxima(power)
        self._track_true_peak(chunk)

    def _k_weighted(self, samples: np.ndarray) -> np.ndarray:
        """The K-weighted channels (BS.1770-4 Tables 1 and 2), float64 shaped like ``samples``.

        A stereo pair goes through sosfilt as one complex signal L + iR: the coefficients are
        real, so each part comes out bit for bit as a real pass would give it, while the two
        recursions run side by side instead of one channel after the other (a quarter faster).
        """
        if not self.pair:
            filtered, self.zi = sp_signal.sosfilt(self.sos, samples, axis=-1, zi=self.zi)
            return filtered
        pair = np.empty(samples.shape[1], dtype=np.complex128)
        pair.real, pair.imag = samples
        filtered, self.zi = sp_signal.sosfilt(self.sos, pair, zi=self.zi)
        return filtered.view(np.float64).reshape(-1, 2).T

    def _hop_sums(self, power: np.ndarray) -> np.ndarray:
        """Sum of ``power`` over each whole 100 ms hop (only the last chunk has a rest)."""
        whole = power.size - power.size % self.hop
        return power[:whole].reshape(-1, self.hop).sum(axis=1)

    def _track_window_maxima(self, power: np.ndarray) -> None:
        """Loudest 400 ms and 3 s windows ending in this chunk, at sample resolution.

        Windows are first summed on a grid of sub-blocks of about a hundredth of a hop. A window
        ending inside sub-block b lies within the grid window ending at b plus sub-block b - m,
        so only the sub-blocks where that bound beats the best window so far are summed sample
        by sample: exact, and cheap unless the level is steady to within a fraction of a dB.
        """
        sub, ring_rows = self.sub_block, self.power_ring.shape[0]
        if power.size % sub:
            # Only the last, partial chunk. Silence after the end cannot make a window louder
            # than the one ending at the last sample, which it contains.
            power = np.concatenate([power, np.zeros(sub - power.size % sub)])
        rows = power.reshape(-1, sub)
        new = rows.shape[0]
        # Sub-block i of all_sums is global sub-block seen - ring_rows + i; the chunk's own
        # sub-blocks start at i = ring_rows.
        all_sums = np.concatenate([self.sum_tail, rows.sum(axis=1)])
        cumulative = np.concatenate([[0.0], np.cumsum(all_sums)])
        ends = np.arange(ring_rows, ring_rows + new)
        for subs, name in (
            (self.momentary_samples // sub, "momentary_max"),
            (self.short_term_samples // sub, "short_term_max"),
        ):
            grid = cumulative[ends + 1] - cumulative[ends + 1 - subs]
            best = max(getattr(self, name), float(grid.max()))
            candidates = np.flatnonzero(grid + all_sums[ends - subs] > best)
            if candidates.size:
                last, first = ends[candidates], ends[candidates] - subs
                # The window ending at offset r of sub-block `last` holds samples 0..r of it,
                # the whole sub-blocks between, and samples r+1.. of sub-block `first`.
                between = grid[candidates] - all_sums[last] + all_sums[first]
                head = np.cumsum(rows[last - ring_rows], axis=1)
                tail = np.cumsum(self._sub_block_rows(first, rows), axis=1)
                best = max(best, float(np.max(between[:, None] + head - tail)))
            setattr(self, name, best)
        slots = (self.sub_blocks_seen + np.arange(new)) % ring_rows
        self.power_ring[slots[-ring_rows:]] = rows[-ring_rows:]
        self.sum_tail = all_sums[-ring_rows:]
        self.sub_blocks_seen += new

    def _sub_block_rows(self, index: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Samples of sub-blocks by their index in all_sums: from the chunk or the ring."""
        ring_rows = self.power_ring.shape[0]
        out = np.empty((index.size, self.sub_block))
        in_chunk = index >= ring_rows
        out[in_chunk] = rows[index[in_chunk] - ring_rows]
        older = index[~in_chunk] + self.sub_blocks_seen - ring_rows
        out[~in_chunk] = self.power_ring[older % ring_rows]
        return out

    def _track_true_peak(self, chunk: np.ndarray) -> None:
        if not self.phases.size:
            return
        # The sample peak can stand in for the running true peak: the report takes the larger.
        floor = max(self.true_peak, float(self.sample_peak.max()))
        self.true_peak = self._interpolated_peak(chunk, at_least=floor)
        keep = self.peak_tail.shape[1]
        if chunk.shape[1] >= keep:
            self.peak_tail = chunk[:, chunk.shape[1] - keep :].astype(np.float32)
        else:
            self.peak_tail = np.concatenate([self.peak_tail, chunk], axis=1)[:, -keep:]

    def _interpolated_peak(self, chunk: np.ndarray, *, at_least: float) -> float:
        """The larger of ``at_least`` and the largest absolute value between the samples of the
        tail and chunk.

        Valid convolutions with each phase, by FFT over frames (overlap-save). Only the frames
        and phases whose bound (:meth:`_peak_bounds`) exceeds ``at_least`` are computed: the
        others cannot change the answer, so it is exact.
        """
        taps = self.phases.shape[1]
        length = taps - 1 + chunk.shape[1]
        outputs = chunk.shape[1]
        frame = min(_FFT_FRAME, max(2 * taps, sp_fft.next_fast_len(length, real=True)))
        step = frame - taps + 1
        n_frames = -(-outputs // step)
        padded = np.zeros((chunk.shape[0], (n_frames - 1) * step + frame), dtype=np.float32)
        padded[:, : taps - 1] = self.peak_tail
        padded[:, taps - 1 : length] = chunk
        needed = self._peak_bounds(padded, frame=frame, step=step) > at_least
        channel, index = np.nonzero(needed.any(axis=-1))
        if not index.size:
            return at_least
        windows = np.lib.stride_tricks.sliding_window_view(padded, frame, axis=1)[:, ::step]
        spectra = sp_fft.rfft(windows[channel, index], axis=-1)
        row, phase = np.nonzero(needed[channel, index])
        products = spectra[row] * self._phase_spectra(frame)[phase]
        values = sp_fft.irfft(products, n=frame, axis=-1, overwrite_x=True)
        # Circular convolution: the first taps - 1 outputs of each frame wrap around, and the
        # last frame runs past the chunk into padding.
        last = outputs - (n_frames - 1) * step
        inner = index[row] < n_frames - 1
        peak = at_least
        if inner.any():
            peak = max(peak, _abs_peak(values[inner, taps - 1 :]))
        if not inner.all():
            peak = max(peak, _abs_peak(values[~inner, taps - 1 : taps - 1 + last]))
        return peak

    def _peak_bounds(self, padded: np.ndarray, *, frame: int, step: int) -> np.ndarray:
        """An upper bound of each phase's valid outputs over each frame of ``padded``, with a
        margin for the rounding of the float32 FFTs; shaped (channels, frames, phases).

        Each phase's filter is linear interpolation at its fraction of a sample period, which
        never exceeds the frame's largest absolute sample, plus a residual filter: its output is
        bounded through the frame's largest second difference (:func:`_residual_gains`). Music
        changes slowly from sample to sample, so most frames below the running peak are skipped.
        """
        windows = np.lib.stride_tricks.sliding_window_view(padded, frame, axis=1)[:, ::step]
        largest = np.maximum(windows.max(axis=-1), -windows.min(axis=-1))
        curvature = padded[:, 2:] - 2.0 * padded[:, 1:-1] + padded[:, :-2]
        curves = np.lib.stride_tricks.sliding_window_view(curvature, frame - 2, axis=1)[:, ::step]
        steepest = np.maximum(curves.max(axis=-1), -curves.min(axis=-1))
        sample_gain, curvature_gain = self.residual_gains
        bounds = largest[..., None] * sample_gain + steepest[..., None] * curvature_gain
        return bounds * _TRUE_PEAK_BOUND_MARGIN

    def _phase_spectra(self, frame: int) -> np.ndarray:
        if frame not in self._phase_spectra_cache:
            spectra = sp_fft.rfft(self.phases, n=frame, axis=-1)
            self._phase_spectra_cache[frame] = spectra.astype(np.complex64)
        return self._phase_spectra_cache[frame]

    def fold_lufs(self) -> float | None:
        """Integrated loudness of the mono fold-down of a stereo pair (BS.1770-4 eqs. 4-7)."""
        energy = np.concatenate(self.fold_hop_energy) if self.fold_hop_energy else np.zeros(0)
        momentary = _window_power(energy, hops=_MOMENTARY_HOPS, hop=self.hop)
        return _integrated_lufs(momentary[_MOMENTARY_HOPS - 1 :])

    def report(self, *, sample_rate: int) -> LoudnessReport:
        """Flush the interpolator with silence and compute every figure."""
        true_peak = self.true_peak
        if self.phases.size:
            flush = np.zeros_like(self.peak_tail)
            true_peak = self._interpolated_peak(flush, at_least=true_peak)
        sample_peak = float(self.sample_peak.max()) if self.sample_peak.size else 0.0
        true_peak = max(true_peak, sample_peak)
        hop_energy = np.concatenate(self.hop_energy) if self.hop_energy else np.zeros(0)
        momentary = _window_power(hop_energy, hops=_MOMENTARY_HOPS, hop=self.hop)
        short_term = _window_power(hop_energy, hops=_SHORT_TERM_HOPS, hop=self.hop)
        sample_peak_dbfs = _to_db(sample_peak, scale=20.0)
        count = self.frames * self.sample_peak.size
        rms_dbfs = _to_db(self.sum_squares / count, scale=10.0) if count else None
        return LoudnessReport(
            # Only windows that lie wholly inside the signal are gated.
            integrated_lufs=_integrated_lufs(momentary[_MOMENTARY_HOPS - 1 :]),
            loudness_range_lu=_loudness_range_lu(short_term[_SHORT_TERM_HOPS - 1 :]),
            momentary_lufs=tuple(_to_lufs(value) for value in momentary),
            short_term_lufs=tuple(_to_lufs(value) for value in short_term),
            momentary_max_lufs=_to_lufs(self.momentary_max / self.momentary_samples),
            short_term_max_lufs=_to_lufs(self.short_term_max / self.short_term_samples),
            sample_peak_dbfs=sample_peak_dbfs,
            true_peak_dbtp=_to_db(true_peak, scale=20.0),
            rms_dbfs=rms_dbfs,
            crest_factor_db=(
                sample_peak_dbfs - rms_dbfs
                if sample_peak_dbfs is not None and rms_dbfs is not None
                else None
            ),
            hop_s=HOP_S,
            duration_s=self.frames / sample_rate,
        )


def _residual_gains(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far each true-peak phase can stray from linear interpolation, shaped (phases,) twice.

    Row ``p - 1`` of ``true_peak_phases`` is linear interpolation ``g`` at ``p / factor`` between
    the two samples around the sinc's centre (taps ``taps / 2 - 1`` and ``taps / 2``) plus a
    residual ``r``. Dividing ``r`` by the second difference ``[1, -2, 1]`` leaves a quotient
    ``q`` and a remainder ``e``, so an output is at most the largest nearby ``|x|`` times
    ``1 + sum|e|`` plus the largest nearby ``|x[n] - 2 x[n-1] + x[n-2]|`` times ``sum|q|``.

    Returns
    -------
    tuple of numpy.ndarray
        The gain on the largest absolute sample, and the gain on the largest absolute second
        difference (empty without oversampling).
    """
    rows, taps = phases.shape
    fractions = np.arange(1, rows + 1) / (rows + 1)
    residual = phases.copy()
    residual[:, taps // 2] -= 1.0 - fractions
    residual[:, taps // 2 - 1] -= fractions
    sample_gain, curvature_gain = np.ones(rows), np.zeros(rows)
    for row, filter_taps in enumerate(residual):
        quotient, remainder = sp_signal.deconvolve(filter_taps, [1.0, -2.0, 1.0])
        sample_gain[row] += np.abs(remainder).sum()
        curvature_gain[row] = np.abs(quotient).sum()
    return sample_gain, curvature_gain


def _abs_peak(values: np.ndarray) -> float:
    """Largest absolute value of an array, without writing an array of absolute values."""
    return max(float(values.max()), -float(values.min()))


def _sub_block(hop: int) -> int:
    """Largest divisor of the hop that is at most a hundredth of it (1 at worst)."""
    return max(d for d in range(1, max(hop // 100, 1) + 1) if hop % d == 0)


def _window_power(hop_energy: np.ndarray, *, hops: int, hop: int) -> np.ndarray:
    """Mean channel-weighted power of the windows of ``hops`` hops ending at each hop.

    Windows reaching back before the start count the missing hops as silence.
    """
    cumulative = np.concatenate([np.zeros(hops), np.cumsum(hop_energy)])
    return (cumulative[hops:] - cumulative[:-hops]) / (hops * hop)


def _integrated_lufs(block_power: np.ndarray) -> float | None:
    """Gated loudness of the complete 400 ms blocks, BS.1770-4 eqs. (4) to (7)."""
    with np.errstate(divide="ignore"):
        block_lufs = LOUDNESS_OFFSET_DB + 10.0 * np.log10(block_power)  # eq. (4)
    absolute = block_lufs > ABSOLUTE_GATE_LUFS  # eq. (5)
    if not absolute.any():
        return None
    # eq. (6): relative threshold, 10 LU below the mean power of the absolutely gated blocks.
    relative_gate = _to_lufs(float(block_power[absolute].mean())) + RELATIVE_GATE_LU
    gated = absolute & (block_lufs > relative_gate)
    return _to_lufs(float(block_power[gated].mean()))  # eq. (7)


def _loudness_range_lu(short_term_power: np.ndarray) -> float | None:
    """Loudness range of the complete 3 s windows, per EBU Tech 3342."""
    with np.errstate(divide="ignore"):
        levels = LOUDNESS_OFFSET_DB + 10.0 * np.log10(short_term_power)
    absolute = levels > ABSOLUTE_GATE_LUFS
    if not absolute.any():
        return None
    # The relative gate sits 20 LU below the power mean of the absolutely gated windows.
    relative_gate = _to_lufs(float(short_term_power[absolute].mean())) + RANGE_RELATIVE_GATE_LU
    kept = levels[absolute & (levels > relative_gate)]
    low, high = np.percentile(kept, RANGE_PERCENTILES)
    return float(high - low)


def _to_lufs(mean_power: float) -> float | None:
    """BS.1770-4 eq. (2): loudness of a channel-weighted mean square; ``None`` for silence."""
    level = _to_db(mean_power, scale=10.0)
    return None if level is None else LOUDNESS_OFFSET_DB + level


def _to_db(value: float, *, scale: float) -> float | None:
    return float(scale * math.log10(value)) if value > 0.0 else None


def _abs_max(block: np.ndarray) -> np.ndarray:
    """Largest absolute value of each channel; NaN if the channel holds one."""
    return np.maximum(block.max(axis=1), -block.min(axis=1)).astype(np.float64)


def measure(
    signal: np.ndarray,
    *,
    sample_rate: int,
    channel_weights: Sequence[float] | None = None,
    block_frames: int = 65_536,
) -> LoudnessReport:
    """Measure a whole signal held in memory.

    Parameters
    ----------
    signal : numpy.ndarray
        float32 samples shaped ``(channels, n_samples)``, or ``(n_samples,)`` for mono.
    sample_rate : int
        Sample rate in Hz.
    channel_weights : sequence of float, optional
        As :class:`LoudnessMeter`.
    block_frames : int
        Frames pushed at a time; the figures do not depend on it.

    Returns
    -------
    LoudnessReport

    Raises
    ------
    TypeError, ValueError
        As :class:`LoudnessMeter` and :meth:`LoudnessMeter.push`.
    """
    if not isinstance(signal, np.ndarray):
        raise TypeError(f"Expected a float32 numpy array, found {type(signal).__name__}.")
    check_int("block_frames", block_frames)
    if block_frames < 1:
        raise ValueError(f"Expected block_frames of 1 or more, found {block_frames}.")
    if signal.ndim not in (1, 2):
        raise ValueError(f"Expected a signal shaped (channels, n_samples), found {signal.shape}.")
    channels = 1 if signal.ndim == 1 else signal.shape[0]
    meter = LoudnessMeter(
        sample_rate=sample_rate, channels=channels, channel_weights=channel_weights
    )
    for start in range(0, signal.shape[-1], block_frames):
        meter.push(signal[..., start : start + block_frames])
    return meter.result()


def measure_file(
    path: str | os.PathLike[str],
    *,
    channel_weights: Sequence[float] | None = None,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
) -> LoudnessReport:
    """Measure an audio file, streaming it through :func:`studio.processing.decode.read_blocks`.

    Parameters
    ----------
    path : str or os.PathLike
        The file to measure.
    channel_weights : sequence of float, optional
        As :class:`LoudnessMeter`.
    block_frames : int
        Frames decoded at a time; bounds memory use.

    Returns
    -------
    LoudnessReport

    Raises
    ------
    AudioError
        As :func:`studio.processing.decode.read_blocks`.
    """
    sample_rate, channels, blocks = file_blocks(path, block_frames=block_frames)
    meter = LoudnessMeter(
        sample_rate=sample_rate, channels=channels, channel_weights=channel_weights
    )
    for block in blocks:
        meter.push(block)
    return meter.result()
