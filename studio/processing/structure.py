"""Song structure from the shared front end: sections, labels, an energy curve and repeats.

:class:`StructureAnalyzer` reads the :class:`~studio.processing.frontend.SpectralFrames` every
feature shares. It sums the power spectra of each column of :data:`COLUMN_FRAMES` frames
(0.116 s) and reduces each column at once to 57 numbers: 40 mel-band powers (timbre), 12 chroma
powers (harmony), the K-weighted power of the mid and of the side (loudness), and the onset
flux (the rise of log band energy from frame to frame) below 200 Hz, from 200 Hz to 2 kHz and
above. The spectra are never kept: an hour of audio is about 31,000 columns, 7 MB.

Method
------
1. **Bars.** The result is asked with the beats and downbeats of
   :class:`~studio.processing.rhythm.RhythmAnalyzer`. Bars start on the downbeats, or every
   four beats when there are none, or every :data:`FALLBACK_BAR_S` seconds without a pulse;
   the grid is extended at its period to cover the whole signal. Each bar is cut into
   :data:`SLOTS_PER_BAR` equal slots (eighth notes in 4/4) and each slot averages the columns
   whose centres fall in it: the features are bar-synchronous and keep the order of events.
2. **Features.** Per slot: chroma (square root of the chroma powers, centred, unit length) and
   onset flux (log, standardised over the song). Per bar: the MFCC (DCT of the log mel powers,
   coefficients 1 to 13, standardised) of its mean spectrum, and its loudness: the K-weighted
   mean square of ITU-R BS.1770-4 (eq. 1 and 2, the filter's power response applied to the
   spectra; for stereo ``L^2 + R^2 = 2 (M^2 + S^2)``), ungated, in LUFS.
3. **Two self-similarities of bars.** *Texture*: Gaussians of the distances between bars'
   MFCCs and between their onset patterns (bandwidth: the median distance), averaged.
   *Detail*: :data:`CHROMA_WEIGHT` times the mean correlation of the bars' chroma slot by slot
   (the same notes in the same order) plus the rest times the MFCC Gaussian. Identical bars
   score 1 in both.
4. **Novelty.** A checkerboard kernel (Foote, 2000) of :data:`KERNEL_BARS` bars each side,
   Gaussian-tapered, slides along the diagonal of the texture matrix; only its local maxima are
   kept. Leading and trailing bars more than :data:`EDGE_RANGE_LU` under the median bar
   (silence, a tail) are left out, and join the first and last sections.
5. **Phrases, then sections.** Dynamic programming cuts the bars into phrases, 4 bars unless
   the novelty pays for another length (:func:`phrase_cuts`), so every boundary is a bar line
   and the phrase grid follows the strongest changes. Consecutive phrases that are the same
   material (detail similarity of at least :data:`SAME_SECTION`, bar by bar) join into one
   section; any other phrase line is a boundary. Repetition, not contrast, decides whether a
   phrase line is a boundary: in songs where a verse and a chorus sound alike, their chords
   still tell them apart.
6. **Labels.** Two sections are compared bar by bar, the shorter slid along the longer (by
   whole bars), taking the best alignment. In order of time, each section takes the letter of
   the earlier section it matches best if their similarity reaches :data:`SAME_MATERIAL`, else
   the next new letter; a match under :data:`UNCHANGED` is a varied repeat and gets a prime
   (``A'``).
7. **Repeats.** A block of ``n`` bars (``n`` in :data:`REPEAT_BARS`) followed at once by a
   copy of itself whose bars match it at :data:`UNCHANGED` or more on average and
   :data:`UNCHANGED_BAR` or more each is an unchanged repeat; runs of copies are merged, and
   the shortest block that explains a run wins. Consecutive sections with the same letter that
   are not an unchanged repeat are reported as a varied repeat.
8. **Energy.** The loudness of each bar, and the same mapped to 0..1 from the quietest bar of
   the song (at most :data:`ENERGY_RANGE_LU` under the loudest) to the loudest; a section's
   energy is the mean of its bars'.

Limits: one metre, bars of equal length within the analysis, boundaries only on bar lines,
and a strong prior for phrases of 4 bars (most popular music; not a 12-bar blues or a through-
composed piece). Thresholds were set on material from :mod:`studio.processing.synth` (see
``benchmarks/structure_accuracy.py``): read its figures as a check on clean, idealised
material, not as an estimate for recordings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse

from studio.processing.frontend import (
    ANALYSIS_SAMPLE_RATE,
    HOP_SAMPLES,
    N_BINS,
    N_FFT,
    SpectralFrames,
    bin_frequencies_hz,
)
from studio.processing.loudness import LOUDNESS_OFFSET_DB, k_weighting_sos
from studio.processing.rhythm import read_with_beats
from studio.processing.spectrum import bin_power_scale

COLUMN_FRAMES = 5
COLUMN_S = COLUMN_FRAMES * HOP_SAMPLES / ANALYSIS_SAMPLE_RATE
N_MELS = 40
MEL_RANGE_HZ = (40.0, 10_000.0)
CHROMA_RANGE_HZ = (55.0, 4_000.0)
N_TIMBRE = 13
N_ONSET_GROUPS = 3  # onset flux below 200 Hz, 200 Hz to 2 kHz, above 2 kHz
SLOTS_PER_BAR = 8  # eighth notes in 4/4
BEATS_PER_BAR = 4
FALLBACK_BAR_S = 2.0
MIN_BARS = 4  # fewer bars than this: no structure to report
SILENCE_LUFS = -70.0  # BS.1770-4 absolute gate: quieter bars count as silent
EDGE_RANGE_LU = 20.0
ENERGY_RANGE_LU = 20.0

KERNEL_BARS = 4
PHRASE_BARS = 4
MAX_PHRASE_BARS = 8
EVEN_PENALTY = 0.1
ODD_PENALTY = 0.2
EDGE_DISCOUNT = 0.5  # a pickup or a tail is likelier than an odd phrase within the song
CHROMA_WEIGHT = 0.75
SAME_SECTION = 0.75

SAME_MATERIAL = 0.6
UNCHANGED = 0.9
UNCHANGED_BAR = 0.75
REPEAT_BARS = (1, 2, 4, 8, 16)

_ROW_CHROMA = N_MELS
_ROW_MID = N_MELS + 12
_ROW_SIDE = N_MELS + 13
_ROW_ONSET = N_MELS + 14
_WIDTH = N_MELS + 14 + N_ONSET_GROUPS
_BLOCKS_MAX = 64


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class StructureSection:
    """One section of the song.

    Attributes
    ----------
    start_s, end_s : float
        Start and end, in seconds.
    label : str
        A letter per kind of material, in order of first appearance (``"A"``, ``"B"`` ...);
        a prime marks a repeat that is similar but varied (``"A'"``).
    bars : int
        Length in bars.
    energy : float
        0 (the quietest sounding bar of the song) to 1 (the loudest): the mean of its bars.
    loudness_lufs : float or None
        K-weighted, ungated loudness of the section, in LUFS; None for silence.
    """

    start_s: float
    end_s: float
    label: str
    bars: int
    energy: float
    loudness_lufs: float | None


@dataclass(frozen=True)
class EnergyCurve:
    """Loudness per bar.

    Attributes
    ----------
    times_s : tuple of float
        Start of each bar, in seconds.
    values : tuple of float
        0 to 1 per bar: the loudness mapped between the quietest and the loudest sounding
        bar (silent bars are 0).
    loudness_lufs : tuple of (float or None)
        K-weighted, ungated loudness of each bar, in LUFS; None for silence.
    """

    times_s: tuple[float, ...]
    values: tuple[float, ...]
    loudness_lufs: tuple[float | None, ...]


@dataclass(frozen=True)
class Repeat:
    """A run of material played two or more times back to back.

    Attributes
    ----------
    start_s, end_s : float
        Start of the first copy and end of the last, in seconds.
    of_label : str
        Label(s) of the sections the first copy lies in, e.g. ``"B"`` or ``"A B"``.
    bars : int
        Length of one copy in bars.
    times : int
        Number of copies (2 or more).
    unchanged : bool
        True when every copy is essentially identical to the first; False for a varied
        repeat (``A A'``).
    """

    start_s: float
    end_s: float
    of_label: str
    bars: int
    times: int
    unchanged: bool


@dataclass(frozen=True)
class StructureReport:
    """Sections, boundaries, energy and repeats of a song.

    Attributes
    ----------
    sections : tuple of StructureSection
        Contiguous sections covering the signal; empty for silence and very short input.
    boundaries_s : tuple of float
        Times where one section ends and the next begins (not the start or the end), in s.
    energy_curve : EnergyCurve
    repeats : tuple of Repeat
    bar_times_s : tuple of float
        Start of every bar used, in seconds.
    bar_source : str
        Where the bars came from: ``"downbeats"``, ``"beats"`` (every four beats), ``"fixed"``
        (every FALLBACK_BAR_S seconds) or ``"none"``.
    duration_s : float
        Length of the analysed signal, in seconds.
    """

    sections: tuple[StructureSection, ...]
    boundaries_s: tuple[float, ...]
    energy_curve: EnergyCurve
    repeats: tuple[Repeat, ...]
    bar_times_s: tuple[float, ...]
    bar_source: str
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (lists, no NaN or infinity)."""
        curve = self.energy_curve
        return {
            "sections": [
                {
                    "start_s": s.start_s,
                    "end_s": s.end_s,
                    "label": s.label,
                    "bars": s.bars,
                    "energy": s.energy,
                    "loudness_lufs": s.loudness_lufs,
                }
                for s in self.sections
            ],
            "boundaries_s": list(self.boundaries_s),
            "energy_curve": {
                "times_s": list(curve.times_s),
                "values": list(curve.values),
                "loudness_lufs": list(curve.loudness_lufs),
            },
            "repeats": [
                {
                    "start_s": r.start_s,
                    "end_s": r.end_s,
                    "of_label": r.of_label,
                    "bars": r.bars,
                    "times": r.times,
                    "unchanged": r.unchanged,
                }
                for r in self.repeats
            ],
            "bar_times_s": list(self.bar_times_s),
            "bar_source": self.bar_source,
            "duration_s": self.duration_s,
        }


def empty_report(*, duration_s: float = 0.0) -> StructureReport:
    """A report with no sections (silence, or too short for structure)."""
    return StructureReport(
        sections=(),
        boundaries_s=(),
        energy_curve=EnergyCurve(times_s=(), values=(), loudness_lufs=()),
        repeats=(),
        bar_times_s=(),
        bar_source="none",
        duration_s=round(duration_s, 3),
    )


# --------------------------------------------------------------------------- weights


def _column_weights() -> scipy.sparse.csr_matrix:
    """Rows: 40 mel bands, 12 chroma bins, K-weighted mean square; columns: spectrum bins."""
    mel = librosa.filters.mel(
        sr=ANALYSIS_SAMPLE_RATE,
        n_fft=N_FFT,
        n_mels=N_MELS,
        fmin=MEL_RANGE_HZ[0],
        fmax=MEL_RANGE_HZ[1],
    )
    frequencies = bin_frequencies_hz()
    chroma = librosa.filters.chroma(sr=ANALYSIS_SAMPLE_RATE, n_fft=N_FFT, n_chroma=12)
    low, high = CHROMA_RANGE_HZ
    chroma = chroma * ((frequencies >= low) & (frequencies <= high))[None, :]
    # BS.1770-4 K-weighting as a power response, times the Parseval scale: the row gives the
    # K-weighted mean square of a frame.
    _, response = scipy.signal.sosfreqz(
        k_weighting_sos(sample_rate=ANALYSIS_SAMPLE_RATE), worN=frequencies, fs=ANALYSIS_SAMPLE_RATE
    )
    k_weight = np.abs(response) ** 2 * bin_power_scale()
    rows = np.vstack([mel, chroma, k_weight[None, :]]).astype(np.float32)
    rows[np.abs(rows) < 1e-6 * np.abs(rows).max(axis=1, keepdims=True)] = 0.0
    return scipy.sparse.csr_matrix(rows)


_WEIGHTS = _column_weights()
_K_WEIGHT = _WEIGHTS[-1].toarray().ravel().astype(np.float32)


def _flux_bands() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges of 24 log-spaced bands from 30 Hz to 11 kHz, their starts relative to the
    first edge, and the first band of each onset group."""
    frequencies = bin_frequencies_hz()
    wanted = np.geomspace(30.0, 11_000.0, 25)
    edges = np.unique(np.searchsorted(frequencies, wanted))
    edges = edges[edges < N_BINS]
    lows = frequencies[edges[:-1]]
    groups = np.searchsorted(lows, [0.0, 200.0, 2_000.0])
    return edges, edges[:-1] - edges[0], groups


_FLUX_EDGES, _FLUX_STARTS, _FLUX_GROUP_STARTS = _flux_bands()


# --------------------------------------------------------------------------- analyzer


class StructureAnalyzer:
    """Streaming structure analysis of the shared front end's frames.

    Push every run of frames in order; :meth:`result` may be asked at any time with the beats
    and downbeats of the same signal, and pushing may go on after it.

    Examples
    --------
    >>> analyzer = StructureAnalyzer()
    >>> front = SpectralFrontEnd(sample_rate=44_100, channels=1, sink=analyzer.push)
    >>> front.push(np.zeros((1, 44_100), dtype=np.float32))
    >>> front.finish()
    >>> analyzer.result(beats_s=[], downbeats_s=[]).sections
    ()
    """

    def __init__(self) -> None:
        self._next_frame = 0
        self._blocks: list[np.ndarray] = []  # (_WIDTH, n) float32 column sums
        # Partial column: mid power, onset flux and side power summed so far.
        self._partial = [np.zeros(N_BINS), np.zeros(N_ONSET_GROUPS), np.zeros(N_BINS)]
        self._partial_frames = 0
        self._previous_log: np.ndarray | None = None
        self._stereo: bool | None = None

    def push(self, frames: SpectralFrames) -> None:
        """Reduce the next run of consecutive frames to column features, keeping only those.

        Raises
        ------
        ValueError
            If the spectra are not shaped (1025, n_frames), the run does not start where the
            previous one ended, or mono and stereo runs are mixed.
        """
        frames.check_follows(self._next_frame)
        mid = frames.mid
        stereo = frames.side is not None
        if self._stereo is None:
            self._stereo = stereo
        elif stereo != self._stereo:
            raise ValueError("Expected every run of a signal to be mono, or every run stereo.")
        if not mid.shape[1]:
            return
        parts = [frames.mid_power, self._onset_flux(frames.mid_power)]
        if frames.side is not None:
            parts.append(np.square(frames.side, dtype=np.float32))
        self._pool(parts)
        self._next_frame += mid.shape[1]

    def _onset_flux(self, power: np.ndarray) -> np.ndarray:
        """Rise of log band energy from the previous frame, summed per band group, (3, n)."""
        bands = np.add.reduceat(power[_FLUX_EDGES[0] : _FLUX_EDGES[-1]], _FLUX_STARTS, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_bands = np.log(bands + np.float32(1e-10))
        previous = log_bands[:, :1] if self._previous_log is None else self._previous_log
        rise = np.maximum(np.diff(log_bands, axis=1, prepend=previous), 0.0)
        self._previous_log = log_bands[:, -1:].copy()
        flux = np.add.reduceat(rise, _FLUX_GROUP_STARTS, axis=0)
        return np.nan_to_num(flux, nan=0.0, posinf=0.0, neginf=0.0)

    def _pool(self, parts: list[np.ndarray]) -> None:
        """Sum frames into columns of COLUMN_FRAMES, carrying an incomplete one to the next run."""
        n = parts[0].shape[1]
        position = 0
        if self._partial_frames:
            position = min(COLUMN_FRAMES - self._partial_frames, n)
            self._add_partial(parts, 0, position)
            if self._partial_frames == COLUMN_FRAMES:
                self._store([p[:, None] for p in self._partial], stereo=len(parts) == 3)
                self._partial = [np.zeros_like(p) for p in self._partial]
                self._partial_frames = 0
        whole = (n - position) // COLUMN_FRAMES
        if whole:
            stop = position + whole * COLUMN_FRAMES
            self._store(
                [_column_sums(p[:, position:stop], whole) for p in parts], stereo=len(parts) == 3
            )
            position = stop
        if position < n:
            self._add_partial(parts, position, n)

    def _add_partial(self, parts: list[np.ndarray], start: int, stop: int) -> None:
        for total, part in zip(self._partial, parts, strict=False):
            total += part[:, start:stop].sum(axis=1, dtype=np.float64)
        self._partial_frames += stop - start

    def _store(self, sums: list[np.ndarray], *, stereo: bool) -> None:
        self._append(_features(sums, stereo=stereo).astype(np.float32))

    def _append(self, features: np.ndarray) -> None:
        if len(self._blocks) >= _BLOCKS_MAX:
            self._blocks = [np.concatenate(self._blocks, axis=1)]
        self._blocks.append(features)

    def _columns(self) -> np.ndarray:
        """Every column's features as means per frame, shaped (_WIDTH, n_columns), float64."""
        blocks = [block.astype(np.float64) / COLUMN_FRAMES for block in self._blocks]
        if self._partial_frames:
            sums = [p[:, None] for p in self._partial]
            blocks.append(_features(sums, stereo=bool(self._stereo)) / self._partial_frames)
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((_WIDTH, 0))

    def result(self, *, beats_s: Sequence[float], downbeats_s: Sequence[float]) -> StructureReport:
        """Sections, labels, energy and repeats of everything pushed so far.

        Parameters
        ----------
        beats_s : sequence of float
            Beat times in seconds, ascending (``RhythmReport.beats_s``); may be empty.
        downbeats_s : sequence of float
            Bar starts in seconds, ascending (``RhythmReport.downbeats_s``); may be empty.

        Raises
        ------
        ValueError
            If a time is not a finite number >= 0 or the times are not strictly ascending.
        """
        beats = _check_times("beats_s", beats_s)
        downbeats = _check_times("downbeats_s", downbeats_s)
        duration_s = self._next_frame * HOP_SAMPLES / ANALYSIS_SAMPLE_RATE
        columns = self._columns()
        edges, source = bar_edges(beats_s=beats, downbeats_s=downbeats, duration_s=duration_s)
        if len(edges) - 1 < MIN_BARS or not columns[_ROW_MID].any():
            return empty_report(duration_s=duration_s)
        stereo = bool(self._stereo)
        return _analyse(columns, edges=edges, source=source, stereo=stereo, duration_s=duration_s)


def _features(sums: list[np.ndarray], *, stereo: bool) -> np.ndarray:
    """Column features from summed mid power, onset flux and side power, (_WIDTH, n)."""
    mid, flux = sums[0], sums[1]
    features = np.empty((_WIDTH, mid.shape[1]))
    features[:_ROW_SIDE] = _WEIGHTS @ mid
    features[_ROW_SIDE] = _K_WEIGHT @ sums[2] if stereo else 0.0
    features[_ROW_ONSET:] = flux
    # Columns spoilt by NaN or infinity in the signal count as silence.
    features[:, ~np.isfinite(features).all(axis=0)] = 0.0
    return features


def _column_sums(power: np.ndarray, whole: int) -> np.ndarray:
    """Sums of consecutive groups of COLUMN_FRAMES frames, shaped (n_rows, whole), float32."""
    # Strided adds: several times faster than summing a (rows, whole, 5) view on its last axis.
    out = np.array(power[:, 0 : whole * COLUMN_FRAMES : COLUMN_FRAMES], dtype=np.float32)
    for offset in range(1, COLUMN_FRAMES):
        out += power[:, offset : whole * COLUMN_FRAMES : COLUMN_FRAMES]
    return out


def _check_times(name: str, times: Sequence[float]) -> np.ndarray:
    try:
        values = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name}: expected a sequence of times in seconds, found {times!r}"
        ) from exc
    if values.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of times, found shape {values.shape}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"{name}: expected finite times >= 0 s, found {values.tolist()}")
    if (np.diff(values) <= 0).any():
        raise ValueError(f"{name}: expected strictly ascending times, found {values.tolist()}")
    return values


