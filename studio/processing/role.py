"""What a stem probably is, from its sound, with its file name as a hint only.

Roles: ``drums, percussion, bass, vocals, keys, guitar, pad, fx, other`` (:data:`ROLES`).
``keys`` stands for keyboards and synthesisers alike (piano, organ, synth chords and synth
leads), as the usual "Keys/Synths" stem folder does; ``pad`` is a sustained, soft-edged bed;
``percussion`` is unpitched hits without a kick's low end; ``fx`` is noise and effects;
``other`` is what no rule describes well.

How it decides
--------------
:func:`guess_role` is a transparent score-based classifier, no trained weights: each role has
a score from 0 to 1, the product of its necessary conditions (ramps between two thresholds of
the :class:`RoleFeatures`: a bass has most of its energy below 112 Hz) and of a factor for its
supporting evidence; ``other`` has a fixed score of ``OTHER_SCORE``, so it wins when nothing
fits. The rules are in :func:`_acoustic_scores`, one expression per role. A file name that
names a role ("Kick.wav", "lead vox.flac", "GTR_01") adds ``HINT_BONUS`` to that role's
score: enough to settle a sound that fits two roles about equally (a clean mid-range melody:
a synth lead or a vocal?), never enough to overturn clear evidence (a bass line named
"vocals.wav" stays bass).

The thresholds were set on the studio's synthesised stems (:mod:`studio.processing.synth`) and
on noise, not on a corpus of recordings; vocals and guitar, which the synthesiser does not
play, are told apart from keys only by assumptions stated in their rules (a voice or a guitar
is less cleanly harmonic than a synthesiser), so their names matter most.

Where the features come from
----------------------------
- Energy shares, spectral centroid and stereo width: :class:`~studio.processing.spectrum.
  SpectrumReport` (or the stereo width of a :class:`~studio.processing.stereo.StereoReport`).
- Tonalness, flatness, onset density, level spread and silent fraction:
  :class:`SpectralShape`, a small accumulator fed the same front-end frames as the others.
:func:`role_features` puts them together.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse

from studio.processing.frontend import FRAME_RATE_HZ, SpectralFrames
from studio.processing.spectrum import (
    NOMINAL_CENTRES_HZ,
    SpectrumReport,
    band_weights,
    bin_power_scale,
)
from studio.processing.stereo import StereoReport

ROLES = ("drums", "percussion", "bass", "vocals", "keys", "guitar", "pad", "fx", "other")
HINT_BONUS = 0.15
OTHER_SCORE = 0.4

# Frames quieter than this (mean square, dB re full scale) count as silence.
SILENCE_DB = -70.0
# Band levels below this floor (dB re full scale) do not count as rises in the onset flux.
_FLUX_FLOOR_DB = -90.0
# An onset is a peak of the flux (mean rise of the band levels from 50 Hz up, in dB per frame)
# of at least this much that is the largest within +/-3 frames (+/-70 ms).
ONSET_FLUX_DB = 3.0
_PEAK_HALF_WIDTH = 3
_FLUX_LOWEST_BAND_HZ = 50.0
# Tonalness and flatness are averaged over every TONAL_STRIDE-th frame (about 11 per second).
TONAL_STRIDE = 4
# Bins 3..929: 32 Hz to 10 kHz.
_TONAL_BINS = slice(3, 930)
# A bin is part of a peak when it stands this far above the geometric mean of the +/-8 bins
# around it.
_PEAK_PROMINENCE_DB = 10.0
_LOCAL_HALF_WIDTH = 8
# Level histogram for the level spread: 0.25 dB steps from SILENCE_DB to +10 dB.
_LEVEL_STEP_DB = 0.25
_LEVEL_BINS = int((10.0 - SILENCE_DB) / _LEVEL_STEP_DB)

# Energy-share regions by band centre; the edges are the third-octave band edges nearest to
# 120 Hz, 500 Hz, 2 kHz and 6 kHz (112, 447, 1778 and 5623 Hz).
SHARE_REGIONS_HZ = {
    "low_share": (0.0, 100.0),
    "low_mid_share": (125.0, 400.0),
    "mid_share": (500.0, 1600.0),
    "high_mid_share": (2000.0, 5000.0),
    "high_share": (6300.0, 20000.0),
}


@dataclass(frozen=True)
class ShapeReport:
    """Per-frame statistics of a signal's spectrum that describe what kind of sound it is.

    Attributes
    ----------
    tonalness : float or None
        Mean share of each frame's power (32 Hz to 10 kHz) that lies in spectral peaks
        standing 10 dB or more above the geometric mean of the 17 bins around them: about 0.02
        for noise, 0.95 or more for a clean harmonic tone. Over the non-silent frames; None if
        there are none.
    flatness : float or None
        Mean spectral flatness (geometric over arithmetic mean of the power, 32 Hz to 10 kHz):
        0.56 for white noise, near 0 for tones and for noise confined to a few octaves.
    onset_density_per_s : float
        Onsets per second of the whole signal: peaks of the mean rise of the band levels.
    level_spread_db : float or None
        90th minus 20th percentile of the non-silent frames' levels, in dB: a few dB for
        sustained parts, 15 dB or more for hits that decay between them.
    silent_fraction : float
        Share of frames quieter than -70 dB re full scale (mean square), 0 to 1.
    duration_s : float
        Time covered by the frames, in s.
    """

    tonalness: float | None
    flatness: float | None
    onset_density_per_s: float
    level_spread_db: float | None
    silent_fraction: float
    duration_s: float

    def to_dict(self) -> dict[str, float | None]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


class SpectralShape:
    """Streams the front end's frames into a :class:`ShapeReport`; memory stays flat.

    Every frame feeds the onset flux and the level histogram; every ``TONAL_STRIDE``-th frame
    (by its index in the signal, so runs of any length give the same answer) feeds tonalness
    and flatness, which are averages and need no more.
    """

    def __init__(self) -> None:
        bands = band_weights() * bin_power_scale()[None, :].astype(np.float32)
        kept = np.array(NOMINAL_CENTRES_HZ) >= _FLUX_LOWEST_BAND_HZ
        self._bands = scipy.sparse.csr_matrix(bands[kept])
        self._scale = bin_power_scale().astype(np.float32)
        self._frames = 0
        self._silent = 0
        self._histogram = np.zeros(_LEVEL_BINS, dtype=np.int64)
        self._tonal_sum = 0.0
        self._flat_sum = 0.0
        self._tonal_frames = 0
        self._previous_db: np.ndarray | None = None
        # Flux values not yet decided, preceded by up to _PEAK_HALF_WIDTH decided ones.
        self._flux_tail = np.zeros(0)
        self._flux_context = 0
        self._onsets = 0

    def push(self, frames: SpectralFrames) -> None:
        """Add the next run of frames (``mid`` shaped (N_BINS, n_frames)).

        Raises
        ------
        ValueError
            If the spectra are not shaped (N_BINS, n) or the run does not follow the last.
        """
        frames.check_follows(self._frames)
        mid = frames.mid
        n = mid.shape[1]
        if not n:
            return
        power = frames.mid_power
        level_db = _to_db(self._scale @ power)
        active = level_db > SILENCE_DB
        self._silent += int(n - np.count_nonzero(active))
        steps = ((level_db[active] - SILENCE_DB) / _LEVEL_STEP_DB).astype(np.int64)
        self._histogram += np.bincount(np.minimum(steps, _LEVEL_BINS - 1), minlength=_LEVEL_BINS)
        self._add_flux(power)
        first = (-frames.start_frame) % TONAL_STRIDE
        picked = np.arange(first, n, TONAL_STRIDE)
        picked = picked[active[picked]]
        if picked.size:
            tonalness, flatness = _tonal_stats(power[_TONAL_BINS, picked])
            self._tonal_sum += float(tonalness.sum())
            self._flat_sum += float(flatness.sum())
            self._tonal_frames += picked.size
        self._frames += n

    def _add_flux(self, power: np.ndarray) -> None:
        band_db = np.maximum(_to_db(self._bands @ power), _FLUX_FLOOR_DB)
        previous = band_db[:, :1] if self._previous_db is None else self._previous_db
        rises = np.diff(np.concatenate([previous, band_db], axis=1), axis=1)
        flux = np.maximum(rises, 0.0).mean(axis=0)
        self._previous_db = band_db[:, -1:].copy()
        buffer = np.concatenate([self._flux_tail, flux])
        onsets, decided = _count_peaks(buffer, context=self._flux_context, final=False)
        self._onsets += onsets
        keep_from = max(decided - _PEAK_HALF_WIDTH, 0)
        self._flux_tail = buffer[keep_from:]
        self._flux_context = decided - keep_from

    def result(self) -> ShapeReport:
        """Return the statistics of everything pushed so far; the accumulator can take more."""
        last, _ = _count_peaks(self._flux_tail, context=self._flux_context, final=True)
        onsets = self._onsets + last
        duration_s = self._frames / FRAME_RATE_HZ
        active = self._frames - self._silent
        spread = None
        if active:
            cumulative = np.cumsum(self._histogram) / active
            low, high = (int(np.searchsorted(cumulative, q)) for q in (0.20, 0.90))
            spread = round((high - low) * _LEVEL_STEP_DB, 2)
        tonal_frames = self._tonal_frames
        return ShapeReport(
            tonalness=round(self._tonal_sum / tonal_frames, 4) if tonal_frames else None,
            flatness=round(self._flat_sum / tonal_frames, 4) if tonal_frames else None,
            onset_density_per_s=round(onsets / duration_s, 3) if duration_s else 0.0,
            level_spread_db=spread,
            silent_fraction=round(self._silent / self._frames, 4) if self._frames else 1.0,
            duration_s=duration_s,
        )


def _count_peaks(buffer: np.ndarray, *, context: int, final: bool) -> tuple[int, int]:
    """Count onsets among ``buffer[context:]`` whose +/-3 neighbours are known.

    ``buffer[:context]`` are values already decided, kept as neighbours. Values before the
    start of the signal are absent (``context`` < 3 only at the start); after the end
    (``final``) they are 0. Returns the count and the index just after the last decided value.
    """
    half = _PEAK_HALF_WIDTH
    end = buffer.size if final else buffer.size - half
    if end <= context:
        return 0, context
    missing_before = max(half - context, 0)
    padded = np.concatenate(
        [np.full(missing_before, -np.inf), buffer, np.zeros(half if final else 0)]
    )
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    # Window j is centred on padded[j + half], which is buffer[j + half - missing_before].
    first = context - half + missing_before
    centres = buffer[context:end]
    maxima = windows[first : first + centres.size].max(axis=1)
    return int(np.count_nonzero((centres >= ONSET_FLUX_DB) & (centres >= maxima))), end


def _to_db(power: np.ndarray) -> np.ndarray:
    """10 log10 of power, -300 dB for zero (finite, so comparisons and histograms work)."""
    return 10.0 * np.log10(np.maximum(power, 1e-30))


def _tonal_stats(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tonalness and flatness of each frame of a power spectrogram (bins x frames)."""
    log_power = np.log(np.maximum(power, np.float32(1e-20)))
    half = _LOCAL_HALF_WIDTH
    padded = np.pad(log_power, ((half + 1, half), (0, 0)), mode="edge")
    cumulative = np.cumsum(padded, axis=0)
    local_mean = (cumulative[2 * half + 1 :] - cumulative[: -(2 * half + 1)]) / (2 * half + 1)
    prominent = log_power - local_mean > _PEAK_PROMINENCE_DB * math.log(10.0) / 10.0
    total = np.maximum(power.sum(axis=0, dtype=np.float64), 1e-30)
    tonalness = np.where(prominent, power, 0.0).sum(axis=0, dtype=np.float64) / total
    flatness = np.exp(log_power.mean(axis=0, dtype=np.float64)) / (total / power.shape[0])
    return tonalness, flatness


