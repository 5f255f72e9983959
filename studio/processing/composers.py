"""Writing the notes of an idea: progressions, reharmonisation, keys, bass and melody.

Pure music writing on plain values: chords are :class:`Segment` spans counted in beats from
the idea's start, notes are ``(MIDI pitch, start in beats, length in beats, velocity)``
tuples with times quantised to 1/480 of a beat (a MIDI tick at 480 ticks per beat). The
placement in the song and the words around the notes are :mod:`studio.processing.ideas`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from studio.processing.theory import (
    TRANSITIONS,
    Harmony,
    borrowed_for,
    chromatic_tones,
    degree_harmony,
    nearest_pitch,
    progression_degrees,
    scale_pitch_classes,
    secondary_dominant,
    voice_chord,
)

NoteTuple = tuple[int, float, float, int]
TICKS = 480
BASS_LOW, BASS_HIGH = 28, 50  # E1 to D3
BASS_START = 40  # E2
SEVENTH_CHANCE = 0.35
SEVENTH_DEGREES = {"major": (1, 3, 5), "minor": (3, 5, 2)}
CHANGE_CHANCE = 0.6
KEYS_RHYTHMS = {  # (start, length) in beats within a bar, by energy band
    "low": (((0.0, 4.0),), ((0.0, 2.0), (2.0, 2.0))),
    "mid": (((0.0, 2.0), (2.0, 2.0)), ((0.0, 1.5), (1.5, 2.5))),
    "high": (
        ((0.0, 1.5), (1.5, 1.0), (2.5, 1.5)),
        ((0.0, 1.0), (1.0, 0.5), (1.5, 1.0), (2.5, 1.5)),
    ),
}
KEYS_WORDS = {
    "low": "long held chords, to leave space in a quiet section",
    "mid": "chords on the half-bar, a steady pulse for a mid-energy section",
    "high": "chords pushed ahead of beat 3, to drive a high-energy section",
}
SPARSE_CELLS = (
    ((0.0, 1.5), (1.5, 0.5), (2.0, 2.0)),
    ((0.0, 1.0), (1.0, 1.0), (2.0, 2.0)),
    ((0.5, 0.5), (1.0, 1.0), (2.0, 1.5), (3.5, 0.5)),
    ((0.0, 2.0), (2.5, 0.5), (3.0, 1.0)),
    ((0.0, 1.0), (1.5, 1.0), (2.5, 1.5)),
    ((0.0, 0.5), (0.5, 0.5), (1.0, 1.0), (2.0, 2.0)),
)
BUSY_CELLS = (
    (
        (0.0, 0.5),
        (0.5, 0.25),
        (0.75, 0.25),
        (1.0, 0.5),
        (1.5, 0.5),
        (2.0, 1.0),
        (3.0, 0.5),
        (3.5, 0.5),
    ),
    (
        (0.0, 0.25),
        (0.25, 0.25),
        (0.5, 0.5),
        (1.0, 1.0),
        (2.0, 0.5),
        (2.5, 0.25),
        (2.75, 0.25),
        (3.0, 1.0),
    ),
    (
        (0.0, 0.75),
        (0.75, 0.25),
        (1.0, 0.5),
        (1.5, 0.5),
        (2.0, 0.75),
        (2.75, 0.25),
        (3.0, 0.5),
        (3.5, 0.5),
    ),
    ((0.5, 0.5), (1.0, 0.25), (1.25, 0.25), (1.5, 0.5), (2.0, 1.5), (3.5, 0.25), (3.75, 0.25)),
)
ENDINGS = {
    "sparse": ((0.0, 1.0), (1.0, 1.0), (2.0, 2.0)),
    "busy": ((0.0, 0.5), (0.5, 0.5), (1.0, 1.0), (2.0, 2.0)),
}


class Segment(NamedTuple):
    """A chord of an idea: start and length in beats from the idea's start."""

    start_beat: float
    duration_beats: float
    harmony: Harmony

    @property
    def end_beat(self) -> float:
        """End in beats (exclusive)."""
        return self.start_beat + self.duration_beats