# --------------------------------------------------------------------------- bars


def bar_edges(
    *, beats_s: np.ndarray, downbeats_s: np.ndarray, duration_s: float
) -> tuple[np.ndarray, str]:
    """Bar lines covering 0 to ``duration_s``: starts of every bar, then the end, in seconds.

    Downbeats when there are two or more, else every BEATS_PER_BAR beats from the first, else
    every FALLBACK_BAR_S; the grid is extended at its median period to both ends. A stretch
    at either end shorter than half a bar joins the bar next to it.
    """
    if duration_s <= 0:
        return np.zeros(1), "none"
    if len(downbeats_s) >= 2:
        grid, source = downbeats_s, "downbeats"
    elif len(beats_s) >= 2 * BEATS_PER_BAR:
        grid, source = beats_s[::BEATS_PER_BAR], "beats"
    else:
        grid, source = np.array([0.0, FALLBACK_BAR_S]), "fixed"
    period = float(np.median(np.diff(grid)))
    before = grid[0] - period * np.arange(math.floor(grid[0] / period + 0.5), 0, -1)
    last = grid[-1]
    after = last + period * np.arange(1, math.floor((duration_s - last) / period + 0.5) + 1)
    lines = np.concatenate([before, grid, after])
    lines = lines[(lines > 0.5 * period) & (lines < duration_s - 0.5 * period)]
    return np.concatenate([[0.0], lines, [duration_s]]), source


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class _Bars:
    """Bar-synchronous features."""

    chroma: np.ndarray  # (n_bars, SLOTS, 12), centred, unit length per slot (0 if silent)
    onsets: np.ndarray  # (n_bars, SLOTS * N_ONSET_GROUPS), standardised
    texture: np.ndarray  # (n_bars, N_TIMBRE): MFCC of the bar's mean mel powers, standardised
    loudness_lufs: np.ndarray  # (n_bars,), NaN for silence