@dataclass(frozen=True)
class RoleFeatures:
    """The summary numbers :func:`guess_role` reads.

    Attributes
    ----------
    low_share, low_mid_share, mid_share, high_mid_share, high_share : float
        Share of the average power in the bands centred up to 100 Hz (below 112 Hz), 125-400 Hz
        (112-447 Hz), 500-1600 Hz (447-1778 Hz), 2-5 kHz (1.8-5.6 kHz) and 6.3-10 kHz (above
        5.6 kHz); they add up to 1 (all 0 for silence). From ``SpectrumReport.band_levels_db``.
    spectral_centroid_hz : float or None
        From ``SpectrumReport.spectral_centroid_hz``.
    tonalness, flatness : float or None
        From :class:`ShapeReport`.
    onset_density_per_s : float
        From :class:`ShapeReport`.
    level_spread_db : float or None
        From :class:`ShapeReport`.
    silent_fraction : float
        From :class:`ShapeReport`.
    stereo_width : float or None
        Side over mid energy (``StereoReport.width``, else computed from
        ``SpectrumReport.width_per_band``): 0 for mono; None for silence.
    """

    low_share: float
    low_mid_share: float
    mid_share: float
    high_mid_share: float
    high_share: float
    spectral_centroid_hz: float | None
    tonalness: float | None
    flatness: float | None
    onset_density_per_s: float
    level_spread_db: float | None
    silent_fraction: float
    stereo_width: float | None

    def to_dict(self) -> dict[str, float | None]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


