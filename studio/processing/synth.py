"""Small deterministic music synthesiser: a scored pop song rendered to stems.

The score is explicit data (:class:`Song`), so the same object that drives the
renderer is also the answer key for tempo, key, chord and structure detection.

Composition (:func:`compose_song`) works in 4-bar phrases. Each phrase has a
label and a fixed diatonic progression per mode (roman numerals relative to the
tonic):

=======  ===================  ======================
label    minor                major
=======  ===================  ======================
intro    i   VI   III  VII    I   V     vi  IV
verse    i   iv   VII  III    I   vi    ii  V
chorus   VI  VII  V7   i      vi  IV    V7  I
outro    VI  Vsus4 V7  i      IV  Vsus4 V7  I
=======  ===================  ======================

Phrase labels by number of phrases: 1 -> chorus; 2 -> verse, chorus;
3 -> intro, verse, chorus; 4 or more -> intro, verse, chorus, ..., outro (the
middle alternates verse/chorus; an odd middle ends with a second chorus).
Consecutive phrases with the same label merge into one section.

Arrangement: drums play kick on beats 1 and 3 (plus the "and" of 3 in choruses),
snare on 2 and 4 and closed hi-hats on eighths, with a snare fill (seed-chosen)
in the last bar of every section but the last. The bass plays the chord root
on every kick (an octave up on off-beat kicks). The keys play close-voiced chords
with smooth voice leading (whole notes in intro/outro, halves in verses, a
pushed rhythm in choruses). The lead rests in the intro, plays chord tones on
beats 1 and 3 and scale steps between, ends each phrase on the root of its last
chord and repeats its melody whenever a section label repeats.

Deliberate chromaticism: in minor keys the V and V7 chords use the raised 7th
(leading tone) of harmonic minor, so while such a chord sounds the keys play it
and the lead uses the leading tone instead of the natural 7th. Every other
pitched note lies in the key's natural scale.

Signals are float32 arrays shaped ``(n_channels, n_samples)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Voice = Callable[..., np.ndarray]

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES = ("major", "minor")
SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
CHORD_INTERVALS = {
    "major": (0, 4, 7),
    "minor": (0, 3, 7),
    "dominant7": (0, 4, 7, 10),
    "sus4": (0, 5, 7),
    "major7": (0, 4, 7, 11),
    "minor7": (0, 3, 7, 10),
    "sus2": (0, 2, 7),
}
CHORD_SUFFIXES = {
    "major": "",
    "minor": "m",
    "dominant7": "7",
    "sus4": "sus4",
    "major7": "maj7",
    "minor7": "m7",
    "sus2": "sus2",
}
NUMERALS = {
    "major": {
        "I": (0, "major"),
        "ii": (2, "minor"),
        "iii": (4, "minor"),
        "IV": (5, "major"),
        "V": (7, "major"),
        "V7": (7, "dominant7"),
        "Vsus4": (7, "sus4"),
        "vi": (9, "minor"),
    },
    "minor": {
        "i": (0, "minor"),
        "III": (3, "major"),
        "iv": (5, "minor"),
        "V": (7, "major"),
        "V7": (7, "dominant7"),
        "Vsus4": (7, "sus4"),
        "VI": (8, "major"),
        "VII": (10, "major"),
    },
}
PROGRESSIONS = {
    "minor": {
        "intro": ("i", "VI", "III", "VII"),
        "verse": ("i", "iv", "VII", "III"),
        "chorus": ("VI", "VII", "V7", "i"),
        "outro": ("VI", "Vsus4", "V7", "i"),
    },
    "major": {
        "intro": ("I", "V", "vi", "IV"),
        "verse": ("I", "vi", "ii", "V"),
        "chorus": ("vi", "IV", "V7", "I"),
        "outro": ("IV", "Vsus4", "V7", "I"),
    },
}
PARTS = ("drums", "bass", "keys", "lead")
DRUM_VOICES = ("kick", "snare", "hats")
KICK = 36
SNARE = 38
CLOSED_HAT = 42
BEATS_PER_BAR = 4
PHRASE_BARS = 4
TAIL_S = 1.0

# Arrangement tables (beats within a 4/4 bar).
KEYS_RHYTHMS = {
    "intro": ((0.0, 4.0),),
    "verse": ((0.0, 2.0), (2.0, 2.0)),
    "chorus": ((0.0, 1.5), (1.5, 1.0), (2.5, 1.5)),
    "outro": ((0.0, 4.0),),
}
LEAD_RHYTHMS = (
    ((0.0, 1.0), (1.0, 1.0), (2.0, 1.5), (3.5, 0.5)),
    ((0.0, 1.5), (1.5, 0.5), (2.0, 2.0)),
    ((0.0, 0.5), (0.5, 0.5), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0)),
    ((0.0, 2.0), (2.0, 1.0), (3.0, 0.5), (3.5, 0.5)),
    ((0.0, 1.0), (1.5, 0.5), (2.0, 1.5)),
    ((0.0, 1.0), (1.0, 0.5), (1.5, 0.5), (2.0, 2.0)),
)
LEAD_ENDING = ((0.0, 1.0), (1.0, 1.0), (2.0, 2.0))
DRUM_FILLS = (
    (3.0, ((3.0, 0.55), (3.25, 0.65), (3.5, 0.75), (3.75, 0.9))),
    (2.5, ((2.5, 0.6), (3.0, 0.7), (3.5, 0.8), (3.75, 0.9))),
)
LEAD_RANGE = (62, 81)
KEYS_BOTTOM_RANGE = (52, 64)
BASS_LOWEST = 31

# Mix levels: each stem is scaled to this RMS level, unless that would push its peak
# above the ceiling.
STEM_RMS_DBFS = {"drums": -24.0, "bass": -21.0, "keys": -24.0, "lead": -21.0}
PEAK_CEILING_DBFS = -1.5
HAT_PAN = 0.35
KEYS_DETUNE_CENTS = 6.0


@dataclass(frozen=True)
class Note:
    """One scored note.

    Parameters
    ----------
    start_beat : float
        Onset in beats from the start of the song (beat 0 is the first downbeat).
    length_beats : float
        Sounding length in beats (drum hits use a nominal length).
    midi : int
        MIDI note number; for drums a General MIDI drum number (36 kick,
        38 snare, 42 closed hi-hat).
    velocity : float
        Loudness in (0, 1].
    """

    start_beat: float
    length_beats: float
    midi: int
    velocity: float

    def __post_init__(self) -> None:
        _check_at_least("start_beat", self.start_beat, 0.0)
        _check_positive("length_beats", self.length_beats)
        if not 0 <= self.midi <= 127:
            raise ValueError(f"midi: expected 0..127, found {self.midi}")
        if not 0.0 < self.velocity <= 1.0:
            raise ValueError(f"velocity: expected in (0, 1], found {self.velocity}")

    @property
    def end_beat(self) -> float:
        """Offset in beats (start plus length)."""
        return self.start_beat + self.length_beats


@dataclass(frozen=True, kw_only=True)
class Chord:
    """A chord symbol with its root pitch class and quality.

    Parameters
    ----------
    symbol : str
        Chord symbol with sharps, e.g. ``"Am"``, ``"F"``, ``"E7"``, ``"Dsus4"``.
    root : int
        Root pitch class, 0 (C) to 11 (B).
    quality : str
        One of ``"major"``, ``"minor"``, ``"dominant7"``, ``"sus4"`` (the qualities
        :func:`compose_song` writes), or ``"major7"``, ``"minor7"``, ``"sus2"``.
    numeral : str
        Roman numeral relative to the song's key, e.g. ``"VI"`` or ``"V7"``.
    """

    symbol: str
    root: int
    quality: str
    numeral: str = ""

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """Pitch classes of the chord, root first."""
        return tuple((self.root + step) % 12 for step in CHORD_INTERVALS[self.quality])


@dataclass(frozen=True, kw_only=True)
class Section:
    """A labelled span of whole bars.

    Parameters
    ----------
    label : str
        Section name such as ``"intro"``, ``"verse"``, ``"chorus"``, ``"outro"``.
    start_bar : int
        First bar (0-based).
    n_bars : int
        Length in bars.
    """

    label: str
    start_bar: int
    n_bars: int

    @property
    def end_bar(self) -> int:
        """Bar just after the section (exclusive end)."""
        return self.start_bar + self.n_bars


@dataclass(frozen=True, kw_only=True)
class Song:
    """A complete score: the answer key for everything rendered from it.

    Parameters
    ----------
    tempo_bpm : float
        Constant tempo in beats per minute.
    tonic : int
        Key tonic pitch class, 0 (C) to 11 (B).
    mode : str
        ``"major"`` or ``"minor"``.
    beats_per_bar : int
        Beats per bar (4 for songs from :func:`compose_song`).
    sections : tuple of Section
        Contiguous sections covering every bar from bar 0.
    chords : tuple of Chord
        One chord per bar.
    drums, bass, keys, lead : tuple of Note
        The notes of each part, sorted by onset.
    seed : int
        Seed used for composition; also seeds the drum noise when rendering.
    """

    tempo_bpm: float
    tonic: int
    mode: str
    beats_per_bar: int
    sections: tuple[Section, ...]
    chords: tuple[Chord, ...]
    drums: tuple[Note, ...] = ()
    bass: tuple[Note, ...] = ()
    keys: tuple[Note, ...] = ()
    lead: tuple[Note, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        _check_key(tonic=self.tonic, mode=self.mode)
        _check_tempo(self.tempo_bpm)
        _check_positive("beats_per_bar", self.beats_per_bar)
        _check_sections(self.sections, n_chords=len(self.chords))
        for part in PARTS:
            _check_notes_fit(part, getattr(self, part), n_beats=self.n_beats)

    @property
    def key_name(self) -> str:
        """Key as text with sharps, e.g. ``"A minor"`` or ``"F# major"``."""
        return key_name(tonic=self.tonic, mode=self.mode)

    @property
    def scale_pitch_classes(self) -> tuple[int, ...]:
        """Pitch classes of the key's (natural) scale, tonic first."""
        return scale_pitch_classes(tonic=self.tonic, mode=self.mode)

    @property
    def n_bars(self) -> int:
        """Number of bars."""
        return len(self.chords)

    @property
    def n_beats(self) -> int:
        """Number of beats."""
        return self.n_bars * self.beats_per_bar

    @property
    def seconds_per_beat(self) -> float:
        """Beat period in seconds."""
        return 60.0 / self.tempo_bpm

    @property
    def duration_s(self) -> float:
        """Length of the score in seconds (without the render tail)."""
        return self.n_beats * self.seconds_per_beat

    @property
    def beat_times_s(self) -> np.ndarray:
        """Onset time of every beat in seconds, float64, shape (n_beats,)."""
        return np.arange(self.n_beats) * self.seconds_per_beat

    @property
    def downbeat_times_s(self) -> np.ndarray:
        """Onset time of every bar's first beat in seconds, shape (n_bars,)."""
        return self.beat_times_s[:: self.beats_per_bar]

    @property
    def section_bounds_s(self) -> tuple[tuple[str, float, float], ...]:
        """Each section as ``(label, start_s, end_s)``."""
        bar_s = self.beats_per_bar * self.seconds_per_beat
        return tuple((s.label, s.start_bar * bar_s, s.end_bar * bar_s) for s in self.sections)

    @property
    def parts(self) -> dict[str, tuple[Note, ...]]:
        """The notes of each part by name (drums, bass, keys, lead)."""
        return {part: getattr(self, part) for part in PARTS}

    def beat_time_s(self, *, beat: float) -> float:
        """Time in seconds of a (fractional) beat position."""
        return beat * self.seconds_per_beat

    def chord_at(self, *, beat: float) -> Chord:
        """The chord sounding at a beat position."""
        bar = min(int(beat // self.beats_per_bar), self.n_bars - 1)
        return self.chords[bar]


def key_name(*, tonic: int, mode: str) -> str:
    """Name a key with sharps, e.g. ``key_name(tonic=6, mode="major") == "F# major"``."""
    _check_key(tonic=tonic, mode=mode)
    return f"{PITCH_CLASS_NAMES[tonic]} {mode}"


def scale_pitch_classes(*, tonic: int, mode: str) -> tuple[int, ...]:
    """Pitch classes of the natural major or minor scale on ``tonic``."""
    _check_key(tonic=tonic, mode=mode)
    return tuple((tonic + step) % 12 for step in SCALE_STEPS[mode])


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency in Hz of a MIDI note (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def chord_of(*, root: int, quality: str) -> Chord:
    """The chord of a root pitch class and a quality (a key of ``CHORD_INTERVALS``).

    ``chord_of(root=6, quality="minor7")`` is ``F#m7``.
    """
    _check_key(tonic=root, mode="major")
    if quality not in CHORD_INTERVALS:
        raise ValueError(f"quality: expected one of {sorted(CHORD_INTERVALS)}, found {quality!r}")
    return Chord(
        symbol=PITCH_CLASS_NAMES[root] + CHORD_SUFFIXES[quality], root=root, quality=quality
    )


def make_chord(*, tonic: int, mode: str, numeral: str) -> Chord:
    """Build the chord for a roman numeral in a key (see ``NUMERALS``)."""
    _check_key(tonic=tonic, mode=mode)
    if numeral not in NUMERALS[mode]:
        raise ValueError(f"numeral: expected one of {sorted(NUMERALS[mode])}, found {numeral!r}")
    offset, quality = NUMERALS[mode][numeral]
    root = (tonic + offset) % 12
    symbol = PITCH_CLASS_NAMES[root] + CHORD_SUFFIXES[quality]
    return Chord(symbol=symbol, root=root, quality=quality, numeral=numeral)


# --------------------------------------------------------------------------- composition


def compose_song(
    *,
    tonic: int = 9,
    mode: str = "minor",
    tempo_bpm: float = 96.0,
    n_bars: int = 16,
    seed: int = 0,
) -> Song:
    """Write a short pop song in 4/4 as explicit score data.

    Parameters
    ----------
    tonic : int
        Key tonic pitch class, 0 (C) to 11 (B). Default 9 (A).
    mode : str
        ``"major"`` or ``"minor"``.
    tempo_bpm : float
        Tempo in beats per minute.
    n_bars : int
        Length in bars; a positive multiple of 4 (one phrase is 4 bars).
    seed : int
        Seed for the melody and drum-fill choices; equal seeds give equal songs.

    Returns
    -------
    Song
        The score. Chords, sections and arrangement follow the tables in the
        module docstring; only the lead melody and the fills depend on ``seed``.
    """
    _check_key(tonic=tonic, mode=mode)
    _check_tempo(tempo_bpm)
    if n_bars < PHRASE_BARS or n_bars % PHRASE_BARS:
        raise ValueError(f"n_bars: expected a positive multiple of {PHRASE_BARS}, found {n_bars}")
    rng = np.random.default_rng(seed)
    labels = _phrase_labels(n_bars // PHRASE_BARS)
    sections = _merge_sections(labels)
    chords = tuple(
        make_chord(tonic=tonic, mode=mode, numeral=numeral)
        for label in labels
        for numeral in PROGRESSIONS[mode][label]
    )
    bar_labels = [label for label in labels for _ in range(PHRASE_BARS)]
    fill_bars = {section.end_bar - 1 for section in sections[:-1]}
    drums = _compose_drums(bar_labels=bar_labels, fill_bars=fill_bars, rng=rng)
    return Song(
        tempo_bpm=float(tempo_bpm),
        tonic=int(tonic),
        mode=mode,
        beats_per_bar=BEATS_PER_BAR,
        sections=sections,
        chords=chords,
        drums=drums,
        bass=_compose_bass(drums=drums, chords=chords),
        keys=_compose_keys(bar_labels=bar_labels, chords=chords),
        lead=_compose_lead(labels=labels, chords=chords, tonic=tonic, mode=mode, rng=rng),
        seed=seed,
    )


def _phrase_labels(n_phrases: int) -> list[str]:
    """Label each 4-bar phrase of a song with ``n_phrases`` phrases."""
    if n_phrases <= 3:
        return [["chorus"], ["verse", "chorus"], ["intro", "verse", "chorus"]][n_phrases - 1]
    middle = [("verse", "chorus")[i % 2] for i in range(n_phrases - 2)]
    if len(middle) % 2:
        middle[-1] = "chorus"
    return ["intro", *middle, "outro"]


def _merge_sections(labels: Sequence[str]) -> tuple[Section, ...]:
    """Merge consecutive phrases with the same label into sections."""
    sections: list[Section] = []
    for index, label in enumerate(labels):
        if sections and sections[-1].label == label:
            last = sections.pop()
            sections.append(Section(label=label, start_bar=last.start_bar, n_bars=last.n_bars + 4))
        else:
            sections.append(Section(label=label, start_bar=index * PHRASE_BARS, n_bars=4))
    return tuple(sections)


def bar_scale(*, tonic: int, mode: str, chord: Chord) -> frozenset[int]:
    """Pitch classes the composer may use while ``chord`` sounds.

    The key's natural scale, except that in minor keys a V or V7 chord swaps the
    natural 7th for the raised 7th (leading tone) of harmonic minor.
    """
    pitch_classes = set(scale_pitch_classes(tonic=tonic, mode=mode))
    leading_tone = (tonic + 11) % 12
    if mode == "minor" and leading_tone in chord.pitch_classes:
        pitch_classes.discard((tonic + 10) % 12)
        pitch_classes.add(leading_tone)
    return frozenset(pitch_classes)


def _compose_drums(
    *, bar_labels: Sequence[str], fill_bars: set[int], rng: np.random.Generator
) -> tuple[Note, ...]:
    """Kick on 1 and 3, snare on 2 and 4, eighth hats, a snare fill before sections."""
    notes: list[Note] = []
    for bar, label in enumerate(bar_labels):
        fill = DRUM_FILLS[int(rng.integers(len(DRUM_FILLS)))] if bar in fill_bars else None
        offset = bar * BEATS_PER_BAR
        notes += [
            Note(offset + beat, 0.25, midi, velocity)
            for beat, midi, velocity in _drum_bar(label=label, fill=fill)
        ]
    return tuple(sorted(notes, key=lambda note: (note.start_beat, note.midi)))


def _drum_bar(
    *, label: str, fill: tuple[float, tuple[tuple[float, float], ...]] | None
) -> list[tuple[float, int, float]]:
    """Drum hits of one bar as ``(beat, midi, velocity)``."""
    kicks = [(0.0, 0.95), (2.0, 0.85)] + ([(2.5, 0.75)] if label == "chorus" else [])
    snares = [(1.0, 0.9), (3.0, 0.9)]
    hat_level = 0.8 if label == "intro" else 1.0
    hats = [(i / 2, (0.55 if i % 2 == 0 else 0.35) * hat_level) for i in range(8)]
    if fill is not None:
        fill_start, fill_snares = fill
        snares = [hit for hit in snares if hit[0] < fill_start] + list(fill_snares)
        hats = [hit for hit in hats if hit[0] < fill_start]
    return (
        [(beat, KICK, v) for beat, v in kicks]
        + [(beat, SNARE, v) for beat, v in snares]
        + [(beat, CLOSED_HAT, v) for beat, v in hats]
    )


def _compose_bass(*, drums: Sequence[Note], chords: Sequence[Chord]) -> tuple[Note, ...]:
    """Chord roots locked to the kick; off-beat kicks get the root an octave up."""
    kick_beats = sorted(note.start_beat for note in drums if note.midi == KICK)
    notes = []
    for index, beat in enumerate(kick_beats):
        bar = int(beat // BEATS_PER_BAR)
        bar_end = (bar + 1) * BEATS_PER_BAR
        next_beat = kick_beats[index + 1] if index + 1 < len(kick_beats) else bar_end
        length = min(next_beat, bar_end) - beat - 0.1
        on_beat = beat == int(beat)
        midi = BASS_LOWEST + (chords[bar].root - BASS_LOWEST) % 12 + (0 if on_beat else 12)
        notes.append(Note(beat, length, midi, 0.9 if beat % BEATS_PER_BAR == 0 else 0.8))
    return tuple(notes)


def _compose_keys(*, bar_labels: Sequence[str], chords: Sequence[Chord]) -> tuple[Note, ...]:
    """Close-voiced chords with smooth voice leading, rhythm set by the section."""
    notes: list[Note] = []
    previous: list[int] | None = None
    for bar, (label, chord) in enumerate(zip(bar_labels, chords, strict=True)):
        voicing = _voice_chord(chord=chord, previous=previous)
        previous = voicing
        for index, (beat, length) in enumerate(KEYS_RHYTHMS[label]):
            velocity = 0.7 if index == 0 else 0.6
            start = bar * BEATS_PER_BAR + beat
            notes += [Note(start, length, midi, velocity) for midi in voicing]
    return tuple(notes)


def _voice_chord(*, chord: Chord, previous: list[int] | None) -> list[int]:
    """Choose the close-position inversion nearest to the previous voicing."""
    low, high = KEYS_BOTTOM_RANGE
    candidates = [
        _close_voicing(bottom=bottom, pitch_classes=chord.pitch_classes)
        for bottom in range(low, high + 1)
        if bottom % 12 in chord.pitch_classes
    ]
    if previous is None:
        return min(candidates, key=lambda v: abs(sum(v) / len(v) - 62.0))
    centre = sum(previous) / len(previous)
    return min(candidates, key=lambda v: (_movement(v, previous), abs(sum(v) / len(v) - centre)))


def _close_voicing(*, bottom: int, pitch_classes: Sequence[int]) -> list[int]:
    """Stack the chord's pitch classes upward from ``bottom`` in close position."""
    voicing = [bottom]
    remaining = set(pitch_classes) - {bottom % 12}
    while remaining:
        pitch = voicing[-1] + 1
        while pitch % 12 not in remaining:
            pitch += 1
        voicing.append(pitch)
        remaining.discard(pitch % 12)
    return voicing


def _movement(voicing: Sequence[int], previous: Sequence[int]) -> float:
    """Total semitone movement from one voicing to another (each note to its nearest)."""
    return float(sum(min(abs(p - q) for q in previous) for p in voicing))


def _compose_lead(
    *,
    labels: Sequence[str],
    chords: Sequence[Chord],
    tonic: int,
    mode: str,
    rng: np.random.Generator,
) -> tuple[Note, ...]:
    """A melody per section label, repeated when the label repeats; silent in the intro."""
    melodies: dict[str, list[Note]] = {}
    notes: list[Note] = []
    for phrase, label in enumerate(labels):
        if label == "intro":
            continue
        first_bar = phrase * PHRASE_BARS
        if label not in melodies:
            phrase_chords = chords[first_bar : first_bar + PHRASE_BARS]
            melodies[label] = _phrase_melody(chords=phrase_chords, tonic=tonic, mode=mode, rng=rng)
        offset = first_bar * BEATS_PER_BAR
        notes += [
            Note(n.start_beat + offset, n.length_beats, n.midi, n.velocity) for n in melodies[label]
        ]
    return tuple(notes)


def _phrase_melody(
    *, chords: Sequence[Chord], tonic: int, mode: str, rng: np.random.Generator
) -> list[Note]:
    """One 4-bar melody: chord tones on beats 1 and 3, scale steps between, ends on a root."""
    notes: list[Note] = []
    previous = 71
    for bar, chord in enumerate(chords):
        last_bar = bar == len(chords) - 1
        rhythm = LEAD_ENDING if last_bar else LEAD_RHYTHMS[int(rng.integers(len(LEAD_RHYTHMS)))]
        scale = _pitches_in_range(bar_scale(tonic=tonic, mode=mode, chord=chord))
        chord_tones = _pitches_in_range(set(chord.pitch_classes))
        for index, (beat, length) in enumerate(rhythm):
            strong = beat % 2 == 0
            if last_bar and index == len(rhythm) - 1:
                pitch = _nearest(_pitches_in_range({chord.root}), previous)
            elif strong:
                pitch = _pick_chord_tone(chord_tones, previous, rng)
            else:
                pitch = _step_in_scale(scale, previous, rng)
            velocity = round((0.85 if strong else 0.7) + 0.1 * float(rng.random()), 3)
            notes.append(Note(bar * BEATS_PER_BAR + beat, length * 0.9, pitch, velocity))
            previous = pitch
    return notes


def _pitches_in_range(pitch_classes: set[int] | frozenset[int]) -> list[int]:
    """MIDI pitches in the lead range whose pitch class is allowed, ascending."""
    low, high = LEAD_RANGE
    return [p for p in range(low, high + 1) if p % 12 in pitch_classes]


def _nearest(pitches: Sequence[int], target: int) -> int:
    """The pitch closest to ``target`` (lower one on ties)."""
    return min(pitches, key=lambda p: (abs(p - target), p))


def _pick_chord_tone(chord_tones: Sequence[int], previous: int, rng: np.random.Generator) -> int:
    """One of the three chord tones nearest the previous pitch, nearer ones likelier."""
    ranked = sorted(chord_tones, key=lambda p: (abs(p - previous), p))[:3]
    weights = np.array([0.5, 0.3, 0.2][: len(ranked)])
    return ranked[int(rng.choice(len(ranked), p=weights / weights.sum()))]


def _step_in_scale(scale: Sequence[int], previous: int, rng: np.random.Generator) -> int:
    """Move one or two scale steps from the previous pitch, leaning back to the middle."""
    index = scale.index(_nearest(scale, previous))
    steps = [-2, -1, -1, 1, 1, 2]
    step = int(steps[int(rng.integers(len(steps)))])
    if previous > 76:
        step = -abs(step)
    elif previous < 66:
        step = abs(step)
    return scale[min(max(index + step, 0), len(scale) - 1)]


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True, kw_only=True)
class _Canvas:
    """Where and how notes are rendered."""

    sample_rate: int
    n_channels: int
    n_samples: int
    seconds_per_beat: float

    def empty(self) -> np.ndarray:
        """A silent float32 buffer of the canvas shape."""
        return np.zeros((self.n_channels, self.n_samples), dtype=np.float32)


def render_stems(
    song: Song,
    *,
    sample_rate: int = 44100,
    stereo: bool = True,
    split_drums: bool = False,
) -> dict[str, np.ndarray]:
    """Render each part of a song to its own stem.

    Parameters
    ----------
    song : Song
        The score.
    sample_rate : int
        Output sample rate in Hz.
    stereo : bool
        Two channels if true (hats panned right, keys widened by a slight
        detune between channels), else one.
    split_drums : bool
        If true, return ``"kick"``, ``"snare"`` and ``"hats"`` instead of
        ``"drums"`` (scaled by the same gain, so they sum to the drums stem).

    Returns
    -------
    dict of str to numpy.ndarray
        float32 arrays shaped ``(n_channels, n_samples)`` with
        ``n_samples = round((song.duration_s + TAIL_S) * sample_rate)`` (a 1 s
        tail); keys ``drums, bass, keys, lead`` in that order. Each stem is
        brought to its RMS target (``STEM_RMS_DBFS``) unless its peak would pass
        ``PEAK_CEILING_DBFS``; then all stems share one gain that keeps the
        peak of their sum at or below ``PEAK_CEILING_DBFS`` too. A part with
        no notes renders as zeros.
    """
    canvas = _make_canvas(song, sample_rate=sample_rate, stereo=stereo)
    rng = np.random.default_rng(song.seed)
    drums = _render_drums(song.drums, canvas=canvas, rng=rng)
    drum_gain = _level_gain(sum(drums.values()), stem="drums")
    stems = {name: signal * drum_gain for name, signal in drums.items()}
    if not split_drums:
        stems = {"drums": sum(stems.values())}
    bass = _render_pitched(song.bass, canvas=canvas, voice=_bass_voice)
    keys = _render_keys(song.keys, canvas=canvas)
    lead = _render_pitched(song.lead, canvas=canvas, voice=_lead_voice)
    stems["bass"] = _normalise(bass, "bass")
    stems["keys"] = _normalise(keys, "keys")
    stems["lead"] = _normalise(lead, "lead")
    headroom = _ceiling_gain(sum(stems.values()))
    return {name: (signal * headroom).astype(np.float32) for name, signal in stems.items()}


def mix(stems: dict[str, np.ndarray]) -> np.ndarray:
    """Sum stems of equal shape into one float32 signal (no limiting)."""
    if not stems:
        raise ValueError("stems: expected at least one stem, found none")
    shapes = {name: signal.shape for name, signal in stems.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"stems: expected equal shapes, found {shapes}")
    return np.sum([signal.astype(np.float64) for signal in stems.values()], axis=0).astype(
        np.float32
    )


def click_track(
    *,
    tempo_bpm: float,
    duration_s: float,
    sample_rate: int = 44100,
    beats_per_bar: int = 4,
) -> np.ndarray:
    """A metronome: short sine blips on every beat, higher on downbeats.

    Parameters
    ----------
    tempo_bpm : float
        Tempo in beats per minute; beat ``k`` starts at ``k * 60 / tempo_bpm`` s.
    duration_s : float
        Length of the output in seconds.
    sample_rate : int
        Sample rate in Hz.
    beats_per_bar : int
        Every this-many beats (from beat 0) is a 1.6 kHz downbeat click; other
        beats are 1 kHz.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(1, round(duration_s * sample_rate))``, peak -6 dBFS.
    """
    _check_tempo(tempo_bpm)
    _check_positive("duration_s", duration_s)
    _check_sample_rate(sample_rate)
    _check_positive("beats_per_bar", beats_per_bar)
    out = np.zeros((1, round(duration_s * sample_rate)))
    seconds_per_beat = 60.0 / tempo_bpm
    for beat in range(math.ceil(duration_s / seconds_per_beat)):
        frequency_hz = 1600.0 if beat % beats_per_bar == 0 else 1000.0
        click = _click_voice(frequency_hz=frequency_hz, sample_rate=sample_rate)
        _add(out, click[None, :], start_s=beat * seconds_per_beat, sample_rate=sample_rate)
    return (out * 0.5).astype(np.float32)


def chord_progression_audio(
    *,
    tonic: int = 9,
    mode: str = "minor",
    tempo_bpm: float = 96.0,
    n_bars: int = 8,
    sample_rate: int = 44100,
    seed: int = 0,
    stereo: bool = False,
) -> np.ndarray:
    """The keys part alone (no drums, bass or lead) of a composed song.

    The answers (chords per bar, key, tempo) are those of
    ``compose_song(tonic=tonic, mode=mode, tempo_bpm=tempo_bpm, n_bars=n_bars,
    seed=seed)``; the keys part does not depend on ``seed``.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(1 or 2, n_samples)`` like :func:`render_stems`.
    """
    song = compose_song(tonic=tonic, mode=mode, tempo_bpm=tempo_bpm, n_bars=n_bars, seed=seed)
    canvas = _make_canvas(song, sample_rate=sample_rate, stereo=stereo)
    keys = _render_keys(song.keys, canvas=canvas)
    return _normalise(keys, "keys").astype(np.float32)


def render_chord_sequence(
    chords: Sequence[Chord],
    *,
    tempo_bpm: float = 96.0,
    beats_per_chord: int = 4,
    sample_rate: int = 44100,
    stereo: bool = False,
    drums: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Keys and bass (and drums, if asked) playing a given chord sequence in 4/4.

    Chord ``k`` sounds from beat ``k * beats_per_chord`` to beat ``(k + 1) * beats_per_chord``,
    that is from ``k * beats_per_chord * 60 / tempo_bpm`` seconds: the chords given are the
    answer key. The keys strike close-voiced chords (smooth voice leading, as in
    :func:`compose_song`) at the start of each chord and again every two beats; the bass plays
    the root on the same beats. Drums are the verse pattern of :func:`compose_song` (kick on 1
    and 3, snare on 2 and 4, eighth hats), without fills.

    Parameters
    ----------
    chords : sequence of Chord
        At least one chord, e.g. from :func:`chord_of`.
    tempo_bpm : float
        Tempo in beats per minute.
    beats_per_chord : int
        Length of every chord in beats (1 or more).
    sample_rate : int
        Output sample rate in Hz.
    stereo : bool
        Two channels (keys detuned apart, hats panned) if true, else one.
    drums : bool
        Add the drum part.
    seed : int
        Seeds the drum noise.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(1 or 2, n_samples)`` with a 1 s tail after the last chord; each
        part at its ``STEM_RMS_DBFS`` level, the sum's peak at most ``PEAK_CEILING_DBFS``.
    """
    _check_tempo(tempo_bpm)
    _check_sample_rate(sample_rate)
    if not chords:
        raise ValueError("chords: expected at least one chord, found none")
    if not (isinstance(beats_per_chord, numbers.Integral) and beats_per_chord >= 1):
        raise ValueError(f"beats_per_chord: expected an int >= 1, found {beats_per_chord!r}")
    n_beats = len(chords) * beats_per_chord
    seconds_per_beat = 60.0 / tempo_bpm
    canvas = _Canvas(
        sample_rate=sample_rate,
        n_channels=2 if stereo else 1,
        n_samples=round((n_beats * seconds_per_beat + TAIL_S) * sample_rate),
        seconds_per_beat=seconds_per_beat,
    )
    keys, bass = _sequence_notes(chords, beats_per_chord=beats_per_chord)
    stems = {
        "bass": _normalise(_render_pitched(bass, canvas=canvas, voice=_bass_voice), "bass"),
        "keys": _normalise(_render_keys(keys, canvas=canvas), "keys"),
    }
    if drums:
        bars = -(-n_beats // BEATS_PER_BAR)
        drum_notes = [
            Note(bar * BEATS_PER_BAR + beat, 0.25, midi, velocity)
            for bar in range(bars)
            for beat, midi, velocity in _drum_bar(label="verse", fill=None)
            if bar * BEATS_PER_BAR + beat < n_beats
        ]
        hits = _render_drums(drum_notes, canvas=canvas, rng=np.random.default_rng(seed))
        stems["drums"] = _normalise(sum(hits.values()), "drums")
    out = sum(stems.values())
    return (out * _ceiling_gain(out)).astype(np.float32)


def _sequence_notes(
    chords: Sequence[Chord], *, beats_per_chord: int
) -> tuple[list[Note], list[Note]]:
    """Keys and bass notes of a chord sequence, struck every two beats of each chord."""
    keys: list[Note] = []
    bass: list[Note] = []
    previous: list[int] | None = None
    for index, chord in enumerate(chords):
        voicing = _voice_chord(chord=chord, previous=previous)
        previous = voicing
        start = index * beats_per_chord
        for offset in range(0, beats_per_chord, 2):
            length = min(2, beats_per_chord - offset)
            velocity = 0.7 if offset == 0 else 0.6
            keys += [Note(start + offset, length, midi, velocity) for midi in voicing]
            root = BASS_LOWEST + (chord.root - BASS_LOWEST) % 12
            bass.append(Note(start + offset, length - 0.1, root, 0.9 if offset == 0 else 0.8))
    return keys, bass


def _render_keys(notes: Sequence[Note], *, canvas: _Canvas) -> np.ndarray:
    """Electric-piano chords, widened in stereo by detuning the channels apart."""
    return _render_pitched(notes, canvas=canvas, voice=_keys_voice, detune_cents=KEYS_DETUNE_CENTS)


def _make_canvas(song: Song, *, sample_rate: int, stereo: bool) -> _Canvas:
    _check_sample_rate(sample_rate)
    return _Canvas(
        sample_rate=sample_rate,
        n_channels=2 if stereo else 1,
        n_samples=round((song.duration_s + TAIL_S) * sample_rate),
        seconds_per_beat=song.seconds_per_beat,
    )


def _render_drums(
    notes: Sequence[Note], *, canvas: _Canvas, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Kick, snare and hats as separate unscaled signals."""
    voices = {KICK: ("kick", 0.0), SNARE: ("snare", 0.0), CLOSED_HAT: ("hats", HAT_PAN)}
    out = {name: canvas.empty() for name in DRUM_VOICES}
    for note in notes:
        if note.midi not in voices:
            continue
        name, pan = voices[note.midi]
        if name == "kick":
            tone = _kick_voice(sample_rate=canvas.sample_rate, rng=rng)
        elif name == "snare":
            tone = _snare_voice(sample_rate=canvas.sample_rate, rng=rng)
        else:
            tone = _hat_voice(sample_rate=canvas.sample_rate, rng=rng)
        signal = _pan(tone * note.velocity, pan=pan, n_channels=canvas.n_channels)
        _place(out[name], signal, start_beat=note.start_beat, canvas=canvas)
    return out


def _render_pitched(
    notes: Sequence[Note], *, canvas: _Canvas, voice: Voice, detune_cents: float = 0.0
) -> np.ndarray:
    """Render pitched notes; in stereo the channels are detuned by -/+ ``detune_cents``.

    Tones are cached per (pitch, length) within one call: repeated notes cost nothing.
    """
    out = canvas.empty()
    detunes = (-detune_cents, detune_cents) if canvas.n_channels == 2 else (0.0,)
    cache: dict[tuple[int, float], np.ndarray] = {}
    for note in notes:
        key = (note.midi, note.length_beats)
        if key not in cache:
            length_s = note.length_beats * canvas.seconds_per_beat
            cache[key] = np.stack(
                [
                    voice(
                        frequency_hz=midi_to_hz(note.midi + cents / 100.0),
                        length_s=length_s,
                        sample_rate=canvas.sample_rate,
                    )
                    for cents in detunes
                ]
            )
        _place(out, cache[key] * note.velocity, start_beat=note.start_beat, canvas=canvas)
    return out


def _place(out: np.ndarray, signal: np.ndarray, *, start_beat: float, canvas: _Canvas) -> None:
    """Add ``signal`` into ``out`` at a beat position."""
    start_s = start_beat * canvas.seconds_per_beat
    _add(out, signal, start_s=start_s, sample_rate=canvas.sample_rate)


def _add(out: np.ndarray, signal: np.ndarray, *, start_s: float, sample_rate: int) -> None:
    """Add ``signal`` (channels, m) into ``out`` from ``start_s`` seconds, cropping the end."""
    start = round(start_s * sample_rate)
    end = min(out.shape[1], start + signal.shape[1])
    if end > start:
        out[:, start:end] += signal[:, : end - start]


def _pan(tone: np.ndarray, *, pan: float, n_channels: int) -> np.ndarray:
    """Spread a mono tone over channels; ``pan`` in [-1, 1], 0 keeps both channels at unity."""
    if n_channels == 1:
        return tone[None, :]
    gains = np.array([min(1.0, 1.0 - pan), min(1.0, 1.0 + pan)])
    return gains[:, None] * tone[None, :]


def _level_gain(signal: np.ndarray, *, stem: str) -> float:
    """Gain that brings a stem to its RMS target without its peak passing the ceiling."""
    peak = float(np.max(np.abs(signal)))
    if peak == 0.0:
        return 1.0
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    rms_gain = 10.0 ** (STEM_RMS_DBFS[stem] / 20.0) / rms
    return rms_gain * _ceiling_gain(signal * rms_gain)


def _ceiling_gain(signal: np.ndarray) -> float:
    """Gain (at most 1) that keeps the peak at or below ``PEAK_CEILING_DBFS``."""
    peak = float(np.max(np.abs(signal)))
    ceiling = 10.0 ** (PEAK_CEILING_DBFS / 20.0)
    return min(1.0, ceiling / peak) if peak > 0 else 1.0


def _normalise(signal: np.ndarray, stem: str) -> np.ndarray:
    return signal * _level_gain(signal, stem=stem)


# --------------------------------------------------------------------------- voices


def _times(duration_s: float, sample_rate: int) -> np.ndarray:
    return np.arange(max(1, round(duration_s * sample_rate))) / sample_rate


def _gate(t: np.ndarray, *, attack_s: float, length_s: float, release_s: float) -> np.ndarray:
    """Linear attack to 1, hold until ``length_s``, linear release to 0."""
    rise = np.clip(t / attack_s, 0.0, 1.0)
    fall = np.clip(1.0 - (t - length_s) / release_s, 0.0, 1.0)
    return rise * fall


def _harmonics(phase: np.ndarray, amplitudes: Sequence[np.ndarray | float]) -> np.ndarray:
    """Sum ``amplitudes[k-1] * sin(k * phase)`` for k = 1..K (Chebyshev recurrence)."""
    two_cos = 2.0 * np.cos(phase)
    previous = np.zeros_like(phase)
    current = np.sin(phase)
    out = amplitudes[0] * current
    for amplitude in amplitudes[1:]:
        previous, current = current, two_cos * current - previous
        out += amplitude * current
    return out


def _n_harmonics(frequency_hz: float, sample_rate: int, *, limit: int, ceiling_hz: float) -> int:
    """How many harmonics fit below ``ceiling_hz`` and 0.45 of the sample rate."""
    top = min(ceiling_hz, 0.45 * sample_rate)
    return max(1, min(limit, int(top // frequency_hz)))


def _highpass(noise: np.ndarray, *, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """Brick-wall high-pass by zeroing FFT bins below ``cutoff_hz``."""
    spectrum = np.fft.rfft(noise)
    frequencies = np.fft.rfftfreq(noise.size, d=1.0 / sample_rate)
    spectrum[frequencies < cutoff_hz] = 0.0
    return np.fft.irfft(spectrum, n=noise.size)


def _kick_voice(*, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Sine sweeping from about 160 Hz down to 48 Hz, plus a short noise click."""
    t = _times(0.4, sample_rate)
    frequency = 48.0 + 110.0 * np.exp(-t / 0.035)
    phase = 2.0 * np.pi * (np.cumsum(frequency) - frequency[0]) / sample_rate
    body = np.sin(phase) * np.exp(-t / 0.13)
    click = 0.15 * rng.standard_normal(t.size) * np.exp(-t / 0.002)
    return (body + click) * _gate(t, attack_s=0.001, length_s=0.38, release_s=0.02)


def _snare_voice(*, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A noise burst (high-passed at 1 kHz) over a two-partial drum tone."""
    t = _times(0.25, sample_rate)
    noise = _highpass(rng.standard_normal(t.size), cutoff_hz=1000.0, sample_rate=sample_rate)
    rattle = 0.25 * noise * np.exp(-t / 0.06)
    tone = 0.4 * np.sin(2 * np.pi * 185.0 * t) * np.exp(-t / 0.05)
    tone += 0.2 * np.sin(2 * np.pi * 330.0 * t) * np.exp(-t / 0.03)
    return (rattle + tone) * _gate(t, attack_s=0.001, length_s=0.23, release_s=0.02)


def _hat_voice(*, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A very short burst of noise high-passed at 7 kHz."""
    t = _times(0.09, sample_rate)
    cutoff_hz = min(7000.0, 0.35 * sample_rate)
    noise = _highpass(rng.standard_normal(t.size), cutoff_hz=cutoff_hz, sample_rate=sample_rate)
    return (
        0.5 * noise * np.exp(-t / 0.02) * _gate(t, attack_s=0.0005, length_s=0.08, release_s=0.01)
    )


def _bass_voice(*, frequency_hz: float, length_s: float, sample_rate: int) -> np.ndarray:
    """A band-limited sawtooth rolled off above ~400 Hz, with a plucked envelope."""
    release_s = 0.05
    t = _times(length_s + release_s, sample_rate)
    n_harmonics = _n_harmonics(frequency_hz, sample_rate, limit=10, ceiling_hz=2000.0)
    amplitudes = [
        1.0 / k / (1.0 + (k * frequency_hz / 400.0) ** 2) for k in range(1, n_harmonics + 1)
    ]
    tone = _harmonics(2.0 * np.pi * frequency_hz * t, amplitudes)
    decay = 0.7 + 0.3 * np.exp(-t / 0.12)
    return tone * decay * _gate(t, attack_s=0.005, length_s=length_s, release_s=release_s)


def _keys_voice(*, frequency_hz: float, length_s: float, sample_rate: int) -> np.ndarray:
    """Electric-piano-like: four harmonics, the higher ones decaying faster."""
    release_s = 0.15
    t = _times(length_s + release_s, sample_rate)
    n_harmonics = _n_harmonics(frequency_hz, sample_rate, limit=4, ceiling_hz=8000.0)
    levels = (1.0, 0.45, 0.22, 0.12)
    decays_per_s = (0.9, 2.5, 4.0, 6.0)
    amplitudes = [levels[k] * np.exp(-t * decays_per_s[k]) for k in range(n_harmonics)]
    tone = _harmonics(2.0 * np.pi * frequency_hz * t, amplitudes)
    return tone * _gate(t, attack_s=0.003, length_s=length_s, release_s=release_s)


def _lead_voice(*, frequency_hz: float, length_s: float, sample_rate: int) -> np.ndarray:
    """A bright band-limited sawtooth with delayed 5.5 Hz vibrato of +-10 cents."""
    release_s = 0.06
    t = _times(length_s + release_s, sample_rate)
    depth = 0.006 * np.clip((t - 0.15) / 0.2, 0.0, 1.0)
    frequency = frequency_hz * (1.0 + depth * np.sin(2.0 * np.pi * 5.5 * t))
    phase = 2.0 * np.pi * (np.cumsum(frequency) - frequency[0]) / sample_rate
    n_harmonics = _n_harmonics(frequency_hz, sample_rate, limit=12, ceiling_hz=9000.0)
    tone = _harmonics(phase, [1.0 / k for k in range(1, n_harmonics + 1)])
    swell = 0.85 + 0.15 * np.exp(-t / 0.2)
    return tone * swell * _gate(t, attack_s=0.01, length_s=length_s, release_s=release_s)


def _click_voice(*, frequency_hz: float, sample_rate: int) -> np.ndarray:
    """A 30 ms decaying sine blip with peak near 1."""
    t = _times(0.03, sample_rate)
    tone = np.sin(2.0 * np.pi * frequency_hz * t) * np.exp(-t / 0.006)
    return tone * _gate(t, attack_s=0.0005, length_s=0.025, release_s=0.005)


# --------------------------------------------------------------------------- validation


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_positive(name: str, value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a finite number > 0, found {value!r}")


def _check_at_least(name: str, value: float, minimum: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value >= minimum):
        raise ValueError(f"{name}: expected a finite number >= {minimum}, found {value!r}")


def _check_tempo(tempo_bpm: float) -> None:
    _check_positive("tempo_bpm", tempo_bpm)


def _check_sample_rate(sample_rate: int) -> None:
    if not (isinstance(sample_rate, numbers.Integral) and sample_rate >= 8000):
        raise ValueError(f"sample_rate: expected an int >= 8000 Hz, found {sample_rate!r}")


def _check_key(*, tonic: int, mode: str) -> None:
    if not (
        isinstance(tonic, numbers.Integral) and not isinstance(tonic, bool) and 0 <= tonic <= 11
    ):
        raise ValueError(f"tonic: expected a pitch class 0..11, found {tonic!r}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, found {mode!r}")


def _check_sections(sections: Sequence[Section], *, n_chords: int) -> None:
    """Sections must tile bars 0..n_chords without gaps."""
    next_bar = 0
    for section in sections:
        if section.start_bar != next_bar or section.n_bars < 1:
            raise ValueError(
                f"sections: expected a section of >= 1 bar starting at bar {next_bar}, "
                f"found {section}"
            )
        next_bar = section.end_bar
    if next_bar != n_chords or n_chords == 0:
        raise ValueError(
            f"chords: expected one chord per bar of the sections ({next_bar}), found {n_chords}"
        )


def _check_notes_fit(part: str, notes: Sequence[Note], *, n_beats: int) -> None:
    for note in notes:
        if note.start_beat >= n_beats:
            raise ValueError(f"{part}: expected notes starting before beat {n_beats}, found {note}")


# --------------------------------------------------------------------------- arrangements
# Songs with a chosen layout, for structure analysis: the phrase labels are given, and two
# more kinds of phrase exist. Nothing above depends on this block.

ARRANGEMENT_PROGRESSIONS = {
    "minor": {
        **PROGRESSIONS["minor"],
        "bridge": ("iv", "VI", "VII", "V"),
        "breakdown": ("i", "VII", "VI", "VII"),
    },
    "major": {
        **PROGRESSIONS["major"],
        "bridge": ("ii", "iii", "IV", "V"),
        "breakdown": ("vi", "V", "IV", "V"),
    },
}
# The arrangement tables (drums, keys rhythms) a new label borrows.
ARRANGEMENT_STYLES = {"bridge": "verse", "breakdown": "intro"}
# Labels whose phrases have no drums and no lead (the bass and keys play on).
SPARSE_LABELS = frozenset({"breakdown"})


def compose_arrangement(
    labels: Sequence[str],
    *,
    tonic: int = 9,
    mode: str = "minor",
    tempo_bpm: float = 96.0,
    seed: int = 0,
) -> Song:
    """Write a song from an explicit list of 4-bar phrase labels.

    Parameters
    ----------
    labels : sequence of str
        One label per 4-bar phrase, from ``ARRANGEMENT_PROGRESSIONS[mode]``: intro, verse,
        chorus, outro, bridge (its own progression, arranged like a verse) and breakdown (its
        own progression, keys in whole notes and bass only: no drums, no lead). Consecutive
        equal labels merge into one section, whose phrases are identical but for the drum
        fill in the section's last bar.
    tonic, mode, tempo_bpm, seed
        As for :func:`compose_song`.

    Returns
    -------
    Song
        ``compose_arrangement(labels)`` with the labels :func:`compose_song` would choose
        gives the same song as :func:`compose_song` with the same arguments.
    """
    _check_key(tonic=tonic, mode=mode)
    _check_tempo(tempo_bpm)
    progressions = ARRANGEMENT_PROGRESSIONS[mode]
    if not labels or any(label not in progressions for label in labels):
        raise ValueError(
            f"labels: expected one or more of {sorted(progressions)}, found {labels!r}"
        )
    rng = np.random.default_rng(seed)
    sections = _merge_sections(labels)
    chords = tuple(
        make_chord(tonic=tonic, mode=mode, numeral=numeral)
        for label in labels
        for numeral in progressions[label]
    )
    styles = [ARRANGEMENT_STYLES.get(label, label) for label in labels for _ in range(PHRASE_BARS)]
    sparse = {bar for bar, label in enumerate(_bar_labels(labels)) if label in SPARSE_LABELS}
    fill_bars = {s.end_bar - 1 for s in sections[:-1]}
    drums = _compose_drums(bar_labels=styles, fill_bars=fill_bars, rng=rng)
    lead_labels = ["intro" if label in SPARSE_LABELS else label for label in labels]
    return Song(
        tempo_bpm=float(tempo_bpm),
        tonic=int(tonic),
        mode=mode,
        beats_per_bar=BEATS_PER_BAR,
        sections=sections,
        chords=chords,
        drums=tuple(n for n in drums if int(n.start_beat // BEATS_PER_BAR) not in sparse),
        bass=_compose_bass(drums=drums, chords=chords),
        keys=_compose_keys(bar_labels=styles, chords=chords),
        lead=_compose_lead(labels=lead_labels, chords=chords, tonic=tonic, mode=mode, rng=rng),
        seed=seed,
    )


def song_phrase_labels(n_bars: int) -> list[str]:
    """The phrase labels :func:`compose_song` chooses for a song of ``n_bars`` bars."""
    if n_bars < PHRASE_BARS or n_bars % PHRASE_BARS:
        raise ValueError(f"n_bars: expected a positive multiple of {PHRASE_BARS}, found {n_bars}")
    return _phrase_labels(n_bars // PHRASE_BARS)


def _bar_labels(labels: Sequence[str]) -> list[str]:
    return [label for label in labels for _ in range(PHRASE_BARS)]
