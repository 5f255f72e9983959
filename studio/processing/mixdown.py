"""Summing stems into a mix, streamed block by block.

Stems of one project may differ in sample rate, channel count and length. The mix
runs at the most common sample rate among them (ties: the highest), in stereo when
any stem is stereo; a stem at another rate is resampled on the fly with soxr, a
mono stem feeds both channels, and a short stem is padded with silence. Memory
holds one block per stem, whatever the length of the song.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from .decode import DEFAULT_BLOCK_FRAMES, read_blocks


@dataclass(frozen=True)
class StemSource:
    """One stem to mix: its file, and what the header says about it."""

    path: str | os.PathLike[str]
    sample_rate: int
    channels: int
    frames: int

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> StemSource:
        info = sf.info(os.fspath(path))
        return cls(
            path=path, sample_rate=info.samplerate, channels=info.channels, frames=info.frames
        )


def mix_format(sources: Sequence[StemSource]) -> tuple[int, int, int]:
    """The mix's sample rate (Hz), channel count and length in frames."""
    if not sources:
        raise ValueError("a mix needs at least one stem, found none")
    counts = Counter(s.sample_rate for s in sources)
    sample_rate = max(counts, key=lambda rate: (counts[rate], rate))
    channels = 2 if any(s.channels == 2 for s in sources) else 1
    frames = max(round(s.frames * sample_rate / s.sample_rate) for s in sources)
    return sample_rate, channels, frames


class StemStream:
    """One stem's blocks at the mix rate and channel count, served in exact sizes, from
    ``start_frame`` (in frames at the mix rate) on."""

    def __init__(
        self, source: StemSource, *, sample_rate: int, channels: int, start_frame: int = 0
    ) -> None:
        self.blocks = read_blocks(
            source.path,
            block_frames=DEFAULT_BLOCK_FRAMES,
            start_frame=round(start_frame * source.sample_rate / sample_rate),
        )
        self.channels = channels
        self.source_channels = source.channels
        self.resampler = (
            None
            if source.sample_rate == sample_rate
            else soxr.ResampleStream(
                source.sample_rate, sample_rate, source.channels, dtype="float32"
            )
        )
        self.buffer = np.zeros((channels, 0), dtype=np.float32)
        self.done = False

    def take(self, n_frames: int) -> np.ndarray:
        while self.buffer.shape[1] < n_frames and not self.done:
            self._fill()
        out = self.buffer[:, :n_frames]
        self.buffer = self.buffer[:, n_frames:]
        if out.shape[1] < n_frames:
            out = np.pad(out, ((0, 0), (0, n_frames - out.shape[1])))
        return out

    def _fill(self) -> None:
        block = next(self.blocks, None)
        last = block is None
        if last:
            self.done = True
            if self.resampler is None:
                return
            block = np.zeros((self.source_channels, 0), dtype=np.float32)
        if self.resampler is not None:
            block = self.resampler.resample_chunk(np.ascontiguousarray(block.T), last=last).T
        if block.shape[0] == 1 and self.channels == 2:
            block = np.repeat(block, 2, axis=0)
        self.buffer = np.concatenate([self.buffer, block.astype(np.float32, copy=False)], axis=1)


def mix_blocks(
    sources: Sequence[StemSource],
    *,
    gains: Sequence[float] | None = None,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
) -> Iterator[np.ndarray]:
    """Yield the sum of the stems as float32 blocks shaped (channels, n), in order.

    Parameters
    ----------
    sources : sequence of StemSource
        The stems.
    gains : sequence of float, optional
        A linear gain per stem (1.0 when omitted).
    block_frames : int
        Frames per yielded block (the last may be shorter).
    """
    sample_rate, channels, total = mix_format(sources)
    gains = [1.0] * len(sources) if gains is None else list(gains)
    if len(gains) != len(sources):
        raise ValueError(f"expected {len(sources)} gains, found {len(gains)}")
    streams = [StemStream(s, sample_rate=sample_rate, channels=channels) for s in sources]
    done = 0
    while done < total:
        n = min(block_frames, total - done)
        block = np.zeros((channels, n), dtype=np.float32)
        for stream, gain in zip(streams, gains, strict=True):
            block += gain * stream.take(n)
        done += n
        yield block