def role_features(
    *, spectrum: SpectrumReport, shape: ShapeReport, stereo: StereoReport | None = None
) -> RoleFeatures:
    """Gather the features of one signal from the reports the pipeline already computed.

    Parameters
    ----------
    spectrum : SpectrumReport
        Band levels, centroid and per-band width.
    shape : ShapeReport
        From a :class:`SpectralShape` fed the same frames.
    stereo : StereoReport, optional
        Its ``width`` (measured at the original rate) is preferred to the spectrum's.
    """
    power = spectrum.band_power()
    centres = np.array(spectrum.band_centres_hz)
    total = float(power.sum())
    shares = {
        name: (float(power[(centres >= low) & (centres <= high)].sum()) / total if total else 0.0)
        for name, (low, high) in SHARE_REGIONS_HZ.items()
    }
    width: float | None = None
    if stereo is not None and stereo.width is not None:
        width = stereo.width
    elif total and spectrum.width_per_band is None:
        width = 0.0  # mono: as narrow as can be
    elif total and spectrum.width_per_band is not None:
        pairs = zip(spectrum.width_per_band, power, strict=True)
        width = float(sum(ratio * band for ratio, band in pairs if ratio)) / total
    return RoleFeatures(
        **{name: round(value, 4) for name, value in shares.items()},
        spectral_centroid_hz=spectrum.spectral_centroid_hz,
        tonalness=shape.tonalness,
        flatness=shape.flatness,
        onset_density_per_s=shape.onset_density_per_s,
        level_spread_db=shape.level_spread_db,
        silent_fraction=shape.silent_fraction,
        stereo_width=None if width is None else round(width, 4),
    )