def _analyse(
    columns: np.ndarray, *, edges: np.ndarray, source: str, stereo: bool, duration_s: float
) -> StructureReport:
    bars = _bar_features(columns, edges=edges, stereo=stereo)
    texture, detail = bar_similarity(bars)
    sounding = _sounding_spans(bars, texture=texture, detail=detail)
    if not sounding:
        return empty_report(duration_s=duration_s)
    energy = _energy(bars.loudness_lufs, sounding)
    # Silence and tails at the ends belong to the first and the last section.
    spans = [(0, sounding[0][1]), *sounding[1:]]
    spans[-1] = (spans[-1][0], len(edges) - 1)
    labels = label_segments(detail, spans)
    sections = tuple(
        StructureSection(
            start_s=_round(edges[a]),
            end_s=_round(edges[b]),
            label=label,
            bars=b - a,
            energy=round(float(energy[a:b].mean()), 3),
            loudness_lufs=_lufs(_mean_loudness(bars.loudness_lufs[a:b])),
        )
        for (a, b), label in zip(spans, labels, strict=True)
    )
    repeats = find_repeats(detail, spans=spans, labels=labels, edges=edges)
    return StructureReport(
        sections=sections,
        boundaries_s=tuple(_round(edges[a]) for a, _ in spans[1:]),
        energy_curve=EnergyCurve(
            times_s=tuple(_round(t) for t in edges[:-1]),
            values=tuple(round(float(v), 3) for v in energy),
            loudness_lufs=tuple(_lufs(v) for v in bars.loudness_lufs),
        ),
        repeats=repeats,
        bar_times_s=tuple(_round(t) for t in edges[:-1]),
        bar_source=source,
        duration_s=_round(duration_s),
    )


