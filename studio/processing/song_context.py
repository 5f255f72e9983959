"""What the idea generators know about a song, and its beat grid.

:class:`SongContext` gathers the facts the engine measured (key, tempo, beats, bars,
sections, chords, stems). :class:`Grid` maps positions counted in beats onto the song's own
beat times, so an idea placed on the grid stays in sync with a song whose tempo drifts.

Bars: bar 0 starts at the first downbeat (snapped to the nearest beat); beats before it are a
pickup. Past the last analysed beat the grid continues at ``tempo_bpm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from studio.processing.theory import MODES

QUALITIES = ("maj", "min", "7", "maj7", "min7", "sus2", "sus4", "N")
# The vocabulary of studio.processing.chords (and synth) is accepted too.
QUALITY_ALIASES = {
    "major": "maj",
    "minor": "min",
    "dominant7": "7",
    "major7": "maj7",
    "minor7": "min7",
    "none": "N",
}
ROLES = ("drums", "bass", "vocals", "keys", "guitar", "pad", "other")
MIN_TEMPO_BPM, MAX_TEMPO_BPM = 30.0, 300.0


class SectionSpan(NamedTuple):
    """A section of the song: times in s, a label (``"A"``, ``"B"``, ``"A'"``), energy 0..1."""

    start_s: float
    end_s: float
    label: str
    energy: float


class ChordSpan(NamedTuple):
    """A chord of the song: times in s, root pitch class (or ``None``) and quality."""

    start_s: float
    end_s: float
    root: int | None
    quality: str


class StemInfo(NamedTuple):
    """A stem: name, role, and its loudness in each section (LUFS, ``None`` when silent)."""

    name: str
    role: str
    loudness_lufs: tuple[float | None, ...]


@dataclass(frozen=True)
class SongContext:
    """The song as the idea generators see it.

    Attributes
    ----------
    tonic : int
        Key tonic pitch class, 0 (C) to 11 (B).
    mode : str
        ``"major"`` or ``"minor"``.
    tempo_bpm : float
        Global tempo in beats per minute (30 to 300).
    beats_per_bar : int
        Only 4 is supported.
    beats_s : tuple of float
        Beat times in s, ascending; empty means a steady grid at ``tempo_bpm`` from 0 s.
    downbeats_s : tuple of float
        Bar starts in s; empty means every 4th beat from the first.
    duration_s : float
        Length of the song in s.
    sections : tuple of SectionSpan
        ``(start_s, end_s, label, energy)``, in time order.
    chords : tuple of ChordSpan
        ``(start_s, end_s, root, quality)``; quality in :data:`QUALITIES` (``"N"`` with
        root ``None`` for no chord); the names of :mod:`studio.processing.chords` are
        accepted and translated.
    stems : tuple of StemInfo
        ``(name, role, loudness per section in LUFS or None)``; may be empty.
    """

    tonic: int
    mode: str
    tempo_bpm: float
    beats_per_bar: int = 4
    beats_s: tuple[float, ...] = ()
    downbeats_s: tuple[float, ...] = ()
    duration_s: float = 0.0
    sections: tuple[SectionSpan, ...] = ()
    chords: tuple[ChordSpan, ...] = ()
    stems: tuple[StemInfo, ...] = ()

    def __post_init__(self) -> None:
        _check_key(self.tonic, self.mode)
        _check_number("tempo_bpm", self.tempo_bpm, MIN_TEMPO_BPM, MAX_TEMPO_BPM)
        if self.beats_per_bar != 4:
            raise ValueError(f"beats_per_bar: expected 4, found {self.beats_per_bar!r}")
        _check_number("duration_s", self.duration_s, 0.0, math.inf, open_low=True)
        _set(self, "beats_s", _times("beats_s", self.beats_s))
        _set(self, "downbeats_s", _times("downbeats_s", self.downbeats_s))
        _set(self, "sections", tuple(_section(i, s) for i, s in enumerate(self.sections)))
        _set(self, "chords", tuple(_chord(i, c) for i, c in enumerate(self.chords)))
        stems = tuple(_stem(i, s, n_sections=len(self.sections)) for i, s in enumerate(self.stems))
        _set(self, "stems", stems)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SongContext:
        """Build a context from :meth:`to_dict` output (lists accepted for tuples)."""
        if not isinstance(data, dict):
            raise ValueError(f"context: expected a dict, found {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"context: unknown fields {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: tuples become lists."""
        return {
            "tonic": self.tonic,
            "mode": self.mode,
            "tempo_bpm": self.tempo_bpm,
            "beats_per_bar": self.beats_per_bar,
            "beats_s": list(self.beats_s),
            "downbeats_s": list(self.downbeats_s),
            "duration_s": self.duration_s,
            "sections": [list(s) for s in self.sections],
            "chords": [list(c) for c in self.chords],
            "stems": [[s.name, s.role, list(s.loudness_lufs)] for s in self.stems],
        }


