"""Chords over time, on the beat grid, from the shared front end.

:class:`ChordAnalyzer` reads the :class:`~studio.processing.frontend.SpectralFrames` every
feature shares (no second STFT) and keeps, per block of :data:`POOL_FRAMES` frames (93 ms),
two 36-bin pitch-class vectors: a treble chroma and a bass chroma. That is 72 floats per
block, about 2.8 MB for an hour of audio; the spectra are never kept, and the result does not
depend on how the frames were cut into runs.

Method
------
1. Pitch, per frame: the spectral peaks of :mod:`studio.processing.tonality` (parabolic
   interpolation, on a grid of a third of a semitone) at their full amplitude (tonality
   weighs them by prominence, which in a close voicing penalises a note for its neighbours),
   summed over blocks of four frames. Overtones are taken out of each block as tonality does
   (a cell loses what a lower partial's harmonics would put there), and a cell keeps only
   what its neighbours on both sides in time also hold (the block before and the block
   after, so a block is emitted one block late): drum tones, clicks and noise, shorter than
   three blocks (280 ms), drop out.
2. Two registers. Cells under MIDI :data:`BASS_TOP_MIDI` (G3) fold into the bass chroma, cells
   from :data:`TREBLE_BOTTOM_MIDI` (C3) up into the treble chroma; the global tuning (the
   weighted circular mean of the peaks' deviation from A440) shifts both to 12 pitch classes.
3. Beat-synchronous chroma. The blocks are summed between consecutive beats (plus the stretch
   before the first beat and after the last), so every chord boundary falls on a beat.
4. Scores. Each beat is scored against 84 chords (12 roots times major, minor, dominant 7th,
   major 7th, minor 7th, sus2 and sus4) and "no chord": the cosine of the treble chroma with
   the chord's binary template, plus :data:`BASS_WEIGHT` times the share of the bass chroma on
   the chord's root (the bass is what tells Csus2 from Gsus4 and Cmaj7 from Em), plus
   :data:`KEY_BONUS` for chords of the key when the key is known. "No chord" scores
   :data:`NO_CHORD_SCORE`; beats much quieter than the loudest (:data:`QUIET_LEVEL`) are
   "no chord" outright.
5. Decoding. A Viterbi pass finds the sequence with the best total score less
   :data:`CHANGE_PENALTY` per change of chord (an HMM with a self-transition bias); when the
   downbeats are known, a change on a downbeat costs less and one off it more. Runs of the
   same chord merge into spans.
6. Confidence. A softmax of each beat's scores (temperature :data:`SOFTMAX_TEMPERATURE`): the
   chosen chord's share, averaged over the span's beats.

Limits
------
A major seventh voiced a semitone under the root in the octave below middle C (B3 under C4:
15 Hz apart, under two bins of 10.8 Hz) is not resolved, and the chord is often named as its
triad (Cmaj7 as C). Chords outside the vocabulary (diminished, augmented, sixths, ninths)
come out as the nearest chord in it. One chord per beat at most.

The constants were chosen on material from :mod:`studio.processing.synth` with other seeds,
keys and tempi than ``benchmarks/chord_accuracy.py`` uses; read its figures as a check on
clean, idealised material, not an estimate for recordings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.processing.frontend import (
    ANALYSIS_SAMPLE_RATE,
    HOP_SAMPLES,
    SpectralFrames,
)
from studio.processing.rhythm import read_with_beats
from studio.processing.theory import QUALITY_INTERVALS
from studio.processing.tonality import (
    GRID_SIZE,
    GRID_STEPS,
    LOW_MIDI,
    MODES,
    PITCH_CLASS_NAMES,
    _fold_octaves,
    _pitch_class_fold,
    _pitch_grid,
    _suppress_overtones,
    _tuning_semitones,
    _widen,
)

POOL_FRAMES = 4
BLOCK_S = POOL_FRAMES * HOP_SAMPLES / ANALYSIS_SAMPLE_RATE
BASS_TOP_MIDI = 55  # G3: bass lines live below, chord voicings mostly above
TREBLE_BOTTOM_MIDI = 48  # C3

MIR_EVAL_QUALITIES = {
    "major": "maj",
    "minor": "min",
    "dominant7": "7",
    "major7": "maj7",
    "minor7": "min7",
    "sus2": "sus2",
    "sus4": "sus4",
}
# Intervals above the root, in semitones, from the one table the idea writers use too.
# Names match studio.processing.synth.
QUALITIES = {name: QUALITY_INTERVALS[short] for name, short in MIR_EVAL_QUALITIES.items()}
SUFFIXES = {
    "major": "",
    "minor": "m",
    "dominant7": "7",
    "major7": "maj7",
    "minor7": "m7",
    "sus2": "sus2",
    "sus4": "sus4",
}
NO_CHORD = "none"
NO_CHORD_LABEL = "N"

BASS_WEIGHT = 0.4
# Added to each quality's score: a seventh or a suspension must show itself a little more
# clearly than a triad, as a passing melody note often adds one.
QUALITY_BIAS = {
    "major": 0.0,
    "minor": 0.0,
    "dominant7": -0.03,
    "major7": -0.03,
    "minor7": -0.03,
    "sus2": -0.1,
    "sus4": -0.1,
}
KEY_BONUS = 0.02
NO_CHORD_SCORE = 0.75
QUIET_LEVEL = 0.05
CHANGE_PENALTY = 0.2
DOWNBEAT_FACTOR = 0.5  # a change on a downbeat costs this much of the penalty ...
OFFBEAT_FACTOR = 1.5  # ... and one between downbeats this much, when downbeats are known
SOFTMAX_TEMPERATURE = 0.05
FALLBACK_BEAT_S = 0.5  # the grid used when no beats are given (no pulse was found)

# Key scales: the natural scales plus, in minor, the leading tone of harmonic minor (V, V7).
_KEY_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}
_QUALITY_NAMES = tuple(QUALITIES)
_N_CHORDS = 12 * len(QUALITIES)
_ROOTS = np.tile(np.arange(12), len(QUALITIES))
_CELL_MIDI = LOW_MIDI + np.arange(GRID_SIZE) / GRID_STEPS
_BASS_CELLS = (_CELL_MIDI < BASS_TOP_MIDI).astype(np.float32)
_TREBLE_CELLS = (_CELL_MIDI >= TREBLE_BOTTOM_MIDI).astype(np.float32)


def _templates() -> np.ndarray:
    """Unit-length binary templates, row ``12 q + r`` for quality ``q`` on root ``r``."""
    rows = np.zeros((_N_CHORDS, 12))
    for q, intervals in enumerate(QUALITIES.values()):
        for root in range(12):
            rows[12 * q + root, [(root + i) % 12 for i in intervals]] = 1.0
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


_TEMPLATES = _templates()


@dataclass(frozen=True)
class ChordSpan:
    """One chord and when it sounds.

    Attributes
    ----------
    start_s, end_s : float
        Start and end in seconds; inner boundaries are beat times.
    root : int or None
        Root pitch class, 0 (C) to 11 (B); ``None`` for no chord.
    quality : str
        A key of :data:`QUALITIES`, or ``"none"`` for no chord.
    label : str
        Chord symbol with sharps, e.g. ``"F#m7"``, ``"Bsus4"``, ``"C"``; ``"N"`` for no chord.
    confidence : float
        0 to 1: the chord's share of the evidence, averaged over its beats.
    """

    start_s: float
    end_s: float
    root: int | None
    quality: str
    label: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "root": self.root,
            "quality": self.quality,
            "label": self.label,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class ChordReport:
    """Chords over time, in order, covering the signal without gaps.

    Attributes
    ----------
    chords : tuple of ChordSpan
        Consecutive spans (a span's ``end_s`` is the next one's ``start_s``); adjacent spans
        never hold the same chord. Empty for an empty signal.
    """

    chords: tuple[ChordSpan, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"chords": [span dicts]}``."""
        return {"chords": [span.to_dict() for span in self.chords]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChordReport:
        """Rebuild a report from :meth:`to_dict`'s output."""
        return cls(chords=tuple(ChordSpan(**span) for span in data["chords"]))


def chord_label(*, root: int | None, quality: str) -> str:
    """Chord symbol with sharps: ``chord_label(root=6, quality="minor7") == "F#m7"``."""
    if root is None:
        return NO_CHORD_LABEL
    _check_root(root)
    if quality not in QUALITIES:
        raise ValueError(f"quality: expected one of {_QUALITY_NAMES}, found {quality!r}")
    return PITCH_CLASS_NAMES[root] + SUFFIXES[quality]


def mir_eval_label(span: ChordSpan) -> str:
    """The span's chord in mir_eval (Harte) syntax: ``"F#:min7"``, ``"B:sus4"``, ``"N"``."""
    if span.root is None:
        return "N"
    return f"{PITCH_CLASS_NAMES[span.root]}:{MIR_EVAL_QUALITIES[span.quality]}"


class ChordAnalyzer:
    """Streaming chord recognition from the shared front end's frames.

    Push every run of frames in order; :meth:`result` may be asked at any time with the beats
    (from :class:`~studio.processing.rhythm.RhythmAnalyzer`), and pushing may go on after it.

    Examples
    --------
    >>> analyzer = ChordAnalyzer()
    >>> front = SpectralFrontEnd(sample_rate=44_100, channels=1, sink=analyzer.push)
    >>> front.push(np.zeros((1, 44_100), dtype=np.float32))
    >>> front.finish()
    >>> [span.label for span in analyzer.result(beats_s=[0.25, 0.75]).chords]
    ['N']
    """

    def __init__(self) -> None:
        self._next_frame = 0
        self._pending = np.zeros((0, GRID_SIZE), dtype=np.float32)  # frames of a partial block
        # The last block emitted and the one held back until its successor comes (step 1).
        self._before = np.zeros((1, GRID_SIZE), dtype=np.float32)
        self._held = np.zeros((0, GRID_SIZE), dtype=np.float32)
        self._blocks = np.zeros((64, 72), dtype=np.float32)
        self._n_blocks = 0
        self._tuning = 0j

    def push(self, frames: SpectralFrames) -> None:
        """Reduce the next run of consecutive frames to treble and bass chroma.

        Raises
        ------
        ValueError
            If the spectra are not shaped (1025, n_frames), or the run does not start where
            the previous one ended.
        """
        frames.check_follows(self._next_frame)
        mid = frames.mid
        n = mid.shape[1]
        if not n:
            return
        grid, _total, tuning = _pitch_grid(mid, prominence=False)
        if math.isfinite(tuning.real) and math.isfinite(tuning.imag):
            self._tuning += tuning
        # Frames spoilt by NaN or infinity in the signal count as silence.
        grid[~np.isfinite(grid).all(axis=1)] = 0.0
        self._next_frame += n
        grid = np.concatenate([self._pending, grid])
        whole = grid.shape[0] // POOL_FRAMES
        self._pending = grid[whole * POOL_FRAMES :].copy()
        if whole:
            pooled = grid[: whole * POOL_FRAMES].reshape(whole, POOL_FRAMES, GRID_SIZE).sum(axis=1)
            lasting = self._lasting(_suppress_overtones(pooled), final=False)
            self._append(self._registers(lasting))

    def result(
        self,
        *,
        beats_s: Sequence[float],
        downbeats_s: Sequence[float] = (),
        tonic: int | None = None,
        mode: str | None = None,
    ) -> ChordReport:
        """Chords of everything pushed so far, on the given beats.

        Parameters
        ----------
        beats_s : sequence of float
            Beat times in seconds, ascending. Chords change only on them. If empty, a grid
            of :data:`FALLBACK_BEAT_S` seconds is used.
        downbeats_s : sequence of float
            Times of the bars' first beats, in seconds (may be empty): chord changes are
            likelier there.
        tonic, mode : int and str, optional
            The key (pitch class 0-11 and ``"major"`` or ``"minor"``), e.g. from the tonality
            report; chords of the key are slightly preferred. Both or neither.

        Raises
        ------
        ValueError
            If times are not finite, non-negative and strictly ascending, or the key is not
            valid.
        """
        beats = _check_times("beats_s", beats_s)
        downbeats = _check_times("downbeats_s", downbeats_s)
        key_scale = _key_scale(tonic=tonic, mode=mode)
        blocks = self._all_blocks()
        if not len(blocks):
            return ChordReport(chords=())
        end_s = (self._next_frame - 1) * HOP_SAMPLES / ANALYSIS_SAMPLE_RATE
        if not len(beats):
            beats = np.arange(FALLBACK_BEAT_S, end_s, FALLBACK_BEAT_S)
        bounds = np.concatenate([[0.0], beats[(beats > 0.0) & (beats < end_s)], [end_s]])
        fold = _pitch_class_fold(_tuning_semitones(self._tuning))
        treble, bass = _beat_sums(blocks, bounds=bounds)
        scores = chord_scores(treble=treble @ fold, bass=bass @ fold, key_scale=key_scale)
        penalties = _change_penalties(bounds, downbeats=downbeats)
        path = viterbi(scores, penalties=penalties)
        return ChordReport(chords=_spans(path, scores=scores, bounds=bounds))

    def _lasting(self, clean: np.ndarray, *, final: bool) -> np.ndarray:
        """Blocks whose neighbours are known, each cell at most its neighbours' (step 1).

        ``clean`` holds the next overtone-free blocks. A block is emitted once the block after
        it has arrived (so the last is held back), unless ``final``: then every block goes,
        the last compared with the one before only, and the state is left as it was.
        """
        run = np.concatenate([self._before, self._held, clean])
        if final:
            run = np.concatenate([run, run[-1:]])
        wide = _widen(run)
        lasting = np.minimum(np.minimum(run[1:-1], wide[:-2]), wide[2:])
        if not final:
            self._before, self._held = run[-2:-1].copy(), run[-1:].copy()
        return lasting

    def _registers(self, lasting: np.ndarray) -> np.ndarray:
        """Fold lasting blocks into (n, 72): the treble's 36 bins, then the bass's (step 2)."""
        out = np.empty((lasting.shape[0], 72), dtype=np.float32)
        out[:, :36] = _fold_octaves(lasting * _TREBLE_CELLS)
        out[:, 36:] = _fold_octaves(lasting * _BASS_CELLS)
        return out

    def _append(self, rows: np.ndarray) -> None:
        needed = self._n_blocks + rows.shape[0]
        if needed > self._blocks.shape[0]:
            grown = np.zeros((max(needed, 2 * self._blocks.shape[0]), 72), dtype=np.float32)
            grown[: self._n_blocks] = self._blocks[: self._n_blocks]
            self._blocks = grown
        self._blocks[self._n_blocks : needed] = rows
        self._n_blocks = needed

    def _all_blocks(self) -> np.ndarray:
        """Every block, the frames of a partial last block pooled too (state unchanged)."""
        clean = _suppress_overtones(self._pending.sum(axis=0, keepdims=True))
        if not len(self._pending):
            clean = clean[:0]
        if not len(self._held) and not len(clean):
            return self._blocks[: self._n_blocks]
        tail = self._registers(self._lasting(clean, final=True))
        return np.concatenate([self._blocks[: self._n_blocks], tail])


def chord_scores(
    *, treble: np.ndarray, bass: np.ndarray, key_scale: frozenset[int] | None = None
) -> np.ndarray:
    """Score every chord and "no chord" for each beat (step 4 of the module docstring).

    Parameters
    ----------
    treble, bass : numpy.ndarray
        Beat-synchronous chroma, shaped (n_beats, 12), C to B, non-negative.
    key_scale : frozenset of int, optional
        Pitch classes of the key: chords whose notes all lie in it get :data:`KEY_BONUS`.

    Returns
    -------
    numpy.ndarray
        Shape (n_beats, 85): column ``12 q + r`` is quality ``q`` (in :data:`QUALITIES`
        order) on root ``r``; the last column is "no chord".
    """
    treble_norm = np.linalg.norm(treble, axis=1, keepdims=True)
    unit = np.divide(treble, treble_norm, out=np.zeros_like(treble), where=treble_norm > 0)
    bass_sum = bass.sum(axis=1, keepdims=True)
    share = np.divide(bass, bass_sum, out=np.zeros_like(bass), where=bass_sum > 0)
    chords = unit @ _TEMPLATES.T + BASS_WEIGHT * share[:, _ROOTS]
    chords += np.repeat([QUALITY_BIAS[q] for q in QUALITIES], 12)
    if key_scale is not None:
        inside = np.array([set(np.flatnonzero(t)) <= key_scale for t in _TEMPLATES])
        chords += KEY_BONUS * inside
    level = treble.sum(axis=1) + bass.sum(axis=1)
    quiet = level <= QUIET_LEVEL * level.max() if level.max() > 0 else np.ones(len(level), bool)
    chords[quiet] = -1.0
    return np.column_stack([chords, np.full(len(chords), NO_CHORD_SCORE)])


def viterbi(scores: np.ndarray, *, penalties: np.ndarray) -> np.ndarray:
    """The state sequence with the best total score less a penalty per change of state.

    Parameters
    ----------
    scores : numpy.ndarray
        Shape (n_steps, n_states).
    penalties : numpy.ndarray
        Shape (n_steps,): the cost of changing state on entering each step (the first is
        unused).

    Returns
    -------
    numpy.ndarray
        The best state of each step, shape (n_steps,), int.
    """
    n_steps, n_states = scores.shape
    back = np.zeros((n_steps, n_states), dtype=np.int64)
    total = scores[0].copy()
    states = np.arange(n_states)
    for step in range(1, n_steps):
        best = int(np.argmax(total))
        switch = total[best] - penalties[step]
        stay = total >= switch
        back[step] = np.where(stay, states, best)
        total = np.where(stay, total, switch) + scores[step]
    path = np.empty(n_steps, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for step in range(n_steps - 1, 0, -1):
        path[step - 1] = back[step, path[step]]
    return path


def analyze_chords(
    signal: np.ndarray,
    sample_rate: int,
    *,
    beats_s: Sequence[float] | None = None,
    downbeats_s: Sequence[float] | None = None,
    tonic: int | None = None,
    mode: str | None = None,
) -> ChordReport:
    """Run the front end and the analyzer over a whole signal held in memory.

    Parameters
    ----------
    signal : numpy.ndarray
        float32 samples shaped ``(channels, n_samples)`` (1 or 2 channels) or ``(n_samples,)``.
    sample_rate : int
        Sample rate in Hz.
    beats_s, downbeats_s : sequence of float, optional
        Beat and downbeat times in seconds. When ``beats_s`` is None a
        :class:`~studio.processing.rhythm.RhythmAnalyzer` reads the same frames and its beats
        and downbeats are used.
    tonic, mode : optional
        The key, as :meth:`ChordAnalyzer.result` takes it.
    """
    analyzer = ChordAnalyzer()
    beats_s, downbeats_s = read_with_beats(
        signal,
        sample_rate=sample_rate,
        sink=analyzer.push,
        beats_s=beats_s,
        downbeats_s=downbeats_s,
    )
    return analyzer.result(beats_s=beats_s, downbeats_s=downbeats_s, tonic=tonic, mode=mode)


# --------------------------------------------------------------------------- helpers


def _check_root(root: int) -> None:
    if isinstance(root, bool) or not isinstance(root, int | np.integer) or not 0 <= root < 12:
        raise ValueError(f"root: expected a pitch class 0..11, found {root!r}")


def _check_times(name: str, times: Sequence[float]) -> np.ndarray:
    """Times as a float array, or ValueError if not finite, >= 0 and strictly ascending."""
    try:
        values = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a sequence of seconds, found {times!r}") from exc
    if values.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of seconds, found shape {values.shape}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"{name}: expected finite times >= 0 s, found {values.tolist()}")
    if (np.diff(values) <= 0).any():
        raise ValueError(f"{name}: expected strictly ascending times, found {values.tolist()}")
    return values


def _key_scale(*, tonic: int | None, mode: str | None) -> frozenset[int] | None:
    if tonic is None and mode is None:
        return None
    valid_tonic = isinstance(tonic, int | np.integer) and not isinstance(tonic, bool)
    if not (valid_tonic and 0 <= tonic < 12 and mode in MODES):
        raise ValueError(
            f"tonic and mode: expected both (0..11 and one of {MODES}) or neither, "
            f"found {tonic!r} and {mode!r}"
        )
    return frozenset((tonic + step) % 12 for step in _KEY_STEPS[mode])


def _beat_sums(blocks: np.ndarray, *, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the blocks centred between consecutive bounds (in s): treble and bass, 36 bins each.

    A stretch too short to hold a block's centre takes the block nearest its middle.
    """
    centres_s = (np.arange(len(blocks)) * POOL_FRAMES + (POOL_FRAMES - 1) / 2) * (
        HOP_SAMPLES / ANALYSIS_SAMPLE_RATE
    )
    edges = np.searchsorted(centres_s, bounds)
    cumulative = np.concatenate([np.zeros((1, 72)), np.cumsum(blocks, axis=0, dtype=np.float64)])
    sums = cumulative[edges[1:]] - cumulative[edges[:-1]]
    empty = np.flatnonzero(edges[1:] == edges[:-1])
    if len(empty):
        middle = 0.5 * (bounds[empty] + bounds[empty + 1])
        nearest = np.clip(np.round(middle / BLOCK_S - 0.375).astype(int), 0, len(blocks) - 1)
        sums[empty] = blocks[nearest]
    return sums[:, :36], sums[:, 36:]


def _change_penalties(bounds: np.ndarray, *, downbeats: np.ndarray) -> np.ndarray:
    """The cost of a chord change at the start of each beat segment (step 5)."""
    penalties = np.full(len(bounds) - 1, CHANGE_PENALTY)
    if len(downbeats):
        starts = bounds[:-1]
        gap = np.abs(starts[:, None] - downbeats[None, :]).min(axis=1)
        on_downbeat = gap < 0.5 * BLOCK_S
        penalties *= np.where(on_downbeat, DOWNBEAT_FACTOR, OFFBEAT_FACTOR)
    return penalties


def _spans(path: np.ndarray, *, scores: np.ndarray, bounds: np.ndarray) -> tuple[ChordSpan, ...]:
    """Merge runs of one state into spans, with their mean softmax share (step 6)."""
    shares = np.exp((scores - scores.max(axis=1, keepdims=True)) / SOFTMAX_TEMPERATURE)
    shares /= shares.sum(axis=1, keepdims=True)
    chosen = shares[np.arange(len(path)), path]
    starts = np.flatnonzero(np.r_[True, path[1:] != path[:-1]])
    ends = np.r_[starts[1:], len(path)]
    spans = []
    for start, end in zip(starts, ends, strict=True):
        state = int(path[start])
        root = None if state == _N_CHORDS else state % 12
        quality = NO_CHORD if root is None else _QUALITY_NAMES[state // 12]
        spans.append(
            ChordSpan(
                start_s=round(float(bounds[start]), 4),
                end_s=round(float(bounds[end]), 4),
                root=root,
                quality=quality,
                label=chord_label(root=root, quality=quality),
                confidence=round(float(chosen[start:end].mean()), 4),
            )
        )
    return tuple(spans)
