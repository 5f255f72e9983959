"""Decode audio files into float32 signals, and refuse the files the studio cannot use.

Signals are float32 arrays shaped ``(n_channels, n_samples)``: time on the last axis. Files are
decoded in blocks, so a long file is never held whole in memory (:func:`load` is the one
exception, meant for short files and tests).

libsndfile quietly accepts some damaged files: it shortens a cut WAV or AIFF to the bytes on
disk, and a cut MP3 or FLAC simply stops early. So before decoding we read the container
ourselves (RIFF and AIFF chunk sizes, Ogg pages, the MP3 Xing/Info header), and after decoding
we compare the frames decoded with the frames the header declares.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import BinaryIO

import numpy as np
import soundfile as sf

from studio.processing.errors import (
    AudioTooLong,
    CorruptAudio,
    TooManyChannels,
    UnsupportedAudio,
)

SUPPORTED_FORMATS = frozenset({"WAV", "FLAC", "AIFF", "OGG", "MP3"})
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 384_000
DEFAULT_BLOCK_FRAMES = 65_536

_READ_HINT = "use WAV, FLAC, AIFF, OGG Vorbis or MP3"
_RETRY_HINT = "export it again from your audio software and upload it again"
_CUT_HINT = f"the upload or export was cut short: {_RETRY_HINT}"

# libsndfile's names for WAV variants: WAVE_FORMAT_EXTENSIBLE (common for 24-bit DAW exports)
# and RF64 (broadcast WAV over 4 GiB).
_FORMAT_ALIASES = {"WAVEX": "WAV", "RF64": "WAV"}
_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
# Formats whose seek lands on the very frame that decoding from the top reaches (libsndfile's
# MP3 seek does not: it lands near it, so an MP3 is decoded up to where it starts).
_EXACT_SEEK_FORMATS = frozenset({"WAV", "FLAC", "AIFF", "OGG"})
_MAX_WRITE_CHANNELS = 256

# No codec packs more than this many frames into one byte: ten minutes of digital silence from
# libsndfile takes about 470 frames per byte in Vorbis and 340 in FLAC, and Opus with DTX or
# FLAC with 65,535-frame blocks stay under 10,000. A header that claims more is lying.
_MAX_FRAMES_PER_BYTE = 65_536
# An MP3 length header counts whole MPEG frames of 1,152 samples; allow two for encoder quirks.
_MP3_SLACK_FRAMES = 2 * 1_152
_HEAD_BYTES = 512
_ID3_SCAN_BYTES = 64 * 1024
_OGG_END_OF_STREAM = 0x04

_NOT_AUDIO = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"caff", "a Core Audio (CAF) file"),
    (b".snd", "a Sun AU file"),
    (b"riff", "a Wave64 file"),
)

_MPEG_KBPS = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Keyed by the header's version bits: 3 is MPEG-1, 2 is MPEG-2, 0 is MPEG-2.5.
_MPEG_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file holds, as decoded.

    Attributes
    ----------
    format : str
        Container, one of :data:`SUPPORTED_FORMATS`.
    subtype : str
        libsndfile's encoding name, e.g. ``"PCM_24"``, ``"FLOAT"``, ``"VORBIS"``,
        ``"MPEG_LAYER_III"``.
    sample_rate : int
        Sample rate in Hz.
    channels : int
        Number of channels.
    frames : int
        Frames actually decoded (one frame holds one sample per channel).
    duration_s : float
        ``frames / sample_rate``, in seconds.
    """

    format: str
    subtype: str
    sample_rate: int
    channels: int
    frames: int
    duration_s: float

    def to_dict(self) -> dict[str, str | int | float]:
        """Return the fields as a JSON-serialisable dict."""
        return asdict(self)


@dataclass(frozen=True)
class _Layout:
    """What the container says before libsndfile opens it."""

    family: str
    # libsndfile's frame count is exact, so decoding fewer frames means the file is cut short.
    exact_length: bool = True
    # Frames counted by walking an MP3's frame headers, when it has no length header.
    walked_frames: int | None = None


@dataclass(frozen=True)
class _Source:
    sound: sf.SoundFile
    format: str
    size: int
    layout: _Layout


