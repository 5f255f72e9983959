"""Music theory for arrangement ideas: scales, chords, numerals, progressions and voicing.

Everything here is written from textbook tonal harmony, not taken from any recording:

- Scales are the major scale and the natural minor scale.
- Chords are named by root (pitch class 0 = C to 11 = B) and quality, with the vocabulary of
  :class:`~studio.processing.ideas.SongContext`: ``maj, min, 7, maj7, min7, sus2, sus4``
  (plus ``dim``, which the generators do not use).
- Progressions follow the functions of tonal harmony: tonic chords lead anywhere,
  pre-dominant chords (IV, ii; iv, VI in minor) lead to the dominant, the dominant leads home
  (:data:`TRANSITIONS`). The diminished triads (vii° in major, ii° in minor) are left out:
  pop harmony rarely uses them as chords of their own.
- Borrowed chords (modal mixture) come from the parallel key: iv, bVI, bVII and bIII in a
  major key; IV and V in a minor key (the V of the parallel major is also the dominant of
  harmonic minor).
- A secondary dominant ``V7/x`` is the dominant seventh chord a fifth above a diatonic chord
  ``x``; its third is the leading tone of ``x``.
- Voicings: four voices (the root doubled in a triad) within a range, chosen to move the
  voices as little as possible from the previous chord.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
QUALITY_INTERVALS = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "dim": (0, 3, 6),
}
QUALITY_SUFFIXES = {
    "maj": "",
    "min": "m",
    "7": "7",
    "maj7": "maj7",
    "min7": "m7",
    "sus2": "sus2",
    "sus4": "sus4",
    "dim": "dim",
}
NO_CHORD = "N"
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")
# Keys written with flats (tonic pitch classes): F Bb Eb Ab Db major; D G C F Bb Eb minor.
FLAT_KEYS = {"major": {5, 10, 3, 8, 1}, "minor": {2, 7, 0, 5, 10, 3}}

# Where each scale degree (0 = tonic) may go next, with a weight: functional harmony.
TRANSITIONS = {
    "major": {
        0: {3: 3, 4: 3, 5: 3, 1: 2, 2: 1},
        1: {4: 5, 3: 1},
        2: {5: 3, 3: 2},
        3: {4: 4, 0: 3, 1: 2, 5: 1},
        4: {0: 5, 5: 3, 3: 1},
        5: {3: 4, 1: 3, 4: 2, 2: 1},
    },
    "minor": {
        0: {3: 3, 5: 3, 6: 3, 2: 2, 4: 1},
        2: {5: 3, 3: 2, 6: 2},
        3: {6: 3, 4: 2, 0: 3, 5: 1},
        4: {0: 4, 5: 3},
        5: {6: 4, 3: 3, 2: 2, 4: 1},
        6: {0: 4, 2: 3, 5: 2},
    },
}
# Degrees that may open a progression, that may end a 4-bar loop (so it turns back to the
# top), and that close the first phrase of an 8-bar period (a half cadence).
OPENINGS = {"major": {0: 4, 5: 2, 3: 2}, "minor": {0: 4, 5: 2, 3: 2}}
LOOP_ENDINGS = {"major": (4, 3), "minor": (6, 4, 3)}
HALF_CADENCES = {"major": (4,), "minor": (6, 4)}
CADENCE_DOMINANT = {"major": 4, "minor": 6}

LOW_VOICE, HIGH_VOICE = 52, 76  # E3 to E5: keys voicings
DRIFT_WEIGHT = 0.15  # per semitone of the voicing's centre away from the range's middle
SPREAD_WEIGHT = 0.1  # per semitone between the lowest and highest voice
MAX_SPAN = 19


@dataclass(frozen=True)
class Harmony:
    """A chord of an idea, with where it comes from.

    Attributes
    ----------
    root : int or None
        Pitch class of the root, 0 (C) to 11 (B); ``None`` for no chord.
    quality : str
        A key of :data:`QUALITY_INTERVALS`, or ``"N"`` for no chord.
    source : str
        ``"diatonic"`` (every tone in the key's scale), ``"borrowed"`` (from the parallel
        key), ``"secondary"`` (a secondary dominant) or ``"song"`` (taken from the song as it
        is, with tones outside the scale).
    target : int or None
        For a secondary dominant, the root of the chord it resolves to.
    """

    root: int | None
    quality: str
    source: str = "diatonic"
    target: int | None = None

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """Pitch classes, root first; empty for no chord."""
        if self.root is None:
            return ()
        return tuple((self.root + step) % 12 for step in QUALITY_INTERVALS[self.quality])


def scale_pitch_classes(*, tonic: int, mode: str) -> tuple[int, ...]:
    """The key's scale (major, or natural minor), tonic first."""
    return tuple((tonic + step) % 12 for step in SCALE_STEPS[mode])


