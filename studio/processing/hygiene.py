"""Recording hygiene: DC offset, clipping, noise floor, mains hum and silence at the edges.

:class:`HygieneAnalyzer` takes two streams, each in blocks of any size, in order:

- the signal at its own sample rate (:meth:`HygieneAnalyzer.push`), for everything measured on
  samples: DC offset, clipped runs, the noise floor and the silence at the head and tail;
- the resampled mid signal at ``ANALYSIS_SAMPLE_RATE`` (22,050 Hz) that the front end hands to
  its ``samples_sink`` (:meth:`HygieneAnalyzer.push_analysis_samples`), for mains hum, which
  needs a finer spectrum (1 Hz) than the front end's frames give.

Both streams are worked through in fixed pieces on a grid that starts at the first sample (whole
50 ms noise windows for the first, batches of whole 1 s spectrum windows for the second), so the
report does not depend on how the signal was cut into blocks, bit for bit. Memory stays flat but
for one mean square per 50 ms (an hour adds 72,000 floats): the hum histograms are a fixed 1 MB,
and at most ``MAX_CLIPPED_RUNS`` runs are kept.

Mains hum
---------
The mid signal is cut into 1 s Hann windows with 50 % overlap (Welch's segments, 1 Hz bins, so
every harmonic of 50 or 60 Hz falls on a bin). Rather than averaging their power spectra, each
bin's levels go into a histogram, and the hum spectrum is each bin's ``HUM_SPECTRUM_PERCENTILE``-th
percentile over time: what is there in 80 % of the windows. Hum is there all the time; a bass
line, a kick or a chord comes and goes, and drops out. A harmonic ``k`` of a mains frequency is
found when, in that spectrum,

- it is narrow and on frequency: the largest of the bins around ``k * mains`` is within one bin
  of it, and the peak frequency (interpolated) is within ``HUM_FREQUENCY_TOLERANCE_HZ +
  k * HUM_DRIFT_HZ_PER_HARMONIC`` of it, which A1 (55 Hz) or G1 (49 Hz) are not;
- it stands ``HUM_MIN_PROMINENCE_DB`` above the local floor (the median of the bins 5 to 15 Hz
  either side).

Hum needs two found harmonics, one of them among the first three, or a single very prominent
fundamental or second harmonic. Hum more than about 30 dB under a kick or bass that never stops
(the kick's body sits near 50 Hz) can go unseen: it is masked there for a listener too.

Levels
------
dBFS figures of levels (noise floor, hum) are RMS levels relative to full scale with the same
convention as :mod:`studio.processing.loudness`: a full-scale square wave reads 0 dBFS and a
full-scale sine -3.01 dBFS. The silence threshold is a sample (peak) level.

What a person sees
------------------
Conditions come back as :class:`HygieneIssue` data with a stable ``code`` and a plain sentence
for a musician, never as warnings:

``dc_offset``
    A channel's mean is further from zero than ``DC_OFFSET_LIMIT``.
``clipping``
    Runs of ``MIN_CLIP_RUN_SAMPLES`` or more samples at or above ``CLIP_LEVEL`` of full scale.
``hum``
    Mains hum at 50 or 60 Hz and its harmonics, louder than ``HUM_MIN_LEVEL_DBFS``.
``noise``
    A noise floor above ``NOISE_FLOOR_LIMIT_DBFS`` that stands clear of the music.
``silence_head``, ``silence_tail``
    More than ``SILENCE_EDGE_LIMIT_S`` of silence before the first or after the last sound.
``silent``
    Nothing in the whole file above ``SILENCE_THRESHOLD_DBFS``.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft

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
from studio.processing.frontend import ANALYSIS_SAMPLE_RATE, SpectralFrontEnd

# --------------------------------------------------------------------------- thresholds

CLIP_LEVEL = 0.999
"""A sample at or above this fraction of full scale (either polarity) counts as clipped."""

MIN_CLIP_RUN_SAMPLES = 3
"""Consecutive clipped samples that make a clipped run; one or two are a loud peak, not a clip."""

CLIP_MERGE_GAP_S = 0.010
"""Runs of one channel less than this far apart (end of one to start of the next) are merged;
the same gap merges runs of all channels into the clips counted in the issue message."""

MAX_CLIPPED_RUNS = 200
"""Clipped runs listed in a report (the first ones); the counts cover all of them."""

DC_OFFSET_LIMIT = 0.01
"""A channel mean further from zero than this (linear, 1 % of full scale, -40 dBFS) is an issue."""

SILENCE_THRESHOLD_DBFS = -60.0
"""Samples whose absolute value is at or below this level (0.001 of full scale) are silence."""

SILENCE_EDGE_LIMIT_S = 1.0
"""Silence at the head or tail longer than this is reported (as information: a stem aligned to
the song often starts late on purpose)."""

NOISE_WINDOW_S = 0.05
"""Length of the windows whose RMS level the noise floor is taken from."""

NOISE_PERCENTILE = 10.0
"""The noise floor is this percentile of the window levels: the quietest tenth of the file."""

LOUD_PERCENTILE = 90.0
"""Percentile of the window levels taken as the level of the music, against the noise floor."""

DIGITAL_SILENCE_DBFS = -120.0
"""Windows at or below this RMS level are digital silence (a gate, an empty region) and are left
out of the noise floor: they say nothing about the noise while something was recorded."""

NOISE_FLOOR_LIMIT_DBFS = -55.0
"""A noise floor above this RMS level is an issue, if it is also clear and steady:"""

NOISE_CONTRAST_DB = 15.0
"""it lies at least this far below the music's level (``LOUD_PERCENTILE``), or else the quietest
windows are the music itself (a dense pad, a distorted guitar);"""

NOISE_STEADY_DB = 1.5
"""and the quietest windows are steady: the ``NOISE_STEADY_PERCENTILE``-th percentile of the
window levels is within this many dB of the noise floor. Hiss and room tone between notes hold
their level; the decays of drums or plucked notes fall through many dB."""

NOISE_STEADY_PERCENTILE = 2.0
"""Percentile of the window levels compared with the noise floor to tell steady noise."""

MAINS_FREQUENCIES_HZ = (50, 60)
"""Mains frequencies looked for: 50 Hz (Europe, Africa, most of Asia) and 60 Hz (the Americas,
parts of Asia)."""

HUM_HARMONICS = 10
"""Harmonics of the mains frequency examined (1 is the fundamental)."""

HUM_WINDOW_S = 1.0
"""Length of the Hann windows of the hum spectrum: 1 Hz resolution, so each harmonic of 50 or
60 Hz falls on a bin."""

HUM_PEAK_HALF_WIDTH_BINS = 2
"""A harmonic's energy is summed over its bin and this many bins either side (the Hann main lobe
of a tone within half a bin of the harmonic)."""

HUM_FLOOR_BINS = (5, 15)
"""The local spectral floor at a harmonic is the median power of the bins this many bins away
(both sides): a mains tone has no energy there, a note's envelope and its neighbours do."""

