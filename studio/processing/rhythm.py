"""Tempo, beats and downbeats from the shared spectral frames.

:class:`RhythmAnalyzer` reads the runs of :class:`~studio.processing.frontend.SpectralFrames`
that the front end produces and keeps only a few numbers per frame, never the spectra:

- two onset envelopes: the half-wave-rectified spectral flux of the log magnitude, averaged over
  32 bands from 32 Hz to 11 kHz (all bands, and the six bands below 160 Hz where kick and bass
  live);
- two chroma vectors (55 Hz-4 kHz, and a "bass" chroma of 30-250 Hz), summed over blocks of four
  frames (93 ms), which is all the harmony the metre needs.

That is two floats per frame plus 24 floats per four frames: an hour of audio (155,000 frames)
keeps about 5 MB.

Method
------
1. **A pulse.** The envelope, lightly smoothed, is autocorrelated; each tempo from 30 to
   300 BPM is scored by the autocorrelation at one to four beat periods (a comb, so a tempo
   whose multiples also recur scores higher) weighted by a log-normal prior around 110 BPM. The
   winner is some level of the metre: the beat, or its half, double or bar.
2. **A grid.** Beats are tracked at that pulse by dynamic programming
   (:func:`librosa.beat.beat_track` on our envelope; no second spectrogram is computed). The
   tracker follows the envelope weighted by harmonic change (the chroma of the next 186 ms
   against the last 186 ms), so that a new chord pulls the beat onto the bar rather than onto a
   syncopated re-attack. Each tracked beat is cut into 48 steps; every duple level of the metre
   (a quarter of the pulse up to four times it) is a stride through that grid.
3. **The beat among the levels** (metrical-level salience). For each level:
   ``M``, the onset strength half-way between its beats over the strength on them; ``Q``, the
   same at the quarter points; ``OE``, the weaker of its odd and even beats over the stronger;
   and the harmonic rhythm, how many of its beats pass between chord changes (2, 4 or 8), from
   the beat-synchronous chroma. The level closest to 110 BPM whose alternate beats are alike
   (``OE`` >= 0.5) and whose off-beats are weaker than its beats (``M`` < 0.6) is taken first
   (drums, clicks, songs); then a level is doubled when its quarter points are as busy as its
   half points (its subdivisions are the real beats) or when the chords change every two of
   its beats, and halved when it is the finest pulse present and alternates strong and weak
   beats, or when the chords change every eight of its beats. Without drums the onsets alone
   cannot tell a beat from a half note; the harmony (one chord per 4/4 bar is the most common
   case) and the subdivisions settle it.
4. **Tempo and beats.** The tempo is refined on the autocorrelation within 4 % of the chosen
   level; the beats are that level's stride through the grid, moved 14 ms later (the log flux
   rises a little before an attack: beats on clicks, drums and chords came 8 to 21 ms early).
   The confidence is the autocorrelation of the envelope at one, two or four beats (the
   largest); below 0.2 there is no pulse to report (white noise scores about 0.12).
5. **Downbeats.** For bars of 3 and 4 beats, every phase is scored by the chord changes landing
   on it (harmonic change is the strongest cue for a bar line), the accent on the beat after it
   (a metronome's higher "one"), and the low-band onsets (a kick on 1). Downbeats are reported
   only when the best phase beats the runner-up by more than the bar-to-bar noise (Welch's t
   of 2): drums alone (a kick on 1 and on 3) and melodies alone usually leave it open.

Limits
------
One global tempo (no tempo map: a piece that changes tempo gets its dominant one, and beats
that follow it only as far as the tracker's tightness allows); metres of 3 and 4 beats; tempo
50 to 250 BPM; at least 4 s of signal. The thresholds were chosen on synthetic material
(:mod:`studio.processing.synth`, other seeds, keys and tempi than the benchmark's); see
``benchmarks/tempo_accuracy.py`` for how they score, and read them as a check on clean,
idealised material rather than an estimate for recordings. In particular "one chord per bar
of four" is an assumption the no-drums cases lean on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import librosa
import numpy as np
import scipy.ndimage

from studio.processing.frontend import (
    ANALYSIS_SAMPLE_RATE,
    FRAME_RATE_HZ,
    HOP_SAMPLES,
    N_FFT,
    SpectralFrames,
    SpectralFrontEnd,
    bin_frequencies_hz,
)

MIN_TEMPO_BPM = 50.0
MAX_TEMPO_BPM = 250.0
PRIOR_CENTRE_BPM = 110.0  # log-normal tempo prior: centre and spread in octaves
PRIOR_OCTAVES = 1.0
CHROMA_POOL_FRAMES = 4
LOW_BAND_TOP_HZ = 160.0
MIN_CONFIDENCE = 0.2  # below this pulse clarity there is no tempo to report

# Beat-level thresholds (step 3 of the module docstring).
_MIN_ALTERNATION = 0.5  # OE: weaker / stronger of odd and even beats
_MAX_OFFBEAT = 0.6  # M: a level whose half-way points are this busy is too slow
_MIN_QUARTER = 0.15  # Q: quarter points at least this busy ...
_QUARTER_TO_HALF = 0.5  # ... and this busy relative to the half-way points: too slow
_FLAT = 0.08  # M - Q below this: no duple subdivision at this level
_MAX_DOUBLED_BPM = 200.0
_MIN_HARMONIC_CHANGE = 0.08  # contrast of chord change (1 - cosine) at one phase
_FOUR_OVER_TWO = 1.3  # harmonic rhythm of 2 beats unless contrast(4) >= 1.3 contrast(2)
_EIGHT_OVER_FOUR = 1.4  # harmonic rhythm of 8 beats if contrast(8) > 1.4 contrast(4)
_MIN_DOWNBEAT_T = 2.0  # Welch's t of the best bar phase against the runner-up
_TRIPLE_HANDICAP = 1.25  # 4/4 is the more common metre: 3/4 must be this much clearer

_GRID_STEPS = 48  # fine-grid steps per tracked beat
_LEVEL_STRIDES = (12, 24, 48, 96, 192)  # 4x, 2x, 1x, 1/2x and 1/4x the tracked pulse
_TRACK_TIGHTNESS = 100.0  # librosa's default: tempo drift is allowed
_ONSET_LATENCY_FRAMES = 0.6  # 14 ms: see step 4 of the module docstring
_HARMONIC_WEIGHT = 6.0  # guide = onsets * (1 + 6 * harmonic change), step 2


@dataclass(frozen=True)
class RhythmReport:
    """Tempo, beats and downbeats of a signal.

    Attributes
    ----------
    tempo_bpm : float or None
        Global tempo in beats per minute, or ``None`` for silence and for material without a
        pulse (a sustained pad, noise).
    tempo_confidence : float
        How clearly the onsets repeat at the reported metre, 0 (no pulse) to 1 (a metronome).
    beats_s : tuple of float
        Beat times in seconds, ascending.
    downbeats_s : tuple of float
        Times of the first beat of each bar, a subset of ``beats_s``; empty when the bar phase
        is unclear (drums alone, a melody alone).
    beats_per_bar : int or None
        3 or 4 when downbeats were found, else ``None``.
    """

    tempo_bpm: float | None
    tempo_confidence: float
    beats_s: tuple[float, ...]
    downbeats_s: tuple[float, ...]
    beats_per_bar: int | None

    def to_dict(self) -> dict[str, float | int | list[float] | None]:
        """Return the fields as a JSON-ready dict: sequences as lists, no NaN or infinity."""
        out: dict[str, float | int | list[float] | None] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


def _empty_report() -> RhythmReport:
    return RhythmReport(
        tempo_bpm=None, tempo_confidence=0.0, beats_s=(), downbeats_s=(), beats_per_bar=None
    )


# --------------------------------------------------------------------------- per-frame features


def _band_edges() -> np.ndarray:
    """Bin edges of the flux bands: 2-bin bands up to 250 Hz, then quarter-octave bands."""
    frequencies = bin_frequencies_hz()
    edges = [3]  # 32 Hz
    while frequencies[edges[-1]] < 250.0:
        edges.append(edges[-1] + 2)
    while True:
        following = max(edges[-1] + 2, round(edges[-1] * 2.0**0.25))
        if following >= len(frequencies) - 1:
            break
        edges.append(following)
    return np.array(edges)


def _chroma_matrix() -> tuple[slice, np.ndarray]:
    """Two stacked chroma filterbanks (librosa's, unnormalised): 55 Hz-4 kHz, then 30-250 Hz.

    Returns the slice of bins they use and the weights shaped (bins, 24), to multiply
    frames-by-bins spectra from the right.
    """
    frequencies = bin_frequencies_hz()
    base = librosa.filters.chroma(
        sr=ANALYSIS_SAMPLE_RATE, n_fft=N_FFT, octwidth=None, norm=None, dtype=np.float32
    )
    full = np.where((frequencies >= 55.0) & (frequencies <= 4000.0), base, 0.0)
    bass = np.where((frequencies >= 30.0) & (frequencies <= 250.0), base, 0.0)
    weights = np.concatenate([full, bass]).astype(np.float32)
    used = np.flatnonzero(weights.any(axis=0))
    bins = slice(int(used[0]), int(used[-1]) + 1)
    return bins, np.ascontiguousarray(weights[:, bins].T)


_EDGES = _band_edges()
_LOW_BANDS = int(np.sum(bin_frequencies_hz()[_EDGES[1:] - 1] < LOW_BAND_TOP_HZ))
_CHROMA_BINS, _CHROMA = _chroma_matrix()
# Band magnitudes are sums of linear bin magnitudes (a full-scale sine peaks near 512 in a bin);
# adding 1 before the log sets the floor near -55 dB below full scale per bin, so digital
# silence and dither give no flux.
_LOG_FLOOR = 1.0


class RhythmAnalyzer:
    """Accumulates onset and harmony features from spectral frames; :meth:`result` analyses them.

    Push every run of frames of one signal in order (as :class:`SpectralFrontEnd` emits them);
    the answer does not depend on how the frames were split into runs.

    Examples
    --------
    >>> analyzer = RhythmAnalyzer()
    >>> front_end = SpectralFrontEnd(sample_rate=44_100, channels=1, sink=analyzer.push)
    >>> front_end.push(np.zeros((1, 44_100), dtype=np.float32))
    >>> front_end.finish()
    >>> analyzer.result().tempo_bpm is None
    True
    """

    def __init__(self) -> None:
        self._n_frames = 0
        self._previous_log: np.ndarray | None = None
        self._flux: list[np.ndarray] = []  # (2, n) runs: all bands, low bands
        self._chroma_blocks: list[np.ndarray] = []  # (24, n) runs of 4-frame sums
        self._chroma_partial = np.zeros(24, dtype=np.float64)
        self._chroma_partial_count = 0

    def push(self, frames: SpectralFrames) -> None:
        """Add the next run of consecutive frames.

        Raises
        ------
        ValueError
            If the run does not start where the previous one ended, or has the wrong shape.
        """
        frames.check_follows(self._n_frames)
        magnitudes = frames.mid
        if magnitudes.shape[1] == 0:
            return
        # The front end's spectra are bins-by-frames views of frames-by-bins memory: work on
        # the transpose, where each frame is contiguous (ten to a hundred times faster).
        spectra = magnitudes.T
        bands = np.add.reduceat(spectra[:, _EDGES[0] : _EDGES[-1]], _EDGES[:-1] - _EDGES[0], axis=1)
        with np.errstate(invalid="ignore"):  # inf - inf from a broken sample: zeroed below
            log_bands = np.log(bands.astype(np.float32) + np.float32(_LOG_FLOOR))
            previous = log_bands[:1] if self._previous_log is None else self._previous_log
            rise = np.maximum(np.diff(log_bands, axis=0, prepend=previous), 0.0)
            self._previous_log = np.nan_to_num(log_bands[-1:], nan=0.0, posinf=0.0, neginf=0.0)
        flux = np.stack([rise.mean(axis=1), rise[:, :_LOW_BANDS].mean(axis=1)])
        # A NaN or infinite sample (a broken float file) must not poison the whole analysis.
        flux = np.nan_to_num(flux, nan=0.0, posinf=0.0, neginf=0.0)
        self._flux.append(flux.astype(np.float32))
        # einsum without ``optimize`` runs its own loop, not BLAS: BLAS threads are slow to
        # wake on a busy machine (a 10 ms product took 0.2-0.7 s beside other analyses).
        chroma = np.einsum("fb,bc->cf", spectra[:, _CHROMA_BINS], _CHROMA)
        self._push_chroma(np.nan_to_num(chroma, nan=0.0, posinf=0.0, neginf=0.0))
        self._n_frames += magnitudes.shape[1]

    def _push_chroma(self, chroma: np.ndarray) -> None:
        """Sum chroma over blocks of CHROMA_POOL_FRAMES frames counted from frame 0."""
        position = 0
        n = chroma.shape[1]
        if self._chroma_partial_count:
            take = min(CHROMA_POOL_FRAMES - self._chroma_partial_count, n)
            self._chroma_partial += chroma[:, :take].sum(axis=1)
            self._chroma_partial_count += take
            position = take
            if self._chroma_partial_count == CHROMA_POOL_FRAMES:
                self._chroma_blocks.append(self._chroma_partial.astype(np.float32)[:, None])
                self._chroma_partial = np.zeros_like(self._chroma_partial)
                self._chroma_partial_count = 0
        whole = (n - position) // CHROMA_POOL_FRAMES
        if whole:
            stop = position + whole * CHROMA_POOL_FRAMES
            block = chroma[:, position:stop].reshape(chroma.shape[0], whole, CHROMA_POOL_FRAMES)
            self._chroma_blocks.append(block.sum(axis=2, dtype=np.float64).astype(np.float32))
            position = stop
        if position < n:
            self._chroma_partial += chroma[:, position:].sum(axis=1)
            self._chroma_partial_count += n - position

    def result(self) -> RhythmReport:
        """Analyse everything pushed so far (the analyzer can keep taking frames afterwards)."""
        if not self._flux:
            return _empty_report()
        flux = np.concatenate(self._flux, axis=1)
        blocks = list(self._chroma_blocks)
        if self._chroma_partial_count:
            blocks.append(self._chroma_partial.astype(np.float32)[:, None])
        chroma = np.concatenate(blocks, axis=1) if blocks else np.zeros((24, 0), np.float32)
        return _analyse(onsets=flux[0], low_onsets=flux[1], chroma=chroma)


def analyze_rhythm(
    signal: np.ndarray, *, sample_rate: int, block_frames: int = 65_536
) -> RhythmReport:
    """Tempo, beats and downbeats of a whole signal held in memory.

    Runs the shared front end and a :class:`RhythmAnalyzer`, as the pipeline does.

    Parameters
    ----------
    signal : numpy.ndarray
        float32 samples shaped ``(channels, n_samples)`` (1 or 2 channels) or ``(n_samples,)``.
    sample_rate : int
        Sample rate in Hz.
    block_frames : int
        Samples pushed to the front end at a time; the answer does not depend on it.

    Returns
    -------
    RhythmReport
    """
    signal = signal_block(signal)
    if block_frames < 1:
        raise ValueError(f"Expected block_frames of 1 or more, found {block_frames}.")
    analyzer = RhythmAnalyzer()
    front_end = SpectralFrontEnd(
        sample_rate=sample_rate, channels=signal.shape[0], sink=analyzer.push
    )
    for start in range(0, signal.shape[1], block_frames):
        front_end.push(np.asarray(signal[:, start : start + block_frames], dtype=np.float32))
    front_end.finish()
    return analyzer.result()


def signal_block(signal: np.ndarray) -> np.ndarray:
    """An in-memory signal as (channels, n_samples) with 1 or 2 channels; TypeError or
    ValueError for anything else."""
    if not isinstance(signal, np.ndarray):
        raise TypeError(f"Expected a float32 numpy array, found {type(signal).__name__}.")
    block = signal[np.newaxis] if signal.ndim == 1 else signal
    if block.ndim != 2 or block.shape[0] not in (1, 2):
        raise ValueError(f"Expected a signal shaped (1 or 2, n_samples), found {signal.shape}.")
    return block


def read_with_beats(
    signal: np.ndarray,
    *,
    sample_rate: int,
    sink: Callable[[SpectralFrames], None],
    beats_s: Sequence[float] | None = None,
    downbeats_s: Sequence[float] | None = None,
) -> tuple[Sequence[float], Sequence[float]]:
    """Run an in-memory signal through the shared front end into ``sink`` and return its
    beats and downbeats in s: those given, or, when ``beats_s`` is None, those the rhythm
    analysis finds in the same frames (for analyses that stand on the beat grid)."""
    block = signal_block(signal)
    rhythm = RhythmAnalyzer() if beats_s is None else None

    def both(frames: SpectralFrames) -> None:
        sink(frames)
        if rhythm is not None:
            rhythm.push(frames)

    front = SpectralFrontEnd(sample_rate=sample_rate, channels=block.shape[0], sink=both)
    front.push(block.astype(np.float32, copy=False))
    front.finish()
    if rhythm is not None:
        found = rhythm.result()
        return found.beats_s, found.downbeats_s if downbeats_s is None else downbeats_s
    return beats_s, () if downbeats_s is None else downbeats_s


def warm_up() -> None:
    """Compile librosa's beat-tracking kernels (numba) now rather than on the first request."""
    clicks = np.zeros(ANALYSIS_SAMPLE_RATE * 4, dtype=np.float32)
    clicks[:: ANALYSIS_SAMPLE_RATE // 2] = 1.0
    analyze_rhythm(clicks, sample_rate=ANALYSIS_SAMPLE_RATE)


# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class _Level:
    """One duple level of the metre on the fine grid: beats at grid steps phase + k * stride."""

    stride: int
    phase: int
    tempo_bpm: float
    offbeat: float  # M
    quarter: float  # Q
    alternation: float  # OE
    harmonic_beats: int | None  # beats per chord change: 2, 4, 8; 0 none; None too few beats


def _analyse(*, onsets: np.ndarray, low_onsets: np.ndarray, chroma: np.ndarray) -> RhythmReport:
    n = onsets.size
    if n < 4 * FRAME_RATE_HZ or not np.any(onsets > 1e-6):
        return _empty_report()
    smooth = _smooth(onsets)
    acf = _autocorrelation(smooth)
    pulse_bpm = _pulse_tempo(acf)
    guide = onsets * (1.0 + _HARMONIC_WEIGHT * _harmonic_novelty(chroma, n))
    tracked = _track(guide, pulse_bpm, onsets=onsets)
    if tracked.size < 8:
        return _empty_report()
    grid = _fine_grid(tracked)
    peaks = [scipy.ndimage.maximum_filter1d(onsets, 2 * w + 1) for w in range(3)]
    levels = _levels(peaks=peaks, chroma=chroma, grid=grid)
    level = _choose_level(levels)
    tempo_bpm = pulse_bpm * _GRID_STEPS / level.stride if level else pulse_bpm
    tempo_bpm = _refine_tempo(acf, tempo_bpm)
    confidence = _confidence(acf, tempo_bpm)
    if confidence < MIN_CONFIDENCE:
        return RhythmReport(
            tempo_bpm=None,
            tempo_confidence=round(confidence, 3),
            beats_s=(),
            downbeats_s=(),
            beats_per_bar=None,
        )
    beats = (
        _track(guide, tempo_bpm, onsets=onsets)
        if level is None
        else grid[level.phase :: level.stride]
    )
    beats_per_bar, bar_phase = _bar_phase(beats=beats, low_onsets=low_onsets, chroma=chroma)
    beat_times = (beats + _ONSET_LATENCY_FRAMES) / FRAME_RATE_HZ
    downbeats = beat_times[bar_phase::beats_per_bar] if beats_per_bar else beat_times[:0]
    return RhythmReport(
        tempo_bpm=round(float(tempo_bpm), 2),
        tempo_confidence=round(confidence, 3),
        beats_s=tuple(round(float(t), 4) for t in beat_times),
        downbeats_s=tuple(round(float(t), 4) for t in downbeats),
        beats_per_bar=beats_per_bar,
    )


def _harmonic_novelty(chroma: np.ndarray, n_frames: int) -> np.ndarray:
    """Per frame, how much the chroma of the next 186 ms differs from that of the previous
    186 ms (1 - cosine, 0 to 1; the larger of the full-range and bass chroma)."""
    novelty = np.zeros(chroma.shape[1] + 1)
    for part in (chroma[:12], chroma[12:]):
        padded = np.pad(part, ((0, 0), (2, 2)))
        cumulative = np.cumsum(padded, axis=1)
        cumulative = np.concatenate([np.zeros((12, 1)), cumulative], axis=1)
        j = np.arange(chroma.shape[1] + 1) + 2  # boundary before padded block j
        before = cumulative[:, j] - cumulative[:, j - 2]
        after = cumulative[:, j + 2] - cumulative[:, j]
        norms = np.linalg.norm(before, axis=0) * np.linalg.norm(after, axis=0)
        cosine = np.sum(before * after, axis=0) / np.maximum(norms, 1e-12)
        novelty = np.maximum(novelty, np.where(norms > 1e-12, 1.0 - cosine, 0.0))
    frames = np.arange(n_frames)
    return np.interp(frames, np.arange(novelty.size) * CHROMA_POOL_FRAMES, novelty)


def _smooth(onsets: np.ndarray) -> np.ndarray:
    """The envelope convolved with a 5-frame Hann window, so that autocorrelation peaks of
    clicks (one or two frames wide) are not missed between integer lags."""
    window = np.hanning(7)[1:-1]
    return np.convolve(onsets, window / window.sum(), mode="same")


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """Autocorrelation of ``x`` minus its mean, normalised to 1 at lag 0, via the FFT."""
    x = x - x.mean()
    size = 1 << (2 * x.size - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    acf = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[: x.size]
    return acf / acf[0] if acf[0] > 0 else np.zeros_like(acf)


def _comb(acf: np.ndarray, tempo_bpm: np.ndarray) -> np.ndarray:
    """Sum of the (positive) autocorrelation at one to four beat periods, per tempo."""
    positive = np.maximum(acf, 0.0)
    lags = np.arange(acf.size)
    period = 60.0 * FRAME_RATE_HZ / tempo_bpm
    total = np.zeros_like(period)
    for multiple in (1, 2, 3, 4):
        lag = period * multiple
        total += np.where(lag < acf.size - 1, np.interp(lag, lags, positive), 0.0)
    return total


def _prior(tempo_bpm: np.ndarray | float) -> np.ndarray:
    octaves = np.log2(np.asarray(tempo_bpm) / PRIOR_CENTRE_BPM) / PRIOR_OCTAVES
    return np.exp(-0.5 * octaves**2)


def _pulse_tempo(acf: np.ndarray) -> float:
    """Step 1: the strongest periodicity, weighted by the tempo prior, 30 to 300 BPM."""
    tempo_bpm = np.geomspace(30.0, 300.0, 600)
    return float(tempo_bpm[np.argmax(_comb(acf, tempo_bpm) * _prior(tempo_bpm))])


def _refine_tempo(acf: np.ndarray, tempo_bpm: float) -> float:
    """The comb maximum within 4 % of ``tempo_bpm``, on a 0.05 % grid."""
    candidates = tempo_bpm * np.geomspace(0.96, 1.04, 161)
    return float(candidates[np.argmax(_comb(acf, candidates))])


def _confidence(acf: np.ndarray, tempo_bpm: float) -> float:
    """Pulse clarity: the autocorrelation at the beat, the half-bar or the bar, at most 1."""
    period = 60.0 * FRAME_RATE_HZ / tempo_bpm
    lags = np.arange(acf.size)
    values = [
        float(np.interp(period * m, lags, acf)) for m in (1, 2, 4) if period * m < acf.size - 1
    ]
    return float(np.clip(max(values, default=0.0), 0.0, 1.0))


def _track(guide: np.ndarray, tempo_bpm: float, *, onsets: np.ndarray) -> np.ndarray:
    """Beat frames by dynamic programming at a fixed tempo (librosa, on our envelope).

    ``guide`` is the envelope the tracker follows; leading and trailing beats where ``onsets``
    is weaker than half its root-mean-square over the beats are dropped (as librosa's ``trim``
    does, but judged on the plain onsets rather than on the guide).
    """
    _, beats = librosa.beat.beat_track(
        onset_envelope=guide,
        sr=ANALYSIS_SAMPLE_RATE,
        hop_length=HOP_SAMPLES,
        bpm=float(tempo_bpm),
        tightness=_TRACK_TIGHTNESS,
        trim=False,
    )
    beats = np.asarray(beats, dtype=np.int64)
    if beats.size == 0:
        return beats
    strength = scipy.ndimage.maximum_filter1d(onsets, 5)[beats]
    strong = np.flatnonzero(strength >= 0.5 * np.sqrt(np.mean(strength**2)))
    if strong.size == 0:
        return beats[:0]
    return beats[strong[0] : strong[-1] + 1]


def _fine_grid(beats: np.ndarray) -> np.ndarray:
    """Frame positions of ``_GRID_STEPS`` equal steps between consecutive tracked beats."""
    start = beats[:-1].astype(np.float64)
    step = np.diff(beats).astype(np.float64) / _GRID_STEPS
    grid = start[:, None] + step[:, None] * np.arange(_GRID_STEPS)[None, :]
    return np.append(grid.ravel(), float(beats[-1]))


def _levels(*, peaks: list[np.ndarray], chroma: np.ndarray, grid: np.ndarray) -> list[_Level]:
    levels = []
    for stride in _LEVEL_STRIDES:
        phases = range(0, stride, _GRID_STEPS) if stride > _GRID_STEPS else (0,)
        # A level slower than the tracked pulse can start on any tracked beat of its group:
        # take the phase whose beats are strongest.
        options = [
            option
            for phase in phases
            if (option := _level(peaks=peaks, chroma=chroma, grid=grid, stride=stride, phase=phase))
        ]
        if options:
            levels.append(max(options, key=lambda pair: pair[1])[0])
    return [lv for lv in levels if MIN_TEMPO_BPM <= lv.tempo_bpm <= MAX_TEMPO_BPM]


def _strength(peaks: list[np.ndarray], positions: np.ndarray, reach: float) -> float:
    """Mean onset strength at grid positions, each the maximum within ``reach`` frames
    (at most 2), so that a beat tracked a frame off still finds its onset."""
    if positions.size == 0:
        return 0.0
    envelope = peaks[int(min(2, max(0, reach)))]
    frames = np.clip(np.round(positions).astype(np.int64), 0, envelope.size - 1)
    return float(envelope[frames].mean())


def _level(
    *, peaks: list[np.ndarray], chroma: np.ndarray, grid: np.ndarray, stride: int, phase: int
) -> tuple[_Level, float] | None:
    index = np.arange(phase, grid.size, stride)
    if index.size < 6:
        return None
    period = float(np.median(np.diff(grid[index])))
    beat_strengths = peaks[int(min(2, period / 4))][
        np.clip(np.round(grid[index]).astype(np.int64), 0, peaks[0].size - 1)
    ]
    on = float(beat_strengths.mean()) + 1e-9

    def between(fraction: float) -> float:
        points = index + round(stride * fraction)
        points = points[points < grid.size]
        return _strength(peaks, grid[points], period * min(fraction, 1 - fraction) / 3)

    even, odd = float(beat_strengths[::2].mean()), float(beat_strengths[1::2].mean())
    level = _Level(
        stride=stride,
        phase=phase,
        tempo_bpm=60.0 * FRAME_RATE_HZ / period,
        offbeat=between(0.5) / on,
        quarter=0.5 * (between(0.25) + between(0.75)) / on,
        alternation=min(even, odd) / max(even, odd, 1e-9),
        harmonic_beats=_harmonic_rhythm(chroma, grid[index]),
    )
    return level, on


def _beat_chroma(chroma: np.ndarray, beat_frames: np.ndarray) -> np.ndarray:
    """Mean pooled chroma between consecutive beats, shaped (24, n_beats - 1)."""
    if chroma.shape[1] == 0:
        return np.zeros((chroma.shape[0], 0))
    cumulative = np.concatenate(
        [np.zeros((chroma.shape[0], 1)), np.cumsum(chroma, axis=1, dtype=np.float64)], axis=1
    )
    blocks = np.clip(
        np.round(beat_frames / CHROMA_POOL_FRAMES).astype(np.int64), 0, chroma.shape[1]
    )
    start, stop = blocks[:-1], np.maximum(blocks[1:], blocks[:-1] + 1)
    stop = np.minimum(stop, chroma.shape[1])
    start = np.minimum(start, stop - 1)
    return (cumulative[:, stop] - cumulative[:, start]) / (stop - start)


def _chord_change(beat_chroma: np.ndarray) -> np.ndarray:
    """1 - cosine similarity between each beat's chroma and the previous beat's; NaN first."""
    norms = np.linalg.norm(beat_chroma, axis=0)
    unit = beat_chroma / np.maximum(norms, 1e-9)
    change = 1.0 - np.sum(unit[:, 1:] * unit[:, :-1], axis=0)
    change[(norms[1:] < 1e-9) | (norms[:-1] < 1e-9)] = 0.0
    return np.concatenate([[np.nan], change])


def _phase_contrast(change: np.ndarray, period: int) -> float:
    """How much more the change lands on one phase of ``period`` beats than on the others."""
    best = 0.0
    for phase in range(period):
        on = np.zeros(change.size, dtype=bool)
        on[phase::period] = True
        inside, outside = change[on], change[~on]
        if np.all(np.isnan(inside)) or np.all(np.isnan(outside)):
            continue
        best = max(best, float(np.nanmean(inside) - np.nanmean(outside)))
    return best


def _harmonic_rhythm(chroma: np.ndarray, beat_frames: np.ndarray) -> int | None:
    """Beats per chord change (2, 4 or 8) at this level, from whichever chroma (full range or
    bass) shows the clearer pattern; 0 when neither shows one, None when there are too few
    beats (16) to tell.

    If chords change every B beats, the change contrast at periods 2, 4 and 8 is in the ratio
    1 : 2 : 12/7 for B = 4, 1 : 2/3 : 4/7 for B = 2 and 1 : 2 : 4 for B = 8.
    """
    if beat_frames.size < 17:
        return None
    per_beat = _beat_chroma(chroma, beat_frames)
    best: tuple[int, float] | None = None
    for half in (per_beat[:12], per_beat[12:]):
        change = _chord_change(half)
        c2, c4, c8 = (_phase_contrast(change, period) for period in (2, 4, 8))
        strongest = max(c2, c4, c8)
        if strongest < _MIN_HARMONIC_CHANGE:
            continue
        if c4 < _FOUR_OVER_TWO * c2:
            beats = 2
        elif c8 > _EIGHT_OVER_FOUR * c4:
            beats = 8
        else:
            beats = 4
        if best is None or strongest > best[1]:
            best = (beats, strongest)
    return best[0] if best else 0


def _choose_level(levels: list[_Level]) -> _Level | None:
    """Step 3 of the module docstring."""
    if not levels:
        return None
    by_stride = {level.stride: level for level in levels}

    def closeness(level: _Level) -> float:
        return -abs(math.log2(level.tempo_bpm / PRIOR_CENTRE_BPM))

    steady = [
        lv for lv in levels if lv.alternation >= _MIN_ALTERNATION and lv.offbeat < _MAX_OFFBEAT
    ]
    level = max(steady or levels, key=closeness)
    visited = {level.stride}
    for _ in range(3):
        faster = by_stride.get(level.stride // 2) if level.stride % 2 == 0 else None
        slower = by_stride.get(level.stride * 2)
        if faster and faster.stride not in visited and faster.tempo_bpm <= _MAX_DOUBLED_BPM:
            busy_quarters = level.quarter >= _MIN_QUARTER and (
                level.quarter >= _QUARTER_TO_HALF * level.offbeat
            )
            # Chords every two beats here (and the faster level still divides in two, so it
            # is not merely the finest pulse of a melody whose notes move the chroma); or too
            # few beats here to tell, and chords every four beats of the faster level.
            chords_every_two = (
                level.harmonic_beats == 2 and faster.offbeat - faster.quarter >= _FLAT
            ) or (level.harmonic_beats is None and faster.harmonic_beats == 4)
            if busy_quarters or chords_every_two:
                level = faster
                visited.add(level.stride)
                continue
        if slower and slower.stride not in visited and slower.offbeat < _MAX_OFFBEAT:
            finest_pulse = (
                level.offbeat - level.quarter < _FLAT
                and level.alternation < _MIN_ALTERNATION
                and slower.offbeat - slower.quarter > _FLAT + 0.05
            )
            if finest_pulse or level.harmonic_beats == 8:
                level = slower
                visited.add(level.stride)
                continue
        break
    return level


def _bar_phase(
    *, beats: np.ndarray, low_onsets: np.ndarray, chroma: np.ndarray
) -> tuple[int | None, int]:
    """Step 5: (beats per bar, index of the first downbeat in ``beats``), or (None, 0)."""
    if beats.size < 12:
        return None, 0
    change = np.fmax(
        _chord_change(_beat_chroma(chroma[:12], beats)),
        _chord_change(_beat_chroma(chroma[12:], beats)),
    )
    change = np.nan_to_num(change)
    frames = np.clip(np.round(beats).astype(np.int64), 0, low_onsets.size - 1)
    low = scipy.ndimage.maximum_filter1d(low_onsets, 5)[frames][: change.size]
    cues = []
    for cue in (change, low):
        spread = float(np.std(cue))
        cues.append((cue - cue.mean()) / spread if spread > 1e-9 else np.zeros_like(cue))
    change_cue, low_cue = cues
    # A new chord on the beat, an accent leaving it (the pitched click of a metronome's "one"),
    # and a kick on it.
    after = np.append(change_cue[1:], 0.0)
    score = change_cue + 0.5 * after + 0.5 * low_cue
    best: tuple[float, int, int] | None = None
    for beats_per_bar in (4, 3):
        means = np.array([score[p::beats_per_bar].mean() for p in range(beats_per_bar)])
        first, second = np.argsort(means)[::-1][:2]
        # Welch's t between the two best phases: is the winner more than bar-to-bar noise?
        a, b = score[first::beats_per_bar], score[second::beats_per_bar]
        if min(a.size, b.size) < 3:
            continue
        spread = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        t = float((a.mean() - b.mean()) / max(spread, 1e-9))
        if beats_per_bar == 3:
            t /= _TRIPLE_HANDICAP
        if best is None or t > best[0]:
            best = (t, beats_per_bar, int(first))
    if best is None or best[0] < _MIN_DOWNBEAT_T:
        return None, 0
    _, beats_per_bar, phase = best
    return beats_per_bar, phase