def degree_harmony(degree: int, *, tonic: int, mode: str, seventh: bool = False) -> Harmony:
    """The diatonic triad (or seventh chord) on a scale degree (0 = tonic)."""
    scale = scale_pitch_classes(tonic=tonic, mode=mode)
    root = scale[degree % 7]
    third = (scale[(degree + 2) % 7] - root) % 12
    fifth = (scale[(degree + 4) % 7] - root) % 12
    quality = "maj" if third == 4 else "min"
    if fifth == 6:
        quality = "dim"
    elif seventh:
        top = (scale[(degree + 6) % 7] - root) % 12
        quality = {("maj", 11): "maj7", ("maj", 10): "7", ("min", 10): "min7"}[(quality, top)]
    return Harmony(root, quality)


def chromatic_tones(harmony: Harmony, *, tonic: int, mode: str) -> tuple[int, ...]:
    """The chord's pitch classes that lie outside the key's scale."""
    scale = set(scale_pitch_classes(tonic=tonic, mode=mode))
    return tuple(pc for pc in harmony.pitch_classes if pc not in scale)


def from_song(root: int | None, quality: str, *, tonic: int, mode: str) -> Harmony:
    """A chord of the song: ``diatonic`` when every tone is in the scale, else ``song``."""
    harmony = Harmony(root, quality)
    if root is not None and chromatic_tones(harmony, tonic=tonic, mode=mode):
        return Harmony(root, quality, "song")
    return harmony


def note_name(pitch_class: int, *, tonic: int, mode: str, flat: bool | None = None) -> str:
    """Spell a pitch class the way the key does (flats in flat keys)."""
    use_flats = tonic in FLAT_KEYS[mode] if flat is None else flat
    return (FLAT_NAMES if use_flats else SHARP_NAMES)[pitch_class % 12]


def chord_symbol(harmony: Harmony, *, tonic: int, mode: str) -> str:
    """Chord symbol such as ``"Am"``, ``"Bb"``, ``"E7"``; ``"N"`` for no chord."""
    if harmony.root is None:
        return NO_CHORD
    flat = True if numeral(harmony, tonic=tonic, mode=mode).startswith("b") else None
    root = note_name(harmony.root, tonic=tonic, mode=mode, flat=flat)
    return root + QUALITY_SUFFIXES[harmony.quality]


def numeral(harmony: Harmony, *, tonic: int, mode: str) -> str:
    """Roman numeral relative to the key: ``vi``, ``bVII``, ``V7/vi``, ``IVmaj7``."""
    if harmony.root is None:
        return NO_CHORD
    if harmony.source == "secondary" and harmony.target is not None:
        target = Harmony(harmony.target, _target_quality(harmony.target, tonic=tonic, mode=mode))
        head = "V7" if harmony.quality == "7" else "V"
        return f"{head}/{numeral(target, tonic=tonic, mode=mode)}"
    steps = SCALE_STEPS[mode]
    interval = (harmony.root - tonic) % 12
    if interval in steps:
        prefix, degree = "", steps.index(interval)
    elif (interval + 1) % 12 in steps:
        prefix, degree = "b", steps.index((interval + 1) % 12)
    else:
        prefix, degree = "#", steps.index((interval - 1) % 12)
    upper = harmony.quality in ("maj", "7", "maj7", "sus2", "sus4")
    text = ROMAN[degree] if upper else ROMAN[degree].lower()
    suffix = {"7": "7", "maj7": "maj7", "min7": "7", "dim": "°", "sus2": "sus2", "sus4": "sus4"}
    return prefix + text + suffix.get(harmony.quality, "")


def _target_quality(root: int, *, tonic: int, mode: str) -> str:
    scale = scale_pitch_classes(tonic=tonic, mode=mode)
    if root not in scale:
        return "maj"
    return degree_harmony(scale.index(root), tonic=tonic, mode=mode).quality


def borrowed_for(degree: int, *, tonic: int, mode: str) -> Harmony | None:
    """The borrowed chord that can stand in for a diatonic degree, if there is one.

    Major keys: IV -> iv, vi -> bVI, V -> bVII, iii -> bIII (parallel minor).
    Minor keys: iv -> IV, v or VII -> V (parallel major).
    """
    major = {3: (5, "min"), 5: (8, "maj"), 4: (10, "maj"), 2: (3, "maj")}
    minor = {3: (5, "maj"), 4: (7, "maj"), 6: (7, "maj")}
    table = major if mode == "major" else minor
    if degree not in table:
        return None
    interval, quality = table[degree]
    return Harmony((tonic + interval) % 12, quality, "borrowed")


def parallel_key_text(*, tonic: int, mode: str) -> str:
    """Name of the parallel key, e.g. ``"C minor"`` for C major."""
    other = "minor" if mode == "major" else "major"
    return f"{note_name(tonic, tonic=tonic, mode=other)} {other}"


