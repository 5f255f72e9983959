"""Arrangement ideas grounded in the song: chords, reharmonisation, drums, bass, melody, moves.

:func:`generate` takes what the engine knows about a song (:class:`SongContext`) and returns
one :class:`Idea`: notes on tracks (General MIDI programs), the chords it uses, or arrangement
moves, with a title and the reasoning behind it in plain words. Ideas are deterministic: the
same kind, context, section, seed and options give the same idea; another seed gives a
variation.

Where an idea plays: ``section`` indexes ``context.sections``; the idea starts on that
section's first bar and lasts its bars. ``section=None`` means a new section after the
song's last bar for ``chords``, and the song's first bar for the other kinds (lasting the
``bars`` option). Note times are in beats from the idea's start; ``start_s`` is where beat 0
lies on the song's beat grid (see :mod:`studio.processing.instruments` for rendering and
:mod:`studio.processing.midi` for MIDI files).

Everything comes from the song's own key, tempo, chords and structure and from textbook
harmony and drum patterns (:mod:`studio.processing.theory`, :mod:`studio.processing.grooves`);
nothing is taken from any recording.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from studio.processing import composers
from studio.processing.composers import Segment
from studio.processing.grooves import FEELS, STYLES, Groove, make_groove
from studio.processing.moves import Move, find_moves
from studio.processing.song_context import ChordSpan, Grid, SectionSpan, SongContext, StemInfo
from studio.processing.theory import (
    Harmony,
    chord_symbol,
    chromatic_tones,
    degree_harmony,
    from_song,
    note_name,
    numeral,
    parallel_key_text,
)

__all__ = [
    "KINDS",
    "ChordSpan",
    "Idea",
    "IdeaChord",
    "Move",
    "NoteEvent",
    "SectionSpan",
    "SongContext",
    "StemInfo",
    "Track",
    "generate",
]

KINDS = ("chords", "reharmonise", "drums", "bass", "melody", "moves")
COLOURS = ("diatonic", "borrowed", "secondary")
BASS_STYLES = ("roots", "octaves", "walking")
DENSITIES = ("sparse", "busy")
BAR_CHOICES = (4, 8)
OPTIONS: dict[str, dict[str, tuple[Any, ...] | None]] = {
    "chords": {"bars": BAR_CHOICES, "colour": COLOURS},
    "reharmonise": {"colour": COLOURS},
    "drums": {"style": STYLES, "feel": FEELS, "fill": (True, False), "bars": BAR_CHOICES},
    "bass": {"style": BASS_STYLES, "drum_style": STYLES, "feel": FEELS, "bars": BAR_CHOICES},
    "melody": {"density": DENSITIES, "low": None, "high": None, "bars": BAR_CHOICES},
    "moves": {},
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "chords": {"bars": 4, "colour": "diatonic"},
    "reharmonise": {"colour": "diatonic"},
    "drums": {"style": "pop", "feel": "straight", "fill": True, "bars": 4},
    "bass": {"style": "roots", "feel": "straight", "bars": 4},
    "melody": {"density": "sparse", "low": 60, "high": 81, "bars": 4},
    "moves": {},
}
PROGRAMS = {"keys": 4, "bass": 33, "melody": 81}  # GM: Electric Piano 1, Finger Bass, Saw Lead
MELODY_LIMITS = (36, 96)


class NoteEvent(NamedTuple):
    """A note: MIDI pitch, start and length in beats from the idea's start, velocity 1..127."""

    pitch: int
    start_beat: float
    duration_beats: float
    velocity: int