def _sounding_spans(
    bars: _Bars, *, texture: np.ndarray, detail: np.ndarray
) -> list[tuple[int, int]]:
    """Sections of the bars from the first to the last sounding one (steps 4 and 5).

    At the ends, a bar counts as sounding if it is within EDGE_RANGE_LU of the median bar: a
    fade or a reverb tail joins the section next to it.
    """
    loudness = bars.loudness_lufs
    if not np.isfinite(loudness).any():
        return []
    floor = float(np.nanmedian(loudness)) - EDGE_RANGE_LU
    sounding = np.flatnonzero(
        np.isfinite(loudness) & (np.nan_to_num(loudness, nan=-np.inf) > floor)
    )
    first, last = int(sounding[0]), int(sounding[-1]) + 1
    inner = slice(first, last)
    novelty = _peaks_only(checkerboard_novelty(texture[inner, inner], half_width=KERNEL_BARS))
    spans = merge_repeated_phrases(detail[inner, inner], phrase_cuts(novelty))
    return [(a + first, b + first) for a, b in spans]


def _bar_features(columns: np.ndarray, *, edges: np.ndarray, stereo: bool) -> _Bars:
    """Average the columns into SLOTS_PER_BAR slots per bar (step 1) and derive features."""
    n_bars = len(edges) - 1
    slot_edges = np.concatenate(
        [np.linspace(edges[i], edges[i + 1], SLOTS_PER_BAR + 1)[:-1] for i in range(n_bars)]
        + [edges[-1:]]
    )
    centres = (np.arange(columns.shape[1]) * COLUMN_FRAMES + (COLUMN_FRAMES - 1) / 2) * (
        HOP_SAMPLES / ANALYSIS_SAMPLE_RATE
    )
    n_slots = n_bars * SLOTS_PER_BAR
    slot = np.clip(np.searchsorted(slot_edges, centres, side="right") - 1, 0, n_slots - 1)
    counts = np.bincount(slot, minlength=n_slots)
    sums = np.stack([np.bincount(slot, weights=row, minlength=n_slots) for row in columns])
    # A slot shorter than a column (fast tempi) takes the column nearest its middle.
    middles = 0.5 * (slot_edges[:-1] + slot_edges[1:])
    nearest = np.clip(np.round(middles / COLUMN_S - 0.5).astype(int), 0, columns.shape[1] - 1)
    slots = np.where(counts > 0, sums / np.maximum(counts, 1), columns[:, nearest])
    loudness = _slot_loudness(slots, stereo=stereo)
    return _Bars(
        chroma=_chroma(slots[_ROW_CHROMA:_ROW_MID], loudness).reshape(n_bars, SLOTS_PER_BAR, 12),
        onsets=_standardise(np.log1p(slots[_ROW_ONSET:].T)).reshape(n_bars, -1),
        texture=_timbre(slots[:N_MELS].reshape(N_MELS, n_bars, SLOTS_PER_BAR).mean(axis=2)),
        loudness_lufs=_bar_loudness(slots, n_bars=n_bars, stereo=stereo),
    )


