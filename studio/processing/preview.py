"""Previews of a mixing move: the same excerpt without and with it, matched in loudness.

Both versions are rendered through the mix settings (:mod:`studio.processing.mixing`), cut
to the same window, and the louder one is turned down to the integrated loudness of the
other (ITU-R BS.1770-4), so that the move is heard for what it changes, not for being
louder. They are written as 16-bit FLAC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import decode
from .loudness import db_to_gain, measure
from .mixdown import StemSource, mix_format
from .mixing import BusSettings, StemSettings, render_mix_blocks

MATCH_FLOOR_LUFS = -70.0
# An excerpt's render starts this long before it (s), so that filters, compressors, gates
# and the limiter have settled when it begins: three times the longest release any setting
# allows (2 s), by which an envelope started from rest is within 5 % of the one a render
# from the top would have. Auditions and previews late in a song no longer render all that
# comes before them.
PRE_ROLL_S = 6.0


@dataclass(frozen=True)
class PreviewResult:
    """What was rendered: the window (s) and the loudness of both versions as heard (LUFS)."""

    start_s: float
    duration_s: float
    before_lufs: float | None
    after_lufs: float | None
    gain_applied_db: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": round(self.start_s, 3),
            "duration_s": round(self.duration_s, 3),
            "before_lufs": None if self.before_lufs is None else round(self.before_lufs, 2),
            "after_lufs": None if self.after_lufs is None else round(self.after_lufs, 2),
            "gain_applied_db": round(self.gain_applied_db, 2),
        }


def render_excerpt(
    paths: Sequence[str],
    settings: Sequence[StemSettings],
    bus: BusSettings,
    *,
    start_s: float,
    duration_s: float,
) -> tuple[np.ndarray, int]:
    """The mix of ``paths`` through ``settings`` and ``bus``, from ``start_s`` for
    ``duration_s`` seconds (shorter at the end of the song): float32 (channels, n), rate.

    The render starts :data:`PRE_ROLL_S` before ``start_s`` (or at the top), not at the top
    of the song."""
    sources = [StemSource.from_path(p) for p in paths]
    sample_rate, channels, total = mix_format(sources)
    start = min(int(start_s * sample_rate), max(total - 1, 0))
    stop = min(start + int(duration_s * sample_rate), total)
    done = max(start - int(PRE_ROLL_S * sample_rate), 0)
    parts = []
    for block in render_mix_blocks(sources, settings, bus=bus, start_frame=done):
        end = done + block.shape[1]
        if end > start and done < stop:
            parts.append(block[:, max(start - done, 0) : stop - done])
        done = end
        if done >= stop:
            break
    if not parts:
        return np.zeros((channels, 0), dtype=np.float32), sample_rate
    return np.concatenate(parts, axis=1), sample_rate


def render_preview(
    *,
    paths: Sequence[str],
    before: Sequence[dict[str, Any]],
    after: Sequence[dict[str, Any]],
    bus_before: dict[str, Any],
    bus_after: dict[str, Any],
    start_s: float,
    duration_s: float,
    out_before: str,
    out_after: str,
) -> dict[str, Any]:
    """Render and write both versions of a preview (settings as dicts, one per path)."""
    original, moved = (
        render_excerpt(
            paths,
            [StemSettings.from_dict(s) for s in settings],
            BusSettings.from_dict(bus),
            start_s=start_s,
            duration_s=duration_s,
        )[0]
        for settings, bus in ((before, bus_before), (after, bus_after))
    )
    rate = mix_format([StemSource.from_path(p) for p in paths])[0]
    original, moved, result = match_loudness(original, moved, sample_rate=rate)
    decode.write(out_before, original, sample_rate=rate, format="FLAC")
    decode.write(out_after, moved, sample_rate=rate, format="FLAC")
    return PreviewResult(
        start_s=start_s,
        duration_s=original.shape[1] / rate,
        before_lufs=result[0],
        after_lufs=result[1],
        gain_applied_db=result[2],
    ).to_dict()


def integrated_lufs(signal: np.ndarray, *, sample_rate: int) -> float | None:
    """Integrated loudness of an in-memory signal in LUFS (None if silent or too short)."""
    if signal.shape[1] == 0:
        return None
    return measure(signal.astype(np.float32, copy=False), sample_rate=sample_rate).integrated_lufs


def match_loudness(
    a: np.ndarray, b: np.ndarray, *, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, tuple[float | None, float | None, float]]:
    """Turn the louder of ``a`` and ``b`` down to the other's integrated loudness (never
    up, so nothing clips that did not), then both down together if a peak would pass
    -0.1 dBFS. Returns both and (loudness of a, loudness of b, gain put on b in dB)."""
    la, lb = (
        integrated_lufs(a, sample_rate=sample_rate),
        integrated_lufs(b, sample_rate=sample_rate),
    )
    gain_b_db = 0.0
    if la is not None and lb is not None:
        if lb > la:
            gain_b_db = la - lb
            b = b * np.float32(db_to_gain(gain_b_db))
        else:
            a = a * np.float32(db_to_gain(lb - la))
            gain_b_db = 0.0
    peak = max(float(np.abs(a).max(initial=0)), float(np.abs(b).max(initial=0)))
    ceiling = db_to_gain(-0.1)
    if peak > ceiling:
        scale = np.float32(ceiling / peak)
        a, b = a * scale, b * scale
        gain_b_db += 20 * math.log10(float(scale))
    return a.astype(np.float32), b.astype(np.float32), (la, lb, gain_b_db)
