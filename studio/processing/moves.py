"""Arrangement moves read from the song's structure, energy and stems.

Four rules, each a habit of arranging that a beginner can check by ear:

- **Breakdown before the last chorus.** The chorus is the label that repeats and has the
  highest mean energy. If the section before its last return is nearly as loud (at least
  :data:`BREAKDOWN_RATIO` of the chorus's energy), the chorus cannot lift: strip the last
  bars before it down.
- **Unchanged repeat.** Consecutive sections with the same label and energy within
  :data:`SAME_ENERGY` of each other, lasting more than :data:`REPEAT_LIMIT_BARS` bars in all:
  change something from half-way (the move spans that second half; it drops a part there,
  the first of :data:`MUTE_ROLES` the song has, so that it can be heard).
- **Long intro.** The opening section lasts more than :data:`INTRO_LIMIT_BARS` bars, or the
  hook (the first chorus; without a repeated label, the first section near the top energy)
  starts more than :data:`HOOK_LIMIT_BARS` bars in. It is heard as an edit: the first
  :data:`KEEP_INTRO_BARS` bars, then on from :data:`BEFORE_HOOK_BARS` bars before the hook
  (:func:`intro_cut`).
- **Mute for contrast.** A stem (not the vocals, not the drums) whose loudness hardly moves
  (range under :data:`FLAT_RANGE_LU`) and that plays in every section: drop it in the
  quietest section after the first so its return lifts the next one.

Bars in :class:`Move` are 0-based with an exclusive end; messages count bars from 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.processing.song_context import Grid, SectionSpan, SongContext

BREAKDOWN_RATIO = 0.8
BREAKDOWN_BARS = 4
SAME_ENERGY = 0.1
REPEAT_LIMIT_BARS = 16
INTRO_LIMIT_BARS = 8
HOOK_LIMIT_BARS = 16
FLAT_RANGE_LU = 3.0
KEEP_INTRO_BARS = 4
BEFORE_HOOK_BARS = 4
MUTE_ROLES = ("keys", "guitar", "pad", "bass", "other")

Found = tuple[str, int, int, str, tuple[str, ...]]  # kind, start bar, end bar, text, mutes


@dataclass(frozen=True)
class Move:
    """One arrangement move with its place in the song.

    Attributes
    ----------
    kind : str
        ``"breakdown"``, ``"vary-repeat"``, ``"shorten-intro"`` or ``"mute-for-contrast"``.
    start_bar, end_bar : int
        0-based bar span, end exclusive.
    start_s, end_s : float
        The same span in s on the song's grid.
    message : str
        What to do and why, in plain words.
    mute_stems : tuple of str
        Names of the song's stems the move silences over its span (a breakdown drops the
        drums and bass stems; a mute for contrast, and a varied repeat, one stem), so it
        can be auditioned; empty when the move is not a mute (a shorter intro changes the
        form) or the song has no such stems.
    """

    kind: str
    start_bar: int
    end_bar: int
    start_s: float
    end_s: float
    message: str
    mute_stems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {**self.__dict__, "mute_stems": list(self.mute_stems)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Move:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "mute_stems": tuple(data.get("mute_stems", ()))})


@dataclass(frozen=True)
class _Part:
    index: int
    span: SectionSpan
    start_bar: int
    bars: int

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.bars

    @property
    def name(self) -> str:
        return f"section {self.index + 1} ({self.span.label})"


def find_moves(context: SongContext) -> list[Move]:
    """Every move the four rules find, in bar order."""
    grid = Grid(context)
    parts = [_Part(i, s, *grid.section_bars(s)) for i, s in enumerate(context.sections)]
    found = _breakdown(parts, context) + _repeats(parts, context) + _intro(parts)
    found += _mute(parts, context)
    moves = [_move(*found_move, grid) for found_move in found]
    return sorted(moves, key=lambda move: (move.start_bar, move.kind))


def _move(kind: str, start: int, end: int, text: str, mutes: tuple[str, ...], grid: Grid) -> Move:
    start_s, end_s = grid.bar_time_s(start), grid.bar_time_s(end)
    text = text.replace("{when}", f"bars {start + 1}-{end} ({_clock(start_s)}-{_clock(end_s)})")
    return Move(kind, start, end, round(start_s, 3), round(end_s, 3), text, mutes)


def _clock(time_s: float) -> str:
    minutes, seconds = divmod(int(round(time_s)), 60)
    return f"{minutes}:{seconds:02d}"


def _base(label: str) -> str:
    return label.rstrip("'0123456789 ")


def chorus_label(parts: list[_Part]) -> str | None:
    """The repeated label (primes ignored) with the highest mean energy, if any repeats."""
    groups: dict[str, list[float]] = {}
    for part in parts:
        groups.setdefault(_base(part.span.label), []).append(part.span.energy)
    repeated = {k: sum(v) / len(v) for k, v in groups.items() if len(v) >= 2}
    if not repeated:
        return None
    return max(repeated, key=lambda k: repeated[k])


def _breakdown(parts: list[_Part], context: SongContext) -> list[Found]:
    label = chorus_label(parts)
    if label is None:
        return []
    last = [p for p in parts if _base(p.span.label) == label][-1]
    if last.index == 0:
        return []
    before = parts[last.index - 1]
    if _base(before.span.label) == label:
        return []
    if before.span.energy < BREAKDOWN_RATIO * last.span.energy:
        return []
    bars = min(BREAKDOWN_BARS, before.bars)
    text = (
        f"Break down {{when}}: the end of {before.name} runs at energy "
        f"{before.span.energy:.2f}, close to the last chorus ({last.name}, "
        f"{last.span.energy:.2f}), so the chorus has nothing to rise from. Drop the drums and "
        f"bass (or everything but one part) for these {bars} bars, then bring them all back "
        f"on bar {last.start_bar + 1}."
    )
    mutes = tuple(s.name for s in context.stems if s.role in ("drums", "bass"))
    return [("breakdown", last.start_bar - bars, last.start_bar, text, mutes)]


def _repeats(parts: list[_Part], context: SongContext) -> list[Found]:
    found = []
    run: list[_Part] = []
    for part in parts + [None]:  # type: ignore[list-item]
        if part is not None and run and _same(run[-1], part):
            run.append(part)
            continue
        found += _long_run(run, context)
        run = [part] if part is not None else []
    return found


def _same(a: _Part, b: _Part) -> bool:
    return a.span.label == b.span.label and abs(a.span.energy - b.span.energy) <= SAME_ENERGY


def _long_run(run: list[_Part], context: SongContext) -> list[Found]:
    if not run:
        return []
    bars = sum(p.bars for p in run)
    if bars <= REPEAT_LIMIT_BARS:
        return []
    middle = run[0].start_bar + max(4, bars // 2 // 4 * 4)  # half-way, on a 4-bar line
    where = f"{run[0].name}" if len(run) == 1 else f"{len(run)} {run[0].span.label} sections"
    text = (
        f"Vary the repeat {{when}}: from bar {run[0].start_bar + 1}, {where} play the same "
        f"material at the same energy for {bars} bars, and past {REPEAT_LIMIT_BARS} bars the "
        f"ear stops listening. For this second half change the drum pattern, add or drop a "
        f"part, or move the chords up an octave."
    )
    dropped = sorted(
        (MUTE_ROLES.index(s.role), s.name, s.role) for s in context.stems if s.role in MUTE_ROLES
    )
    if not dropped:
        return [("vary-repeat", middle, run[-1].end_bar, text, ())]
    _, name, role = dropped[0]
    text += f" Heard here: the {name} ({role}) dropped."
    return [("vary-repeat", middle, run[-1].end_bar, text, (name,))]


def _intro(parts: list[_Part]) -> list[Found]:
    if not parts:
        return []
    hook = _hook(parts)
    intro = parts[0]
    long_intro = intro is not hook and intro.bars > INTRO_LIMIT_BARS
    if not long_intro and hook.start_bar <= HOOK_LIMIT_BARS:
        return []
    text = (
        f"Reach the hook sooner: the first chorus ({hook.name}, energy {hook.span.energy:.2f}) "
        f"starts at bar {hook.start_bar + 1}, after {hook.start_bar} bars ({{when}}); the "
        f"opening {parts[0].name} alone lasts {parts[0].bars} bars. Cut the lead-in to 4 or "
        f"{INTRO_LIMIT_BARS} bars, or open with a few bars of the hook itself."
    )
    cut = _cut_bars(0, hook.start_bar)
    if cut is not None:
        text += f" Heard here: the first {KEEP_INTRO_BARS} bars, then on from bar {cut[1] + 1}."
    return [("shorten-intro", 0, hook.start_bar, text, ())]


def intro_cut(move: Move) -> tuple[int, int] | None:
    """The bars a shorter intro leaves out, [from, to), 0-based; None for other moves."""
    return _cut_bars(move.start_bar, move.end_bar) if move.kind == "shorten-intro" else None


def _cut_bars(intro_bar: int, hook_bar: int) -> tuple[int, int] | None:
    cut = (intro_bar + KEEP_INTRO_BARS, hook_bar - BEFORE_HOOK_BARS)
    return cut if cut[1] > cut[0] else None


def _hook(parts: list[_Part]) -> _Part:
    """The first chorus, or without a repeated label the first section near the top energy."""
    label = chorus_label(parts)
    if label is not None:
        return next(p for p in parts if _base(p.span.label) == label)
    top = max(p.span.energy for p in parts)
    return next(p for p in parts if p.span.energy >= top - SAME_ENERGY)


def _mute(parts: list[_Part], context: SongContext) -> list[Found]:
    if len(parts) < 3:
        return []
    flat = []
    for stem in context.stems:
        levels = stem.loudness_lufs
        if stem.role not in MUTE_ROLES or any(level is None for level in levels):
            continue
        spread = max(levels) - min(levels)  # type: ignore[type-var, operator]
        if spread < FLAT_RANGE_LU:
            flat.append((spread, MUTE_ROLES.index(stem.role), stem.name, stem.role))
    if not flat:
        return []
    _, _, name, role = min(flat)
    quiet = min(parts[1:-1], key=lambda p: (p.span.energy, p.index))  # one follows it
    text = (
        f"Mute the {name} ({role}) in {quiet.name}, {{when}}: it plays at nearly the same "
        f"level in every section, so nothing changes when it enters. Leaving it out of the "
        f"quietest section makes its return lift the section after."
    )
    return [("mute-for-contrast", quiet.start_bar, quiet.end_bar, text, (name,))]
