"""Waveform peaks for drawing: the smallest and largest sample of each run, at several zooms.

:class:`PeaksAnalyzer` takes a signal block by block, in blocks of any size, and keeps one
minimum and one maximum per channel for every ``base_samples_per_peak`` samples (256 by
default), as int8. Coarser levels (4, 16, 64 and 256 times coarser: 1,024 to 65,536 samples per
peak by default) are each made from the level below when the result is asked for, four peaks
into one, so every level agrees with the finest: the maximum of a peak at level ``k + 1`` is the
largest maximum of its four peaks at level ``k``.

Values
------
Peaks go to browsers, so they are small integers: a sample value ``x`` (full scale at 1.0) is
stored as ``round(127 * x)``, clipped to -127..127 (:data:`PEAK_SCALE` is full scale; a float
file's samples beyond full scale draw at full scale). An hour at 44.1 kHz is about 620,000 peaks
per channel at the finest level: 1.2 MB of int8 per channel for minima and maxima together.

Peak ``i`` of a level covers samples ``i * samples_per_peak`` to ``(i + 1) * samples_per_peak
- 1``; the last peak of a level may cover fewer samples. Results do not depend on block sizes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from studio.processing.blocks import check_int, check_stream, checked_block, file_blocks
from studio.processing.decode import (
    DEFAULT_BLOCK_FRAMES,
)

PEAK_SCALE = 127
"""The stored value of full scale: a sample of 1.0 is 127, -1.0 is -127."""

BASE_SAMPLES_PER_PEAK = 256
"""Samples per peak of the finest level, by default."""

LEVEL_FACTOR = 4
"""Each level has this many times fewer peaks than the one below."""

LEVEL_COUNT = 5
"""Number of levels: 256, 1,024, 4,096, 16,384 and 65,536 samples per peak by default."""

_INITIAL_CAPACITY = 4_096


@dataclass(frozen=True, eq=False)
class PeakLevel:
    """The peaks of one zoom level.

    Attributes
    ----------
    samples_per_peak : int
        Samples covered by each peak (the last one may cover fewer).
    min, max : numpy.ndarray
        int8, shaped ``(channels, n_peaks)``: the smallest and largest sample of each peak in
        units of full scale / ``PEAK_SCALE`` (-127..127).
    """

    samples_per_peak: int
    min: np.ndarray
    max: np.ndarray

    @property
    def n_peaks(self) -> int:
        """Number of peaks per channel."""
        return self.max.shape[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PeakLevel):
            return NotImplemented
        return (
            self.samples_per_peak == other.samples_per_peak
            and np.array_equal(self.min, other.min)
            and np.array_equal(self.max, other.max)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, int | list[list[int]]]:
        """``{"samples_per_peak", "min", "max"}``, with one list of ints per channel."""
        return {
            "samples_per_peak": self.samples_per_peak,
            "min": self.min.tolist(),
            "max": self.max.tolist(),
        }


@dataclass(frozen=True, eq=False)
class WaveformPeaks:
    """Peaks of a signal at every zoom level, finest first.

    Attributes
    ----------
    sample_rate : int
        Sample rate of the signal, in Hz.
    channels : int
        Number of channels.
    length_samples : int
        Samples per channel in the signal.
    levels : tuple of PeakLevel
        ``LEVEL_COUNT`` levels, each ``LEVEL_FACTOR`` times coarser than the one before.
    """

    sample_rate: int
    channels: int
    length_samples: int
    levels: tuple[PeakLevel, ...]

    @property
    def duration_s(self) -> float:
        """Length of the signal, in seconds."""
        return self.length_samples / self.sample_rate

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WaveformPeaks):
            return NotImplemented
        return (
            self.sample_rate == other.sample_rate
            and self.channels == other.channels
            and self.length_samples == other.length_samples
            and self.levels == other.levels
        )

    __hash__ = None  # type: ignore[assignment]

    def peaks_at(self, *, level_index: int) -> PeakLevel:
        """The level at ``level_index`` (0 is the finest).

        Raises
        ------
        IndexError
            If there is no such level.
        """
        if not 0 <= level_index < len(self.levels):
            raise IndexError(
                f"Expected a level index of 0 to {len(self.levels) - 1}, found {level_index}."
            )
        return self.levels[level_index]

    def level_for_width(self, *, width_px: int) -> PeakLevel:
        """The coarsest level that still has a peak for every pixel of a drawing of the whole
        signal ``width_px`` pixels wide (the finest level if none has that many)."""
        if width_px < 1:
            raise ValueError(f"Expected a width of 1 pixel or more, found {width_px}.")
        for level in reversed(self.levels):
            if level.n_peaks >= width_px:
                return level
        return self.levels[0]

    def to_dict(self, *, level_indices: tuple[int, ...] | None = None) -> dict[str, object]:
        """Return a JSON-ready dict; ``level_indices`` picks levels (all by default).

        ``{"sample_rate", "channels", "length_samples", "scale": 127, "levels": [...]}`` with
        each level as :meth:`PeakLevel.to_dict`.
        """
        indices = range(len(self.levels)) if level_indices is None else level_indices
        return {
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "length_samples": self.length_samples,
            "scale": PEAK_SCALE,
            "levels": [self.peaks_at(level_index=i).to_dict() for i in indices],
        }


class PeaksAnalyzer:
    """Streaming waveform peaks.

    Parameters
    ----------
    sample_rate : int
        Sample rate in Hz, 8,000 to 384,000.
    channels : int
        Number of channels, 1 or more.
    base_samples_per_peak : int
        Samples per peak of the finest level; the others are 4, 16, 64 and 256 times that.

    Raises
    ------
    TypeError
        If an argument is not an int.
    ValueError
        If one is out of range.

    Examples
    --------
    >>> analyzer = PeaksAnalyzer(sample_rate=44_100, channels=1)
    >>> analyzer.push(np.full((1, 1_000), 0.5, dtype=np.float32))
    >>> analyzer.result().peaks_at(level_index=0).max.tolist()
    [[64, 64, 64, 64]]
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        channels: int,
        base_samples_per_peak: int = BASE_SAMPLES_PER_PEAK,
    ) -> None:
        check_stream(sample_rate=sample_rate, channels=channels)
        check_int("base_samples_per_peak", base_samples_per_peak)
        if base_samples_per_peak < 1:
            raise ValueError(
                f"Expected base_samples_per_peak of 1 or more, found {base_samples_per_peak}."
            )
        self.sample_rate = sample_rate
        self.channels = channels
        self.base_samples_per_peak = base_samples_per_peak
        self._pending = np.zeros((channels, base_samples_per_peak), dtype=np.float32)
        self._filled = 0
        self._frames = 0
        self._min = _Int8Series(channels=channels)
        self._max = _Int8Series(channels=channels)

    def push(self, block: np.ndarray) -> None:
        """Add the next block of the signal.

        Parameters
        ----------
        block : numpy.ndarray
            float32 samples shaped ``(channels, n)`` (``(n,)`` is taken for mono), full scale
            at 1.0; any ``n``. float64 is accepted and rounded to float32.

        Raises
        ------
        TypeError
            If the block is not a float array.
        ValueError
            If its shape does not match the channels, or it holds NaN or infinity (the analyzer
            is then left as it was).
        """
        block = checked_block(block, channels=self.channels)
        n, base = block.shape[1], self.base_samples_per_peak
        if not n:
            return
        lows, highs = [], []
        head = min((base - self._filled) % base, n)
        completes_pending = bool(self._filled) and self._filled + head == base
        if completes_pending:
            whole = np.concatenate([self._pending[:, : self._filled], block[:, :head]], axis=1)
            lows.append(whole.min(axis=1, keepdims=True))
            highs.append(whole.max(axis=1, keepdims=True))
        body_end = head + (n - head) // base * base
        if body_end > head:
            starts = np.arange(head, body_end, base)
            lows.append(np.minimum.reduceat(block[:, head:body_end], starts - head, axis=1))
            highs.append(np.maximum.reduceat(block[:, head:body_end], starts - head, axis=1))
        rest = block[:, body_end:] if completes_pending or not self._filled else block
        for values in (*lows, *highs, rest):
            if values.size and not (np.isfinite(values.max()) and np.isfinite(values.min())):
                raise ValueError("Expected finite samples, found NaN or infinity in the block.")
        if lows:
            self._min.extend(_quantised(np.concatenate(lows, axis=1)))
            self._max.extend(_quantised(np.concatenate(highs, axis=1)))
        if completes_pending:
            self._filled = 0
        keep = rest.shape[1]
        if keep:
            self._pending[:, self._filled : self._filled + keep] = rest
            self._filled += keep
        self._frames += n

    def result(self) -> WaveformPeaks:
        """Return the peaks of everything pushed so far; the analyzer can take more after."""
        lows, highs = self._min.view(), self._max.view()
        if self._filled:
            partial = self._pending[:, : self._filled]
            lows = np.concatenate([lows, _quantised(partial.min(axis=1, keepdims=True))], axis=1)
            highs = np.concatenate([highs, _quantised(partial.max(axis=1, keepdims=True))], axis=1)
        levels = [
            PeakLevel(
                samples_per_peak=self.base_samples_per_peak, min=lows.copy(), max=highs.copy()
            )
        ]
        for _ in range(1, LEVEL_COUNT):
            finer = levels[-1]
            levels.append(
                PeakLevel(
                    samples_per_peak=finer.samples_per_peak * LEVEL_FACTOR,
                    min=_coarser(finer.min, np.minimum),
                    max=_coarser(finer.max, np.maximum),
                )
            )
        return WaveformPeaks(
            sample_rate=self.sample_rate,
            channels=self.channels,
            length_samples=self._frames,
            levels=tuple(levels),
        )