def _mean_square(slots: np.ndarray, *, stereo: bool) -> np.ndarray:
    """K-weighted mean square summed over channels (BS.1770-4 eq. 1 and 2).

    For stereo, L^2 + R^2 = 2 (M^2 + S^2) with M = (L + R) / 2 and S = (L - R) / 2.
    """
    if stereo:
        return 2.0 * (slots[_ROW_MID] + slots[_ROW_SIDE])
    return slots[_ROW_MID].copy()


def _slot_loudness(slots: np.ndarray, *, stereo: bool) -> np.ndarray:
    power = _mean_square(slots, stereo=stereo)
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET_DB + 10.0 * np.log10(power)


def _bar_loudness(slots: np.ndarray, *, n_bars: int, stereo: bool) -> np.ndarray:
    """Loudness of each bar in LUFS (mean power over its slots), NaN below SILENCE_LUFS."""
    power = _mean_square(slots, stereo=stereo).reshape(n_bars, SLOTS_PER_BAR).mean(axis=1)
    with np.errstate(divide="ignore"):
        lufs = LOUDNESS_OFFSET_DB + 10.0 * np.log10(power)
    return np.where(lufs > SILENCE_LUFS, lufs, np.nan)


def _chroma(chroma_power: np.ndarray, loudness: np.ndarray) -> np.ndarray:
    """Centred, unit-length chroma per slot, shaped (n_slots, 12); silent slots are zero."""
    amplitude = np.sqrt(np.maximum(chroma_power, 0.0)).T
    amplitude = amplitude - amplitude.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(amplitude, axis=1, keepdims=True)
    sounding = (norms[:, 0] > 0) & (loudness > SILENCE_LUFS)
    out = np.zeros_like(amplitude)
    out[sounding] = amplitude[sounding] / norms[sounding]
    return out


