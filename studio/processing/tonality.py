"""Key and mode, with a confidence, a runner-up and a chromagram, from the shared front end.

:class:`TonalityAnalyzer` reads the :class:`~studio.processing.frontend.SpectralFrames` every
feature shares (no second STFT) and reduces each frame at once to a 36-bin pitch-class vector;
the spectra are never kept. What it keeps grows by 40 floats per column of 22 frames (about
0.51 s): an hour of audio is about 7,000 columns, 2.3 MB. The result does not depend on how
the frames were cut into runs.

Method
------
1. Spectral peaks, per frame. Local maxima of the magnitude spectrum from 39 Hz (just under a
   bass guitar's low E) to 5 kHz (above, partials say little about pitch), at most 60 dB under
   the frame's loudest bin, their frequency and amplitude refined by parabolic interpolation of
   the log magnitude (Smith and Serra, PARSHL, 1987): that is what lets 10.8 Hz bins name bass
   notes a semitone (3 Hz) apart. Each peak is weighted by its prominence over the spectrum
   3 and 4 bins away on its quieter side, outside the main lobe of a Hann-windowed sinusoid:
   a sinusoid stands 30 dB or more above it, a local maximum of noise only a few dB, so noise,
   cymbals and the noise of drums count for little.
2. Pitch grid. Each peak goes, split linearly, into a log-frequency grid of a third of a
   semitone, MIDI 27 to 112.
3. Overtone suppression. A cell that could hold the h-th harmonic (h = 2 to 8) of a lower
   partial in the same frame loses what that partial's harmonic would bring, ``a / h`` (the
   spectrum of a sawtooth, the brightest common case). This removes the fifths, thirds and
   flat sevenths that overtones add to the chroma (they tilt it towards the dominant, the
   parallel major and the subdominant); a real note that shares a cell with an overtone keeps
   what exceeds it.
4. Persistence. Only what lasts counts: each cell keeps the smaller of its value and the
   largest value near it six frames (0.14 s) earlier. Drum tones, clicks and noise die or
   wander faster than that and drop out; held notes stay. This stands in for a
   harmonic-percussive separation, which would need a window of spectra.
5. Chroma. The grid folds into 36 bins per octave, summed per column. A global tuning
   estimate, the weighted circular mean of every peak's deviation from A440, shifts the
   folding to 12 pitch classes when the result is asked for.
6. Key. Two cues, each a Pearson correlation against a template in every key: the summed
   chroma against the Krumhansl-Kessler probe-tone profiles (Krumhansl, *Cognitive
   Foundations of Musical Pitch*, 1990, Table 4.1), and the chroma of the last second of
   sound against the key's tonic triad (pieces and phrases end on the tonic; that is what
   tells a key from its relative major or minor, whose scale is the same). A key scores the
   first plus :data:`ENDING_WEIGHT` times the second.
7. Confidence. A softmax of the 24 scores (temperature :data:`SOFTMAX_TEMPERATURE`) shares
   the evidence among the keys, so the shares of the winner and the runner-up follow the
   margin between their scores. Both are scaled down when the tonal clarity, the share of
   peak amplitude that is prominent and lasting pitch, is under :data:`FULL_CLARITY` (noise
   and drums are near 0, notes near 1, a band with drums about 0.5), and when less than
   :data:`FULL_EVIDENCE_S` seconds hold pitch (a few notes say little). Below
   :data:`MIN_CLARITY` the key is ``None``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from studio.processing.frontend import (
    ANALYSIS_SAMPLE_RATE,
    HOP_SAMPLES,
    N_BINS,
    N_FFT,
    SpectralFrames,
    SpectralFrontEnd,
)

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES = ("major", "minor")

LOW_MIDI = 27  # D#1, 38.9 Hz
HIGH_HZ = 5000.0
PEAK_RANGE_DB = 60.0
# A peak must also reach what a -100 dBFS sine gives in a Hann-windowed frame (A N / 4).
PEAK_FLOOR = 10.0 ** (-100.0 / 20.0) * N_FFT / 4
# A peak this far (dB) above the spectrum around it counts not at all, and fully.
PROMINENCE_DB = (9.0, 21.0)
GRID_STEPS = 3  # cells per semitone
GRID_SIZE = (112 - LOW_MIDI) * GRID_STEPS
OVERTONES = (2, 3, 4, 5, 6, 7, 8)
PERSIST_FRAMES = 6
COLUMN_FRAMES = 22
CHROMA_HOP_S = COLUMN_FRAMES * HOP_SAMPLES / ANALYSIS_SAMPLE_RATE
ENDING_S = 1.0
# A column counts as sounding above this fraction of the mean pitched column's level.
SOUNDING_LEVEL = 0.1

# Krumhansl and Kessler (1982) probe-tone ratings, C major and C minor (Krumhansl 1990, Table 4.1).
KRUMHANSL_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KRUMHANSL_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
# The tonic triad, root weighted double: what a final chord or a final note should match.
TRIAD_MAJOR = (2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
TRIAD_MINOR = (2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)

ENDING_WEIGHT = 0.5
SOFTMAX_TEMPERATURE = 0.12
MIN_CLARITY = 0.1
FULL_CLARITY = 0.4
FULL_EVIDENCE_S = 10.0

# The bin nearest LOW_MIDI; the prominence looks 4 bins either side of a peak.
_K_LOW = max(4, round(440.0 * 2.0 ** ((LOW_MIDI - 69) / 12) * N_FFT / ANALYSIS_SAMPLE_RATE))
_K_HIGH = min(N_BINS - 5, math.ceil(HIGH_HZ * N_FFT / ANALYSIS_SAMPLE_RATE))
_BINS = 12 * GRID_STEPS
# Cell 0 (MIDI LOW_MIDI) lands in this pitch bin (bin 0 is C).
_FIRST_BIN = (LOW_MIDI % 12) * GRID_STEPS
# Per column: the 36 bins, then the sums of all peak amplitude, of prominent amplitude, of
# overtone-free amplitude and of lasting amplitude (for the clarity).
_WIDTH = _BINS + 4


@dataclass(frozen=True)
class TonalityReport:
    """Key, mode and chroma of a signal.

    Attributes
    ----------
    key : str or None
        Tonic and mode with sharps, e.g. ``"F# minor"``; ``None`` for silence, noise and
        unpitched sound.
    key_confidence : float
        0 to 1: the key's share of the evidence, scaled down when little of the sound is pitch.
    runner_up : str or None
        The next most likely key (often the relative key or one a fifth away).
    runner_up_confidence : float
        0 to 1, on the same scale; never more than ``key_confidence``.
    tonic : int or None
        Pitch class of the tonic, 0 (C) to 11 (B).
    mode : str or None
        ``"major"`` or ``"minor"``.
    chroma_mean : tuple of float
        12 values, C to B, summing to 1 (all 0 without pitched content).
    chroma : list of list of float
        Chromagram for drawing: 12 rows (C to B) of one value per column, each column scaled to
        its largest value (0 to 1) and rounded to 3 decimals; columns without pitch are 0.
    chroma_hop_s : float
        Time between chromagram columns, in seconds: column ``j`` covers frames
        ``22 j`` to ``22 j + 21``, centred from ``j * chroma_hop_s`` seconds.
    tuning_cents : float
        Deviation of the tuning from A = 440 Hz, in cents (-50 to 50).
    clarity : float
        0 to 1: the share of spectral peak amplitude that is prominent, lasting pitch.
    """

    key: str | None
    key_confidence: float
    runner_up: str | None
    runner_up_confidence: float
    tonic: int | None
    mode: str | None
    chroma_mean: tuple[float, ...]
    chroma: list[list[float]]
    chroma_hop_s: float
    tuning_cents: float
    clarity: float

    def to_dict(self) -> dict[str, object]:
        """Return the fields as a JSON-ready dict (tuples as lists; no NaN or infinity)."""
        out: dict[str, object] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


def key_name(*, tonic: int, mode: str) -> str:
    """Name a key with sharps: ``key_name(tonic=6, mode="minor") == "F# minor"``."""
    if isinstance(tonic, bool) or not isinstance(tonic, int | np.integer) or not 0 <= tonic < 12:
        raise ValueError(f"tonic: expected a pitch class 0..11, found {tonic!r}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, found {mode!r}")
    return f"{PITCH_CLASS_NAMES[tonic]} {mode}"


def key_templates(*, major: tuple[float, ...], minor: tuple[float, ...]) -> np.ndarray:
    """The 24 transpositions of a major and a minor template on C, shaped (24, 12).

    Row ``t`` is the major key on pitch class ``t``, row ``12 + t`` the minor key on ``t``.
    """
    return np.stack(
        [np.roll(np.asarray(profile, dtype=np.float64), t) for profile in (major, minor)
         for t in range(12)]
    )  # fmt: skip


_PROFILES = key_templates(major=KRUMHANSL_MAJOR, minor=KRUMHANSL_MINOR)
_TRIADS = key_templates(major=TRIAD_MAJOR, minor=TRIAD_MINOR)


class TonalityAnalyzer:
    """Streaming key and chroma analysis of the shared front end's frames.

    Push every run of frames in order; :meth:`result` may be asked at any time, and pushing
    may go on after it.

    Examples
    --------
    >>> analyzer = TonalityAnalyzer()
    >>> front = SpectralFrontEnd(sample_rate=44_100, channels=1, sink=analyzer.push)
    >>> front.push(np.zeros((1, 44_100), dtype=np.float32))
    >>> front.finish()
    >>> analyzer.result().key is None
    True
    """

    def __init__(self) -> None:
        self._next_frame = 0
        self._columns = np.zeros((64, _WIDTH))
        self._n_columns = 0
        self._history = np.zeros((PERSIST_FRAMES, GRID_SIZE), dtype=np.float32)
        self._tuning = 0j

    def push(self, frames: SpectralFrames) -> None:
        """Reduce the next run of consecutive frames to chroma, keeping only that.

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
        grid, total, tuning = _pitch_grid(mid)
        if math.isfinite(tuning.real) and math.isfinite(tuning.imag):
            self._tuning += tuning
        clean = _suppress_overtones(grid)
        stacked = np.concatenate([self._history, clean])
        lasting = np.minimum(clean, _widen(stacked[:n]))
        self._history = stacked[n:].copy()
        features = np.empty((n, _WIDTH))
        features[:, :_BINS] = _fold_octaves(lasting)
        features[:, _BINS] = total
        features[:, _BINS + 1] = grid.sum(axis=1)
        features[:, _BINS + 2] = clean.sum(axis=1)
        features[:, _BINS + 3] = lasting.sum(axis=1)
        # Frames spoilt by NaN or infinity in the signal count as silence.
        features[~np.isfinite(features).all(axis=1)] = 0.0
        self._pool(features, start_frame=frames.start_frame)
        self._next_frame += n

    def result(self) -> TonalityReport:
        """Key, confidences, runner-up and chroma of everything pushed so far."""
        columns = self._columns[: self._n_columns]
        tuning_semitones = _tuning_semitones(self._tuning)
        chroma = columns[:, :_BINS] @ _pitch_class_fold(tuning_semitones)
        clarity = _clarity(columns[:, _BINS:].sum(axis=0))
        total = chroma.sum(axis=0)
        decision = _NO_KEY
        if clarity >= MIN_CLARITY and np.ptp(total) > 0:
            sounding = _sounding(chroma)
            scores = key_scores(chroma=total, ending=_ending_chroma(chroma, sounding))
            evidence_s = float(sounding.sum()) * CHROMA_HOP_S
            decision = _decide(scores, clarity=clarity, evidence_s=evidence_s)
        mean = total / total.sum() if total.sum() > 0 else np.zeros(12)
        return TonalityReport(
            key=decision.key,
            key_confidence=decision.key_confidence,
            runner_up=decision.runner_up,
            runner_up_confidence=decision.runner_up_confidence,
            tonic=decision.tonic,
            mode=decision.mode,
            chroma_mean=tuple(round(float(v), 6) for v in mean),
            chroma=_chromagram(chroma),
            chroma_hop_s=CHROMA_HOP_S,
            tuning_cents=round(100.0 * tuning_semitones, 2),
            clarity=round(clarity, 4),
        )

    def _pool(self, features: np.ndarray, *, start_frame: int) -> None:
        """Add per-frame features into their columns of ``COLUMN_FRAMES`` frames."""
        index = (start_frame + np.arange(features.shape[0])) // COLUMN_FRAMES
        starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
        sums = np.add.reduceat(features, starts, axis=0)
        needed = int(index[-1]) + 1
        if needed > self._columns.shape[0]:
            grown = np.zeros((max(needed, 2 * self._columns.shape[0]), _WIDTH))
            grown[: self._n_columns] = self._columns[: self._n_columns]
            self._columns = grown
        self._columns[index[starts]] += sums
        self._n_columns = needed


