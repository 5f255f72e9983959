"""Drum grooves by style and feel, with fills, as General MIDI drum notes.

A groove is written on a grid of sixteen steps per 4/4 bar. Each style is a small table of
textbook patterns (kick variations, the backbeat, the hi-hat or ride line, ghost notes); the
seed picks among them. Every fourth bar of a phrase plays a kick variation, and the last bar
of a section can end with a fill.

Feel: ``straight`` puts step ``s`` at beat ``s / 4``. ``swung`` delays the off-beats by a
triplet: in the rock, pop, half-time and four-on-the-floor styles the off-beat eighth lands on
the third triplet (2/3 of a beat); in funk and hip-hop the swing is on sixteenths (the second
sixteenth of each eighth lands 1/3 of an eighth later). Swung positions are multiples of 1/6
of a beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KICK, SIDE_STICK, SNARE, CLAP = 36, 37, 38, 39
CLOSED_HAT, OPEN_HAT, CRASH, RIDE = 42, 46, 49, 51
FLOOR_TOM, LOW_TOM, MID_TOM, HIGH_TOM = 43, 45, 47, 50
STYLES = ("rock", "pop", "funk", "half-time", "four-on-the-floor", "hip-hop")
FEELS = ("straight", "swung")
STEPS_PER_BAR = 16
STRAIGHT = (0.0, 0.25, 0.5, 0.75)
SWUNG_EIGHTHS = (0.0, 1 / 3, 2 / 3, 5 / 6)
SWUNG_SIXTEENTHS = (0.0, 1 / 3, 0.5, 5 / 6)

Hit = tuple[int, int, int]  # (GM drum note, step 0..15, velocity 1..127)


@dataclass(frozen=True)
class Style:
    """One drum style: alternatives the seed chooses from (steps are sixteenths in a bar)."""

    kicks: tuple[tuple[int, ...], ...]
    backbeat: tuple[int, ...]
    backbeat_note: int
    hats: tuple[tuple[tuple[int, ...], int], ...]  # (steps, note) alternatives
    open_hats: tuple[int, ...] = ()
    ghosts: tuple[int, ...] = ()
    sixteenth_swing: bool = False
    words: str = ""


EIGHTHS = tuple(range(0, 16, 2))
SIXTEENTHS = tuple(range(16))
OFFBEATS = (2, 6, 10, 14)

STYLE_TABLE = {
    "rock": Style(
        kicks=((0, 8), (0, 8, 10), (0, 6, 8), (0, 3, 8, 10)),
        backbeat=(4, 12),
        backbeat_note=SNARE,
        hats=((EIGHTHS, CLOSED_HAT), (EIGHTHS, RIDE)),
        words="kick on 1 and 3, snare on 2 and 4, steady eighths",
    ),
    "pop": Style(
        kicks=((0, 8), (0, 6, 8), (0, 8, 14), (0, 3, 8)),
        backbeat=(4, 12),
        backbeat_note=SNARE,
        hats=((EIGHTHS, CLOSED_HAT), (SIXTEENTHS, CLOSED_HAT)),
        words="kick on 1 and 3 with light pushes, backbeat on 2 and 4",
    ),
    "funk": Style(
        kicks=((0, 3, 8, 10), (0, 6, 10), (0, 3, 6, 10), (0, 2, 7, 10)),
        backbeat=(4, 12),
        backbeat_note=SNARE,
        hats=((SIXTEENTHS, CLOSED_HAT),),
        open_hats=(14,),
        ghosts=(7, 9, 15),
        sixteenth_swing=True,
        words="syncopated sixteenth kicks, ghost notes around the backbeat, busy hats",
    ),
    "half-time": Style(
        kicks=((0,), (0, 10), (0, 7), (0, 3, 11)),
        backbeat=(8,),
        backbeat_note=SNARE,
        hats=((EIGHTHS, CLOSED_HAT), (SIXTEENTHS, CLOSED_HAT)),
        words="snare only on beat 3, so the bar feels twice as long",
    ),
    "four-on-the-floor": Style(
        kicks=((0, 4, 8, 12), (0, 4, 8, 12, 14)),
        backbeat=(4, 12),
        backbeat_note=CLAP,
        hats=(((), CLOSED_HAT), (SIXTEENTHS, CLOSED_HAT)),
        open_hats=OFFBEATS,
        words="a kick on every beat, clap on 2 and 4, open hats on the off-beats",
    ),
    "hip-hop": Style(
        kicks=((0, 7, 10), (0, 3, 10), (0, 7, 8), (0, 10, 11)),
        backbeat=(4, 12),
        backbeat_note=SNARE,
        hats=((EIGHTHS, CLOSED_HAT), (SIXTEENTHS, CLOSED_HAT)),
        sixteenth_swing=True,
        words="a laid-back kick that skips beat 3, a heavy backbeat",
    ),
}

# Fills: (name, first step replaced, hits from that step on).
FILLS = (
    (
        "a snare roll on beat 4",
        12,
        ((SNARE, 12, 70), (SNARE, 13, 82), (SNARE, 14, 96), (SNARE, 15, 110)),
    ),
    (
        "a tom run down from beat 3",
        8,
        ((HIGH_TOM, 8, 100), (MID_TOM, 10, 100), (LOW_TOM, 12, 105), (FLOOR_TOM, 14, 112)),
    ),
    (
        "snare then toms over beats 3 and 4",
        8,
        (
            (SNARE, 8, 90),
            (SNARE, 10, 95),
            (HIGH_TOM, 12, 100),
            (MID_TOM, 13, 100),
            (LOW_TOM, 14, 106),
            (FLOOR_TOM, 15, 112),
        ),
    ),
    (
        "sixteenth snares rising over beats 3 and 4",
        8,
        tuple((SNARE, s, 55 + 8 * (s - 8)) for s in range(8, 16)),
    ),
)


@dataclass(frozen=True)
class Groove:
    """Drum hits of a groove and the words that describe it.

    Attributes
    ----------
    hits : tuple of (int, float, float, int)
        ``(GM drum note, start in beats, length in beats, velocity 1..127)``, sorted.
    kick_beats : tuple of float
        Onsets of the kick in beats.
    words : str
        Plain description: the style, the variations chosen and the fill.
    """

    hits: tuple[tuple[int, float, float, int], ...]
    kick_beats: tuple[float, ...]
    words: str


def make_groove(
    *,
    style: str,
    feel: str,
    bars: int,
    fill: bool,
    pattern_rng: np.random.Generator,
    fill_rng: np.random.Generator,
    crash: bool = True,
) -> Groove:
    """Write ``bars`` bars of a style.

    ``pattern_rng`` alone decides the pattern (so a bass line can lock to the same kicks
    whether or not the drums end with a fill); ``fill_rng`` decides the fill and the small
    velocity variations.
    """
    table = STYLE_TABLE[style]
    main, variation = _pick_kicks(table, pattern_rng)
    hat_steps, hat_note = table.hats[int(pattern_rng.integers(len(table.hats)))]
    fill_choice = FILLS[int(fill_rng.integers(len(FILLS)))] if fill else None
    offsets = SWUNG_SIXTEENTHS if table.sixteenth_swing else SWUNG_EIGHTHS
    offsets = offsets if feel == "swung" else STRAIGHT
    hits: list[tuple[int, float, float, int]] = []
    for bar in range(bars):
        kicks = variation if bar % 4 == 3 else main
        bar_hits = _bar_hits(table, kicks, hat_steps, hat_note)
        if crash and bar == 0:
            bar_hits.append((CRASH, 0, 110))
        if fill_choice is not None and bar == bars - 1:
            bar_hits = _with_fill(bar_hits, fill_choice)
        hits += [_place(hit, bar, offsets, feel, fill_rng) for hit in bar_hits]
    hits.sort(key=lambda hit: (hit[1], hit[0]))
    kick_beats = tuple(beat for note, beat, _, _ in hits if note == KICK)
    return Groove(tuple(hits), kick_beats, _words(style, feel, table, main, variation, fill_choice))


def _pick_kicks(table: Style, rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    order = rng.permutation(len(table.kicks))
    main = table.kicks[int(order[0])]
    variation = table.kicks[int(order[1])] if len(order) > 1 else main
    return main, variation


def _bar_hits(
    table: Style, kicks: tuple[int, ...], hat_steps: tuple[int, ...], hat_note: int
) -> list[Hit]:
    hits: list[Hit] = [(KICK, s, 112 if s % 8 == 0 else 98) for s in kicks]
    hits += [(table.backbeat_note, s, 108) for s in table.backbeat]
    hits += [(SNARE, s, 38) for s in table.ghosts]
    hits += [(OPEN_HAT, s, 78) for s in table.open_hats]
    hats = [s for s in hat_steps if s not in table.open_hats]
    hits += [(hat_note, s, 84 if s % 4 == 0 else 70 if s % 2 == 0 else 56) for s in hats]
    return hits


def _with_fill(hits: list[Hit], fill: tuple[str, int, tuple[Hit, ...]]) -> list[Hit]:
    _, first_step, fill_hits = fill
    kept = [hit for hit in hits if hit[1] < first_step or hit[0] == CRASH]
    return kept + list(fill_hits)


def _place(
    hit: Hit,
    bar: int,
    offsets: tuple[float, ...],
    feel: str,
    rng: np.random.Generator,
) -> tuple[int, float, float, int]:
    note, step, velocity = hit
    beat = bar * 4 + step // 4 + offsets[step % 4]
    length = 1 / 6 if feel == "swung" else 0.25
    velocity = int(np.clip(velocity + rng.integers(-4, 5), 1, 127))
    return note, round(beat * 480) / 480, round(length * 480) / 480, velocity


def _words(
    style: str,
    feel: str,
    table: Style,
    main: tuple[int, ...],
    variation: tuple[int, ...],
    fill: tuple[str, int, tuple[Hit, ...]] | None,
) -> str:
    text = f"a {feel} {style} groove ({table.words}); the kick plays on {_step_names(main)}"
    if variation != main:
        text += f", and every fourth bar on {_step_names(variation)}"
    if fill is not None:
        text += f"; the last bar ends with {fill[0]} to lead into what comes next"
    return text


def _step_names(steps: tuple[int, ...]) -> str:
    names = []
    for step in steps:
        beat = step // 4 + 1
        names.append(str(beat) + ("", "e", "&", "a")[step % 4])
    return ", ".join(names)