def _timbre(mel_power: np.ndarray) -> np.ndarray:
    """MFCC 1..13 of each slot, standardised over the song, shaped (n_slots, 13) (step 2)."""
    floor = max(float(mel_power.max()) * 1e-8, 1e-20)
    log_mel = 10.0 * np.log10(np.maximum(mel_power, floor))
    coefficients = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)[1 : N_TIMBRE + 1].T
    return _standardise(coefficients)


def _standardise(values: np.ndarray) -> np.ndarray:
    """Each column to mean 0 and standard deviation 1 (constant columns to 0)."""
    spread = values.std(axis=0)
    return (values - values.mean(axis=0)) / np.where(spread > 0, spread, 1.0)


def bar_similarity(bars: _Bars) -> tuple[np.ndarray, np.ndarray]:
    """Two self-similarities of bars, 0 to 1, shaped (n_bars, n_bars) (step 3).

    ``texture``: alike sound and rhythm (timbre of the bar and its onset pattern), for novelty.
    ``detail``: the same notes in the same order (chroma slot by slot) and a like timbre, for
    repeats and labels.
    """
    texture = _gaussian(bars.texture)
    chroma = np.einsum("isc,jsc->ij", bars.chroma, bars.chroma) / SLOTS_PER_BAR
    detail = CHROMA_WEIGHT * np.clip(chroma, 0.0, 1.0) + (1.0 - CHROMA_WEIGHT) * texture
    return 0.5 * (texture + _gaussian(bars.onsets)), detail


def _gaussian(features: np.ndarray) -> np.ndarray:
    """exp(-d^2 / median d^2) between rows: 1 for equal rows."""
    squared = np.sum(features**2, axis=1)
    distance = np.maximum(squared[:, None] + squared[None, :] - 2.0 * features @ features.T, 0.0)
    off_diagonal = distance[~np.eye(len(distance), dtype=bool)]
    scale = float(np.median(off_diagonal)) if off_diagonal.size else 1.0
    return np.exp(-distance / max(scale, 1e-9))


def checkerboard_novelty(similarity: np.ndarray, *, half_width: int) -> np.ndarray:
    """Novelty at each bar line ``1 .. n_bars - 1`` (index ``b - 1``) (step 4).

    Within-side similarity (before with before, after with after, diagonal excluded) minus
    across similarity, each a Gaussian-tapered mean over the bars available.
    """
    n = len(similarity)
    taper = np.exp(-0.5 * ((np.arange(half_width) + 0.5) / (0.5 * half_width)) ** 2)
    out = np.zeros(max(n - 1, 0))
    for b in range(1, n):
        before = np.arange(b - 1, max(b - 1 - half_width, -1), -1)
        after = np.arange(b, min(b + half_width, n))
        wb, wa = taper[: len(before)], taper[: len(after)]
        across = _weighted_mean(similarity[np.ix_(before, after)], wb, wa)
        sides = [
            _weighted_mean(similarity[np.ix_(side, side)], w, w, skip_diagonal=True)
            for side, w in ((before, wb), (after, wa))
            if len(side) > 1
        ]
        out[b - 1] = (float(np.mean(sides)) if sides else 1.0) - across
    return out