def secondary_dominant(target: Harmony) -> Harmony:
    """``V7/x``: the dominant seventh chord whose root is a fifth above ``target``'s root."""
    if target.root is None:
        raise ValueError("secondary_dominant: the target chord has no root")
    return Harmony((target.root + 7) % 12, "7", "secondary", target.root)


def progression_degrees(*, mode: str, bars: int, rng: np.random.Generator) -> list[int]:
    """A random walk through :data:`TRANSITIONS`: one scale degree per bar.

    A 4-bar progression is a loop: it ends on a chord that leads back to its first chord.
    An 8-bar progression is a period: the first phrase ends on a half cadence, the second
    on the dominant then the tonic (an authentic cadence). No chord repeats in the next bar.
    """
    for _ in range(400):
        walk = _walk(mode=mode, bars=bars, rng=rng)
        if walk is not None and _fits(walk, mode=mode, bars=bars):
            return walk
    fallbacks = {
        ("major", 4): [0, 5, 3, 4],
        ("minor", 4): [0, 5, 3, 6],
        ("major", 8): [0, 5, 3, 4, 0, 3, 4, 0],
        ("minor", 8): [0, 5, 3, 4, 0, 5, 6, 0],
    }
    return fallbacks[(mode, bars)]


def _walk(*, mode: str, bars: int, rng: np.random.Generator) -> list[int] | None:
    degrees = [_weighted(OPENINGS[mode], rng)]
    for bar in range(1, bars):
        if bars == 8 and bar == 7:
            degrees.append(0)
            continue
        if bars == 8 and bar == 6:
            degrees.append(CADENCE_DOMINANT[mode])
            continue
        options = TRANSITIONS[mode][degrees[-1]]
        degrees.append(_weighted(options, rng))
    return degrees


def _fits(degrees: Sequence[int], *, mode: str, bars: int) -> bool:
    steps = list(zip(degrees, degrees[1:], strict=False))
    if any(a == b or b not in TRANSITIONS[mode][a] for a, b in steps):
        return False
    if len(set(degrees)) < 3:
        return False
    if bars == 4:
        return degrees[-1] in LOOP_ENDINGS[mode] and degrees[0] in TRANSITIONS[mode][degrees[-1]]
    return degrees[3] in HALF_CADENCES[mode]


def _weighted(options: dict[int, int], rng: np.random.Generator) -> int:
    keys = sorted(options)
    weights = np.array([options[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def voice_chord(
    pitch_classes: Sequence[int],
    previous: Sequence[int] | None,
    *,
    low: int = LOW_VOICE,
    high: int = HIGH_VOICE,
) -> tuple[int, ...]:
    """Four MIDI notes for a chord, moving as little as possible from ``previous``.

    A triad doubles its root or its fifth. Every candidate places each tone in some octave
    within ``[low, high]`` with distinct notes spanning at most :data:`MAX_SPAN` semitones;
    the winner minimises the summed movement of the sorted voices from ``previous`` (or, for
    the first chord, the distance of its centre from the middle of the range), plus small
    pulls towards the middle of the range (so a long section does not drift) and towards a
    close voicing.
    """
    middle = (low + high) / 2
    best: tuple[float, tuple[int, ...]] | None = None
    for tones in _four_tones(pitch_classes):
        for notes in itertools.product(*[_octaves(pc, low, high) for pc in tones]):
            voicing = tuple(sorted(notes))
            if len(set(voicing)) < 4 or voicing[-1] - voicing[0] > MAX_SPAN:
                continue
            cost = _voicing_cost(voicing, previous, middle)
            if best is None or cost < best[0]:
                best = (cost, voicing)
    if best is None:
        raise ValueError(f"voice_chord: no voicing of {tuple(pitch_classes)} in {low}..{high}")
    return best[1]


def _four_tones(pitch_classes: Sequence[int]) -> list[tuple[int, ...]]:
    tones = tuple(pitch_classes)
    if len(tones) >= 4:
        return [tones[:4]]
    return [tones + (tones[0],), tones + (tones[-1],)]


def _voicing_cost(voicing: tuple[int, ...], previous: Sequence[int] | None, middle: float) -> float:
    centre = sum(voicing) / 4
    cost = DRIFT_WEIGHT * abs(centre - middle) + SPREAD_WEIGHT * (voicing[-1] - voicing[0])
    if previous is None:
        return cost + abs(centre - middle)
    return cost + sum(abs(a - b) for a, b in zip(voicing, sorted(previous), strict=True))


def _octaves(pitch_class: int, low: int, high: int) -> list[int]:
    first = low + (pitch_class - low) % 12
    return list(range(first, high + 1, 12))


def nearest_pitch(pitch_class: int, *, near: int, low: int, high: int) -> int:
    """The MIDI note of ``pitch_class`` in ``[low, high]`` closest to ``near``."""
    options = _octaves(pitch_class, low, high)
    if not options:
        raise ValueError(f"nearest_pitch: no {pitch_class} between {low} and {high}")
    return min(options, key=lambda pitch: (abs(pitch - near), pitch))