def key_scores(*, chroma: np.ndarray, ending: np.ndarray) -> np.ndarray:
    """Score every key from the summed chroma and the chroma of the ending.

    Parameters
    ----------
    chroma : numpy.ndarray
        Chroma summed over the whole signal, shape (12,), C to B.
    ending : numpy.ndarray
        Chroma of the last second of sound, shape (12,); all zeros if unknown.

    Returns
    -------
    numpy.ndarray
        Shape (24,): C major to B major, then C minor to B minor.
    """
    scores = _correlate(chroma, _PROFILES)
    if np.ptp(ending) > 0:
        scores = scores + ENDING_WEIGHT * _correlate(ending, _TRIADS)
    return scores


def analyze_tonality(signal: np.ndarray, *, sample_rate: int) -> TonalityReport:
    """Run the front end and the analyzer over a whole signal held in memory.

    Parameters
    ----------
    signal : numpy.ndarray
        float32 samples shaped ``(channels, n_samples)`` (1 or 2 channels) or ``(n_samples,)``.
    sample_rate : int
        Sample rate in Hz.
    """
    block = signal[np.newaxis] if signal.ndim == 1 else signal
    analyzer = TonalityAnalyzer()
    front = SpectralFrontEnd(sample_rate=sample_rate, channels=block.shape[0], sink=analyzer.push)
    front.push(block.astype(np.float32, copy=False))
    front.finish()
    return analyzer.result()