class _Int8Series:
    """A growing int8 array shaped (channels, n), doubling its capacity as it fills."""

    def __init__(self, *, channels: int) -> None:
        self.data = np.zeros((channels, _INITIAL_CAPACITY), dtype=np.int8)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        needed = self.size + values.shape[1]
        if needed > self.data.shape[1]:
            grown = np.zeros((self.data.shape[0], max(needed, 2 * self.data.shape[1])), np.int8)
            grown[:, : self.size] = self.data[:, : self.size]
            self.data = grown
        self.data[:, self.size : needed] = values
        self.size = needed

    def view(self) -> np.ndarray:
        return self.data[:, : self.size]


def _quantised(values: np.ndarray) -> np.ndarray:
    """Sample values (full scale 1.0) as int8 in -127..127, rounded to nearest."""
    scaled = np.rint(np.clip(values, -1.0, 1.0) * PEAK_SCALE)
    return scaled.astype(np.int8)


def _coarser(finer: np.ndarray, reduce: np.ufunc) -> np.ndarray:
    """Every ``LEVEL_FACTOR`` peaks into one; a last, short group reduces what it has."""
    channels, n = finer.shape
    groups = -(-n // LEVEL_FACTOR)
    padded = np.empty((channels, groups * LEVEL_FACTOR), dtype=finer.dtype)
    padded[:, :n] = finer
    # Repeating the last peak cannot change the reduction of its group.
    padded[:, n:] = finer[:, -1:] if n else 0
    return reduce.reduce(padded.reshape(channels, groups, LEVEL_FACTOR), axis=2)


def waveform_peaks(
    signal: np.ndarray,
    *,
    sample_rate: int,
    base_samples_per_peak: int = BASE_SAMPLES_PER_PEAK,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
) -> WaveformPeaks:
    """Peaks of a whole signal held in memory.

    Parameters
    ----------
    signal : numpy.ndarray
        float32 samples shaped ``(channels, n_samples)``, or ``(n_samples,)`` for mono.
    sample_rate : int
        Sample rate in Hz.
    base_samples_per_peak : int
        As :class:`PeaksAnalyzer`.
    block_frames : int
        Frames pushed at a time; the peaks do not depend on it.

    Returns
    -------
    WaveformPeaks
    """
    if not isinstance(signal, np.ndarray):
        raise TypeError(f"Expected a float32 numpy array, found {type(signal).__name__}.")
    if block_frames < 1:
        raise ValueError(f"Expected block_frames of 1 or more, found {block_frames}.")
    if signal.ndim == 1:
        signal = signal[np.newaxis]
    if signal.ndim != 2:
        raise ValueError(f"Expected a signal shaped (channels, n_samples), found {signal.shape}.")
    analyzer = PeaksAnalyzer(
        sample_rate=sample_rate,
        channels=signal.shape[0],
        base_samples_per_peak=base_samples_per_peak,
    )
    for start in range(0, signal.shape[1], block_frames):
        analyzer.push(signal[:, start : start + block_frames])
    return analyzer.result()


def waveform_peaks_file(
    path: str | os.PathLike[str],
    *,
    base_samples_per_peak: int = BASE_SAMPLES_PER_PEAK,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
) -> WaveformPeaks:
    """Peaks of an audio file, streamed through :func:`studio.processing.decode.read_blocks`.

    Raises
    ------
    AudioError
        As :func:`studio.processing.decode.read_blocks`.
    """
    sample_rate, channels, blocks = file_blocks(path, block_frames=block_frames)
    analyzer = PeaksAnalyzer(
        sample_rate=sample_rate, channels=channels, base_samples_per_peak=base_samples_per_peak
    )
    for block in blocks:
        analyzer.push(block)
    return analyzer.result()
