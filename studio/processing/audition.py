"""An arrangement idea heard in the song: its audio over the mix, on the song's beat grid.

:func:`context_from_reports` turns the analysis of a project's mix (key, tempo, beats,
downbeats, sections, chords) and of its stems (role, loudness over time) into the
:class:`~studio.processing.song_context.SongContext` the idea writers read.
:func:`audition_idea` writes an idea and renders two files on one timeline, from a lead-in
of two bars before the idea to its end: the idea over the mix (``with_song``) and the idea
alone. A browser switches between them at the same playhead, so the idea is always heard
exactly in time with the song. A ``moves`` idea has no notes: its files are the passage of
the first move that can be played (a shorter intro, or one that mutes stems the song has),
with the move (``with_song``) and as it is now (``alone``); a shorter intro is an edit, so
both run from the top for as long as the song takes to reach a few bars into its hook,
and the edited one goes on further into the song. With no such move both files are the
passage of the first move as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import decode
from .ideas import Idea, generate
from .instruments import render_idea
from .mixing import BusSettings, StemSettings
from .moves import Move, intro_cut
from .preview import integrated_lufs, render_excerpt
from .song_context import Grid, SongContext

LEAD_IN_BARS = 2
IDEA_UNDER_SONG_LU = 3.0  # the idea sits this far under the song, so both are heard
LONE_IDEA_LUFS = -18.0  # its level where the song is silent (a new section after the end)
PEAK_CEILING_DBFS = -1.0
CROSSFADE_S = 0.02


def context_from_reports(
    mix: dict[str, Any], stems: Sequence[tuple[str, dict[str, Any] | None]] = ()
) -> SongContext:
    """The song as the idea writers see it, from the mix's analysis report and each stem's
    (name, report). Raises ValueError when the mix has no key or no tempo to stand on."""
    tonality, rhythm = mix.get("tonality") or {}, mix.get("rhythm") or {}
    if tonality.get("tonic") is None or tonality.get("mode") is None:
        raise ValueError("the mix has no key the engine could hear, so ideas cannot fit it")
    if not rhythm.get("tempo_bpm"):
        raise ValueError("the mix has no tempo the engine could hear, so ideas cannot fit it")
    sections = [
        (s["start_s"], s["end_s"], s["label"], s.get("energy", 0.5))
        for s in (mix.get("structure") or {}).get("sections", [])
    ]
    chords = [
        (c["start_s"], c["end_s"], c.get("root"), c.get("quality", "N"))
        for c in (mix.get("chords") or {}).get("chords", [])
    ]
    stem_infos = [
        (name, (report.get("role") or {}).get("role") or "other", _loudness_by(report, sections))
        for name, report in stems
        if report
    ]
    return SongContext(
        tonic=int(tonality["tonic"]),
        mode=str(tonality["mode"]),
        tempo_bpm=float(rhythm["tempo_bpm"]),
        beats_s=tuple(rhythm.get("beats_s") or ()),
        downbeats_s=tuple(rhythm.get("downbeats_s") or ()),
        duration_s=float(mix.get("duration_s") or 0.0) or 1.0,
        sections=tuple(sections),
        chords=tuple(chords),
        stems=tuple(stem_infos),
    )


def _loudness_by(report: dict[str, Any], sections: Sequence[tuple]) -> tuple[float | None, ...]:
    """A stem's loudness in each section in LUFS: the power mean of its short-term loudness
    over the section (None where it is silent)."""
    loudness = report.get("loudness") or {}
    hop_s = float(loudness.get("hop_s") or 0.1)
    series = loudness.get("short_term_lufs") or []
    values = []
    for start_s, end_s, *_ in sections:
        part = [v for v in series[int(start_s / hop_s) : int(end_s / hop_s) + 1] if v is not None]
        if not part:
            values.append(None)
            continue
        power = float(np.mean(np.power(10.0, np.array(part) / 10.0)))
        values.append(round(10.0 * math.log10(power), 2) if power > 0 else None)
    return tuple(values)


def audition_idea(
    *,
    paths: Sequence[str],
    settings: Sequence[dict[str, Any]],
    bus: dict[str, Any],
    stem_names: Sequence[str],
    kind: str,
    context: dict[str, Any],
    section: int | None,
    seed: int,
    options: dict[str, Any],
    out_with_song: str,
    out_alone: str,
) -> dict[str, Any]:
    """Write the idea and both audition files (FLAC, 24-bit); returns the idea as a dict
    with ``audition``: the song time the files start at (s), their length (s), where the
    idea starts in them (s) and the gain put on the idea (dB)."""
    song = SongContext.from_dict(context)
    idea = generate(kind, song, section=section, seed=seed, options=options)
    grid = Grid(song)
    heard = heard_move(idea, stem_names)
    move = None if heard is None else idea.moves[heard]
    cut = None if move is None else intro_cut(move)
    start_s, end_s = _span(idea, grid, move, cut)
    stem_settings = [StemSettings.from_dict(s) for s in settings]
    bus_settings = BusSettings.from_dict(bus)
    mixed, rate = render_excerpt(
        paths, stem_settings, bus_settings, start_s=start_s, duration_s=end_s - start_s
    )
    cut_s = None
    if move is not None and cut is not None:
        cut_s = (grid.bar_time_s(cut[0]), grid.bar_time_s(cut[1]))
        length_s = grid.bar_time_s(move.end_bar + 1) - start_s
        with_song, alone, gain_db = _cut_pair(mixed, rate, start_s, cut_s, length_s)
    elif idea.kind == "moves":
        with_song, alone, gain_db = _moves_pair(
            move, mixed, rate, paths, stem_settings, bus_settings, stem_names, start_s
        )
    else:
        with_song, alone, gain_db = _idea_pair(idea, song, mixed, rate, start_s, end_s)
    for path, signal in ((out_with_song, with_song), (out_alone, alone)):
        decode.write(path, signal, sample_rate=rate, format="FLAC", subtype="PCM_24")
    audition = {
        "start_s": round(start_s, 4),
        "duration_s": round(with_song.shape[1] / rate, 4),
        "idea_at_s": round(idea.start_s - start_s, 4),
        "idea_gain_db": round(gain_db, 2),
        "move": heard,
        # A shorter intro: the song times (s) it jumps from and to.
        "cut_s": None if cut_s is None else [round(t, 4) for t in cut_s],
    }
    return idea.to_dict() | {"audition": audition}


def heard_move(idea: Idea, stem_names: Sequence[str]) -> int | None:
    """Index of the move a moves idea's audition plays: the first that is a shorter intro
    or mutes stems the song has; None for other kinds, or when no move can be played."""
    names = set(stem_names)
    return next(
        (
            i
            for i, move in enumerate(idea.moves)
            if names & set(move.mute_stems) or intro_cut(move) is not None
        ),
        None,
    )


def _span(
    idea: Idea, grid: Grid, played: Move | None, cut: tuple[int, int] | None
) -> tuple[float, float]:
    """Song times (s) the audition covers: two bars of lead-in, then the idea (or, for
    moves, the heard move's bars, else the first move's, with a bar after)."""
    if idea.kind == "moves" and idea.moves:
        move = idea.moves[0] if played is None else played
        first, last = move.start_bar, move.end_bar + 1
        if cut is not None:  # the edit goes on as far into the song as it left out (and a
            last += cut[1] - cut[0] + 1  # bar more, so no rounding leaves it short)
    else:
        first, last = idea.start_bar, idea.start_bar + idea.bars
    start = max(0.0, grid.bar_time_s(max(0, first - LEAD_IN_BARS)))
    return start, max(grid.bar_time_s(last), start + 1.0)


def _idea_pair(
    idea: Idea, song: SongContext, mixed: np.ndarray, rate: int, start_s: float, end_s: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """The idea over the song and alone, on one timeline of ``end_s - start_s`` plus the
    idea's tail."""
    part = render_idea(idea, song, sample_rate=rate)
    offset = round((idea.start_s - start_s) * rate)
    length = max(mixed.shape[1], offset + part.shape[1])
    channels = mixed.shape[0]
    alone = np.zeros((channels, length), dtype=np.float32)
    alone[:, offset : offset + part.shape[1]] = _to_channels(part, channels)
    song_audio = np.zeros_like(alone)
    song_audio[:, : mixed.shape[1]] = mixed
    gain_db = _idea_gain_db(alone, song_audio, rate)
    alone *= np.float32(10.0 ** (gain_db / 20.0))
    with_song = song_audio + alone
    scale = _ceiling_scale(with_song)
    return with_song * scale, alone * scale, gain_db + 20.0 * math.log10(scale)