HUM_FREQUENCY_TOLERANCE_HZ = 0.3
"""How far a harmonic's measured frequency may lie from ``k * mains``, plus..."""

HUM_DRIFT_HZ_PER_HARMONIC = 0.05
"""...this much per harmonic number (the grid wanders by up to about 0.1 Hz). A1, 55 Hz, or G1,
49 Hz, are a long way off 50 or 60 Hz at this precision."""

HUM_SPECTRUM_PERCENTILE = 20.0
"""Hum is there all the time, a note only while it plays: the hum spectrum gives each bin the
level it reaches or exceeds in 80 % of the 1 s windows that hold signal (this percentile of its
levels), so a bass line, a kick or a chord that comes and goes drops out of it and the steady
hum under them stays."""

HUM_HISTOGRAM_DB = (-180.0, 10.0, 0.5)
"""Lowest and highest power per bin (dB re full scale) and step of the per-bin level histograms
that give that percentile in constant memory; the percentile is interpolated within a step."""

HUM_MIN_PROMINENCE_DB = 6.0
"""A found harmonic stands this far above the local floor in the hum spectrum."""

HUM_SINGLE_PROMINENCE_DB = 15.0
"""Hum with a single found harmonic (1 or 2) needs this prominence; two or more found
harmonics, one of them among the first three, are enough at ``HUM_MIN_PROMINENCE_DB``."""

HUM_EXPLAINS_NOISE_DB = 3.0
"""When hum is found no more than this far below the noise floor, the background is the hum:
the issue is ``hum`` alone, not also ``noise``."""

HUM_MIN_LEVEL_DBFS = -80.0
"""Hum quieter than this RMS level is not reported (nobody will hear it)."""

SEVERITIES = ("info", "warning", "error")
"""Severity of an issue: worth knowing, worth fixing, makes the file unusable as it is."""

ISSUE_CODES = (
    "dc_offset",
    "clipping",
    "hum",
    "noise",
    "silence_head",
    "silence_tail",
    "silent",
)
"""The stable codes of :class:`HygieneIssue`."""

_CHUNK_TARGET_FRAMES = 65_536
_HUM_BATCH_WINDOWS = 16


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ClippedRun:
    """A stretch of clipped samples in one channel (runs closer than ``CLIP_MERGE_GAP_S`` merged).

    Attributes
    ----------
    start_s : float
        Time of the first clipped sample, in seconds from the start.
    end_s : float
        Time just after the last clipped sample (exclusive end), in seconds.
    channel : int
        Channel index, from 0.
    samples : int
        Clipped samples in the run (not counting the unclipped gaps merged over).
    """

    start_s: float
    end_s: float
    channel: int
    samples: int

    def to_dict(self) -> dict[str, float | int]:
        """Return the fields as a JSON-ready dict."""
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "channel": self.channel,
            "samples": self.samples,
        }


@dataclass(frozen=True)
class HumReport:
    """Mains hum found in the mid signal.

    Attributes
    ----------
    frequency_hz : int
        Mains frequency, 50 or 60 Hz.
    level_db : float
        RMS level of the hum in dBFS: the energy of the found harmonics above the local spectral
        floor, summed, in the hum spectrum of the mid signal ((L + R) / 2).
    harmonics_found : tuple of int
        Harmonic numbers found (1 is the fundamental, 2 is 100 or 120 Hz, ...), ascending.
    """

    frequency_hz: int
    level_db: float
    harmonics_found: tuple[int, ...]

    def to_dict(self) -> dict[str, int | float | list[int]]:
        """Return the fields as a JSON-ready dict."""
        return {
            "frequency_hz": self.frequency_hz,
            "level_db": self.level_db,
            "harmonics_found": list(self.harmonics_found),
        }


@dataclass(frozen=True)
class HygieneIssue:
    """A condition a person should see.

    Attributes
    ----------
    code : str
        Stable machine code, one of :data:`ISSUE_CODES`.
    message : str
        A plain sentence for a musician: what is wrong, where, and what to do.
    severity : str
        One of :data:`SEVERITIES`.
    start_s, end_s : float or None
        Where in the file it happens, in seconds, if it has a place (the first to the last
        clip, the silence at the head); ``None`` for conditions of the whole file.
    """

    code: str
    message: str
    severity: str
    start_s: float | None = None
    end_s: float | None = None

    def to_dict(self) -> dict[str, str | float | None]:
        """Return the fields as a JSON-ready dict; every key is always present."""
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "start_s": self.start_s,
            "end_s": self.end_s,
        }


