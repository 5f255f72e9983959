"""Real audio files made on the spot, good and bad, with known answers.

Every good file holds a seeded 440 Hz sine (each channel at its own phase) lasting
DURATION_S seconds, so tests know exactly what should come back.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from studio.processing.decode import write

DURATION_S = 1.5
FREQUENCY_HZ = 440.0
SEED = 20_240_601
EXTENSIONS = {"WAV": ".wav", "FLAC": ".flac", "AIFF": ".aiff", "OGG": ".ogg", "MP3": ".mp3"}


def sine_signal(*, sample_rate: int, channels: int, duration_s: float = DURATION_S) -> np.ndarray:
    """A 0.5-amplitude 440 Hz sine, shaped (channels, n_samples), each channel at a seeded phase."""
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    phases = np.random.default_rng(SEED).uniform(0, 2 * np.pi, size=(channels, 1))
    return (0.5 * np.sin(2 * np.pi * FREQUENCY_HZ * t + phases)).astype(np.float32)


@pytest.fixture
def sine_file(tmp_path: Path) -> Callable[..., tuple[Path, np.ndarray]]:
    """Write the sine: ``path, signal = sine_file("FLAC", subtype="PCM_24", channels=1)``."""

    def make(
        format: str = "WAV",
        *,
        subtype: str | None = None,
        sample_rate: int = 44_100,
        channels: int = 2,
        duration_s: float = DURATION_S,
    ) -> tuple[Path, np.ndarray]:
        signal = sine_signal(sample_rate=sample_rate, channels=channels, duration_s=duration_s)
        name = f"sine-{subtype or 'default'}-{sample_rate}-{channels}{EXTENSIONS[format]}"
        path = tmp_path / name
        write(path, signal, sample_rate=sample_rate, format=format, subtype=subtype)
        return path, signal

    return make


@pytest.fixture
def cut(tmp_path: Path) -> Callable[[Path, float], Path]:
    """Copy a file keeping only its first ``fraction`` of bytes, as an interrupted upload."""

    def make(path: Path, fraction: float) -> Path:
        data = path.read_bytes()
        cut_path = tmp_path / f"cut-{fraction}-{path.name}"
        cut_path.write_bytes(data[: int(len(data) * fraction)])
        return cut_path

    return make


@pytest.fixture
def raw_file(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write arbitrary bytes under a name: ``raw_file("photo.wav", png_bytes)``."""

    def make(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return make


@pytest.fixture
def png_bytes() -> bytes:
    """The start of a real PNG: signature, then an IHDR chunk, then seeded pixel noise."""
    ihdr = struct.pack(">4sIIBBBBB", b"IHDR", 64, 64, 8, 6, 0, 0, 0)
    noise = np.random.default_rng(SEED).bytes(4_000)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + b"\0\0\0\0" + noise


@pytest.fixture
def mp3_without_length_header(tmp_path: Path) -> Path:
    """A variable-bitrate MP3 with its Xing header frame removed, as some old encoders wrote.

    3 s: a quiet sine, then loud seeded noise, so the bitrate varies and the first frames say
    little about the length.
    """
    rate = 44_100
    t = np.arange(3 * rate) / rate
    noise = np.random.default_rng(SEED).normal(0, 0.3, t.size)
    signal = np.where(t < 1.5, 0.3 * np.sin(2 * np.pi * FREQUENCY_HZ * t), noise)
    source = tmp_path / "with-header.mp3"
    write(source, signal.astype(np.float32), sample_rate=rate, format="MP3")
    data = source.read_bytes()
    # libsndfile's LAME opens with a 128 kbit/s, 44,100 Hz MPEG-1 Layer III frame holding
    # only the Xing header: 417 bytes, plus 1 if the padding bit is set.
    assert data[:2] == b"\xff\xfb" and data[2] >> 2 == 0x90 >> 2, data[:4].hex()
    assert b"Xing" in data[:64]
    first_frame = 417 + ((data[2] >> 1) & 1)
    path = tmp_path / "no-header.mp3"
    path.write_bytes(data[first_frame:])
    return path