def _weighted_mean(
    block: np.ndarray, rows: np.ndarray, cols: np.ndarray, *, skip_diagonal: bool = False
) -> float:
    weights = np.outer(rows, cols)
    if skip_diagonal:
        np.fill_diagonal(weights, 0.0)
    total = float(weights.sum())
    if total <= 0:
        return float(block.mean()) if block.size else 0.0
    return float((block * weights).sum() / total)


def _peaks_only(novelty: np.ndarray) -> np.ndarray:
    """Novelty where it is a local maximum (within one bar), else 0: a broad rise around a big
    change must not pull phrase lines off the change itself."""
    padded = np.concatenate([[-np.inf], novelty, [-np.inf]])
    peak = (novelty >= padded[:-2]) & (novelty >= padded[2:])
    return np.where(peak, np.maximum(novelty, 0.0), 0.0)


def phrase_cuts(novelty: np.ndarray) -> list[int]:
    """Cut the bars into phrases, mostly of PHRASE_BARS bars, where novelty is high (step 5).

    Dynamic programming over the bar lines: a phrase of 4 bars costs nothing, one of 2, 6 or 8
    bars :data:`EVEN_PENALTY`, any other length up to 8 :data:`ODD_PENALTY`; the first and the
    last phrase pay :data:`EDGE_DISCOUNT` of that (a pickup, a tail). The cuts maximise the novelty
    at them minus the penalties. Returns the bar indices where phrases start, never 0.
    """
    n = len(novelty) + 1
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    previous = np.zeros(n + 1, dtype=int)
    for end in range(1, n + 1):
        for length in range(1, min(MAX_PHRASE_BARS, end) + 1):
            start = end - length
            score = best[start] - _phrase_penalty(length, at_edge=start == 0 or end == n)
            if start > 0:
                score += novelty[start - 1]
            if score > best[end]:
                best[end], previous[end] = score, start
    cuts, position = [], n
    while position > 0:
        position = int(previous[position])
        cuts.append(position)
    return sorted(c for c in cuts if c > 0)


def _phrase_penalty(length: int, *, at_edge: bool) -> float:
    if length == PHRASE_BARS:
        return 0.0
    penalty = EVEN_PENALTY if length % 2 == 0 else ODD_PENALTY
    return EDGE_DISCOUNT * penalty if at_edge else penalty