# --------------------------------------------------------------------------- per frame


def _pitch_grid(
    mid: np.ndarray, *, prominence: bool = True
) -> tuple[np.ndarray, np.ndarray, complex]:
    """Peaks of each frame on the grid (steps 1 and 2).

    Returns the grid (n_frames, GRID_SIZE) of prominence-weighted amplitudes, the summed
    amplitude of every peak of each frame, and the sum of ``weight * exp(2 pi i midi)`` over
    the peaks (for the tuning). With ``prominence=False`` the peaks keep their whole amplitude
    (the chord analyzer's choice: in a close voicing a note's neighbours lower its prominence).
    """
    # Frames as rows: the front end's spectra are a transposed view, so this does not copy.
    spectra = np.ascontiguousarray(mid.T)
    n = spectra.shape[0]
    centre = spectra[:, _K_LOW : _K_HIGH + 1]
    below = spectra[:, _K_LOW - 1 : _K_HIGH]
    above = spectra[:, _K_LOW + 1 : _K_HIGH + 2]
    floor = np.maximum(spectra.max(axis=1) * 10.0 ** (-PEAK_RANGE_DB / 20.0), PEAK_FLOOR)
    frames, bins = np.nonzero((centre > below) & (centre >= above) & (centre > floor[:, None]))
    flat = spectra.reshape(-1)
    at = frames * N_BINS + bins + _K_LOW
    tiny = np.float32(1e-30)
    left = np.log(np.maximum(flat[at - 1], tiny))
    top = np.log(flat[at])
    right = np.log(np.maximum(flat[at + 1], tiny))
    curvature = np.minimum(left - 2.0 * top + right, -1e-6)
    offset = np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)
    amplitude = np.exp(top - 0.25 * (left - right) * offset)
    total = np.bincount(frames, weights=amplitude, minlength=n)
    weight = amplitude * _prominence(flat, at=at, top=top) if prominence else amplitude
    keep = weight > 0
    frames, weight = frames[keep], weight[keep]
    midi = 69.0 + 12.0 * np.log2(
        (bins[keep] + _K_LOW + offset[keep]) * np.float32(ANALYSIS_SAMPLE_RATE / N_FFT / 440.0)
    )
    turn = np.float32(2.0 * np.pi) * (midi - np.round(midi))
    if prominence:
        tuning = complex(np.dot(weight, np.cos(turn)), np.dot(weight, np.sin(turn)))
    else:
        # Every peak is kept, so the vectors are long enough for BLAS to wake its threads,
        # which costs ten times the product on a busy machine: einsum runs its own loop.
        tuning = complex(
            np.einsum("i,i->", weight, np.cos(turn)), np.einsum("i,i->", weight, np.sin(turn))
        )
    position = (midi - LOW_MIDI) * GRID_STEPS
    cell = np.floor(position).astype(np.int64)
    fraction = position - cell
    inside = (cell >= 0) & (cell < GRID_SIZE - 1)
    index = frames[inside] * GRID_SIZE + cell[inside]
    weight, fraction = weight[inside], fraction[inside]
    grid = np.bincount(index, weights=weight * (1.0 - fraction), minlength=n * GRID_SIZE)
    grid += np.bincount(index + 1, weights=weight * fraction, minlength=n * GRID_SIZE)
    return grid.reshape(n, GRID_SIZE).astype(np.float32), total, tuning


