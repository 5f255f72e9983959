"""Stereo image: correlation, width, balance and what folding to mono costs, streamed.

:class:`StereoAnalyzer` reads the original-rate blocks (before any resampling) and keeps running
sums, one set per ``CORRELATION_WINDOW_S`` window for the correlation series, and one
:class:`~studio.processing.loudness.LoudnessMeter` of the stereo signal (or the caller's own
meter of it, shared to save its whole cost), which measures the mono fold-down too. Memory is
flat apart from the series (two values per second).

Definitions (L and R are the channels, summed over every sample)
----------------------------------------------------------------
- ``correlation``: Pearson's correlation of L and R, ``cov(L, R) / (std(L) std(R))``: 1 for
  identical channels, 0 for unrelated ones, -1 for one the polarity-flip of the other.
- ``width``: side over mid energy, ``sum(S^2) / sum(M^2)`` with ``M = (L + R) / 2`` and
  ``S = (L - R) / 2``: 0 for identical channels, 1 for unrelated channels of equal level,
  ``None`` (infinite) when the mid is silent and the side is not. ``width_db`` is
  ``10 * log10(width)``, clamped to +/-``LIMIT_DB`` so that identical channels read -100 dB and
  opposite channels +100 dB.
- ``balance_db``: ``10 * log10(sum(L^2) / sum(R^2))``, positive when the left is louder,
  clamped to +/-``LIMIT_DB`` (a hard-panned source reads +/-100 dB).
- ``mono_fold_loss_lu``: integrated loudness of the stereo signal minus that of its mono
  fold-down ``(L + R) / 2`` played on both channels, both per ITU-R BS.1770-4. Identical
  channels lose 0 LU, unrelated channels of equal level 3.01 LU. When the fold-down cancels
  to below the -70 LUFS absolute gate (L = -R), its loudness is undefined; the loss is then
  reported as its lower bound, the stereo loudness plus 70 LU (a large number, so that a
  check ``loss > 3`` still fires), and ``mono_fold_silent`` is True.

Mono input: correlation 1, width 0, ``width_db`` None, balance 0 dB, fold loss 0 LU (no meters
run). Silence (every sample 0) gives ``None`` figures, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from studio.processing.decode import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from studio.processing.loudness import ABSOLUTE_GATE_LUFS, LoudnessMeter

CORRELATION_WINDOW_S = 0.5
LIMIT_DB = 100.0

# Running sums kept per window and in total: L, R, L^2, R^2, L R, (L - R)^2, (L + R)^2.
_N_SUMS = 7
_WINDOW_BLOCKS_MAX = 256


@dataclass(frozen=True)
class StereoReport:
    """The stereo image of a signal.

    Attributes
    ----------
    correlation : float or None
        Pearson correlation of L and R over the whole signal, -1 to 1 (1 for mono); ``None``
        for silence or a channel without variation.
    correlation_over_time : tuple of (float or None), or None
        The same per window of ``window_s`` seconds (item ``k`` from ``k * window_s``; the
        last window may be shorter), rounded to 0.001; ``None`` in a silent window. ``None``
        as a whole for mono.
    width : float or None
        Side energy over mid energy (0 for identical channels, 1 for unrelated channels of
        equal level, 0 for mono); ``None`` for silence, or when only the side has energy.
    width_db : float or None
        ``10 * log10(width)`` in dB, clamped to -100 to +100 dB; ``None`` for mono and silence.
    balance_db : float or None
        Left energy over right energy in dB, positive when the left is louder, clamped to
        -100 to +100 dB (0 for mono); ``None`` for silence.
    integrated_lufs : float or None
        Integrated loudness of the stereo signal (BS.1770-4), in LUFS; ``None`` for mono
        (see :class:`LoudnessReport` for the file's own figure) and below the -70 LUFS gate.
    mono_fold_lufs : float or None
        Integrated loudness of ``(L + R) / 2`` on both channels, in LUFS; ``None`` for mono
        and when the fold-down is below the -70 LUFS gate.
    mono_fold_loss_lu : float or None
        ``integrated_lufs - mono_fold_lufs`` in LU: positive when folding to mono loses
        loudness. When the fold-down cancels below the gate, the lower bound
        ``integrated_lufs + 70``. 0 for mono; ``None`` when the stereo signal itself is below
        the gate (or silent).
    mono_fold_silent : bool
        True when the stereo signal has a loudness but its fold-down does not (cancellation).
    window_s : float
        Length of the windows of ``correlation_over_time``, in s (0.5).
    duration_s : float
        Length of the signal, in s.
    """

    correlation: float | None
    correlation_over_time: tuple[float | None, ...] | None
    width: float | None
    width_db: float | None
    balance_db: float | None
    integrated_lufs: float | None
    mono_fold_lufs: float | None
    mono_fold_loss_lu: float | None
    mono_fold_silent: bool
    window_s: float
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict: tuples as lists, silence as ``None``."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


class StereoAnalyzer:
    """Streaming stereo-image analyzer over the original-rate samples.

    Parameters
    ----------
    sample_rate : int
        Sample rate of the blocks, in Hz (8,000 to 384,000).
    channels : int
        1 or 2.
    loudness_meter : LoudnessMeter, optional
        A meter of this same stereo signal that the caller feeds the same blocks (the
        pipeline's own). When given, the stereo and fold-down loudness are read from it
        instead of from a meter of the analyzer's own, which saves most of the cost; the
        analyzer never pushes to it. Ignored for mono, which needs no meter.

    Raises
    ------
    ValueError
        If ``channels`` is not 1 or 2, the sample rate is out of range, or the shared meter
        does not measure 2 channels at this rate.
    TypeError
        If ``sample_rate`` or ``channels`` is not an int.
    """

    def __init__(
        self, *, sample_rate: int, channels: int, loudness_meter: LoudnessMeter | None = None
    ) -> None:
        for name, value in (("sample_rate", sample_rate), ("channels", channels)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"Expected {name} as an int, found {type(value).__name__}.")
        if channels not in (1, 2):
            raise ValueError(f"Expected 1 or 2 channels, found {channels}.")
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise ValueError(
                f"Expected a sample rate of {MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz, "
                f"found {sample_rate:,} Hz."
            )
        self.sample_rate = sample_rate
        self.channels = channels
        self._window = max(1, round(CORRELATION_WINDOW_S * sample_rate))
        self._total = np.zeros(_N_SUMS)
        self._windows: list[np.ndarray] = []  # (n, _N_SUMS) sums of whole windows
        self._partial = np.zeros(_N_SUMS)
        self._partial_samples = 0
        self._samples = 0
        self._any_sound = False
        # One meter of the stereo signal and its fold-down; none for mono input, whose
        # fold-down is itself.
        if (
            channels == 2
            and loudness_meter is not None
            and (loudness_meter.channels != 2 or loudness_meter.sample_rate != sample_rate)
        ):
            raise ValueError(
                f"Expected a shared meter of 2 channels at {sample_rate:,} Hz, found "
                f"{loudness_meter.channels} at {loudness_meter.sample_rate:,} Hz."
            )
        self._own_meter = loudness_meter is None
        self._meter: LoudnessMeter | None = None
        if channels == 2:
            # The stereo meter also measures the fold-down (LoudnessMeter.mono_fold_lufs); a
            # meter of the analyzer's own needs no true peak, the costliest part of a meter.
            self._meter = loudness_meter or LoudnessMeter(
                sample_rate=sample_rate, channels=2, true_peak=False
            )

    def push(self, block: np.ndarray) -> None:
        """Analyse the next block.

        Parameters
        ----------
        block : numpy.ndarray
            float32 samples shaped (channels, n) at the original rate (``(n,)`` is taken for
            mono), any n including 0.

        Raises
        ------
        TypeError
            If the block is not a float array.
        ValueError
            If its shape does not match the channels, or it holds NaN or infinity.
        """
        if not isinstance(block, np.ndarray) or not np.issubdtype(block.dtype, np.floating):
            found = block.dtype if isinstance(block, np.ndarray) else type(block).__name__
            raise TypeError(f"Expected a float32 numpy array, found {found}.")
        if block.ndim == 1 and self.channels == 1:
            block = block[np.newaxis]
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(
                f"Expected a block shaped ({self.channels}, n_samples), found {block.shape}."
            )
        if not block.shape[1]:
            return
        block = block.astype(np.float32, copy=False)
        # Checked first, so that a bad block leaves every sum (and the meter) untouched.
        if not (math.isfinite(block.max()) and math.isfinite(block.min())):
            raise ValueError("Expected finite samples, found NaN or infinity in the block.")
        if self._meter is None:
            self._any_sound = self._any_sound or bool(np.any(block))
            self._samples += block.shape[1]
            return
        if self._own_meter:
            self._meter.push(block)
        self._accumulate(block)
        self._samples += block.shape[1]

    def _accumulate(self, block: np.ndarray) -> None:
        """Add a float32 block to the sums of the open window, whole windows and the total."""
        position, n, window = 0, block.shape[1], self._window
        if self._partial_samples:
            take = min(window - self._partial_samples, n)
            self._partial += _sums(block[:, np.newaxis, :take])[0]
            self._partial_samples += take
            position = take
            if self._partial_samples == window:
                self._close_window(self._partial)
                self._partial = np.zeros(_N_SUMS)
                self._partial_samples = 0
        whole = (n - position) // window
        if whole:
            end = position + whole * window
            sums = _sums(block[:, position:end].reshape(2, whole, window))
            self._windows.append(sums)
            self._total += sums.sum(axis=0)
            position = end
        if position < n:
            self._partial += _sums(block[:, np.newaxis, position:])[0]
            self._partial_samples += n - position

    def _close_window(self, sums: np.ndarray) -> None:
        if len(self._windows) >= _WINDOW_BLOCKS_MAX:
            # Small blocks close one window at a time; one array keeps the overhead flat.
            self._windows = [np.concatenate(self._windows)]
        self._windows.append(sums[np.newaxis].copy())
        self._total += sums

    def result(self) -> StereoReport:
        """Return the figures for everything pushed so far; the analyzer can take more after."""
        duration_s = self._samples / self.sample_rate
        if self._meter is None:
            sound = self._any_sound
            return StereoReport(
                correlation=1.0 if sound else None,
                correlation_over_time=None,
                width=0.0 if sound else None,
                width_db=None,
                balance_db=0.0 if sound else None,
                integrated_lufs=None,
                mono_fold_lufs=None,
                mono_fold_loss_lu=0.0 if sound else None,
                mono_fold_silent=False,
                window_s=CORRELATION_WINDOW_S,
                duration_s=duration_s,
            )
        total = self._total + self._partial
        windows = list(self._windows)
        if self._partial_samples:
            windows.append(self._partial[np.newaxis])
        series = np.concatenate(windows) if windows else np.zeros((0, _N_SUMS))
        counts = np.full(series.shape[0], float(self._window))
        if self._partial_samples:
            counts[-1] = self._partial_samples
        over_time = tuple(
            None if value is None else round(value, 3)
            for value in (_pearson(row, count) for row, count in zip(series, counts, strict=True))
        )
        stereo_lufs = self._meter.result().integrated_lufs
        fold_lufs = self._meter.mono_fold_lufs()
        fold_silent = stereo_lufs is not None and fold_lufs is None
        if stereo_lufs is None:
            loss = None
        elif fold_lufs is None:
            loss = stereo_lufs - ABSOLUTE_GATE_LUFS
        else:
            loss = stereo_lufs - fold_lufs
        width, width_db = _width(side=total[5], mid=total[6])
        return StereoReport(
            correlation=_rounded(_pearson(total, float(self._samples)), 6),
            correlation_over_time=over_time,
            width=_rounded(width, 6),
            width_db=_rounded(width_db, 3),
            balance_db=_rounded(_ratio_db(total[2], total[3]), 3),
            integrated_lufs=_rounded(stereo_lufs, 3),
            mono_fold_lufs=_rounded(fold_lufs, 3),
            mono_fold_loss_lu=_rounded(loss, 3),
            mono_fold_silent=fold_silent,
            window_s=CORRELATION_WINDOW_S,
            duration_s=duration_s,
        )


def _sums(windows: np.ndarray) -> np.ndarray:
    """The running sums of each window of a float32 array shaped (2, n_windows, n_samples).

    Products are summed in float32 within a window (a relative error of about 1e-6 over
    half a second) and in float64 from window to window.
    """
    left, right = windows[0], windows[1]
    difference, total = left - right, left + right
    columns = [
        left.sum(axis=1),
        right.sum(axis=1),
        *(np.einsum("wi,wi->w", a, b) for a, b in ((left, left), (right, right), (left, right))),
        np.einsum("wi,wi->w", difference, difference),
        np.einsum("wi,wi->w", total, total),
    ]
    return np.stack(columns, axis=1).astype(np.float64)


def _pearson(sums: np.ndarray, count: float) -> float | None:
    """Pearson correlation from running sums; None without variation in either channel."""
    if count <= 0:
        return None
    sum_l, sum_r, sum_ll, sum_rr, sum_lr = sums[:5]
    var_l = sum_ll - sum_l * sum_l / count
    var_r = sum_rr - sum_r * sum_r / count
    if var_l <= 0.0 or var_r <= 0.0:
        return None
    covariance = sum_lr - sum_l * sum_r / count
    return float(np.clip(covariance / math.sqrt(var_l * var_r), -1.0, 1.0))


def _width(*, side: float, mid: float) -> tuple[float | None, float | None]:
    """Side over mid energy, and in dB clamped to +/-LIMIT_DB (sums of (L-R)^2 and (L+R)^2)."""
    if side <= 0.0 and mid <= 0.0:
        return None, None
    width = float(side / mid) if mid > 0.0 else None
    return width, _ratio_db(side, mid)


def _ratio_db(numerator: float, denominator: float) -> float | None:
    """10 log10 of a ratio of energies, clamped to +/-LIMIT_DB; None when both are 0."""
    if numerator <= 0.0 and denominator <= 0.0:
        return None
    if numerator <= 0.0:
        return -LIMIT_DB
    if denominator <= 0.0:
        return LIMIT_DB
    return float(np.clip(10.0 * math.log10(numerator / denominator), -LIMIT_DB, LIMIT_DB))


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