@dataclass(frozen=True)
class HygieneReport:
    """The recording-hygiene figures of a signal.

    Attributes
    ----------
    duration_s : float
        Length of the signal, in seconds.
    channels : int
        Number of channels.
    dc_offset : tuple of float
        Mean of each channel, linear (fraction of full scale, signed).
    dc_offset_db : tuple of (float or None)
        ``20 log10 |dc_offset|`` of each channel, in dBFS; ``None`` for an exact zero.
    clipped_runs : tuple of ClippedRun
        Up to ``MAX_CLIPPED_RUNS`` clipped runs, the earliest, sorted by start time. (The list
        fills as runs complete, about 1.5 s at a time, so at the cap a run of one channel may
        stand in for a slightly earlier one of another.)
    clipped_run_count : int
        All clipped runs, every channel (``len(clipped_runs)`` stops at ``MAX_CLIPPED_RUNS``).
    clip_count : int
        Clips as a listener hears them: runs of every channel merged when they overlap or lie
        closer than ``CLIP_MERGE_GAP_S`` (a clip in both channels at once counts once).
    clipped_samples : int
        Samples in clipped runs, summed over channels.
    noise_floor_db : float or None
        ``NOISE_PERCENTILE``-th percentile of the RMS level of consecutive ``NOISE_WINDOW_S``
        windows (all channels together), in dBFS, over the windows above
        ``DIGITAL_SILENCE_DBFS``: the level of the quietest tenth of the file, which between
        notes is the background noise. ``None`` if no complete window is above that level.
    hum : HumReport or None
        Mains hum, or ``None`` when there is none, the file is silent, or ``hum_checked`` is
        false.
    hum_checked : bool
        Whether at least one 1 s window of the analysis-rate mid signal was pushed (hum can only
        be looked for then).
    silence_head_s : float
        Time before the first sample above ``SILENCE_THRESHOLD_DBFS`` in any channel, in
        seconds; the whole duration for a silent file.
    silence_tail_s : float
        Time after the last sample above ``SILENCE_THRESHOLD_DBFS`` in any channel, in seconds;
        the whole duration for a silent file.
    is_silent : bool
        No sample anywhere is above ``SILENCE_THRESHOLD_DBFS``.
    issues : tuple of HygieneIssue
        What a person should see, in the order of :data:`ISSUE_CODES`.
    """

    duration_s: float
    channels: int
    dc_offset: tuple[float, ...]
    dc_offset_db: tuple[float | None, ...]
    clipped_runs: tuple[ClippedRun, ...]
    clipped_run_count: int
    clip_count: int
    clipped_samples: int
    noise_floor_db: float | None
    hum: HumReport | None
    hum_checked: bool
    silence_head_s: float
    silence_tail_s: float
    is_silent: bool
    issues: tuple[HygieneIssue, ...]

    @property
    def issue_codes(self) -> tuple[str, ...]:
        """The codes of the issues, in order."""
        return tuple(issue.code for issue in self.issues)

    def to_dict(self) -> dict[str, object]:
        """Return the fields as a JSON-ready dict: tuples as lists, nested reports as dicts."""
        return {
            "duration_s": self.duration_s,
            "channels": self.channels,
            "dc_offset": list(self.dc_offset),
            "dc_offset_db": list(self.dc_offset_db),
            "clipped_runs": [run.to_dict() for run in self.clipped_runs],
            "clipped_run_count": self.clipped_run_count,
            "clip_count": self.clip_count,
            "clipped_samples": self.clipped_samples,
            "noise_floor_db": self.noise_floor_db,
            "hum": None if self.hum is None else self.hum.to_dict(),
            "hum_checked": self.hum_checked,
            "silence_head_s": self.silence_head_s,
            "silence_tail_s": self.silence_tail_s,
            "is_silent": self.is_silent,
            "issues": [issue.to_dict() for issue in self.issues],
        }


# --------------------------------------------------------------------------- analyzer