def _idea_gain_db(idea: np.ndarray, song: np.ndarray, rate: int) -> float:
    """Gain (dB) that puts the idea IDEA_UNDER_SONG_LU under the song, or at LONE_IDEA_LUFS
    where the song is silent."""
    idea_lufs = integrated_lufs(idea, sample_rate=rate)
    if idea_lufs is None:
        return 0.0
    song_lufs = integrated_lufs(song, sample_rate=rate)
    target = LONE_IDEA_LUFS if song_lufs is None else song_lufs - IDEA_UNDER_SONG_LU
    return target - idea_lufs


def _moves_pair(
    move: Move | None,
    mixed: np.ndarray,
    rate: int,
    paths: Sequence[str],
    settings: Sequence[StemSettings],
    bus: BusSettings,
    stem_names: Sequence[str],
    start_s: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The passage with the move's mutes applied, and as it is now."""
    if move is None:
        return mixed, mixed.copy(), 0.0
    muted_names = set(move.mute_stems)
    quiet = [
        StemSettings.from_dict(s.to_dict() | {"mute": True}) if name in muted_names else s
        for s, name in zip(settings, stem_names, strict=True)
    ]
    stripped, _ = render_excerpt(
        paths, quiet, bus, start_s=start_s, duration_s=mixed.shape[1] / rate
    )
    a = round((move.start_s - start_s) * rate)
    b = round((move.end_s - start_s) * rate)
    return _splice(mixed, stripped[:, : mixed.shape[1]], a, b, rate), mixed.copy(), 0.0


def _cut_pair(
    mixed: np.ndarray, rate: int, start_s: float, cut_s: tuple[float, float], length_s: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """The passage with the song from ``cut_s[0]`` to ``cut_s[1]`` (s) left out, and as it is
    now, both ``length_s`` seconds long (or as long as the song allows)."""
    n = min(round(length_s * rate), mixed.shape[1])
    a, b = (round((t - start_s) * rate) for t in cut_s)
    edited = _jump(mixed, a, b, rate)[:, :n]
    if edited.shape[1] < n:  # the song ended sooner than the edit
        edited = np.pad(edited, ((0, 0), (0, n - edited.shape[1])))
    return edited, mixed[:, :n].copy(), 0.0


def _jump(signal: np.ndarray, a: int, b: int, rate: int) -> np.ndarray:
    """``signal`` up to sample ``a``, then on from sample ``b``, which lands exactly where
    ``a`` was; the two are crossfaded over the CROSSFADE_S before it."""
    fade = max(1, min(round(CROSSFADE_S * rate), a, b))
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    seam = signal[:, a - fade : a] * (1.0 - ramp) + signal[:, b - fade : b] * ramp
    return np.concatenate([signal[:, : a - fade], seam, signal[:, b:]], axis=1)


def _splice(base: np.ndarray, inner: np.ndarray, a: int, b: int, rate: int) -> np.ndarray:
    """``base`` with samples ``a`` to ``b`` taken from ``inner``, with short crossfades."""
    n = base.shape[1]
    a, b = max(0, min(a, n)), max(0, min(b, n))
    weight = np.zeros(n, dtype=np.float32)
    if b > a:
        weight[a:b] = 1.0
        fade = max(1, min(round(CROSSFADE_S * rate), (b - a) // 2))
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        weight[a : a + fade] = ramp
        weight[b - fade : b] = ramp[::-1]
    width = min(inner.shape[1], n)
    out = base.copy()
    out[:, :width] = base[:, :width] * (1.0 - weight[:width]) + inner[:, :width] * weight[:width]
    return out


def _to_channels(signal: np.ndarray, channels: int) -> np.ndarray:
    if signal.shape[0] == channels:
        return signal
    if channels == 1:
        return signal.mean(axis=0, keepdims=True)
    return np.repeat(signal[:1], channels, axis=0)


def _ceiling_scale(signal: np.ndarray) -> float:
    peak = float(np.max(np.abs(signal), initial=0.0))
    ceiling = 10.0 ** (PEAK_CEILING_DBFS / 20.0)
    return ceiling / peak if peak > ceiling else 1.0