@dataclass(frozen=True)
class Track:
    """One instrument of an idea.

    Attributes
    ----------
    name : str
        Display name (``"Keys"``, ``"Bass"``, ``"Drums"``, ``"Melody"``).
    program : int
        General MIDI program, 0-based as sent in a program change (4 = Electric Piano 1).
    is_drums : bool
        True for the GM percussion channel (channel 10); pitches are GM drum notes.
    notes : tuple of NoteEvent
        Sorted by start.
    """

    name: str
    program: int
    is_drums: bool
    notes: tuple[NoteEvent, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (notes as lists)."""
        return {
            "name": self.name,
            "program": self.program,
            "is_drums": self.is_drums,
            "notes": [list(n) for n in self.notes],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Track:
        """Inverse of :meth:`to_dict`."""
        notes = tuple(NoteEvent(int(p), float(s), float(d), int(v)) for p, s, d, v in data["notes"])
        return cls(str(data["name"]), int(data["program"]), bool(data["is_drums"]), notes)


@dataclass(frozen=True)
class IdeaChord:
    """A chord the idea plays, for display.

    ``source`` is ``"diatonic"``, ``"borrowed"``, ``"secondary"`` or ``"song"`` (a chord of
    the song with tones outside the key); only non-diatonic chords bring notes outside the
    key's scale, and only their own chord tones.
    """

    symbol: str
    numeral: str
    root: int | None
    quality: str
    source: str
    start_beat: float
    duration_beats: float

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        """The chord's pitch classes, root first."""
        return Harmony(self.root, self.quality).pitch_classes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Idea:
    """An arrangement idea, ready to show, play, export and store.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    title, reasoning : str
        A short title and the plain-words reason for the idea.
    seed : int
        The seed it was generated with.
    options : dict
        Every option, defaults filled in (so the idea can be generated again).
    section : int or None
        The section it was written for (``None``: a new section or the song's start).
    start_s : float
        Song time in s of the idea's beat 0, on the song's beat grid.
    start_bar : int
        The bar (0-based) where it starts; may lie after the song's last bar.
    bars : int
        Length in bars of 4 beats.
    tempo_bpm : float
        The song's tempo, for the MIDI file.
    tonic, mode :
        The song's key.
    tracks : tuple of Track
        Empty for ``moves``.
    chords : tuple of IdeaChord
        Chords the idea plays or follows, with beats from its start.
    moves : tuple of Move
        Arrangement moves (``moves`` ideas only).
    """

    kind: str
    title: str
    reasoning: str
    seed: int
    options: dict[str, Any]
    section: int | None
    start_s: float
    start_bar: int
    bars: int
    tempo_bpm: float
    tonic: int
    mode: str
    tracks: tuple[Track, ...] = ()
    chords: tuple[IdeaChord, ...] = ()
    moves: tuple[Move, ...] = ()

    @property
    def beats(self) -> int:
        """Length in beats."""
        return self.bars * 4

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for a database JSON field."""
        out = {
            k: getattr(self, k)
            for k in ("kind", "title", "reasoning", "seed", "section", "start_s", "start_bar")
        }
        out.update(bars=self.bars, tempo_bpm=self.tempo_bpm, tonic=self.tonic, mode=self.mode)
        out["options"] = dict(self.options)
        out["tracks"] = [t.to_dict() for t in self.tracks]
        out["chords"] = [c.to_dict() for c in self.chords]
        out["moves"] = [m.to_dict() for m in self.moves]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Idea:
        """Inverse of :meth:`to_dict`."""
        fields = dict(data)
        fields["tracks"] = tuple(Track.from_dict(t) for t in data.get("tracks", ()))
        fields["chords"] = tuple(IdeaChord(**c) for c in data.get("chords", ()))
        fields["moves"] = tuple(Move.from_dict(m) for m in data.get("moves", ()))
        fields["options"] = dict(data.get("options", {}))
        return cls(**fields)


Written = tuple[str, str, list[Track], list[IdeaChord], list[Move]]


class _Place(NamedTuple):
    section: int | None
    start_bar: int
    bars: int
    start_s: float
    song_beat: float  # song beat index of the idea's beat 0
    energy: float
    name: str


# --------------------------------------------------------------------------- entry point


def generate(
    kind: str,
    context: SongContext,
    *,
    section: int | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> Idea:
    """Generate one idea.

    Parameters
    ----------
    kind : str
        ``"chords"``, ``"reharmonise"``, ``"drums"``, ``"bass"``, ``"melody"`` or ``"moves"``.
    context : SongContext
        The song.
    section : int or None
        Index into ``context.sections``, or ``None`` (see the module docstring).
    seed : int
        Non-negative; the same seed gives the same idea.
    options : dict or None
        Per kind (defaults in :data:`DEFAULTS`):

        - chords: ``bars`` 4 or 8 (length of the progression), ``colour`` ``"diatonic"``,
          ``"borrowed"`` or ``"secondary"``;
        - reharmonise: ``colour``;
        - drums: ``style`` (one of :data:`~studio.processing.grooves.STYLES`), ``feel``
          ``"straight"`` or ``"swung"``, ``fill`` bool, ``bars`` (with ``section=None``);
        - bass: ``style`` ``"roots"``, ``"octaves"`` or ``"walking"``, ``drum_style`` (the
          groove whose kick it locks to; default from the section's energy), ``feel``,
          ``bars``;
        - melody: ``density`` ``"sparse"`` (eighths) or ``"busy"`` (sixteenths), ``low`` and
          ``high`` (MIDI range, default 60..81, C4..A5), ``bars``;
        - moves: none.

    Raises
    ------
    ValueError
        Unknown kind, bad section, seed or option, or a section with nothing to reharmonise.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, found {kind!r}")
    if not isinstance(context, SongContext):
        raise ValueError(f"context: expected a SongContext, found {type(context).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, found {seed!r}")
    checked = check_options(kind, options or {})
    grid = Grid(context)
    place = _place(kind, context, grid, section, checked)
    writer = WRITERS[kind]
    title, reasoning, tracks, chords, moves = writer(context, grid, place, checked, seed)
    return Idea(
        kind=kind,
        title=title,
        reasoning=reasoning,
        seed=seed,
        options=checked,
        section=section,
        start_s=round(place.start_s, 6),
        start_bar=place.start_bar,
        bars=place.bars,
        tempo_bpm=context.tempo_bpm,
        tonic=context.tonic,
        mode=context.mode,
        tracks=tuple(tracks),
        chords=tuple(chords),
        moves=tuple(moves),
    )


def check_options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate options for a kind and fill in defaults; ValueError names the bad one."""
    if not isinstance(options, dict):
        raise ValueError(f"options: expected a dict, found {type(options).__name__}")
    allowed = OPTIONS[kind]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"options for {kind!r}: unknown {unknown}; expected some of {sorted(allowed)}"
        )
    out = {**DEFAULTS[kind], **options}
    for name, choices in allowed.items():
        if name not in out:
            continue
        value = out[name]
        if choices is not None and not any(
            value is c or (value == c and type(value) is type(c)) for c in choices
        ):
            raise ValueError(
                f"options[{name!r}] for {kind!r}: expected one of {choices}, found {value!r}"
            )
    if kind == "melody":
        _check_range(out["low"], out["high"])
    return out


def _check_range(low: object, high: object) -> None:
    lo, hi = MELODY_LIMITS
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(
                f"options[{name!r}] for 'melody': expected a MIDI note {lo}..{hi}, found {value!r}"
            )
    if high - low < 12:  # type: ignore[operator]
        raise ValueError(f"options for 'melody': expected high - low >= 12, found {low}..{high}")


def _place(
    kind: str, context: SongContext, grid: Grid, section: int | None, options: dict[str, Any]
) -> _Place:
    if section is None:
        if kind == "reharmonise":
            raise ValueError("section: reharmonise needs the index of a section with chords")
        energy = float(np.mean([s.energy for s in context.sections])) if context.sections else 0.5
        start_bar = grid.n_bars if kind == "chords" else 0
        bars = options.get("bars", grid.n_bars)
        name = "New section" if kind == "chords" else "Opening"
        return _at(grid, None, start_bar, bars, energy, name)
    if isinstance(section, bool) or not isinstance(section, int):
        raise ValueError(f"section: expected an int or None, found {section!r}")
    if not 0 <= section < len(context.sections):
        raise ValueError(f"section: expected 0..{len(context.sections) - 1}, found {section}")
    span = context.sections[section]
    start_bar, bars = grid.section_bars(span)
    return _at(grid, section, start_bar, bars, span.energy, f"Section {section + 1} ({span.label})")


def _at(
    grid: Grid, section: int | None, start_bar: int, bars: int, energy: float, name: str
) -> _Place:
    song_beat = grid.bar_start_beat(start_bar)
    start_s = float(grid.time_s(song_beat)[0])
    return _Place(section, start_bar, bars, start_s, song_beat, energy, name)


def _rng(seed: int, section: int | None, purpose: str) -> np.random.Generator:
    """A generator per purpose, so one choice never shifts another (stable across runs)."""
    where = 0 if section is None else section + 1
    return np.random.default_rng([seed, zlib.crc32(purpose.encode()), where])


# --------------------------------------------------------------------------- shared words


def _key(context: SongContext) -> str:
    return f"{note_name(context.tonic, tonic=context.tonic, mode=context.mode)} {context.mode}"


def _bars_text(place: _Place) -> str:
    return f"bars {place.start_bar + 1}-{place.start_bar + place.bars}"


def _song_segments(context: SongContext, grid: Grid, place: _Place) -> list[Segment]:
    """The song's chords over the idea's span, beat by beat, merged."""
    segments: list[Segment] = []
    for beat in range(place.bars * 4):
        time_s = float(grid.time_s(place.song_beat + beat)[0]) + 0.05
        span = next((c for c in context.chords if c.start_s <= time_s < c.end_s), None)
        harmony = (
            Harmony(None, "N")
            if span is None
            else from_song(span.root, span.quality, tonic=context.tonic, mode=context.mode)
        )
        if segments and segments[-1].harmony == harmony:
            last = segments[-1]
            segments[-1] = last._replace(duration_beats=last.duration_beats + 1)
        else:
            segments.append(Segment(float(beat), 1.0, harmony))
    return segments


def _idea_chords(context: SongContext, segments: Sequence[Segment]) -> list[IdeaChord]:
    out = []
    for segment in segments:
        h = segment.harmony
        out.append(
            IdeaChord(
                symbol=chord_symbol(h, tonic=context.tonic, mode=context.mode),
                numeral=numeral(h, tonic=context.tonic, mode=context.mode),
                root=h.root,
                quality=h.quality,
                source=h.source,
                start_beat=segment.start_beat,
                duration_beats=segment.duration_beats,
            )
        )
    return out


def _chord_list(
    context: SongContext, segments: Sequence[Segment], *, numerals: bool = False
) -> str:
    names = []
    for segment in segments:
        h = segment.harmony
        text = (
            numeral(h, tonic=context.tonic, mode=context.mode)
            if numerals
            else chord_symbol(h, tonic=context.tonic, mode=context.mode)
        )
        if not names or names[-1] != text:
            names.append(text)
    if len(names) > 8:
        names = names[:8] + ["..."]
    return " – ".join(names)


def _harmony_or_fallback(
    context: SongContext, grid: Grid, place: _Place, seed: int
) -> tuple[list[Segment], str]:
    """The song's chords for the span, or a diatonic loop when none were detected there."""
    segments = _song_segments(context, grid, place)
    if any(s.harmony.root is not None for s in segments):
        return segments, f"the section's chords ({_chord_list(context, segments)})"
    loop = composers.write_progression(
        tonic=context.tonic,
        mode=context.mode,
        bars=4,
        colour="diatonic",
        rng=_rng(seed, place.section, "fallback-chords"),
        existing=set(),
    )
    segments = composers.repeat_cycle(loop.segments, place.bars * 4)
    text = (
        f"a diatonic loop ({_chord_list(context, loop.segments)}), as no chords were detected here"
    )
    return segments, text


def _tracks(named: Sequence[tuple[str, int, bool, list[composers.NoteTuple]]]) -> list[Track]:
    out = []
    for name, program, drums, notes in named:
        events = tuple(NoteEvent(*n) for n in sorted(notes, key=lambda n: (n[1], n[0])))
        out.append(Track(name, program, drums, events))
    return out


# --------------------------------------------------------------------------- chords


def _write_chords(
    context: SongContext, grid: Grid, place: _Place, options: dict[str, Any], seed: int
) -> Written:
    cycle_bars = options["bars"] if place.section is None or place.bars >= options["bars"] else 4
    current = _song_segments(context, grid, place) if place.section is not None else []
    pool = current if place.section is not None else _all_song_segments(context)
    existing = {(s.harmony.root, s.harmony.quality[:3]) for s in pool if s.harmony.root is not None}
    progression = composers.write_progression(
        tonic=context.tonic,
        mode=context.mode,
        bars=cycle_bars,
        colour=options["colour"],
        rng=_rng(seed, place.section, "progression"),
        existing=existing,
    )
    segments = composers.repeat_cycle(progression.segments, place.bars * 4)
    tracks, keys_words, motion = _keys_and_roots(segments, place, seed)
    title = f"{place.name} chords: {_chord_list(context, progression.segments, numerals=True)}"
    reasoning = " ".join(
        [
            _chords_opening(context, place, current),
            _shape_words(context, progression, cycle_bars),
            _colour_words(
                context, progression.borrowed, progression.secondaries, options["colour"]
            ),
            _contrast_words(context, progression.segments, existing, place),
            f"The keys play {keys_words}; each chord takes the voicing nearest the one before "
            f"(the voices move {motion:.1f} semitones on average) and the bass plays the roots.",
        ]
    )
    return title, reasoning, tracks, _idea_chords(context, segments), []


def _all_song_segments(context: SongContext) -> list[Segment]:
    return [
        Segment(0.0, 1.0, from_song(c.root, c.quality, tonic=context.tonic, mode=context.mode))
        for c in context.chords
    ]


def _keys_and_roots(
    segments: Sequence[Segment], place: _Place, seed: int
) -> tuple[list[Track], str, float]:
    keys, words, motion = composers.keys_part(
        segments, energy=place.energy, rng=_rng(seed, place.section, "keys-rhythm")
    )
    roots = composers.root_part(segments)
    tracks = _tracks(
        [("Keys", PROGRAMS["keys"], False, keys), ("Bass", PROGRAMS["bass"], False, roots)]
    )
    return tracks, words, motion


def _chords_opening(context: SongContext, place: _Place, current: Sequence[Segment]) -> str:
    where = (
        f"A new section after the song's last bar (from bar {place.start_bar + 1})"
        if place.section is None
        else f"{place.name}, {_bars_text(place)}, energy {place.energy:.2f}"
    )
    text = f"{where}, in {_key(context)} at {context.tempo_bpm:.0f} BPM."
    if any(s.harmony.root is not None for s in current):
        text += f" It now plays {_chord_list(context, current)}."
    return text


FUNCTION_WORDS = {
    "major": {
        0: "home",
        1: "a pre-dominant",
        2: "a soft tonic colour",
        3: "a pre-dominant",
        4: "the dominant",
        5: "the relative minor",
    },
    "minor": {
        0: "home",
        2: "the relative major",
        3: "a pre-dominant",
        4: "a soft dominant",
        5: "a pre-dominant",
        6: "the dominant of the relative major",
    },
}


def _shape_words(context: SongContext, progression: composers.Progression, bars: int) -> str:
    degrees = progression.degrees
    opening = FUNCTION_WORDS[context.mode][degrees[0]]
    first = numeral(progression.segments[0].harmony, tonic=context.tonic, mode=context.mode)
    if bars == 4:
        last = numeral(
            Harmony(*_degree_chord(context, degrees[-1])), tonic=context.tonic, mode=context.mode
        )
        shape = (
            f"This 4-bar loop opens on {first} ({opening}) and ends on {last}, "
            f"{FUNCTION_WORDS[context.mode][degrees[-1]]}, which leads back to the top."
        )
    else:
        shape = (
            f"This 8-bar period opens on {first} ({opening}); the first phrase stops on a half "
            f"cadence in bar 4 (a question) and the second answers it with a cadence home in "
            f"bars 7-8."
        )
    if progression.sevenths:
        shape += " Seventh chords on the pre-dominants soften the loop without leaving the key."
    return shape


def _degree_chord(context: SongContext, degree: int) -> tuple[int, str]:
    h = degree_harmony(degree, tonic=context.tonic, mode=context.mode)
    return h.root or 0, h.quality


def _colour_words(
    context: SongContext, borrowed: Sequence[Harmony], secondaries: Sequence[Harmony], colour: str
) -> str:
    key = {"tonic": context.tonic, "mode": context.mode}
    parts = []
    for h in borrowed:
        tones = ", ".join(note_name(t, **key, flat=None) for t in chromatic_tones(h, **key))
        parts.append(
            f"{chord_symbol(h, **key)} ({numeral(h, **key)}) is borrowed from "
            f"{parallel_key_text(**key)}, the parallel key: its {tones} colours the moment "
            f"without changing key."
        )
    for h in secondaries:
        target = Harmony(h.target, "maj")
        leading = note_name((h.root or 0) + 4, **key)
        parts.append(
            f"{chord_symbol(h, **key)} ({numeral(h, **key)}) is a secondary dominant: its "
            f"{leading} is the leading tone of {note_name(target.root or 0, **key)}, so it pulls "
            f"into the next chord."
        )
    if colour != "diatonic" and not parts:
        parts.append(f"No chord here takes a {colour} substitute naturally, so it stays diatonic.")
    if colour == "diatonic":
        parts.append("Every chord is built from the key's own scale.")
    return " ".join(parts)


def _contrast_words(
    context: SongContext,
    segments: Sequence[Segment],
    existing: set[tuple[int | None, str]],
    place: _Place,
) -> str:
    if not existing:
        return ""
    shared = {(s.harmony.root, s.harmony.quality[:3]) for s in segments} & existing
    where = "this section" if place.section is not None else "the song"
    return (
        f"It shares {len(shared)} of its chords with what {where} already plays, "
        f"so it {'stays close to the song' if len(shared) > 2 else 'brings contrast'}."
    )


# --------------------------------------------------------------------------- reharmonise


def _write_reharmonise(
    context: SongContext, grid: Grid, place: _Place, options: dict[str, Any], seed: int
) -> Written:
    current = _song_segments(context, grid, place)
    if not any(s.harmony.root is not None for s in current):
        raise ValueError(f"section: {place.name} has no detected chords to reharmonise")
    result = composers.reharmonise(
        current,
        tonic=context.tonic,
        mode=context.mode,
        colour=options["colour"],
        rng=_rng(seed, place.section, "reharmonise"),
    )
    if not result.replaced and not result.secondaries:
        raise ValueError(
            f"section: the chords of {place.name} have no substitutes in {_key(context)}"
        )
    tracks, keys_words, motion = _keys_and_roots(result.segments, place, seed)
    key = {"tonic": context.tonic, "mode": context.mode}
    swaps = "; ".join(
        f"{chord_symbol(old, **key)} becomes {chord_symbol(new, **key)} ({numeral(new, **key)})"
        for old, new in result.replaced[:6]
    )
    borrowed = [new for _, new in result.replaced if new.source == "borrowed"]
    reasoning = " ".join(
        [
            f"{place.name}, {_bars_text(place)}, in {_key(context)} at "
            f"{context.tempo_bpm:.0f} BPM, now plays {_chord_list(context, current)}.",
            f"Reharmonised: {swaps}." if swaps else "",
            "Each new chord keeps at least two notes of the one it replaces, so a melody written "
            "over the old chords still fits; chords outside the key and a closing tonic stay.",
            _colour_words(context, borrowed[:1], result.secondaries, options["colour"]),
            f"The keys play {keys_words}, moving {motion:.1f} semitones per voice on average.",
        ]
    )
    title = f"{place.name} reharmonised: {_chord_list(context, result.segments, numerals=True)}"
    return title, " ".join(reasoning.split()), tracks, _idea_chords(context, result.segments), []


# --------------------------------------------------------------------------- drums


def _groove(place: _Place, seed: int, *, style: str, feel: str, fill: bool) -> Groove:
    return make_groove(
        style=style,
        feel=feel,
        bars=place.bars,
        fill=fill,
        pattern_rng=_rng(seed, place.section, "groove"),
        fill_rng=_rng(seed, place.section, "drum-fill"),
    )


def _write_drums(
    context: SongContext, grid: Grid, place: _Place, options: dict[str, Any], seed: int
) -> Written:
    groove = _groove(
        place, seed, style=options["style"], feel=options["feel"], fill=options["fill"]
    )
    band = composers.energy_band(place.energy)
    fits = {
        "low": "half-time" in options["style"] or options["style"] == "hip-hop",
        "high": options["style"] in ("rock", "funk", "four-on-the-floor"),
        "mid": True,
    }[band]
    energy_words = (
        f"The section's energy ({place.energy:.2f}) suits it."
        if fits
        else f"The section's energy is {band} ({place.energy:.2f}): this style sets it apart, "
        f"useful for contrast."
    )
    reasoning = (
        f"{place.name}, {_bars_text(place)}, at the song's {context.tempo_bpm:.0f} BPM: "
        f"{groove.words}. A crash marks the first downbeat. {energy_words} The hits sit on "
        f"the song's own beat grid, so they follow its timing."
    )
    fill_words = ", with fill" if options["fill"] else ""
    title = f"{place.name} drums: {options['style']}, {options['feel']}{fill_words}"
    tracks = _tracks([("Drums", 0, True, list(groove.hits))])
    return title, reasoning, tracks, _idea_chords(context, _song_segments(context, grid, place)), []


# --------------------------------------------------------------------------- bass


def default_drum_style(energy: float) -> str:
    """The groove a bass idea locks to when none is given: by the section's energy."""
    return {"low": "half-time", "mid": "pop", "high": "rock"}[composers.energy_band(energy)]


def _write_bass(
    context: SongContext, grid: Grid, place: _Place, options: dict[str, Any], seed: int
) -> Written:
    drum_style = options.get("drum_style") or default_drum_style(place.energy)
    options["drum_style"] = drum_style
    groove = _groove(place, seed, style=drum_style, feel=options["feel"], fill=False)
    segments, chord_words = _harmony_or_fallback(context, grid, place, seed)
    notes = composers.bass_line(
        segments,
        kick_beats=groove.kick_beats,
        style=options["style"],
        feel=options["feel"],
        total_beats=place.bars * 4,
        tonic=context.tonic,
        mode=context.mode,
        rng=_rng(seed, place.section, "bass"),
    )
    style_words = {
        "roots": "It plays the root of each chord and changes only with the chords.",
        "octaves": "Between kicks it jumps to the root an octave up on the off-beats, for drive.",
        "walking": "It walks a note per beat: the root as each chord arrives, chord tones in "
        "between, and a scale step into the next root.",
    }[options["style"]]
    reasoning = (
        f"{place.name}, {_bars_text(place)}, in {_key(context)} at {context.tempo_bpm:.0f} BPM. "
        f"The bass follows {chord_words} and locks to the kick of a {options['feel']} "
        f"{drum_style} groove written for this section with the same seed (the drums idea with "
        f"style {drum_style!r}, seed {seed} and no fill plays exactly these kicks): every kick "
        f"has a bass note under it, so the low end hits as one. {style_words}"
    )
    title = f"{place.name} bass: {options['style']}, locked to the {drum_style} kick"
    tracks = _tracks([("Bass", PROGRAMS["bass"], False, notes)])
    return title, reasoning, tracks, _idea_chords(context, segments), []


# --------------------------------------------------------------------------- melody


def _write_melody(
    context: SongContext, grid: Grid, place: _Place, options: dict[str, Any], seed: int
) -> Written:
    segments, chord_words = _harmony_or_fallback(context, grid, place, seed)
    notes = composers.melody_line(
        segments,
        bars=place.bars,
        density=options["density"],
        low=options["low"],
        high=options["high"],
        tonic=context.tonic,
        mode=context.mode,
        rng=_rng(seed, place.section, "melody"),
    )
    low, high = (_pitch_name(options[k], context) for k in ("low", "high"))
    grid_words = "eighth" if options["density"] == "sparse" else "sixteenth"
    reasoning = (
        f"A {options['density']} melody sketch for {place.name}, {_bars_text(place)}, in "
        f"{_key(context)} from {low} to {high}, over {chord_words}. Beats 1 and 3 land on chord "
        f"tones and the notes between step through the scale, so the line sits on the "
        f"harmony. The rhythm is on the {grid_words}-note grid of the song's beats: the third "
        f"bar of each phrase repeats the first bar's rhythm (a call and its echo) and the "
        f"fourth ends on a long chord tone."
    )
    title = f"{place.name} melody: {options['density']}, {low}-{high}"
    tracks = _tracks([("Melody", PROGRAMS["melody"], False, notes)])
    return title, reasoning, tracks, _idea_chords(context, segments), []


def _pitch_name(pitch: int, context: SongContext) -> str:
    return f"{note_name(pitch % 12, tonic=context.tonic, mode=context.mode)}{pitch // 12 - 1}"


# --------------------------------------------------------------------------- moves


def _write_moves(
    context: SongContext, grid: Grid, place: _Place, options: dict[str, Any], seed: int
) -> Written:
    moves = find_moves(context)
    if place.section is not None:
        end = place.start_bar + place.bars
        moves = [m for m in moves if m.start_bar < end and m.end_bar > place.start_bar]
    profile = ", ".join(f"{s.label} {s.energy:.2f}" for s in context.sections)
    if moves:
        reasoning = (
            f"Read from the song's structure and energy ({profile or 'no sections'}): "
            + " ".join(m.message for m in moves)
        )
    else:
        reasoning = (
            f"The structure ({profile or 'no sections'}) already builds and varies: no section "
            f"repeats unchanged for long, the hook comes early and the last chorus can lift."
        )
    count = len(moves)
    title = f"Arrangement: {count} move{'s' if count != 1 else ''}"
    return title, reasoning, [], [], moves


WRITERS = {
    "chords": _write_chords,
    "reharmonise": _write_reharmonise,
    "drums": _write_drums,
    "bass": _write_bass,
    "melody": _write_melody,
    "moves": _write_moves,
}