def quantise(beats: float) -> float:
    """Round a position in beats to the MIDI tick grid (1/480 of a beat)."""
    return round(beats * TICKS) / TICKS


def note(pitch: int, start: float, length: float, velocity: int) -> NoteTuple:
    """A note tuple with times on the tick grid."""
    return int(pitch), quantise(start), max(1 / TICKS, quantise(length)), int(velocity)


def harmony_at(segments: Sequence[Segment], beat: float) -> Harmony | None:
    """The chord sounding at a beat (``None`` outside every segment or on no chord)."""
    for segment in segments:
        if segment.start_beat - 1e-9 <= beat < segment.end_beat - 1e-9:
            return segment.harmony if segment.harmony.root is not None else None
    return None


# --------------------------------------------------------------------------- progressions


class Progression(NamedTuple):
    """A written progression: its segments and what was done to it, for the reasoning."""

    segments: list[Segment]
    degrees: list[int]
    borrowed: list[Harmony]
    secondaries: list[Harmony]
    sevenths: bool


def write_progression(
    *,
    tonic: int,
    mode: str,
    bars: int,
    colour: str,
    rng: np.random.Generator,
    existing: set[tuple[int, str]],
) -> Progression:
    """One cycle of ``bars`` (4 or 8) bars, one chord per bar before colouring.

    Six candidate walks are drawn; the one sharing the fewest chords with ``existing`` (the
    chords the song already plays there) wins, for contrast.
    """
    candidates = [progression_degrees(mode=mode, bars=bars, rng=rng) for _ in range(6)]
    degrees = min(candidates, key=lambda d: _overlap(d, tonic, mode, existing))
    sevenths = bool(rng.random() < SEVENTH_CHANCE)
    harmonies = [
        degree_harmony(d, tonic=tonic, mode=mode, seventh=sevenths and d in SEVENTH_DEGREES[mode])
        for d in degrees
    ]
    segments = [Segment(4.0 * i, 4.0, h) for i, h in enumerate(harmonies)]
    borrowed: list[Harmony] = []
    secondaries: list[Harmony] = []
    if colour == "borrowed":
        segments, borrowed = _borrow(segments, degrees, tonic, mode, rng, loop=bars == 4)
    elif colour == "secondary":
        segments, secondaries = _add_secondaries(segments, tonic, mode, rng, loop=bars == 4)
    return Progression(segments, degrees, borrowed, secondaries, sevenths)


def _overlap(degrees: list[int], tonic: int, mode: str, existing: set[tuple[int, str]]) -> int:
    chords = [degree_harmony(d, tonic=tonic, mode=mode) for d in degrees]
    return sum((h.root, h.quality[:3]) in existing for h in chords)


def _borrow(
    segments: list[Segment],
    degrees: list[int],
    tonic: int,
    mode: str,
    rng: np.random.Generator,
    *,
    loop: bool,
) -> tuple[list[Segment], list[Harmony]]:
    last = len(segments) if loop else len(segments) - 1  # keep the final tonic of a period
    # A major period keeps its V - I cadence (in minor, the borrowed V strengthens it).
    kept = {len(segments) - 2} if not loop and mode == "major" else set()
    eligible = [
        i
        for i in range(1, last)
        if i not in kept and borrowed_for(degrees[i], tonic=tonic, mode=mode)
    ]
    chosen: list[int] = []
    for i in rng.permutation(eligible) if eligible else []:
        if len(chosen) < (1 if len(segments) <= 4 else 2) and degrees[i] not in {
            degrees[j] for j in chosen
        }:
            chosen.append(int(i))  # at most one stand-in per degree: a touch of colour
    chosen.sort()
    out, used = list(segments), []
    for i in chosen:
        harmony = borrowed_for(degrees[i], tonic=tonic, mode=mode)
        if harmony is not None:
            out[i] = out[i]._replace(harmony=harmony)
            used.append(harmony)
    return out, used