class HygieneAnalyzer:
    """Streaming recording-hygiene analysis.

    Parameters
    ----------
    sample_rate : int
        Sample rate of the blocks given to :meth:`push`, in Hz, 8,000 to 384,000.
    channels : int
        Number of channels, 1 or more.

    Raises
    ------
    TypeError
        If the sample rate or channel count is not an int.
    ValueError
        If either is out of range.

    Examples
    --------
    Alongside the front end, which hands over the resampled mid signal:

    >>> analyzer = HygieneAnalyzer(sample_rate=44_100, channels=2)
    >>> front = SpectralFrontEnd(
    ...     sample_rate=44_100, channels=2, sink=lambda frames: None,
    ...     samples_sink=analyzer.push_analysis_samples,
    ... )
    >>> block = np.zeros((2, 44_100), dtype=np.float32)
    >>> analyzer.push(block); front.push(block); front.finish()
    >>> analyzer.result().is_silent
    True
    """

    def __init__(self, *, sample_rate: int, channels: int) -> None:
        check_stream(sample_rate=sample_rate, channels=channels)
        self.sample_rate = sample_rate
        self.channels = channels
        window = round(NOISE_WINDOW_S * sample_rate)
        self._chunk_frames = window * max(1, _CHUNK_TARGET_FRAMES // window)
        self._chunks = Rechunker(channels=channels, chunk_frames=self._chunk_frames)
        self._levels = _LevelState(sample_rate=sample_rate, channels=channels, window=window)
        self._hum = _HumState()

    def push(self, block: np.ndarray) -> None:
        """Analyse the next block of the signal at its own sample rate.

        Parameters
        ----------
        block : numpy.ndarray
            float32 samples shaped ``(channels, n)`` (``(n,)`` is taken for mono), full scale
            at 1.0; any ``n``, including 0. float64 is accepted and rounded to float32.

        Raises
        ------
        TypeError
            If the block is not a float array.
        ValueError
            If its shape does not match the channels, or it holds NaN or infinity (the analyzer
            is then left as it was).
        """
        block = checked_block(block, channels=self.channels)
        if not block.shape[1]:
            return
        if not np.isfinite(block.max()) or not np.isfinite(block.min()):
            raise ValueError("Expected finite samples, found NaN or infinity in the block.")
        for chunk in self._chunks.chunks(block):
            self._levels.feed(chunk)

    def push_analysis_samples(self, mid: np.ndarray) -> None:
        """Analyse the next block of the mid signal at ``ANALYSIS_SAMPLE_RATE``, for hum.

        Pass this method as the front end's ``samples_sink``.

        Parameters
        ----------
        mid : numpy.ndarray
            float32 samples shaped ``(n,)``, the resampled mid signal ((L + R) / 2, or mono) at
            22,050 Hz; any ``n``.

        Raises
        ------
        TypeError, ValueError
            If it is not a one-dimensional float array of finite samples.
        """
        if not isinstance(mid, np.ndarray) or not np.issubdtype(mid.dtype, np.floating):
            found = mid.dtype if isinstance(mid, np.ndarray) else type(mid).__name__
            raise TypeError(f"Expected a float32 numpy array, found {found}.")
        if mid.ndim != 1:
            raise ValueError(f"Expected mid samples shaped (n_samples,), found {mid.shape}.")
        mid = mid.astype(np.float32, copy=False)
        if mid.size and not (np.isfinite(mid.max()) and np.isfinite(mid.min())):
            raise ValueError("Expected finite samples, found NaN or infinity in the block.")
        self._hum.push(mid)

    def result(self) -> HygieneReport:
        """Return the report for everything pushed so far; the analyzer can take more after."""
        levels = self._levels.copy()
        if self._chunks.partial.shape[1]:
            levels.feed(self._chunks.partial)
        levels.close()
        hum, hum_checked = self._hum.result()
        return _report(levels, hum=hum, hum_checked=hum_checked, sample_rate=self.sample_rate)


# --------------------------------------------------------------------------- sample-rate state


class _LevelState:
    """DC, clipping, noise windows and edge silence, fed whole chunks of noise windows."""

    def __init__(self, *, sample_rate: int, channels: int, window: int) -> None:
        self.window = window
        self.channels = channels
        self.frames = 0
        self.sums = np.zeros(channels)
        self.window_power: list[np.ndarray] = []
        self.first_loud: int | None = None
        self.last_loud: int | None = None
        self.clips = _ClipTracker(
            channels=channels, merge_gap=max(1, round(CLIP_MERGE_GAP_S * sample_rate))
        )

    def copy(self) -> _LevelState:
        return copy.deepcopy(self)

    def feed(self, chunk: np.ndarray) -> None:
        """Measure a chunk of whole windows, or the final, partial chunk (whose last, partial
        window counts for everything but the noise floor)."""
        n = chunk.shape[1]
        whole = n - n % self.window
        head = chunk[:, :whole].reshape(self.channels, -1, self.window)
        highs, lows = head.max(axis=2), head.min(axis=2)
        sums = head.sum(axis=2, dtype=np.float32).sum(axis=1, dtype=np.float64)
        # Mean square over all channels of each window: float32 within a window (at most a few
        # thousand terms, far below 0.01 dB of error), float64 from there.
        power = np.einsum("cwn,cwn->w", head, head, dtype=np.float32).astype(np.float64)
        self.window_power.append(power / (self.channels * self.window))
        if whole < n:
            tail = chunk[:, whole:]
            highs = np.concatenate([highs, tail.max(axis=1, keepdims=True)], axis=1)
            lows = np.concatenate([lows, tail.min(axis=1, keepdims=True)], axis=1)
            sums = sums + tail.sum(axis=1, dtype=np.float64)
        self.sums += sums
        peaks = np.maximum(highs, -lows)  # (channels, windows)
        self._track_silence(chunk, peaks.max(axis=0))
        self.clips.feed(chunk, offset=self.frames, channel_peaks=peaks.max(axis=1))
        self.frames += n

    def close(self) -> None:
        self.clips.close(end=self.frames)

    def _track_silence(self, chunk: np.ndarray, window_peaks: np.ndarray) -> None:
        loud = np.flatnonzero(window_peaks > _SILENCE_LEVEL)
        if not loud.size:
            return
        if self.first_loud is None:
            start = loud[0] * self.window
            samples = np.abs(chunk[:, start : start + self.window]).max(axis=0)
            self.first_loud = self.frames + start + int(np.argmax(samples > _SILENCE_LEVEL))
        start = loud[-1] * self.window
        samples = np.abs(chunk[:, start : start + self.window]).max(axis=0)
        last = samples.size - 1 - int(np.argmax(samples[::-1] > _SILENCE_LEVEL))
        self.last_loud = self.frames + start + last


_SILENCE_LEVEL = np.float32(10.0 ** (SILENCE_THRESHOLD_DBFS / 20.0))
_CLIP_LEVEL = np.float32(CLIP_LEVEL)


class _ClipTracker:
    """Clipped runs of each channel, and clips across channels, found as chunks arrive.

    A stretch still clipping at the end of a chunk stays open. Runs are merged within a channel
    as they close; for the clips across channels, closed runs wait until no run of another
    channel can still close with an earlier start, then are swept in order of start.
    """

    def __init__(self, *, channels: int, merge_gap: int) -> None:
        self.merge_gap = merge_gap
        self.open_start = [-1] * channels
        # Per channel: [start, end, samples] of the merged run that the next run may still join.
        self.merging: list[list[int] | None] = [None] * channels
        self.runs: list[tuple[int, int, int, int]] = []
        self.run_count = 0
        self.clipped_samples = 0
        self.waiting: list[np.ndarray] = []  # (2, k): starts and ends of runs not yet swept
        self.event_end = -(2**62)
        self.event_count = 0
        self.first_event_start: int | None = None
        self.last_event_end = 0

    def feed(self, chunk: np.ndarray, *, offset: int, channel_peaks: np.ndarray) -> None:
        n = chunk.shape[1]
        for channel in range(chunk.shape[0]):
            if self.open_start[channel] < 0 and channel_peaks[channel] < _CLIP_LEVEL:
                continue
            samples = chunk[channel]
            mask = (samples >= _CLIP_LEVEL) | (samples <= -_CLIP_LEVEL)
            edges = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
            starts = np.flatnonzero(edges == 1) + offset
            ends = np.flatnonzero(edges == -1) + offset
            previous = self.open_start[channel]
            if previous >= 0:
                if mask[0]:
                    starts[0] = previous
                else:
                    starts = np.concatenate([[previous], starts])
                    ends = np.concatenate([[offset], ends])
            if mask[-1]:
                self.open_start[channel] = int(starts[-1])
                starts, ends = starts[:-1], ends[:-1]
            else:
                self.open_start[channel] = -1
            self._add(channel, starts, ends)
        open_starts = [start for start in self.open_start if start >= 0]
        self._sweep(horizon=min([offset + n, *open_starts]))

    def close(self, *, end: int) -> None:
        """End every open run at ``end`` and release everything held back."""
        for channel, start in enumerate(self.open_start):
            if start >= 0:
                self._add(channel, np.array([start]), np.array([end]))
                self.open_start[channel] = -1
        for channel, run in enumerate(self.merging):
            if run is not None:
                self._emit(channel, *(np.array([value]) for value in run))
                self.merging[channel] = None
        self._sweep(horizon=None)

    def _add(self, channel: int, starts: np.ndarray, ends: np.ndarray) -> None:
        """Take the closed stretches of a channel, in order; keep those long enough to be runs."""
        keep = ends - starts >= MIN_CLIP_RUN_SAMPLES
        starts, ends = starts[keep], ends[keep]
        if not starts.size:
            return
        self.waiting.append(np.stack([starts, ends]))
        firsts = np.concatenate([[0], np.flatnonzero(starts[1:] - ends[:-1] >= self.merge_gap) + 1])
        lasts = np.concatenate([firsts[1:] - 1, [starts.size - 1]])
        group_starts, group_ends = starts[firsts], ends[lasts]
        group_samples = np.add.reduceat(ends - starts, firsts)
        current = self.merging[channel]
        if current is not None and group_starts[0] - current[1] < self.merge_gap:
            group_starts[0] = current[0]
            group_samples[0] += current[2]
        elif current is not None:
            self._emit(
                channel, np.array([current[0]]), np.array([current[1]]), np.array([current[2]])
            )
        # The last group may still be joined by the next run.
        self._emit(channel, group_starts[:-1], group_ends[:-1], group_samples[:-1])
        self.merging[channel] = [int(group_starts[-1]), int(group_ends[-1]), int(group_samples[-1])]

    def _emit(
        self, channel: int, starts: np.ndarray, ends: np.ndarray, samples: np.ndarray
    ) -> None:
        self.run_count += starts.size
        self.clipped_samples += int(samples.sum())
        room = MAX_CLIPPED_RUNS - len(self.runs)
        if room > 0:
            self.runs.extend(
                (int(s), int(e), channel, int(n))
                for s, e, n in zip(starts[:room], ends[:room], samples[:room], strict=True)
            )

    def _sweep(self, *, horizon: int | None) -> None:
        if not self.waiting:
            return
        runs = np.concatenate(self.waiting, axis=1)
        runs = runs[:, np.argsort(runs[0], kind="stable")]
        ready = runs.shape[1] if horizon is None else int(np.searchsorted(runs[0], horizon))
        self.waiting = [runs[:, ready:]] if ready < runs.shape[1] else []
        if not ready:
            return
        starts, ends = runs[0, :ready], runs[1, :ready]
        reach = np.maximum.accumulate(np.concatenate([[self.event_end], ends]))
        new_event = starts - reach[:-1] >= self.merge_gap
        self.event_count += int(new_event.sum())
        if self.first_event_start is None and new_event.any():
            self.first_event_start = int(starts[np.argmax(new_event)])
        self.event_end = int(reach[-1])
        self.last_event_end = self.event_end


# --------------------------------------------------------------------------- hum state


_HUM_WINDOW = round(HUM_WINDOW_S * ANALYSIS_SAMPLE_RATE)
_HUM_HOP = _HUM_WINDOW // 2
_HUM_BIN_HZ = ANALYSIS_SAMPLE_RATE / _HUM_WINDOW
_HUM_TAPER = np.hanning(_HUM_WINDOW + 1)[:-1]
# One-sided power per bin: a sine of amplitude A sums to A^2 / 2 over its bins (Parseval).
_HUM_POWER_SCALE = 2.0 / (_HUM_WINDOW * float(np.sum(_HUM_TAPER**2)))
_HUM_TAPER = _HUM_TAPER.astype(np.float32)


def _harmonic_grid() -> tuple[np.ndarray, np.ndarray, int]:
    """Bins of each harmonic's peak and of its floor, shaped (families, harmonics, bins), and
    the number of spectrum bins they need."""
    harmonics = np.arange(1, HUM_HARMONICS + 1)
    centres = np.rint(np.outer(MAINS_FREQUENCIES_HZ, harmonics) / _HUM_BIN_HZ).astype(int)
    half = HUM_PEAK_HALF_WIDTH_BINS
    peak = centres[..., None] + np.arange(-half, half + 1)
    near, far = HUM_FLOOR_BINS
    offsets = np.arange(near, far + 1)
    floor = centres[..., None] + np.concatenate([-offsets[::-1], offsets])
    return peak, floor, int(floor.max()) + 1


_HUM_PEAK_BINS, _HUM_FLOOR_BINS, _HUM_BINS = _harmonic_grid()
_HISTOGRAM_LOW_DB, _HISTOGRAM_HIGH_DB, _HISTOGRAM_STEP_DB = HUM_HISTOGRAM_DB
_HISTOGRAM_LEVELS = round((_HISTOGRAM_HIGH_DB - _HISTOGRAM_LOW_DB) / _HISTOGRAM_STEP_DB)
_DIGITAL_SILENCE_POWER = 10.0 ** (DIGITAL_SILENCE_DBFS / 10.0)


class _HumState:
    """Spectra of the mid signal in 1 s Hann windows with 50 % overlap (Welch's segments),
    counted per bin into level histograms rather than averaged.

    Windows start at multiples of the hop from the first analysis sample; only whole windows
    count. The counts are integers, so any cut of the stream gives the same histograms.
    """

    def __init__(self) -> None:
        span = (_HUM_BATCH_WINDOWS - 1) * _HUM_HOP + _HUM_WINDOW
        self.buffer = np.zeros(span, dtype=np.float32)
        self.filled = 0
        self.histogram = np.zeros((_HUM_BINS, _HISTOGRAM_LEVELS), dtype=np.int32)
        self.windows = 0
        self.signal_windows = 0

    def push(self, mid: np.ndarray) -> None:
        position = 0
        while position < mid.size:
            take = min(self.buffer.size - self.filled, mid.size - position)
            self.buffer[self.filled : self.filled + take] = mid[position : position + take]
            self.filled += take
            position += take
            if self.filled == self.buffer.size:
                levels = _window_levels(self.buffer, _HUM_BATCH_WINDOWS)
                _tally(self.histogram, levels)
                self.windows += _HUM_BATCH_WINDOWS
                self.signal_windows += levels.shape[0]
                keep = self.buffer.size - _HUM_BATCH_WINDOWS * _HUM_HOP
                self.buffer[:keep] = self.buffer[self.buffer.size - keep :]
                self.filled = keep

    def result(self) -> tuple[HumReport | None, bool]:
        """The hum found so far, and whether any whole window was analysed."""
        histogram = self.histogram
        windows, signal_windows = self.windows, self.signal_windows
        if self.filled >= _HUM_WINDOW:
            n = 1 + (self.filled - _HUM_WINDOW) // _HUM_HOP
            levels = _window_levels(self.buffer[: self.filled], n)
            histogram = histogram.copy()
            _tally(histogram, levels)
            windows += n
            signal_windows += levels.shape[0]
        if not windows:
            return None, False
        if not signal_windows:
            return None, True
        return _find_hum(_percentile_spectrum(histogram, signal_windows)), True


def _window_levels(samples: np.ndarray, n_windows: int) -> np.ndarray:
    """Histogram steps of the spectra of the windows that hold signal among ``n_windows``
    windows from the start of ``samples``, shaped (windows, bins)."""
    frames = np.lib.stride_tricks.sliding_window_view(samples, _HUM_WINDOW)
    frames = frames[: (n_windows - 1) * _HUM_HOP + 1 : _HUM_HOP]
    spectra = sp_fft.rfft(frames * _HUM_TAPER, axis=-1, overwrite_x=True)[:, :_HUM_BINS]
    power = spectra.real.astype(np.float64) ** 2 + spectra.imag.astype(np.float64) ** 2
    power *= _HUM_POWER_SCALE
    power = power[power.sum(axis=1) > _DIGITAL_SILENCE_POWER]
    level_db = 10.0 * np.log10(np.maximum(power, 1e-30))
    steps = (level_db - _HISTOGRAM_LOW_DB) / _HISTOGRAM_STEP_DB
    return np.clip(steps, 0, _HISTOGRAM_LEVELS - 1).astype(np.intp)


def _tally(histogram: np.ndarray, levels: np.ndarray) -> None:
    """Count each window's level of each bin into ``histogram`` (bins, steps), in place."""
    # In place, one window at a time (each touches every bin once, so no index repeats): a dense
    # count of the whole histogram per batch would allocate and touch a megabyte each time.
    bins = np.arange(_HUM_BINS)
    for window in levels:
        histogram[bins, window] += 1


def _percentile_spectrum(histogram: np.ndarray, total: int) -> np.ndarray:
    """Power of each bin at ``HUM_SPECTRUM_PERCENTILE`` of its windows, from its histogram."""
    target = HUM_SPECTRUM_PERCENTILE / 100.0 * total
    cumulative = np.cumsum(histogram, axis=1)
    step = np.argmax(cumulative > target, axis=1)
    rows = np.arange(histogram.shape[0])
    before = cumulative[rows, step] - histogram[rows, step]
    fraction = (target - before) / histogram[rows, step]
    level_db = _HISTOGRAM_LOW_DB + _HISTOGRAM_STEP_DB * (step + fraction)
    return 10.0 ** (level_db / 10.0)


def _harmonic_prominence(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energy of each harmonic over its local floor, and whether its peak lies on it.

    Parameters
    ----------
    power : numpy.ndarray
        Power spectra shaped (..., bins).

    Returns
    -------
    prominence : numpy.ndarray
        Linear ratio of the energy in the harmonic's bins to the floor's median power times
        as many bins, shaped (..., families, harmonics).
    peaks_here : numpy.ndarray
        bool, the largest of the harmonic's bins is within one bin of its frequency.
    """
    peak = power[..., _HUM_PEAK_BINS]
    floor = np.median(power[..., _HUM_FLOOR_BINS], axis=-1)
    energy = peak.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prominence = np.where(floor > 0, energy / (floor * peak.shape[-1]), np.inf)
    prominence = np.where(energy > 0, prominence, 0.0)
    offset = np.argmax(peak, axis=-1) - HUM_PEAK_HALF_WIDTH_BINS
    return prominence, np.abs(offset) <= 1


def _find_hum(power: np.ndarray) -> HumReport | None:
    """Pick the mains family whose harmonics stand out of the steady spectrum, narrow and on
    frequency."""
    prominence, peaks_here = _harmonic_prominence(power)
    frequency_hz = _peak_frequency_hz(power)
    strong = 10.0 ** (HUM_SINGLE_PROMINENCE_DB / 10.0)
    candidates = []
    for family, mains_hz in enumerate(MAINS_FREQUENCIES_HZ):
        harmonics = np.arange(1, HUM_HARMONICS + 1)
        tolerance_hz = HUM_FREQUENCY_TOLERANCE_HZ + HUM_DRIFT_HZ_PER_HARMONIC * harmonics
        is_found = (
            peaks_here[family]
            & (prominence[family] >= 10.0 ** (HUM_MIN_PROMINENCE_DB / 10.0))
            & (np.abs(frequency_hz[family] - harmonics * mains_hz) <= tolerance_hz)
        )
        found = tuple(int(k) for k in harmonics[is_found])
        if not found:
            continue
        enough = (len(found) >= 2 and found[0] <= 3) or (
            found[0] <= 2 and prominence[family, found[0] - 1] >= strong
        )
        # The hum's energy: each found harmonic's bins less the local floor under them.
        peak = power[_HUM_PEAK_BINS[family, is_found]]
        floor = np.median(power[_HUM_FLOOR_BINS[family, is_found]], axis=-1)
        level = float(np.maximum(peak.sum(axis=-1) - floor * peak.shape[-1], 0.0).sum())
        if not enough or level <= 0.0:
            continue
        level_db = 10.0 * math.log10(level)
        if level_db >= HUM_MIN_LEVEL_DBFS:
            # Harmonics at multiples of 300 Hz belong to both families: they decide nothing.
            own = sum(1 for k in found if (k * mains_hz) % 300)
            candidates.append((own, level_db, mains_hz, found))
    if not candidates:
        return None
    _, level_db, mains_hz, found = max(candidates)
    return HumReport(frequency_hz=mains_hz, level_db=round(level_db, 2), harmonics_found=found)


def _peak_frequency_hz(power: np.ndarray) -> np.ndarray:
    """Frequency of the largest bin near each harmonic, refined by a parabola through the log
    power of it and its neighbours (exact to a few hundredths of a bin for a Hann window)."""
    peak = power[_HUM_PEAK_BINS]
    index = np.argmax(peak, axis=-1)
    centre = np.take_along_axis(_HUM_PEAK_BINS, index[..., None], axis=-1)[..., 0]
    with np.errstate(divide="ignore"):
        left, mid, right = (np.log(power[centre + step] + 1e-300) for step in (-1, 0, 1))
    curvature = left - 2.0 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return (centre + np.clip(shift, -0.5, 0.5)) * _HUM_BIN_HZ


# --------------------------------------------------------------------------- report building


def _report(
    levels: _LevelState, *, hum: HumReport | None, hum_checked: bool, sample_rate: int
) -> HygieneReport:
    frames = levels.frames
    duration_s = frames / sample_rate
    dc = levels.sums / frames if frames else np.zeros(levels.channels)
    dc_db = tuple(_to_db(abs(float(v)), scale=20.0) for v in dc)
    clips = levels.clips
    first, last = levels.first_loud, levels.last_loud
    is_silent = first is None or last is None
    if first is None or last is None:
        head_s = tail_s = duration_s
    else:
        head_s = first / sample_rate
        tail_s = (frames - 1 - last) / sample_rate
    noise_floor_db, noise_is_issue = _noise_floor(levels.window_power, hum=hum)
    runs = tuple(
        ClippedRun(
            start_s=start / sample_rate, end_s=end / sample_rate, channel=ch, samples=samples
        )
        for start, end, ch, samples in sorted(clips.runs)
    )
    issues = _issues(
        duration_s=duration_s,
        channels=levels.channels,
        dc=[float(v) for v in dc],
        clips=clips,
        sample_rate=sample_rate,
        hum=hum,
        noisy_floor_db=noise_floor_db if noise_is_issue else None,
        head_s=head_s,
        tail_s=tail_s,
        is_silent=is_silent,
    )
    return HygieneReport(
        duration_s=duration_s,
        channels=levels.channels,
        dc_offset=tuple(float(v) for v in dc),
        dc_offset_db=dc_db,
        clipped_runs=runs,
        clipped_run_count=clips.run_count,
        clip_count=clips.event_count,
        clipped_samples=clips.clipped_samples,
        noise_floor_db=noise_floor_db,
        hum=None if is_silent else hum,
        hum_checked=hum_checked,
        silence_head_s=head_s,
        silence_tail_s=tail_s,
        is_silent=is_silent,
        issues=issues,
    )


def _noise_floor(
    window_power: list[np.ndarray], *, hum: HumReport | None
) -> tuple[float | None, bool]:
    """The noise floor in dBFS (``None`` if every window is digital silence), and whether it is
    an issue: loud, clear of the music, steady, and not the hum."""
    power = np.concatenate(window_power) if window_power else np.zeros(0)
    heard = power[power > _DIGITAL_SILENCE_POWER]
    if not heard.size:
        return None, False
    lowest, low, high = 10.0 * np.log10(
        np.percentile(heard, [NOISE_STEADY_PERCENTILE, NOISE_PERCENTILE, LOUD_PERCENTILE])
    )
    is_issue = bool(
        low > NOISE_FLOOR_LIMIT_DBFS
        and high - low >= NOISE_CONTRAST_DB
        and low - lowest <= NOISE_STEADY_DB
        and (hum is None or hum.level_db < low - HUM_EXPLAINS_NOISE_DB)
    )
    return round(float(low), 2), is_issue


def _issues(
    *,
    duration_s: float,
    channels: int,
    dc: list[float],
    clips: _ClipTracker,
    sample_rate: int,
    hum: HumReport | None,
    noisy_floor_db: float | None,
    head_s: float,
    tail_s: float,
    is_silent: bool,
) -> tuple[HygieneIssue, ...]:
    issues = []
    off_centre = [i for i, v in enumerate(dc) if abs(v) > DC_OFFSET_LIMIT]
    if off_centre:
        worst = max(off_centre, key=lambda i: abs(dc[i]))
        where = _channel_text(off_centre, channels=channels)
        issues.append(
            HygieneIssue(
                code="dc_offset",
                severity="warning",
                message=(
                    f"The waveform sits off centre{where} (a DC offset of "
                    f"{100 * abs(dc[worst]):.1f}% of full scale); remove it with a DC-offset "
                    "filter or a high-pass filter at 20 Hz."
                ),
            )
        )
    if clips.event_count and clips.first_event_start is not None:
        first_s = clips.first_event_start / sample_rate
        times = "once, at" if clips.event_count == 1 else f"{clips.event_count} times, first at"
        issues.append(
            HygieneIssue(
                code="clipping",
                severity="warning",
                message=(
                    f"The file clips {times} {_clock(first_s)}; re-record with less input gain, "
                    "or lower the level and export it again."
                ),
                start_s=first_s,
                end_s=clips.last_event_end / sample_rate,
            )
        )
    if is_silent:
        issues.append(
            HygieneIssue(
                code="silent",
                severity="error",
                message=(
                    f"The file is silent: nothing in it is louder than "
                    f"{SILENCE_THRESHOLD_DBFS:.0f} dBFS; check that the right track was "
                    "exported and that it was not muted."
                ),
                start_s=0.0,
                end_s=duration_s,
            )
        )
        return tuple(_ordered(issues))
    if hum is not None:
        issues.append(
            HygieneIssue(
                code="hum",
                severity="warning",
                message=(
                    f"There is {hum.frequency_hz} Hz mains hum at {hum.level_db:.0f} dBFS; check "
                    "cables, power and grounding (a ground loop is the usual cause), or remove "
                    f"it with a hum filter at {hum.frequency_hz} Hz and its harmonics."
                ),
            )
        )
    if noisy_floor_db is not None:
        issues.append(
            HygieneIssue(
                code="noise",
                severity="warning",
                message=(
                    f"Background noise sits at {noisy_floor_db:.0f} dBFS between notes; record "
                    "in a quieter room, closer to the microphone, or clean it with a noise gate "
                    "or noise reduction."
                ),
            )
        )
    if head_s > SILENCE_EDGE_LIMIT_S:
        issues.append(
            HygieneIssue(
                code="silence_head",
                severity="info",
                message=(
                    f"The file starts with {head_s:.1f} s of silence; that is fine if the part "
                    "comes in later in the song, otherwise trim it."
                ),
                start_s=0.0,
                end_s=head_s,
            )
        )
    if tail_s > SILENCE_EDGE_LIMIT_S:
        issues.append(
            HygieneIssue(
                code="silence_tail",
                severity="info",
                message=(
                    f"The file ends with {tail_s:.1f} s of silence; trim it unless it keeps the "
                    "stem the same length as the others."
                ),
                start_s=duration_s - tail_s,
                end_s=duration_s,
            )
        )
    return tuple(_ordered(issues))


def _ordered(issues: list[HygieneIssue]) -> list[HygieneIssue]:
    return sorted(issues, key=lambda issue: ISSUE_CODES.index(issue.code))


def _channel_text(indices: list[int], *, channels: int) -> str:
    if channels == 1:
        return ""
    if channels == 2:
        if len(indices) == 2:
            return " in both channels"
        return " in the left channel" if indices[0] == 0 else " in the right channel"
    names = ", ".join(str(i + 1) for i in indices)
    return f" in channel{'s' if len(indices) > 1 else ''} {names}"


def _clock(seconds: float) -> str:
    """Time as a musician reads it: ``0:42.3``, or ``1:02:03.4`` past an hour."""
    tenths = round(seconds * 10)
    minutes, tenths = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    clock = f"{minutes}:{tenths // 10:02d}.{tenths % 10}"
    return f"{hours}:{minutes:02d}:{tenths // 10:02d}.{tenths % 10}" if hours else clock


def _to_db(value: float, *, scale: float) -> float | None:
    return float(scale * math.log10(value)) if value > 0.0 else None


# --------------------------------------------------------------------------- validation


# --------------------------------------------------------------------------- whole signals


def measure(
    signal: np.ndarray, *, sample_rate: int, block_frames: int = DEFAULT_BLOCK_FRAMES
) -> HygieneReport:
    """Analyse a whole mono or stereo signal held in memory, hum included.

    The signal goes through a :class:`~studio.processing.frontend.SpectralFrontEnd` for the
    resampled mid signal; in the engine, share the front end the other features use instead.

    Parameters
    ----------
    signal : numpy.ndarray
        float32 samples shaped ``(channels, n_samples)`` (1 or 2 channels), or ``(n_samples,)``.
    sample_rate : int
        Sample rate in Hz.
    block_frames : int
        Frames pushed at a time.

    Returns
    -------
    HygieneReport
    """
    if not isinstance(signal, np.ndarray):
        raise TypeError(f"Expected a float32 numpy array, found {type(signal).__name__}.")
    check_int("block_frames", block_frames)
    if block_frames < 1:
        raise ValueError(f"Expected block_frames of 1 or more, found {block_frames}.")
    if signal.ndim == 1:
        signal = signal[np.newaxis]
    if signal.ndim != 2:
        raise ValueError(f"Expected a signal shaped (channels, n_samples), found {signal.shape}.")
    analyzer, front = _pipeline(sample_rate=sample_rate, channels=signal.shape[0])
    for start in range(0, signal.shape[1], block_frames):
        block = checked_block(signal[:, start : start + block_frames], channels=signal.shape[0])
        analyzer.push(block)
        front.push(block)
    front.finish()
    return analyzer.result()


def measure_file(
    path: str | os.PathLike[str], *, block_frames: int = DEFAULT_BLOCK_FRAMES
) -> HygieneReport:
    """Analyse a mono or stereo audio file, streamed through
    :func:`studio.processing.decode.read_blocks`.

    Raises
    ------
    AudioError
        As :func:`studio.processing.decode.read_blocks`.
    """
    sample_rate, channels, blocks = file_blocks(path, block_frames=block_frames)
    analyzer, front = _pipeline(sample_rate=sample_rate, channels=channels)
    for block in blocks:
        analyzer.push(block)
        front.push(block)
    front.finish()
    return analyzer.result()


def _pipeline(*, sample_rate: int, channels: int) -> tuple[HygieneAnalyzer, SpectralFrontEnd]:
    analyzer = HygieneAnalyzer(sample_rate=sample_rate, channels=channels)
    front = SpectralFrontEnd(
        sample_rate=sample_rate,
        channels=channels,
        sink=lambda frames: None,
        samples_sink=analyzer.push_analysis_samples,
    )
    return analyzer, front
