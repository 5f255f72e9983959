"""Rendering a mix to files: the stems through the mix settings, written as it streams.

One pass over the stems (:func:`studio.processing.mixing.render_mix_blocks`) feeds every
output file at once (24-bit WAV, 24-bit FLAC, MP3), the loudness meter (ITU-R BS.1770-4:
the delivered file's integrated loudness and true peak) and the waveform peaks, so a
version costs one decode of its stems whatever it is delivered as. Memory holds a block
per stem.

MP3 exists only at the MPEG sample rates (up to 48 kHz); a mix at a higher rate is
resampled to 48 kHz for its MP3 alone (soxr, very high quality).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from .loudness import LoudnessMeter
from .mixdown import StemSource, mix_format
from .mixing import BusSettings, StemSettings, render_mix_blocks
from .peaks import PeaksAnalyzer

# format name: (libsndfile container, subtype, file extension)
FORMATS: dict[str, tuple[str, str, str]] = {
    "wav": ("WAV", "PCM_24", "wav"),
    "flac": ("FLAC", "PCM_24", "flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", "mp3"),
}
MP3_MAX_RATE = 48_000
# Frames per block of the render: large blocks keep the per-block overhead of 16 stems'
# chains small (about 6 s at 44.1 kHz: 2 MiB of float32 stereo per stem).
RENDER_BLOCK_FRAMES = 262_144
MAX_PEAKS_KEPT = 16_384


@dataclass(frozen=True)
class RenderResult:
    """What a render produced: its length (s), format, loudness as delivered and peaks."""

    duration_s: float
    sample_rate: int
    channels: int
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    loudness_range_lu: float | None
    clipped_samples: int
    peaks: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 4),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "integrated_lufs": _rounded(self.integrated_lufs),
            "true_peak_dbtp": _rounded(self.true_peak_dbtp),
            "loudness_range_lu": _rounded(self.loudness_range_lu),
            "clipped_samples": self.clipped_samples,
            "peaks": self.peaks,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 2)


class _Writers:
    """The output files, written block by block; the MP3 through its own resampler."""

    def __init__(
        self, outputs: dict[str, str], *, sample_rate: int, channels: int, stack: Any
    ) -> None:
        unknown = sorted(set(outputs) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown formats {unknown}; choose from {sorted(FORMATS)}")
        self.files: list[tuple[sf.SoundFile, soxr.ResampleStream | None]] = []
        for name, path in outputs.items():
            container, subtype, _ = FORMATS[name]
            rate, resampler = sample_rate, None
            if name == "mp3" and sample_rate > MP3_MAX_RATE:
                rate = MP3_MAX_RATE
                resampler = soxr.ResampleStream(
                    sample_rate, rate, channels, dtype="float32", quality="VHQ"
                )
            sound = stack.enter_context(
                sf.SoundFile(path, "w", rate, channels, subtype=subtype, format=container)
            )
            self.files.append((sound, resampler))

    def write(self, block: np.ndarray, *, last: bool = False) -> None:
        frames = np.clip(block.T, -1.0, 1.0)
        for sound, resampler in self.files:
            data = frames
            if resampler is not None:
                data = resampler.resample_chunk(np.ascontiguousarray(frames), last=last)
            if len(data):
                sound.write(data)


def render_mix(
    *,
    paths: Sequence[str],
    settings: Sequence[dict[str, Any]],
    bus: dict[str, Any],
    outputs: dict[str, str],
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Render the mix of ``paths`` through ``settings`` (a StemSettings dict per path) and
    ``bus`` (a BusSettings dict) into ``outputs`` (format name to file path), measuring it
    as it goes. Returns :meth:`RenderResult.to_dict`; ``progress`` gets the fraction done."""
    sources = [StemSource.from_path(p) for p in paths]
    sample_rate, channels, total = mix_format(sources)
    meter = LoudnessMeter(sample_rate=sample_rate, channels=channels)
    peaks = PeaksAnalyzer(sample_rate=sample_rate, channels=channels)
    clipped, done, reported = 0, 0, 0.0
    with contextlib.ExitStack() as stack:
        writers = _Writers(outputs, sample_rate=sample_rate, channels=channels, stack=stack)
        blocks = render_mix_blocks(
            sources,
            [StemSettings.from_dict(s) for s in settings],
            bus=BusSettings.from_dict(bus),
            block_frames=RENDER_BLOCK_FRAMES,
            threads=min(len(sources), os.cpu_count() or 1),
        )
        for block in blocks:
            if not block.shape[1]:
                continue
            writers.write(block)
            meter.push(block)
            peaks.push(block)
            clipped += int(np.count_nonzero(np.abs(block) > 1.0))
            done += block.shape[1]
            if progress and done / total - reported >= 0.05:
                reported = done / total
                progress(min(reported, 0.99))
        writers.write(np.zeros((channels, 0), dtype=np.float32), last=True)
    loudness = meter.result()
    waveform = peaks.result()
    kept = tuple(i for i, level in enumerate(waveform.levels) if level.n_peaks <= MAX_PEAKS_KEPT)
    return RenderResult(
        duration_s=total / sample_rate,
        sample_rate=sample_rate,
        channels=channels,
        integrated_lufs=loudness.integrated_lufs,
        true_peak_dbtp=loudness.true_peak_dbtp,
        loudness_range_lu=loudness.loudness_range_lu,
        clipped_samples=clipped,
        peaks=waveform.to_dict(level_indices=kept or (len(waveform.levels) - 1,)),
    ).to_dict()