def _prominence(flat: np.ndarray, *, at: np.ndarray, top: np.ndarray) -> np.ndarray:
    """0 to 1: how far each peak stands above the spectrum 3 and 4 bins away (step 1).

    ``flat`` holds the spectra frame after frame and ``at`` the peaks' indices in it. The
    quieter side is taken, so that a neighbouring partial on one side (close chord voicings)
    does not hide a real peak.
    """
    lower = flat[at - 4] + flat[at - 3]
    upper = flat[at + 3] + flat[at + 4]
    around = np.maximum(0.5 * np.minimum(lower, upper), np.float32(1e-30))
    height_db = np.float32(20.0 / math.log(10.0)) * (top - np.log(around))
    low, high = PROMINENCE_DB
    return np.clip((height_db - low) / (high - low), 0.0, 1.0)


def _widen(grid: np.ndarray) -> np.ndarray:
    """The largest value of each cell and its two neighbours (a third of a semitone apart)."""
    out = grid.copy()
    np.maximum(out[:, 1:], grid[:, :-1], out=out[:, 1:])
    np.maximum(out[:, :-1], grid[:, 1:], out=out[:, :-1])
    return out


def _suppress_overtones(grid: np.ndarray) -> np.ndarray:
    """Take from each cell what a lower partial's harmonics would put there (step 3)."""
    wide = _widen(grid)
    expected = np.zeros_like(grid)
    for harmonic in OVERTONES:
        shift = round(GRID_STEPS * 12.0 * math.log2(harmonic))
        np.maximum(expected[:, shift:], wide[:, :-shift] / harmonic, out=expected[:, shift:])
    return np.maximum(grid - expected, 0.0)