def probe(
    path: str | os.PathLike[str],
    *,
    max_duration_s: float | None = None,
    max_channels: int = 2,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
) -> AudioInfo:
    """Check that a file is audio the studio can use, decoding all of it to prove it intact.

    The header is checked first (format, channels, sample rate, declared duration) so bad files
    are refused fast; then the whole file is decoded block by block, never held whole.

    Parameters
    ----------
    path : str or os.PathLike
        The file to check.
    max_duration_s : float, optional
        Longest accepted duration, in seconds; ``None`` accepts any length.
    max_channels : int
        Most channels accepted (2: mono or stereo).
    block_frames : int
        Frames decoded per block; bounds memory use.

    Returns
    -------
    AudioInfo
        With the frame count and duration actually decoded.

    Raises
    ------
    CorruptAudio
        Empty (code ``"empty"``), truncated (``"truncated"``) or damaged (``"corrupt"``).
    UnsupportedAudio
        Not audio or not a supported format (``"unsupported"``), or a sample rate outside
        8,000-384,000 Hz (``"sample_rate"``).
    TooManyChannels
        More than ``max_channels`` channels (``"too_many_channels"``).
    AudioTooLong
        Longer than ``max_duration_s``, by the header or by decoding (``"too_long"``).
    ValueError
        If an argument is out of range.
    OSError
        If the file cannot be read at all (missing, a directory, no permission).
    """
    _check_arguments(max_duration_s=max_duration_s, max_channels=max_channels)
    _check_block_frames(block_frames)
    with _open(path) as source:
        _check_header(source, max_duration_s=max_duration_s, max_channels=max_channels)
        frames = sum(block.shape[1] for block in _decode(source, block_frames=block_frames))
        info = _info(source, frames=frames)
    _check_duration(info.duration_s, limit_s=max_duration_s, declared=False)
    return info


def read_blocks(
    path: str | os.PathLike[str],
    *,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    start_frame: int = 0,
) -> Iterator[np.ndarray]:
    """Decode a file block by block, in order.

    Parameters
    ----------
    path : str or os.PathLike
        The file to decode.
    block_frames : int
        Most frames per block; the last block may be shorter.
    start_frame : int
        The first frame to yield: the decoder seeks there (or decodes up to it where the
        file cannot seek). At or past the end, nothing is yielded.

    Yields
    ------
    numpy.ndarray
        float32 blocks shaped ``(n_channels, n)``, full scale at 1.0.

    Raises
    ------
    AudioError
        As :func:`probe`, but without its channel, sample rate and duration limits. Errors are
        raised while iterating: a file cut short raises before the first block when its
        container shows it, otherwise after its last good block.
    """
    _check_block_frames(block_frames)
    if start_frame < 0:
        raise ValueError(f"start_frame must be at least 0, got {start_frame}")
    with _open(path) as source:
        if start_frame and start_frame >= source.sound.frames:
            return
        yield from _decode(source, block_frames=block_frames, start_frame=start_frame)