@dataclass(frozen=True)
class RoleGuess:
    """A guess at what a stem is.

    Attributes
    ----------
    role : str
        One of :data:`ROLES`.
    confidence : float
        0 to 0.95: 0.95 times the winning score (at most 1), discounted when the runner-up is
        close (a margin of 0.3 or more keeps it whole, a tie keeps 40 % of it); 0.05 for
        silence. A rule-based guess never claims certainty.
    scores : dict of str to float
        Every role's score, 0 to about 1.15 (with the name's bonus), rounded to 0.001.
    hint_used : bool
        True when the file name named a role and that role's score got ``HINT_BONUS``.
    reason : str
        One plain sentence on what decided it.
    """

    role: str
    confidence: float
    scores: dict[str, float]
    hint_used: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return {
            "role": self.role,
            "confidence": self.confidence,
            "scores": dict(self.scores),
            "hint_used": self.hint_used,
            "reason": self.reason,
        }


def guess_role(*, features: RoleFeatures, file_name: str | None = None) -> RoleGuess:
    """Guess a stem's role from its sound, nudged by its file name.

    Parameters
    ----------
    features : RoleFeatures
        From :func:`role_features`.
    file_name : str, optional
        The stem's file or display name; a role it names gets ``HINT_BONUS``.

    Returns
    -------
    RoleGuess
    """
    hinted = roles_named_in(file_name)
    if features.tonalness is None or features.silent_fraction >= 0.99:
        scores = dict.fromkeys(ROLES, 0.0)
        scores["other"] = OTHER_SCORE
        for role in hinted:
            scores[role] += HINT_BONUS
        reason = "It is silent, so there is nothing to go on."
        return RoleGuess(
            role="other",
            confidence=0.05,
            scores={role: round(score, 3) for role, score in scores.items()},
            hint_used=bool(hinted),
            reason=reason,
        )
    acoustic = _acoustic_scores(features)
    scores = {role: acoustic[role] + (HINT_BONUS if role in hinted else 0.0) for role in ROLES}
    ranked = sorted(ROLES, key=lambda role: scores[role], reverse=True)
    best, runner_up = ranked[0], ranked[1]
    margin = scores[best] - scores[runner_up]
    confidence = 0.95 * min(scores[best], 1.0) * (0.4 + 0.6 * min(margin / 0.3, 1.0))
    acoustic_best = max(ROLES, key=lambda role: acoustic[role])
    reason = _REASONS[best](features)
    if hinted:
        names = " or ".join(sorted(hinted))
        if best in hinted and acoustic_best != best:
            reason += f" Its name suggests {names}, which tipped the balance."
        elif best in hinted:
            reason += " Its name agrees."
        else:
            reason += f" Its name suggests {names}, but its sound says otherwise."
    return RoleGuess(
        role=best,
        confidence=round(confidence, 3),
        scores={role: round(score, 3) for role, score in scores.items()},
        hint_used=bool(hinted),
        reason=reason,
    )