def _set(context: SongContext, name: str, value: object) -> None:
    object.__setattr__(context, name, value)


def _check_key(tonic: object, mode: object) -> None:
    if isinstance(tonic, bool) or not isinstance(tonic, int) or not 0 <= tonic <= 11:
        raise ValueError(f"tonic: expected an int 0..11, found {tonic!r}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, found {mode!r}")


def _check_number(
    name: str, value: object, low: float, high: float, *, open_low: bool = False
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ValueError(f"{name}: expected a number in {bracket}{low}, {high}], found {value!r}")


def _times(name: str, values: object) -> tuple[float, ...]:
    try:
        times = tuple(float(v) for v in values)  # type: ignore[union-attr]
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected a sequence of times in s, found {values!r}") from error
    if any(not math.isfinite(t) for t in times) or any(
        b <= a for a, b in zip(times, times[1:], strict=False)
    ):
        raise ValueError(f"{name}: expected finite, strictly ascending times in s")
    return times


def _section(index: int, value: object) -> SectionSpan:
    where = f"sections[{index}]"
    start_s, end_s, label, energy = _unpack(where, value, 4)
    _check_number(f"{where}.start_s", start_s, 0.0, math.inf)
    _check_number(f"{where}.end_s", end_s, start_s, math.inf, open_low=True)
    if not isinstance(label, str) or not label:
        raise ValueError(f"{where}.label: expected a non-empty str, found {label!r}")
    _check_number(f"{where}.energy", energy, 0.0, 1.0)
    return SectionSpan(float(start_s), float(end_s), label, float(energy))


def _chord(index: int, value: object) -> ChordSpan:
    where = f"chords[{index}]"
    start_s, end_s, root, quality = _unpack(where, value, 4)
    _check_number(f"{where}.start_s", start_s, 0.0, math.inf)
    _check_number(f"{where}.end_s", end_s, start_s, math.inf, open_low=True)
    quality = QUALITY_ALIASES.get(quality, quality)
    if quality not in QUALITIES:
        raise ValueError(f"{where}.quality: expected one of {QUALITIES}, found {quality!r}")
    if quality == "N":
        if root is not None:
            raise ValueError(f"{where}.root: expected None for no chord, found {root!r}")
    elif isinstance(root, bool) or not isinstance(root, int) or not 0 <= root <= 11:
        raise ValueError(f"{where}.root: expected an int 0..11, found {root!r}")
    return ChordSpan(float(start_s), float(end_s), root, quality)


def _stem(index: int, value: object, *, n_sections: int) -> StemInfo:
    where = f"stems[{index}]"
    name, role, loudness = _unpack(where, value, 3)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}.name: expected a non-empty str, found {name!r}")
    if role not in ROLES:
        raise ValueError(f"{where}.role: expected one of {ROLES}, found {role!r}")
    levels = tuple(loudness) if isinstance(loudness, list | tuple) else None
    if levels is None or len(levels) != n_sections:
        raise ValueError(f"{where}.loudness_lufs: expected {n_sections} values (one per section)")
    for j, level in enumerate(levels):
        if level is not None:
            _check_number(f"{where}.loudness_lufs[{j}]", level, -200.0, 20.0)
    return StemInfo(name, role, tuple(None if v is None else float(v) for v in levels))