def load(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode a whole file into memory; for short files and tests (the engine streams).

    Parameters
    ----------
    path : str or os.PathLike
        The file to decode.

    Returns
    -------
    signal : numpy.ndarray
        float32, shaped ``(n_channels, n_samples)``, full scale at 1.0.
    sample_rate : int
        Sample rate in Hz.

    Raises
    ------
    AudioError
        As :func:`read_blocks`.
    """
    with _open(path) as source:
        blocks = list(_decode(source, block_frames=DEFAULT_BLOCK_FRAMES))
        sample_rate = source.sound.samplerate
    return np.concatenate(blocks, axis=1), sample_rate


def write(
    path: str | os.PathLike[str],
    signal: np.ndarray,
    *,
    sample_rate: int,
    format: str = "WAV",
    subtype: str | None = None,
) -> None:
    """Write a float signal to an audio file.

    Integer and lossy subtypes clip the signal to [-1.0, 1.0] first; ``"FLOAT"`` and
    ``"DOUBLE"`` keep it as is.

    Parameters
    ----------
    path : str or os.PathLike
        Where to write; an existing file is replaced.
    signal : numpy.ndarray
        Float samples shaped ``(n_channels, n_samples)``, or ``(n_samples,)`` for mono.
    sample_rate : int
        Sample rate in Hz. MP3 takes only 8,000-48,000 Hz (the MPEG rates).
    format : str
        One of :data:`SUPPORTED_FORMATS`.
    subtype : str, optional
        libsndfile encoding, e.g. ``"PCM_24"``; defaults to the format's usual one
        (``PCM_16`` for WAV, FLAC and AIFF, ``VORBIS`` for OGG, ``MPEG_LAYER_III`` for MP3).

    Raises
    ------
    TypeError
        If the signal is not a float array.
    ValueError
        If the signal's shape or values, the sample rate, the format or the subtype is wrong.
    soundfile.LibsndfileError
        If libsndfile refuses to write, e.g. MP3 at 96,000 Hz.
    """
    frames = _frames_to_write(signal)
    container = format.upper()
    chosen = _subtype_to_write(container, subtype)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise ValueError(f"sample_rate must be an int in Hz, got {sample_rate!r}")
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be positive, got {sample_rate} Hz")
    if chosen not in _FLOAT_SUBTYPES:
        frames = np.clip(frames, -1.0, 1.0)
    name = os.fspath(path)
    existed = os.path.exists(name)
    try:
        _write_blocks(name, frames, sample_rate=int(sample_rate), format=container, subtype=chosen)
    except BaseException:
        # libsndfile creates the file before refusing, e.g., MP3 at 96,000 Hz: leave no stub.
        if not existed and os.path.exists(name):
            os.remove(name)
        raise


def _write_blocks(
    name: str, frames: np.ndarray, *, sample_rate: int, format: str, subtype: str
) -> None:
    channels = frames.shape[1]
    with sf.SoundFile(name, "w", sample_rate, channels, subtype=subtype, format=format) as sound:
        # In blocks: libsndfile's Vorbis encoder crashes on a single write of millions of frames.
        for start in range(0, len(frames), DEFAULT_BLOCK_FRAMES):
            sound.write(frames[start : start + DEFAULT_BLOCK_FRAMES])


# Arguments ---------------------------------------------------------------------------------


def _check_arguments(*, max_duration_s: float | None, max_channels: int) -> None:
    if max_duration_s is not None and not max_duration_s > 0:
        raise ValueError(f"max_duration_s must be positive seconds, got {max_duration_s!r}")
    if max_channels < 1:
        raise ValueError(f"max_channels must be at least 1, got {max_channels}")


def _check_block_frames(block_frames: int) -> None:
    if block_frames < 1:
        raise ValueError(f"block_frames must be at least 1, got {block_frames}")


def _frames_to_write(signal: np.ndarray) -> np.ndarray:
    """Return the signal as soundfile wants it: shaped (n_samples, n_channels)."""
    array = np.asarray(signal)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"signal must be a float array, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[np.newaxis]
    if array.ndim != 2:
        shape = array.shape
        raise ValueError(f"signal must be (n_channels, n_samples) or (n_samples,), got {shape}")
    if array.shape[0] > _MAX_WRITE_CHANNELS:
        raise ValueError(
            f"signal has {array.shape[0]} channels; pass (n_channels, n_samples), "
            "not (n_samples, n_channels)"
        )
    if not np.isfinite(array).all():
        raise ValueError("signal holds NaN or infinite samples")
    dtype = np.float64 if array.dtype == np.float64 else np.float32
    return np.ascontiguousarray(array.T, dtype=dtype)


def _subtype_to_write(container: str, subtype: str | None) -> str:
    if container not in SUPPORTED_FORMATS:
        raise ValueError(f"format must be one of {sorted(SUPPORTED_FORMATS)}, got {container!r}")
    chosen = (subtype or sf.default_subtype(container)).upper()
    if not sf.check_format(container, chosen):
        choices = sorted(sf.available_subtypes(container))
        raise ValueError(f"{container} cannot hold {chosen}; choose one of {choices}")
    return chosen


# Opening -----------------------------------------------------------------------------------


@contextmanager
def _open(path: str | os.PathLike[str]) -> Iterator[_Source]:
    """Check the container, open it with libsndfile and check what libsndfile found."""
    name = os.fspath(path)
    size = os.path.getsize(name)
    if size == 0:
        raise CorruptAudio(f"This file is empty (0 bytes); {_RETRY_HINT}.", code="empty")
    with open(name, "rb") as raw:
        layout = _inspect(raw, size=size)
    try:
        sound = sf.SoundFile(name)
    except sf.LibsndfileError as exc:
        message = f"This file is damaged: it looks like {layout.family} but cannot be opened"
        raise CorruptAudio(f"{message} ({_reason(exc)}); {_RETRY_HINT}.") from exc
    with sound:
        source = _Source(sound=sound, format=_format_of(sound), size=size, layout=layout)
        if source.format not in _EXACT_SEEK_FORMATS:
            _read_on_without_seeking(sound)
        _check_declared_frames(source)
        _check_walked_frames(source)
        yield source


def _read_on_without_seeking(sound: sf.SoundFile) -> None:
    """Make soundfile read on from where its last read stopped.

    After every read soundfile seeks to the frame it stands on. libsndfile's MP3 seek
    restarts the decoder without its bit reservoir, so every block after the first began
    with about 60 ms of silence (a 30 s tone read in blocks of 65,536 frames came out with
    56,662 silent frames of 1,323,000). Told the file cannot seek, soundfile skips that.
    """
    sound._info.seekable = sf._snd.SF_FALSE


def _format_of(sound: sf.SoundFile) -> str:
    name = _FORMAT_ALIASES.get(sound.format, sound.format)
    if name not in SUPPORTED_FORMATS:
        raise UnsupportedAudio(
            f"This is {sound.format_info} audio, which the studio does not read; {_READ_HINT}."
        )
    return name


def _check_declared_frames(source: _Source) -> None:
    frames = source.sound.frames
    if frames <= source.size * _MAX_FRAMES_PER_BYTE:
        return
    raise CorruptAudio(
        f"This file is damaged: its header claims {_frames_text(frames, source)}, which cannot "
        f"fit in {source.size:,} bytes; {_RETRY_HINT}."
    )


def _check_walked_frames(source: _Source) -> None:
    """Refuse an MP3 that libsndfile would cut short.

    Without a Xing/Info header libsndfile estimates an MP3's length from its first frames and
    stops decoding there; a variable-bitrate file can be far longer than the estimate.
    """
    walked, declared = source.layout.walked_frames, source.sound.frames
    if walked is None or walked - declared <= _MP3_SLACK_FRAMES + walked // 100:
        return
    raise UnsupportedAudio(
        f"This MP3 lasts {_frames_text(walked, source)} but has no length header (Xing/Info), "
        f"so the studio's decoder would stop after {_frames_text(declared, source)}; re-encode "
        "it with an encoder that writes the header (LAME does), or upload WAV or FLAC."
    )


def _reason(exc: sf.LibsndfileError) -> str:
    reason = exc.error_string.strip().removeprefix("Error : ").rstrip(".")
    return reason or "the decoder gave no reason"


# Sniffing and container checks --------------------------------------------------------------


def _inspect(raw: BinaryIO, *, size: int) -> _Layout:
    """Name the format from the file's first bytes and check its container for truncation."""
    head = raw.read(_HEAD_BYTES)
    tag_end = _id3v2_end(head)
    if tag_end > size:
        raise CorruptAudio(
            f"This file is truncated: its ID3 tag alone declares {tag_end:,} bytes but the file "
            f"holds only {size:,}; {_CUT_HINT}.",
            code="truncated",
        )
    family = _sniff(raw, head=head, size=size)
    if family is None:
        raise UnsupportedAudio(
            f"This is not an audio file the studio can read (found {_describe(head)}); "
            f"{_READ_HINT}."
        )
    try:
        if family == "WAV":
            _check_wav(raw, head=head, size=size)
        elif family == "AIFF":
            _check_aiff(raw, size=size)
    except struct.error:
        raise CorruptAudio(
            f"This file's {family} header is cut short or damaged; {_CUT_HINT}.", code="truncated"
        ) from None
    if family == "OGG":
        _check_ogg(raw, size=size)
    elif family == "MP3":
        return _check_mp3(raw, head=head, size=size)
    return _Layout(family=family)


def _sniff(raw: BinaryIO, *, head: bytes, size: int) -> str | None:
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:4] == b"OggS":
        return "OGG"
    start = _id3v2_end(head)
    raw.seek(start)
    if raw.read(4) == b"fLaC":
        return "FLAC"
    if _find_mpeg_frame(raw, start=start, size=size) is not None:
        return "MP3"
    return None