def _up(value: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear between."""
    return float(min(max((value - low) / (high - low), 0.0), 1.0))


def _down(value: float, low: float, high: float) -> float:
    return 1.0 - _up(value, low, high)


def _acoustic_scores(f: RoleFeatures) -> dict[str, float]:
    """Each role's score from the sound alone, 0 to 1.

    A score is the product of the role's necessary conditions (a bass has its energy low; keys
    are cleanly pitched, in the middle register, without sub-bass), each a ramp from 0 to 1,
    times a factor from 0.5 or 0.6 to 1 for the supporting evidence. Weak, generic evidence
    (being narrow, having gaps) can therefore never make a role on its own.
    """
    tonal = f.tonalness or 0.0
    spread = f.level_spread_db or 0.0
    centroid = f.spectral_centroid_hz or 0.0
    width = f.stereo_width or 0.0
    # Hits that decay between them, against parts that hold their level.
    hits = _up(spread, 10.0, 20.0)
    # Notes with sharp attacks, against a bed that swells and holds (a slow swell moves the
    # level as much as a struck note, so only onsets count).
    articulated = _up(f.onset_density_per_s, 0.4, 1.2)
    # Articulation tells keys (and a sung line) from a pad; it saturates half-way.
    played = 0.8 + 0.2 * min(1.0, 2.0 * articulated)
    unpitched = _down(tonal, 0.75, 0.95)
    pitched = _up(tonal, 0.6, 0.9)
    very_clean = _up(tonal, 0.85, 0.95)
    # A voice or a guitar is pitched but rarely as clean as a synthesiser (breath, consonants,
    # pick and string noise): an assumption, not a measurement of recordings. A clean line
    # still scores 0.88 as a voice, close enough behind keys for a name to settle it.
    voice_like = _up(tonal, 0.5, 0.7) * (1.0 - 0.12 * _up(tonal, 0.9, 0.97))
    guitar_like = _up(tonal, 0.5, 0.7) * (1.0 - 0.4 * _up(tonal, 0.88, 0.98))
    middle = _up(centroid, 150.0, 300.0) * _down(centroid, 3000.0, 5000.0)
    voice_range = _up(centroid, 300.0, 600.0) * _down(centroid, 3500.0, 5000.0)
    no_sub = _down(f.low_share, 0.2, 0.5)
    low_end = _up(f.low_share + f.low_mid_share, 0.2, 0.5)
    return {
        "drums": hits * (0.5 + 0.5 * unpitched) * (0.6 + 0.4 * low_end),
        "percussion": hits * (0.5 + 0.5 * unpitched) * (0.6 + 0.4 * (1.0 - low_end)),
        "bass": _up(f.low_share, 0.3, 0.6)
        * (0.5 + 0.25 * pitched + 0.25 * _down(centroid, 300.0, 800.0))
        * (1.0 - 0.6 * hits),
        "vocals": voice_like
        * voice_range
        * no_sub
        * played
        * (1.0 - 0.5 * hits)
        * (0.85 + 0.15 * _down(width, 0.1, 0.3)),
        "keys": very_clean * middle * no_sub * played,
        "guitar": guitar_like * middle * no_sub * (0.6 + 0.4 * articulated) * (1.0 - 0.5 * hits),
        "pad": pitched * (1.0 - articulated) * (0.7 + 0.3 * _up(width, 0.1, 0.4)),
        "fx": _down(tonal, 0.3, 0.6)
        * (0.5 + 0.25 * (1.0 - hits) + 0.25 * _up(f.flatness or 0.0, 0.1, 0.4)),
        "other": OTHER_SCORE,
    }


def _percent(share: float) -> str:
    return "under 1%" if share < 0.005 else f"{round(100 * share)}%"


def _hits_reason(f: RoleFeatures) -> str:
    return (
        f"It is made of hits (its level swings {f.level_spread_db or 0:.0f} dB) "
        f"and is {'mostly unpitched' if (f.tonalness or 0) < 0.75 else 'only partly pitched'}"
    )


def _pitched_line(f: RoleFeatures) -> str:
    tonalness = f.tonalness or 0.0
    if tonalness >= 0.9:
        return f"It is cleanly pitched (tonalness {tonalness:.2f}), as a synth could be too"
    return f"It is pitched but not synthesiser-clean (tonalness {tonalness:.2f})"


_REASONS = {
    "drums": lambda f: (
        _hits_reason(f)
        + f", with {_percent(f.low_share + f.low_mid_share)} of its energy below 450 Hz: "
        "likely drums."
    ),
    "percussion": lambda f: (
        _hits_reason(f)
        + f", with {_percent(f.low_share + f.low_mid_share)} of its energy below 450 Hz: "
        "likely percussion."
    ),
    "bass": lambda f: (
        f"{_percent(f.low_share)} of its energy is below 112 Hz and it is "
        f"{'pitched' if (f.tonalness or 0) >= 0.6 else 'held'}: likely bass."
    ),
    "vocals": lambda f: (
        f"{_pitched_line(f)}, centred in the voice's range "
        f"({f.spectral_centroid_hz or 0:.0f} Hz) without sub-bass: likely vocals."
    ),
    "keys": lambda f: (
        f"It is cleanly pitched (tonalness {f.tonalness or 0:.2f}), with "
        f"{'articulated' if f.onset_density_per_s >= 0.4 else 'held'} notes in the middle "
        f"register (centroid {f.spectral_centroid_hz or 0:.0f} Hz): likely keys or a synth."
    ),
    "guitar": lambda f: (
        f"{_pitched_line(f)}, with articulated notes in the middle register: likely guitar."
    ),
    "pad": lambda f: (
        "It is pitched and held without clear attacks"
        + (", and wide" if (f.stereo_width or 0.0) > 0.2 else "")
        + ": likely a pad."
    ),
    "fx": lambda f: (
        f"It is noise-like (tonalness {f.tonalness or 0:.2f}) rather than pitched or made of "
        "hits: likely effects or noise."
    ),
    "other": lambda f: "Nothing about its sound points clearly to one role.",
}


# File-name keywords. Tokens are the name split at non-letters, at letter-digit boundaries and
# at camelCase; a few distinctive words (_INNER_WORDS) also match inside a token.
_KEYWORDS = {
    "drums": (
        "drum drums kit kick kik bd snare snr sd hat hats hihat hihats hh oh overhead "
        "overheads tom toms cymbal cymbals crash ride breakbeat"
    ),
    "percussion": (
        "perc percs percussion conga congas bongo bongos shaker shakers tamb tambourine clap "
        "claps cowbell cajon timbale timbales djembe triangle clave claves woodblock"
    ),
    "bass": "bass bassline subbass sub 808",
    "vocals": (
        "vox vocal vocals voc vocs vo voice voices bv bvs bgv bgvs choir adlib adlibs rap "
        "singer sing"
    ),
    "keys": (
        "keys piano pno rhodes ep epiano wurli wurlitzer organ synth synths clav clavinet "
        "keyboard keyboards arp arps"
    ),
    "guitar": "gtr gtrs guitar guitars gtrl gtrr",
    "pad": "pad pads strings drone atmos",
    "fx": "fx sfx efx riser risers sweep sweeps impact impacts whoosh noise uplifter downlifter",
}
_TOKEN_ROLES = {word: role for role, words in _KEYWORDS.items() for word in words.split()}
# Words distinctive enough to count inside a longer token ("LEADVOX", "drumloop", "epiano1").
_DISTINCTIVE_WORDS = (
    "vox", "vocal", "kick", "snare", "hihat", "drum", "perc", "shaker", "conga", "guitar",
    "gtr", "piano", "rhodes", "synth", "bass", "riser",
)  # fmt: skip
_INNER_WORDS = {word: _TOKEN_ROLES[word] for word in _DISTINCTIVE_WORDS}
_AUDIO_SUFFIX = re.compile(r"\.[A-Za-z0-9]{2,5}$")


def roles_named_in(file_name: str | None) -> set[str]:
    """Roles a file name points to ("Kick.wav" -> drums; "Bass Drum" -> drums; none -> empty).

    Parameters
    ----------
    file_name : str or None
        A file or display name, with or without a folder and an extension.
    """
    if not file_name:
        return set()
    name = _AUDIO_SUFFIX.sub("", file_name.replace("\\", "/").rsplit("/", 1)[-1])
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Za-z])([0-9])|([0-9])([A-Za-z])", _split_digits, spaced).lower()
    tokens = [token for token in re.split(r"[^a-z0-9]+", spaced) if token]
    joined = " ".join(tokens)
    if re.search(r"\bbass ?drums?\b", joined):
        return {"drums"}
    roles = {_TOKEN_ROLES[token] for token in tokens if token in _TOKEN_ROLES}
    for token in tokens:
        if token not in _TOKEN_ROLES:
            roles |= {role for word, role in _INNER_WORDS.items() if word in token}
    return roles


def _split_digits(match: re.Match[str]) -> str:
    if match.group(1):
        return f"{match.group(1)} {match.group(2)}"
    return f"{match.group(3)} {match.group(4)}"