def _unpack(where: str, value: object, size: int) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple) or len(value) != size:
        raise ValueError(f"{where}: expected {size} values, found {value!r}")
    return tuple(value)


class Grid:
    """The song's beat grid: beat positions (floats) to times in s and back to bars.

    Parameters
    ----------
    context : SongContext
        The song.
    """

    def __init__(self, context: SongContext) -> None:
        self.period_s = 60.0 / context.tempo_bpm
        beats = np.asarray(context.beats_s, dtype=float)
        if beats.size < 2:
            first = beats[0] if beats.size else 0.0
            count = math.ceil((context.duration_s - first) / self.period_s) + 1
            beats = first + self.period_s * np.arange(max(2, count))
        self.beats_s = beats
        self.bar_beats = self._bar_beats(context)

    def _bar_beats(self, context: SongContext) -> np.ndarray:
        """Song beat index of each bar start, extended to cover the whole song."""
        if context.downbeats_s:
            found = [int(np.argmin(np.abs(self.beats_s - t))) for t in context.downbeats_s]
            starts = sorted(set(found))
            # Bars before the first downbeat found (the analysis rarely reports one at 0 s)
            # still count, so bar numbers match what people hear.
            earlier = starts[0] - context.beats_per_bar
            while self.time_s(earlier)[0] >= -0.25 * self.period_s:
                starts.insert(0, earlier)
                earlier -= context.beats_per_bar
        else:
            starts = list(range(0, self.beats_s.size, context.beats_per_bar))
        last_beat = self.beat_at(context.duration_s)
        while starts[-1] + context.beats_per_bar <= last_beat - 1:  # a beat of it in the song
            starts.append(starts[-1] + context.beats_per_bar)
        return np.array(starts, dtype=float)

    @property
    def n_bars(self) -> int:
        """Bars that start within the song."""
        return int(self.bar_beats.size)

    def time_s(self, song_beat: float | np.ndarray) -> np.ndarray:
        """Time in s of a (fractional) song beat index, extrapolated at the tempo."""
        positions = np.atleast_1d(np.asarray(song_beat, dtype=float))
        last = self.beats_s.size - 1
        inside = np.interp(positions, np.arange(self.beats_s.size), self.beats_s)
        before = self.beats_s[0] + positions * self.period_s
        after = self.beats_s[-1] + (positions - last) * self.period_s
        return np.where(positions < 0, before, np.where(positions > last, after, inside))

    def beat_at(self, time_s: float) -> float:
        """Fractional song beat index at a time in s (inverse of :meth:`time_s`)."""
        if time_s <= self.beats_s[0]:
            return (time_s - self.beats_s[0]) / self.period_s
        if time_s >= self.beats_s[-1]:
            return self.beats_s.size - 1 + (time_s - self.beats_s[-1]) / self.period_s
        return float(np.interp(time_s, self.beats_s, np.arange(self.beats_s.size)))

    def bar_start_beat(self, bar: int) -> float:
        """Song beat index where a bar (0-based, may lie past the song) starts."""
        if bar < self.n_bars:
            return float(self.bar_beats[bar])
        return float(self.bar_beats[-1] + 4 * (bar - self.n_bars + 1))

    def bar_at(self, time_s: float) -> int:
        """The bar whose start is nearest a time in s."""
        beat = self.beat_at(time_s)
        candidates = np.append(self.bar_beats, self.bar_beats[-1] + 4)
        return int(np.argmin(np.abs(candidates - beat)))

    def bar_time_s(self, bar: int) -> float:
        """Start time of a bar in s."""
        return float(self.time_s(self.bar_start_beat(bar))[0])

    def section_bars(self, section: SectionSpan) -> tuple[int, int]:
        """``(start_bar, n_bars)`` of a section, snapped to bar lines, at least one bar."""
        start = self.bar_at(section.start_s)
        end = self.bar_at(section.end_s)
        return start, max(1, end - start)