def _add_secondaries(
    segments: list[Segment], tonic: int, mode: str, rng: np.random.Generator, *, loop: bool
) -> tuple[list[Segment], list[Harmony]]:
    n = len(segments)
    pairs = []
    for target in range(n if loop else n - 1):
        before = (target - 1) % n
        if not loop and target == 0:
            continue
        harmony = segments[target].harmony
        if harmony.root is None or harmony.quality == "dim" or before == target:
            continue
        dominant = secondary_dominant(Harmony(harmony.root, harmony.quality[:3]))
        if segments[before].harmony.root == dominant.root:
            continue
        if harmony.root != tonic and chromatic_tones(dominant, tonic=tonic, mode=mode):
            pairs.append((before, dominant))
    count = min(len(pairs), 1 if n <= 4 else 2)
    picks = (
        sorted(int(i) for i in rng.choice(len(pairs), size=count, replace=False)) if count else []
    )
    out: list[Segment] = []
    chosen = {pairs[i][0]: pairs[i][1] for i in picks}
    for index, segment in enumerate(segments):
        if index in chosen and segment.duration_beats >= 2:
            half = segment.duration_beats / 2
            out.append(segment._replace(duration_beats=half))
            out.append(Segment(segment.start_beat + half, half, chosen[index]))
        else:
            out.append(segment)
    return out, [chosen[i] for i in sorted(chosen)]


def repeat_cycle(cycle: Sequence[Segment], total_beats: float) -> list[Segment]:
    """Repeat a cycle of segments to fill ``total_beats``, cutting the last one short."""
    length = max(segment.end_beat for segment in cycle)
    out: list[Segment] = []
    offset = 0.0
    while offset < total_beats - 1e-9:
        for segment in cycle:
            start = offset + segment.start_beat
            if start >= total_beats - 1e-9:
                break
            duration = min(segment.duration_beats, total_beats - start)
            out.append(Segment(start, duration, segment.harmony))
        offset += length
    return out


# --------------------------------------------------------------------------- reharmonisation


class Reharmonisation(NamedTuple):
    """New segments and, per segment, the original chord it replaced (or ``None``)."""

    segments: list[Segment]
    replaced: list[tuple[Harmony, Harmony]]
    secondaries: list[Harmony]


def reharmonise(
    segments: Sequence[Segment], *, tonic: int, mode: str, colour: str, rng: np.random.Generator
) -> Reharmonisation:
    """Substitute chords that share at least two notes with the original (so the melody
    still fits), keep a final tonic (the cadence) and chords outside the key, and colour
    with a borrowed chord or secondary dominants if asked."""
    changeable = [i for i, s in enumerate(segments) if _substitutes(s.harmony, tonic, mode, colour)]
    if (
        changeable
        and _is_tonic(segments[-1].harmony, tonic)
        and changeable[-1] == len(segments) - 1
    ):
        changeable = changeable[:-1] or changeable
    chosen = [i for i in changeable if rng.random() < CHANGE_CHANCE]
    needed = math.ceil(len(changeable) / 2)
    for i in rng.permutation(changeable):
        if len(chosen) >= needed:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    out, replaced = list(segments), []
    for i in sorted(chosen):
        neighbours = {out[j].harmony.root for j in (i - 1, i + 1) if 0 <= j < len(out)}
        options = _substitutes(segments[i].harmony, tonic, mode, colour)
        options = [h for h in options if h.root not in neighbours] or options
        new = options[int(rng.integers(len(options)))]
        if colour == "borrowed" and not any(h.source == "borrowed" for _, h in replaced):
            new = next((h for h in options if h.source == "borrowed"), new)
        out[i] = segments[i]._replace(harmony=new)
        replaced.append((segments[i].harmony, new))
    secondaries: list[Harmony] = []
    if colour == "secondary":
        out, secondaries = _add_secondaries(out, tonic, mode, rng, loop=False)
    return Reharmonisation(out, replaced, secondaries)