def _describe(head: bytes) -> str:
    for magic, name in _NOT_AUDIO:
        if head.startswith(magic):
            return name
    if head[4:8] == b"ftyp":
        return "an MP4/M4A/MOV file"
    printable = sum(32 <= byte < 127 or byte in b"\t\r\n" for byte in head)
    if b"\x00" not in head and printable > 0.9 * len(head):
        return "text"
    return "data of an unknown kind"


def _iter_chunks(
    raw: BinaryIO, *, start: int, size: int, endian: str
) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(chunk id, declared size, body offset)`` for each RIFF/IFF chunk from start."""
    offset = start
    while offset + 8 <= size:
        raw.seek(offset)
        chunk_id, chunk_size = struct.unpack(f"{endian}4sI", raw.read(8))
        yield chunk_id, chunk_size, offset + 8
        offset += 8 + chunk_size + (chunk_size & 1)


def _check_wav(raw: BinaryIO, *, head: bytes, size: int) -> None:
    """Refuse a WAV whose data chunk declares more bytes than the file holds."""
    endian = ">" if head[:4] == b"RIFX" else "<"
    byte_rate = long_data_size = None
    for chunk_id, chunk_size, body in _iter_chunks(raw, start=12, size=size, endian=endian):
        raw.seek(body)
        if chunk_id == b"fmt " and chunk_size >= 16:
            (byte_rate,) = struct.unpack(f"{endian}8xI", raw.read(12))
        elif chunk_id == b"ds64" and chunk_size >= 16:
            (long_data_size,) = struct.unpack("<8xQ", raw.read(16))
        elif chunk_id == b"data":
            declared = chunk_size
            if chunk_size == 0xFFFFFFFF and long_data_size is not None:
                declared = long_data_size
            _require_bytes("WAV", declared=declared, present=size - body, byte_rate=byte_rate)
            return


def _check_aiff(raw: BinaryIO, *, size: int) -> None:
    """Refuse an AIFF whose sound data chunk declares more bytes than the file holds."""
    for chunk_id, chunk_size, body in _iter_chunks(raw, start=12, size=size, endian=">"):
        if chunk_id == b"SSND":
            # SSND starts with 8 bytes (offset and block size) before the samples.
            declared, present = max(chunk_size - 8, 0), max(size - body - 8, 0)
            _require_bytes("AIFF", declared=declared, present=present, byte_rate=None)
            return


def _require_bytes(kind: str, *, declared: int, present: int, byte_rate: int | None) -> None:
    if declared <= present:
        return
    raise CorruptAudio(
        f"This file is truncated: its {kind} header declares {declared:,} bytes of audio"
        f"{_seconds_text(declared, byte_rate)} but the file holds only {present:,}"
        f"{_seconds_text(present, byte_rate)}; {_CUT_HINT}.",
        code="truncated",
    )


def _check_ogg(raw: BinaryIO, *, size: int) -> None:
    """Walk the Ogg pages up to the end-of-stream page; refuse a cut or broken stream."""
    offset = flags = 0
    while not flags & _OGG_END_OF_STREAM:
        raw.seek(offset)
        header = raw.read(27)
        if len(header) < 27 or header[:4] != b"OggS":
            raise _ogg_gap(header, offset=offset)
        lacing = raw.read(header[26])
        end = offset + 27 + len(lacing) + sum(lacing)
        if len(lacing) < header[26] or end > size:
            raise _ogg_gap(b"", offset=size)
        offset, flags = end, header[5]


def _ogg_gap(header: bytes, *, offset: int) -> CorruptAudio:
    if len(header) < 27 and b"OggS".startswith(header[:4]):
        return CorruptAudio(
            f"This file is truncated: its Ogg stream stops at byte {offset + len(header):,} "
            f"before its end-of-stream page; {_CUT_HINT}.",
            code="truncated",
        )
    return CorruptAudio(
        f"This file is damaged: expected an Ogg page at byte {offset:,} but found other data; "
        f"{_RETRY_HINT}."
    )


def _id3v2_end(head: bytes) -> int:
    """Offset just past a leading ID3v2 tag, or 0 if there is none."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    body = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F
    footer = 10 if head[5] & 0x10 else 0
    return 10 + body + footer


