"""Blocks of samples: checking them, and cutting a stream of any block sizes into chunks.

Streaming analyzers take blocks of whatever size the caller reads, but compute on
chunks of a fixed size so that their results do not depend on how the signal was cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import soundfile as sf

from .decode import DEFAULT_BLOCK_FRAMES, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, read_blocks


def check_int(name: str, value: object) -> None:
    """Raise TypeError unless ``value`` is an int (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"Expected {name} as an int, found {type(value).__name__}.")


def check_stream(*, sample_rate: object, channels: object) -> None:
    """Raise unless the stream has an int sample rate the decoder takes and 1+ channels."""
    check_int("sample_rate", sample_rate)
    check_int("channels", channels)
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"Expected a sample rate of {MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz, "
            f"found {sample_rate:,} Hz."
        )
    if channels < 1:
        raise ValueError(f"Expected at least 1 channel, found {channels}.")


def file_blocks(
    path: str | os.PathLike[str], *, block_frames: int = DEFAULT_BLOCK_FRAMES
) -> tuple[int, int, Iterator[np.ndarray]]:
    """A file's sample rate (Hz), channel count and blocks, streamed by ``decode.read_blocks``.

    The first block is read before anything else, so decode checks the file first and its
    AudioError is what a caller sees for a bad file.
    """
    blocks = read_blocks(path, block_frames=block_frames)
    first = next(blocks)
    sample_rate = sf.info(os.fspath(path)).samplerate

    def all_blocks() -> Iterator[np.ndarray]:
        yield first
        yield from blocks

    return sample_rate, first.shape[0], all_blocks()


def checked_block(block: np.ndarray, *, channels: int) -> np.ndarray:
    """A float block shaped (channels, n) as float32; ``(n,)`` is taken for mono.

    Raises TypeError for a non-float array and ValueError for a shape that does not fit.
    Rounding to float32 comes first, so a float64 sample too large for float32 shows up as
    infinite to the caller's own finiteness check.
    """
    if not isinstance(block, np.ndarray) or not np.issubdtype(block.dtype, np.floating):
        found = block.dtype if isinstance(block, np.ndarray) else type(block).__name__
        raise TypeError(f"Expected a float32 numpy array, found {found}.")
    if block.ndim == 1 and channels == 1:
        block = block[np.newaxis]
    if block.ndim != 2 or block.shape[0] != channels:
        raise ValueError(f"Expected a block shaped ({channels}, n_samples), found {block.shape}.")
    return block.astype(np.float32, copy=False)


class Rechunker:
    """Cuts blocks of any size into chunks of exactly ``chunk_frames`` frames, in order.

    Whole chunks inside a block are handed out as views of it; the rest waits in a buffer
    until later blocks fill it. ``partial`` is what waits, for a final, shorter chunk.
    """

    def __init__(self, *, channels: int, chunk_frames: int) -> None:
        self.chunk_frames = chunk_frames
        self._pending = np.zeros((channels, chunk_frames), dtype=np.float32)
        self._filled = 0

    def chunks(self, block: np.ndarray) -> Iterator[np.ndarray]:
        """Yield every chunk that ``block`` completes; use each before asking for the next."""
        position, frames, chunk = 0, block.shape[1], self.chunk_frames
        while position < frames:
            if not self._filled and frames - position >= chunk:
                yield block[:, position : position + chunk]
                position += chunk
                continue
            take = min(chunk - self._filled, frames - position)
            self._pending[:, self._filled : self._filled + take] = block[
                :, position : position + take
            ]
            self._filled += take
            position += take
            if self._filled == chunk:
                self._filled = 0
                yield self._pending

    @property
    def partial(self) -> np.ndarray:
        """The frames waiting for a whole chunk, shaped (channels, 0 to chunk_frames - 1)."""
        return self._pending[:, : self._filled]