def _is_tonic(harmony: Harmony, tonic: int) -> bool:
    return harmony.root == tonic


def _substitutes(harmony: Harmony, tonic: int, mode: str, colour: str) -> list[Harmony]:
    """Diatonic triads sharing two or more notes with a diatonic chord (plus its borrowed
    stand-in when the colour is ``borrowed``)."""
    if harmony.root is None or harmony.source != "diatonic":
        return []
    scale = scale_pitch_classes(tonic=tonic, mode=mode)
    if harmony.root not in scale:
        return []
    tones = set(harmony.pitch_classes)
    out = []
    for degree in TRANSITIONS[mode]:
        candidate = degree_harmony(degree, tonic=tonic, mode=mode)
        if candidate.root != harmony.root and len(tones & set(candidate.pitch_classes)) >= 2:
            out.append(candidate)
    if colour == "borrowed":
        stand_in = borrowed_for(scale.index(harmony.root), tonic=tonic, mode=mode)
        if stand_in is not None:
            out.append(stand_in)
    return out


# --------------------------------------------------------------------------- keys and bass


def energy_band(energy: float) -> str:
    """``"low"``, ``"mid"`` or ``"high"`` for an energy 0..1."""
    return "low" if energy < 0.4 else "mid" if energy < 0.7 else "high"


def keys_part(
    segments: Sequence[Segment], *, energy: float, rng: np.random.Generator
) -> tuple[list[NoteTuple], str, float]:
    """Voiced chords with a rhythm for the energy; returns notes, words, mean motion.

    The mean motion is the average number of semitones each voice moves per chord change.
    """
    band = energy_band(energy)
    options = KEYS_RHYTHMS[band]
    rhythm = options[int(rng.integers(len(options)))]
    notes: list[NoteTuple] = []
    previous: tuple[int, ...] | None = None
    motions = []
    for segment in segments:
        if segment.harmony.root is None:
            continue
        voicing = voice_chord(segment.harmony.pitch_classes, previous)
        if previous is not None:
            motions.append(sum(abs(a - b) for a, b in zip(voicing, previous, strict=True)) / 4)
        previous = voicing
        for start, length in _hits_in(segment, rhythm):
            velocity = 80 if start % 4 == 0 else 70
            notes += [note(pitch, start, length, velocity) for pitch in voicing]
    mean_motion = float(np.mean(motions)) if motions else 0.0
    return notes, KEYS_WORDS[band], mean_motion