def _find_mpeg_frame(raw: BinaryIO, *, start: int, size: int) -> int | None:
    """Offset of the first MPEG audio frame followed by another one (or by the file's end).

    Right after an ID3v2 tag some padding is allowed; with no tag the frame must open the file.
    """
    raw.seek(start)
    window = raw.read(_ID3_SCAN_BYTES if start else 4)
    position = window.find(b"\xff")
    while 0 <= position <= len(window) - 4:
        offset = start + position
        frame = _mpeg_frame(window[position : position + 4])
        if frame and _mpeg_frame_follows(raw, offset=offset + frame[0], size=size):
            return offset
        position = window.find(b"\xff", position + 1)
    return None


def _mpeg_frame_follows(raw: BinaryIO, *, offset: int, size: int) -> bool:
    if offset + 4 > size:
        return True
    raw.seek(offset)
    return _mpeg_frame(raw.read(4)) is not None


def _mpeg_frame(header: bytes) -> tuple[int, int] | None:
    """(length in bytes, samples per channel) of the MPEG audio frame this header opens.

    None if the 4 bytes are not an MPEG audio frame header.
    """
    word = int.from_bytes(header, "big")
    version, layer_bits = (word >> 19) & 3, (word >> 17) & 3
    bitrate_index, rate_index = (word >> 12) & 15, (word >> 10) & 3
    if word >> 21 != 0x7FF or version == 1 or layer_bits == 0:
        return None
    if bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer, generation = 4 - layer_bits, 1 if version == 3 else 2
    kbps = _MPEG_KBPS[generation, layer if generation == 1 else min(layer, 2)][bitrate_index]
    rate = _MPEG_RATES[version][rate_index]
    padding = (word >> 9) & 1
    if layer == 1:
        return (12_000 * kbps // rate + padding) * 4, 384
    if generation == 2 and layer == 3:
        return 72_000 * kbps // rate + padding, 576
    return 144_000 * kbps // rate + padding, 1_152


def _check_mp3(raw: BinaryIO, *, head: bytes, size: int) -> _Layout:
    """Refuse an MP3 cut short of the size its Xing/Info/VBRI header declares, or mid-frame.

    With such a header libsndfile's length is exact. Without one it is an estimate, so the
    frames are walked and counted instead.
    """
    start = _find_mpeg_frame(raw, start=_id3v2_end(head), size=size) or 0
    raw.seek(start)
    has_length, declared_bytes = _vbr_header(raw.read(64))
    if declared_bytes is not None:
        # Compared with the whole file, not the stream alone: some taggers count their tags.
        _require_bytes("MP3", declared=declared_bytes, present=size, byte_rate=None)
    if has_length:
        return _Layout(family="MP3")
    return _Layout(family="MP3", exact_length=False, walked_frames=_walk_mp3(raw, start, size))


def _walk_mp3(raw: BinaryIO, start: int, size: int) -> int:
    """Samples per channel in the MPEG frames from start; refuse a frame cut by the file end."""
    offset, frames = start, 0
    while offset + 4 <= size:
        raw.seek(offset)
        frame = _mpeg_frame(raw.read(4))
        if frame is None:
            break  # tags (ID3v1, APE) or junk after the audio
        length, samples = frame
        if offset + length > size:
            raise CorruptAudio(
                f"This file is truncated: its last MP3 frame needs {offset + length:,} bytes but "
                f"the file holds only {size:,}; {_CUT_HINT}.",
                code="truncated",
            )
        offset, frames = offset + length, frames + samples
    return frames


def _vbr_header(frame: bytes) -> tuple[bool, int | None]:
    """Read a Xing/Info or VBRI header: (it gives the frame count, stream bytes or None)."""
    for tag in (b"Xing", b"Info"):
        at = frame.find(tag, 4, 48)
        if at >= 0:
            flags = int.from_bytes(frame[at + 4 : at + 8], "big")
            fields = at + 8 + (4 if flags & 1 else 0)
            declared = int.from_bytes(frame[fields : fields + 4], "big") if flags & 2 else None
            return bool(flags & 1), declared
    if frame[36:40] == b"VBRI":
        return True, int.from_bytes(frame[46:50], "big")
    return False, None


# Header limits -----------------------------------------------------------------------------


def _check_header(source: _Source, *, max_duration_s: float | None, max_channels: int) -> None:
    sound = source.sound
    if sound.channels > max_channels:
        raise TooManyChannels(
            f"This file has {sound.channels} channels; the studio takes "
            f"{_channels_text(max_channels)}: export it as stereo or as separate mono stems."
        )
    if not MIN_SAMPLE_RATE <= sound.samplerate <= MAX_SAMPLE_RATE:
        raise UnsupportedAudio(
            f"This file has a sample rate of {sound.samplerate:,} Hz; the studio takes "
            f"{MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz: resample it to 44,100 or 48,000 Hz.",
            code="sample_rate",
        )
    declared_s = sound.frames / sound.samplerate
    _check_duration(declared_s, limit_s=max_duration_s, declared=True)


def _check_duration(duration_s: float, *, limit_s: float | None, declared: bool) -> None:
    if limit_s is None or duration_s <= limit_s:
        return
    lasts = "its header says it lasts" if declared else "it lasts"
    raise AudioTooLong(
        f"This file is too long: {lasts} {_duration_text(duration_s)} and the limit is "
        f"{_duration_text(limit_s)}; trim it or split it into shorter stems."
    )


def _channels_text(max_channels: int) -> str:
    if max_channels == 1:
        return "mono stems"
    if max_channels == 2:
        return "mono or stereo stems"
    return f"stems of at most {max_channels} channels"


# Decoding ----------------------------------------------------------------------------------


def _decode(source: _Source, *, block_frames: int, start_frame: int = 0) -> Iterator[np.ndarray]:
    """Yield (channels, n) float32 blocks from ``start_frame`` on, then check that the whole
    declared length came."""
    buffer = np.empty((block_frames, source.sound.channels), dtype=np.float32)
    decoded = _skip_to(source, start_frame, buffer=buffer)
    while True:
        block = _read_block(source, buffer=buffer, decoded=decoded)
        if not len(block):
            break
        decoded += len(block)
        yield block.T.copy()
    _check_complete(source, decoded=decoded)


def _skip_to(source: _Source, start_frame: int, *, buffer: np.ndarray) -> int:
    """Move the decoder to ``start_frame``: a seek where that is exact (``_open`` marks the
    other formats as not seekable), else decoding up to it. Returns the frame it stands on."""
    if not start_frame:
        return 0
    if source.sound.seekable():
        try:
            return source.sound.seek(start_frame)
        except (sf.LibsndfileError, RuntimeError):
            source.sound.seek(0)
    decoded = 0
    while decoded < start_frame:
        block = _read_block(source, buffer=buffer[: start_frame - decoded], decoded=decoded)
        if not len(block):
            break
        decoded += len(block)
    return decoded


def _read_block(source: _Source, *, buffer: np.ndarray, decoded: int) -> np.ndarray:
    # Passing ``out`` makes soundfile read until the decoder stops, not just to the declared
    # length, and return only the frames actually read.
    try:
        return source.sound.read(len(buffer), dtype="float32", always_2d=True, out=buffer)
    except sf.LibsndfileError as exc:
        declared = source.sound.frames
        raise CorruptAudio(
            f"This file is truncated or damaged: the decoder failed ({_reason(exc)}) before the "
            f"end of the {_frames_text(declared, source)} its header declares; {_RETRY_HINT}.",
            code="truncated" if decoded < declared else "corrupt",
        ) from exc


def _check_complete(source: _Source, *, decoded: int) -> None:
    if decoded == 0:
        raise CorruptAudio(
            f"This file holds no audio: it decodes to 0 frames; {_RETRY_HINT}.", code="empty"
        )
    declared = source.sound.frames
    slack = _MP3_SLACK_FRAMES if source.format == "MP3" else 0
    if source.layout.exact_length and declared - decoded > slack:
        raise CorruptAudio(
            f"This file is truncated: its header declares {_frames_text(declared, source)} but "
            f"only {_frames_text(decoded, source)} could be decoded; {_CUT_HINT}.",
            code="truncated",
        )


def _info(source: _Source, *, frames: int) -> AudioInfo:
    sound = source.sound
    return AudioInfo(
        format=source.format,
        subtype=sound.subtype,
        sample_rate=sound.samplerate,
        channels=sound.channels,
        frames=frames,
        duration_s=frames / sound.samplerate,
    )


# Message text ------------------------------------------------------------------------------


def _duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, whole_seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {whole_seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours:,} h {minutes:02d} min"


def _frames_text(frames: int, source: _Source) -> str:
    seconds = frames / max(source.sound.samplerate, 1)
    return f"{frames:,} frames ({_duration_text(seconds)})"


def _seconds_text(n_bytes: int, byte_rate: int | None) -> str:
    return f" ({_duration_text(n_bytes / byte_rate)})" if byte_rate else ""