def _fold_octaves(grid: np.ndarray) -> np.ndarray:
    """Sum the grid's octaves into 36 pitch bins (bin 0 is C, at A440), shaped (n, 36)."""
    n = grid.shape[0]
    n_octaves = -(-(_FIRST_BIN + GRID_SIZE) // _BINS)
    padded = np.zeros((n, n_octaves * _BINS), dtype=np.float64)
    padded[:, _FIRST_BIN : _FIRST_BIN + GRID_SIZE] = grid
    return padded.reshape(n, n_octaves, _BINS).sum(axis=1)


# --------------------------------------------------------------------------- result


def _tuning_semitones(phasor: complex) -> float:
    """Deviation from A440 in semitones (-0.5 to 0.5) from the summed peak phasors."""
    if abs(phasor) == 0.0:
        return 0.0
    return float(np.angle(phasor) / (2.0 * np.pi))


def _pitch_class_fold(tuning_semitones: float) -> np.ndarray:
    """36 pitch bins to 12 pitch classes, shaped (36, 12).

    Each bin is shared between the two pitch classes either side of it, linearly, once its
    position is corrected for the tuning.
    """
    position = np.arange(_BINS) / GRID_STEPS - tuning_semitones
    distance = (position[:, None] - np.arange(12)[None, :] + 6.0) % 12.0 - 6.0
    return np.maximum(0.0, 1.0 - np.abs(distance))


def _clarity(sums: np.ndarray) -> float:
    """The prominent share of all peak amplitude times the lasting share of overtone-free."""
    total, prominent, clean, lasting = (float(v) for v in sums)
    if total <= 0.0 or clean <= 0.0:
        return 0.0
    return min(1.0, prominent / total) * min(1.0, lasting / clean)


def _sounding(chroma: np.ndarray) -> np.ndarray:
    """Which columns hold pitch at more than ``SOUNDING_LEVEL`` of the mean pitched column."""
    level = chroma.sum(axis=1)
    if not level.any():
        return np.zeros(level.shape, dtype=bool)
    return level > SOUNDING_LEVEL * level[level > 0].mean()


def _ending_chroma(chroma: np.ndarray, sounding: np.ndarray) -> np.ndarray:
    """Chroma of the last ``ENDING_S`` seconds of sound, skipping trailing silence."""
    if not sounding.any():
        return np.zeros(12)
    last = int(np.flatnonzero(sounding)[-1])
    span = max(1, round(ENDING_S / CHROMA_HOP_S))
    return chroma[max(0, last + 1 - span) : last + 1].sum(axis=0)


def _correlate(chroma: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Pearson correlation of one chroma vector with each template row."""
    x = chroma - chroma.mean()
    t = templates - templates.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x) * np.linalg.norm(t, axis=1)
    return (t @ x) / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class _Decision:
    key: str | None
    key_confidence: float
    runner_up: str | None
    runner_up_confidence: float
    tonic: int | None
    mode: str | None


_NO_KEY = _Decision(None, 0.0, None, 0.0, None, None)


def _decide(scores: np.ndarray, *, clarity: float, evidence_s: float) -> _Decision:
    """The best and second-best keys with their shares of a softmax, scaled (step 7)."""
    order = np.argsort(-scores, kind="stable")
    shares = np.exp((scores - scores.max()) / SOFTMAX_TEMPERATURE)
    shares /= shares.sum()
    scale = min(1.0, clarity / FULL_CLARITY) * min(1.0, evidence_s / FULL_EVIDENCE_S)
    best, second = int(order[0]), int(order[1])
    return _Decision(
        key=key_name(tonic=best % 12, mode=MODES[best // 12]),
        key_confidence=round(float(shares[best]) * scale, 4),
        runner_up=key_name(tonic=second % 12, mode=MODES[second // 12]),
        runner_up_confidence=round(float(shares[second]) * scale, 4),
        tonic=best % 12,
        mode=MODES[best // 12],
    )


def _chromagram(chroma: np.ndarray) -> list[list[float]]:
    """Columns scaled to their largest value, as 12 rows (C to B) rounded to 3 decimals."""
    peak = chroma.max(axis=1, keepdims=True)
    scaled = np.divide(chroma, peak, out=np.zeros_like(chroma), where=peak > 0)
    return [[round(float(v), 3) for v in row] for row in scaled.T]