def _hits_in(segment: Segment, rhythm: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The bar rhythm's hits inside a segment, with one on its start, cut at its end."""
    starts = []
    first_bar = math.floor(segment.start_beat / 4)
    last_bar = math.ceil(segment.end_beat / 4)
    for bar in range(first_bar, last_bar):
        for start, _ in rhythm:
            position = bar * 4 + start
            if segment.start_beat <= position < segment.end_beat - 1e-9:
                starts.append(position)
    starts = sorted(set(starts) | {segment.start_beat})
    ends = starts[1:] + [segment.end_beat]
    lengths = {bar * 4 + s: length for bar in range(first_bar, last_bar) for s, length in rhythm}
    hits = []
    for start, end in zip(starts, ends, strict=True):
        length = min(lengths.get(start, end - start), end - start)
        hits.append((start, length))
    return hits


def root_part(segments: Sequence[Segment]) -> list[NoteTuple]:
    """The roots of the chords, held for each chord (up to a bar), low and close together."""
    notes: list[NoteTuple] = []
    previous = BASS_START
    for segment in segments:
        if segment.harmony.root is None:
            continue
        pitch = nearest_pitch(segment.harmony.root, near=previous, low=BASS_LOW + 8, high=BASS_HIGH)
        notes.append(note(pitch, segment.start_beat, min(4.0, segment.duration_beats), 96))
        previous = pitch
    return notes


def bass_line(
    segments: Sequence[Segment],
    *,
    kick_beats: Sequence[float],
    style: str,
    feel: str,
    total_beats: float,
    tonic: int,
    mode: str,
    rng: np.random.Generator,
) -> list[NoteTuple]:
    """A bass line on the chord roots with a note under every kick.

    ``roots``: a note on every kick and every chord change. ``octaves``: the same, plus the
    root an octave up on the off-beat eighths. ``walking``: a note on every beat (root on the
    chord's first beat, a scale step into the next chord's root on the beat before it, chord
    tones between) plus a short repeated note on any kick between beats.
    """
    kicks = {quantise(b) for b in kick_beats if b < total_beats}
    changes = {quantise(s.start_beat) for s in segments if s.harmony.root is not None}
    onsets = kicks | changes
    offbeat = 2 / 3 if feel == "swung" else 0.5
    if style == "octaves":
        onsets |= {quantise(b + offbeat) for b in range(int(total_beats))} - kicks
    if style == "walking":
        onsets |= {float(b) for b in range(int(total_beats))}
    if style == "octaves":
        onsets |= _pickups(segments, onsets, offbeat, rng)
    ordered = sorted(b for b in onsets if b < total_beats)
    notes: list[NoteTuple] = []
    previous = BASS_START
    for index, beat in enumerate(ordered):
        harmony = harmony_at(segments, beat) or _last_harmony(segments, beat)
        if harmony is None:
            continue
        end = ordered[index + 1] if index + 1 < len(ordered) else total_beats
        pitch = _bass_pitch(
            beat, harmony, segments, style, previous, kicks, changes, tonic, mode, rng
        )
        length = max(0.125, end - beat - 0.125)
        if style == "walking" and beat != int(beat):
            length = min(length, 0.25)
        velocity = 108 if beat % 4 == 0 else 100 if beat in kicks else 84
        notes.append(note(pitch, beat, length, velocity))
        previous = pitch if beat in kicks or beat in changes or style == "walking" else previous
    return notes


def _pickups(
    segments: Sequence[Segment], onsets: set[float], offbeat: float, rng: np.random.Generator
) -> set[float]:
    """Off-beats just before some chord changes (seeded): they get a step into the new root."""
    out = set()
    for segment in segments[1:]:
        beat = quantise(segment.start_beat - 1 + offbeat)
        if segment.harmony.root is not None and beat not in onsets and rng.random() < 0.5:
            out.add(beat)
    return out


def _last_harmony(segments: Sequence[Segment], beat: float) -> Harmony | None:
    before = [s.harmony for s in segments if s.start_beat <= beat and s.harmony.root is not None]
    return before[-1] if before else None


def _bass_pitch(
    beat: float,
    harmony: Harmony,
    segments: Sequence[Segment],
    style: str,
    previous: int,
    kicks: set[float],
    changes: set[float],
    tonic: int,
    mode: str,
    rng: np.random.Generator,
) -> int:
    root = nearest_pitch(harmony.root or 0, near=previous, low=BASS_LOW, high=BASS_HIGH)
    if beat in changes:
        return root
    if style == "octaves":
        upcoming = harmony_at(segments, math.ceil(beat))
        if upcoming is not None and upcoming != harmony and upcoming.root is not None:
            target = nearest_pitch(
                upcoming.root, near=previous, low=BASS_LOW + 2, high=BASS_HIGH - 2
            )
            return _scale_neighbour(target, tonic, mode, above=bool(rng.random() < 0.5))
        return root + 12 if beat not in kicks else root
    if style != "walking" or beat != int(beat):
        return previous if style == "walking" else root
    upcoming = harmony_at(segments, beat + 1)
    if upcoming is not None and upcoming != harmony and upcoming.root is not None:
        target = nearest_pitch(upcoming.root, near=previous, low=BASS_LOW + 2, high=BASS_HIGH - 2)
        return _scale_neighbour(target, tonic, mode, above=bool(rng.random() < 0.5))
    tones = harmony.pitch_classes[1:3]
    pick = tones[int(rng.integers(len(tones)))]
    return nearest_pitch(pick, near=previous, low=BASS_LOW, high=BASS_HIGH)


def _scale_neighbour(pitch: int, tonic: int, mode: str, *, above: bool) -> int:
    """The nearest scale note above (or below) a pitch."""
    scale = set(scale_pitch_classes(tonic=tonic, mode=mode))
    step = 1 if above else -1
    candidate = pitch + step
    while candidate % 12 not in scale:
        candidate += step
    return candidate


# --------------------------------------------------------------------------- melody


def melody_line(
    segments: Sequence[Segment],
    *,
    bars: int,
    density: str,
    low: int,
    high: int,
    tonic: int,
    mode: str,
    rng: np.random.Generator,
) -> list[NoteTuple]:
    """A melody over the chords: chord tones on beats 1 and 3, scale steps between.

    Each 4-bar phrase has the rhythm cells ``a b a end`` (the third bar answers the first;
    the last holds a long chord tone); later phrases reuse the first phrase's rhythm.
    """
    cells = SPARSE_CELLS if density == "sparse" else BUSY_CELLS
    order = rng.permutation(len(cells))
    first, second = cells[int(order[0])], cells[int(order[1])]
    plan = [first, second, first, ENDINGS[density]]
    notes: list[NoteTuple] = []
    previous = nearest_pitch(tonic, near=(low + high) // 2 - 2, low=low, high=high)
    for bar in range(bars):
        phrase_bar = bar % 4
        cell = plan[phrase_bar] if bar < bars - 1 or phrase_bar == 3 else ENDINGS[density]
        for index, (start, length) in enumerate(cell):
            beat = bar * 4 + start
            harmony = harmony_at(segments, beat) or _last_harmony(segments, beat)
            final = index == len(cell) - 1 and cell is ENDINGS[density]
            arch = math.sin(math.pi * (phrase_bar * 4 + start) / 16)
            target = low + (high - low) * (0.3 + 0.45 * arch)
            pitch = _melody_pitch(
                start, harmony, previous, target, final, low, high, tonic, mode, rng
            )
            notes.append(note(pitch, beat, length, 92 if start % 2 == 0 else 78))
            previous = pitch
    return notes


def bar_scale(harmony: Harmony | None, *, tonic: int, mode: str) -> list[int]:
    """The scale to use over a chord: the key's scale with any chromatic chord tones in place
    of the scale notes a semitone from them."""
    scale = set(scale_pitch_classes(tonic=tonic, mode=mode))
    if harmony is None:
        return sorted(scale)
    for tone in chromatic_tones(harmony, tonic=tonic, mode=mode):
        scale -= {(tone + 1) % 12, (tone - 1) % 12}
        scale.add(tone)
    return sorted(scale)


def _melody_pitch(
    start: float,
    harmony: Harmony | None,
    previous: int,
    target: float,
    final: bool,
    low: int,
    high: int,
    tonic: int,
    mode: str,
    rng: np.random.Generator,
) -> int:
    scale = bar_scale(harmony, tonic=tonic, mode=mode)
    pitches = [p for p in range(low, high + 1) if p % 12 in scale]
    if harmony is not None and (start % 2 == 0 or final):
        tones = harmony.pitch_classes[:1] if final else harmony.pitch_classes
        chord_pitches = [p for p in pitches if p % 12 in tones] or pitches
        goal = 0.6 * previous + 0.4 * target
        costs = [abs(p - goal) + rng.uniform(0, 2.5) for p in chord_pitches]
        return chord_pitches[int(np.argmin(costs))]
    here = min(range(len(pitches)), key=lambda i: abs(pitches[i] - previous))
    direction = 1 if target > previous else -1
    if rng.random() < 0.3:
        direction = -direction
    step = direction * (1 if rng.random() < 0.75 else 2)
    return pitches[int(np.clip(here + step, 0, len(pitches) - 1))]