def merge_repeated_phrases(similarity: np.ndarray, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """Join consecutive phrases that are the same material (similarity >= SAME_SECTION)."""
    n = len(similarity)
    phrases = list(zip([0, *cuts], [*cuts, n], strict=True))
    spans = [phrases[0]]
    last_phrase = phrases[0]
    for phrase in phrases[1:]:
        if segment_similarity(similarity, last_phrase, phrase) >= SAME_SECTION:
            spans[-1] = (spans[-1][0], phrase[1])
        else:
            spans.append(phrase)
        last_phrase = phrase
    return spans


def segment_similarity(
    similarity: np.ndarray, first: tuple[int, int], second: tuple[int, int]
) -> float:
    """How alike two spans of bars are: the best bar-by-bar alignment of the shorter along the
    longer, by whole bars (step 6), 0 to 1."""
    (a0, a1), (b0, b1) = first, second
    if a1 - a0 > b1 - b0:
        (a0, a1), (b0, b1) = (b0, b1), (a0, a1)
    length = a1 - a0
    best = 0.0
    for offset in range(b1 - b0 - length + 1):
        diagonal = similarity[np.arange(a0, a1), np.arange(b0 + offset, b0 + offset + length)]
        best = max(best, float(diagonal.mean()))
    return best


def label_segments(similarity: np.ndarray, spans: Sequence[tuple[int, int]]) -> list[str]:
    """A letter per span, with a prime for varied repeats (step 6)."""
    letters: list[str] = []
    firsts: dict[str, tuple[int, int]] = {}
    for span in spans:
        scores = {
            letter: segment_similarity(similarity, first, span) for letter, first in firsts.items()
        }
        best = max(scores, key=scores.__getitem__, default=None)
        if best is not None and scores[best] >= SAME_MATERIAL:
            letters.append(best if scores[best] >= UNCHANGED else best + "'")
            continue
        letter = _letter(len(firsts))
        firsts[letter] = span
        letters.append(letter)
    return letters


def _letter(index: int) -> str:
    """A, B, ..., Z, then A2, B2, ..."""
    return chr(ord("A") + index % 26) + ("" if index < 26 else str(index // 26 + 1))


# --------------------------------------------------------------------------- repeats


def find_repeats(
    similarity: np.ndarray,
    *,
    spans: Sequence[tuple[int, int]],
    labels: Sequence[str],
    edges: np.ndarray,
) -> tuple[Repeat, ...]:
    """Unchanged repeats of blocks of bars, and varied repeats of whole sections (step 7)."""
    bar_labels = [label for (a, b), label in zip(spans, labels, strict=True) for _ in range(a, b)]
    runs = _unchanged_runs(similarity)
    out = [
        Repeat(
            start_s=_round(edges[start]),
            end_s=_round(edges[start + length * times]),
            of_label=" ".join(dict.fromkeys(bar_labels[start : start + length])),
            bars=length,
            times=times,
            unchanged=True,
        )
        for start, length, times in runs
    ]
    out += _varied_section_repeats(similarity, spans=spans, labels=labels, edges=edges, runs=runs)
    return tuple(sorted(out, key=lambda r: (r.start_s, r.bars)))


def _unchanged_runs(similarity: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs ``(first bar, bars per copy, copies)`` of blocks repeated back to back unchanged,
    the shortest block first; a run inside one already found is not reported again."""
    n = len(similarity)
    covered = np.zeros(n, dtype=bool)
    runs: list[tuple[int, int, int]] = []
    for length in REPEAT_BARS:
        if 2 * length > n:
            break
        lag = np.array([similarity[i, i + length] for i in range(n - length)])
        start = 0
        while start + 2 * length <= n:
            if not _is_copy(lag, start, length):
                start += 1
                continue
            times = 2
            while start + (times + 1) * length <= n and _is_copy(
                lag, start + (times - 1) * length, length
            ):
                times += 1
            stop = start + times * length
            if not covered[start:stop].all():
                runs.append((start, length, times))
                covered[start:stop] = True
            start = stop - length + 1 if times == 2 else stop
    return runs


def _is_copy(lag: np.ndarray, start: int, length: int) -> bool:
    """Whether bars ``start .. start + length - 1`` come again, unchanged, ``length`` later."""
    window = lag[start : start + length]
    return bool(window.mean() >= UNCHANGED and window.min() >= UNCHANGED_BAR)


def _varied_section_repeats(
    similarity: np.ndarray,
    *,
    spans: Sequence[tuple[int, int]],
    labels: Sequence[str],
    edges: np.ndarray,
    runs: Sequence[tuple[int, int, int]],
) -> list[Repeat]:
    """Consecutive sections with the same letter (``A A'``) that are not unchanged repeats."""
    out: list[Repeat] = []
    index = 0
    while index < len(spans):
        base = labels[index].rstrip("'")
        stop = index + 1
        while stop < len(spans) and labels[stop].rstrip("'") == base:
            stop += 1
        if stop - index >= 2:
            start_bar, end_bar = spans[index][0], spans[stop - 1][1]
            inside = any(s <= start_bar and s + n * t >= end_bar for s, n, t in runs)
            if not inside:
                out.append(
                    Repeat(
                        start_s=_round(edges[start_bar]),
                        end_s=_round(edges[end_bar]),
                        of_label=base,
                        bars=spans[index][1] - spans[index][0],
                        times=stop - index,
                        unchanged=False,
                    )
                )
        index = stop
    return out


# --------------------------------------------------------------------------- energy


def _energy(loudness_lufs: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Loudness per bar mapped to 0..1 (step 8).

    0 is the quietest bar between the first and the last sounding bar (a fade-out or a tail
    after them does not stretch the scale), but never more than ENERGY_RANGE_LU under the
    loudest; 1 is the loudest bar. Quieter bars, and silence, are 0.
    """
    out = np.zeros(loudness_lufs.shape)
    if not spans:
        return out
    inner = loudness_lufs[spans[0][0] : spans[-1][1]]
    inner = inner[np.isfinite(inner)]
    high = float(np.max(inner))
    low = max(float(np.min(inner)), high - ENERGY_RANGE_LU)
    sounding = np.isfinite(loudness_lufs)
    scale = (loudness_lufs[sounding] - low) / (high - low) if high > low else 1.0
    out[sounding] = np.clip(scale, 0.0, 1.0)
    return out


def _mean_loudness(loudness_lufs: np.ndarray) -> float:
    """Loudness of a span from its bars' loudness (power mean), NaN if all are silent."""
    sounding = loudness_lufs[np.isfinite(loudness_lufs)]
    if not sounding.size:
        return math.nan
    power = np.mean(10.0 ** ((loudness_lufs[np.isfinite(loudness_lufs)]) / 10.0))
    return float(10.0 * np.log10(power * sounding.size / len(loudness_lufs)))


def _lufs(value: float) -> float | None:
    return round(float(value), 2) if np.isfinite(value) else None


def _round(value: float) -> float:
    return round(float(value), 3)


# --------------------------------------------------------------------------- convenience


def analyze_structure(
    signal: np.ndarray,
    sample_rate: int,
    *,
    beats_s: Sequence[float] | None = None,
    downbeats_s: Sequence[float] | None = None,
) -> StructureReport:
    """Run the front end (and the rhythm analysis, unless beats are given) over a signal.

    Parameters
    ----------
    signal : numpy.ndarray
        float32 samples shaped ``(channels, n_samples)`` (1 or 2 channels) or ``(n_samples,)``.
    sample_rate : int
        Sample rate in Hz.
    beats_s, downbeats_s : sequence of float, optional
        Beat and bar times in seconds; found by :class:`RhythmAnalyzer` when ``beats_s`` is
        None (``downbeats_s`` defaults to none then).

    Raises
    ------
    ValueError
        For a signal of another shape, a bad sample rate or bad times.
    """
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, int | np.integer)
        or sample_rate < 1
    ):
        raise ValueError(f"sample_rate: expected a positive int in Hz, found {sample_rate!r}")
    structure = StructureAnalyzer()
    beats_s, downbeats_s = read_with_beats(
        signal,
        sample_rate=int(sample_rate),
        sink=structure.push,
        beats_s=beats_s,
        downbeats_s=None if beats_s is None else downbeats_s,
    )
    return structure.result(beats_s=beats_s, downbeats_s=downbeats_s)
