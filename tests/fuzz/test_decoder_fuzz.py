"""Fuzz the decoders with damaged files: decode.probe, then the upload path.

Valid WAV, FLAC, AIFF, OGG Vorbis and MP3 files are cut at many points, have header
bytes flipped, and are mutated at random by hypothesis; hand-made headers declare
absurd sample rates, channel counts, bit depths and billions of frames; random bytes
and empty files complete the set. Every case must raise the engine's AudioError (or
pass, if what is left is still valid audio), never another exception, within a time
limit and without allocating absurd memory. Damaged uploads must leave no stem row, no
stored file and no queued job.
"""

from __future__ import annotations

import signal
import struct
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from projects import services
from projects.errors import ServiceError
from projects.models import Analysis, Stem
from studio.processing import decode
from studio.processing.errors import AudioError
from tests.conftest import stored_files, upload_of
from tests.fuzz.budget import fuzz_settings, record, scaled

CASE_TIMEOUT_S = 10
CASE_MAX_BYTES = 256 * 1024 * 1024
MAX_DURATION_S = 7200.0
SR = 44100
# (extension, format, subtype) of the valid files that are damaged.
FORMATS = (
    ("wav", "WAV", "PCM_16"),
    ("flac", "FLAC", "PCM_16"),
    ("aiff", "AIFF", "PCM_16"),
    ("ogg", "OGG", "VORBIS"),
    ("mp3", "MP3", "MPEG_LAYER_III"),
)


# --- Valid files to damage -----------------------------------------------------------


def tone(duration_s: float = 0.3, channels: int = 2) -> np.ndarray:
    t = np.arange(int(duration_s * SR)) / SR
    return np.tile(0.4 * np.sin(2 * np.pi * 440 * t), (channels, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict[str, bytes]:
    """The bytes of a short valid file in each format, by extension."""
    folder = tmp_path_factory.mktemp("valid")
    files = {}
    for ext, container, subtype in FORMATS:
        path = folder / f"tone.{ext}"
        decode.write(path, tone(), sample_rate=SR, format=container, subtype=subtype)
        decode.probe(path)  # the originals are sound
        files[ext] = path.read_bytes()
    return files


# --- Running one case ----------------------------------------------------------------


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise TimeoutError in this (main) thread when a case runs too long."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"a case ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def probe_case(folder: Path, data: bytes, *, label: str, max_duration_s: float | None) -> str:
    """Probe ``data`` as a file; return "ok" or the AudioError's code.

    Anything else raised, a case over the time limit, or a peak of traced memory over
    CASE_MAX_BYTES fails the test, naming the case.
    """
    path = folder / "case.bin"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with time_limit(CASE_TIMEOUT_S):
            decode.probe(path, max_duration_s=max_duration_s)
        outcome = "ok"
    except AudioError as error:
        assert error.code and error.message, label
        outcome = error.code
    except Exception as error:
        raise AssertionError(f"{label}: {type(error).__name__}: {error}") from error
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < CASE_MAX_BYTES, f"{label}: peak {peak:,} bytes"
    record("decoder")
    return outcome


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., str]:
    def run_one(data: bytes, label: str, *, max_duration_s: float | None = MAX_DURATION_S) -> str:
        return probe_case(tmp_path, data, label=label, max_duration_s=max_duration_s)

    return run_one


# --- Damage --------------------------------------------------------------------------


def cut_points(size: int) -> list[int]:
    """Every byte of the first 128, then 48 points spread over the rest, and the last 8."""
    points = set(range(min(size, 128)))
    points.update(int(x) for x in np.linspace(128, size - 1, 48) if 128 <= x < size)
    points.update(range(max(size - 8, 0), size))
    return sorted(points)


def riff(*chunks: bytes, form: bytes = b"WAVE", magic: bytes = b"RIFF") -> bytes:
    body = form + b"".join(chunks)
    return magic + struct.pack("<I", len(body)) + body


def chunk(tag: bytes, body: bytes, *, size: int | None = None) -> bytes:
    declared = len(body) if size is None else size
    return tag + struct.pack("<I", declared) + body + (b"\0" if len(body) % 2 else b"")


def wav_fmt(
    *, tag: int = 1, channels: int = 2, rate: int = SR, bits: int = 16, align: int | None = None
) -> bytes:
    block = align if align is not None else max(channels * bits // 8, 0) & 0xFFFF
    byte_rate = (rate * block) & 0xFFFFFFFF
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block, bits))


def wav_headers() -> Iterator[tuple[str, bytes]]:
    """WAV files whose headers declare absurd things."""
    samples = b"\x01\x00" * 2000
    for rate in (0, 1, 7_999, 384_001, 2**31 - 1, 2**32 - 1):
        yield f"wav rate {rate}", riff(wav_fmt(rate=rate), chunk(b"data", samples))
    for channels in (0, 3, 255, 65535):
        yield f"wav {channels} channels", riff(wav_fmt(channels=channels), chunk(b"data", samples))
    for bits in (0, 1, 7, 12, 20, 64, 65535):
        yield f"wav {bits} bits", riff(wav_fmt(bits=bits), chunk(b"data", samples))
    for tag in (0, 2, 3, 0x55, 0xFFFE, 0xFFFF):
        yield f"wav format tag {tag:#x}", riff(wav_fmt(tag=tag), chunk(b"data", samples))
    yield "wav block align 0", riff(wav_fmt(align=0), chunk(b"data", samples))
    yield "wav block align 65535", riff(wav_fmt(align=65535), chunk(b"data", samples))
    for size in (0, 1, 3, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFF):
        yield f"wav data size {size:#x}", riff(wav_fmt(), chunk(b"data", samples, size=size))
    yield "wav no data", riff(wav_fmt())
    yield "wav no fmt", riff(chunk(b"data", samples))
    yield "wav data before fmt", riff(chunk(b"data", samples), wav_fmt())
    yield "wav fmt size huge", riff(chunk(b"fmt ", b"\0" * 16, size=0xFFFFFFF0))
    yield "wav fmt too short", riff(chunk(b"fmt ", b"\1\0\2\0"), chunk(b"data", samples))
    yield "wav riff size huge", b"RIFF\xff\xff\xff\xffWAVE" + wav_fmt() + chunk(b"data", samples)
    yield "wav riff size 0", b"RIFF\0\0\0\0WAVE" + wav_fmt() + chunk(b"data", samples)
    yield "wav many empty chunks", riff(wav_fmt(), *[chunk(b"junk", b"")] * 50_000)
    yield "wav 0 frames", riff(wav_fmt(), chunk(b"data", b""))
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 2**62, 2**62, 2**61, 0))
    yield (
        "rf64 declares 2**62 bytes",
        riff(ds64, wav_fmt(), chunk(b"data", samples, size=0xFFFFFFFF), magic=b"RF64"),
    )
    yield "rifx big-endian garbage", riff(wav_fmt(), chunk(b"data", samples), magic=b"RIFX")


def ieee_extended(value: float | None, *, raw: bytes | None = None) -> bytes:
    """An AIFF sample rate (80-bit IEEE 754 extended), or ``raw`` bytes as given."""
    if raw is not None:
        return raw
    assert value is not None and value > 0
    exponent = int(np.floor(np.log2(value)))
    mantissa = int(value / 2**exponent * 2**63)
    return struct.pack(">HQ", exponent + 16383, mantissa)


def aiff(*, channels: int = 2, frames: int = 1000, bits: int = 16, rate: bytes) -> bytes:
    comm = b"COMM" + struct.pack(">IhIh", 18, channels, frames, bits) + rate
    data = b"\0\1" * 2000
    ssnd = b"SSND" + struct.pack(">III", len(data) + 8, 0, 0) + data
    body = b"AIFF" + comm + ssnd
    return b"FORM" + struct.pack(">I", len(body)) + body


def aiff_headers() -> Iterator[tuple[str, bytes]]:
    yield "aiff rate 0", aiff(rate=b"\0" * 10)
    yield "aiff rate inf", aiff(rate=b"\x7f\xff\x80" + b"\0" * 7)
    yield "aiff rate nan", aiff(rate=b"\x7f\xff\xc0" + b"\0" * 7)
    yield "aiff rate 1e4000", aiff(rate=b"\x7f\xfe\xff" + b"\xff" * 7)
    yield "aiff rate 1", aiff(rate=ieee_extended(1.0))
    yield "aiff rate 2**31-1", aiff(rate=ieee_extended(2**31 - 1))
    for channels in (0, -1, 3, 32767):
        yield f"aiff {channels} channels", aiff(channels=channels, rate=ieee_extended(SR))
    for frames in (0, 2**31 - 1, 2**32 - 1):
        yield f"aiff {frames} frames", aiff(frames=frames, rate=ieee_extended(SR))
    for bits in (0, 1, 33, 32767):
        yield f"aiff {bits} bits", aiff(bits=bits, rate=ieee_extended(SR))


def flac_headers(original: bytes) -> Iterator[tuple[str, bytes]]:
    """The valid FLAC with its STREAMINFO's rate, channels, depth or length rewritten."""
    info = int.from_bytes(original[18:26], "big")  # rate 20 bits, ch 3, bps 5, total 36

    def with_fields(**fields: int) -> bytes:
        rate = fields.get("rate", info >> 44)
        ch = fields.get("channels", (info >> 41) & 7)
        bps = fields.get("bits", (info >> 36) & 31)
        total = fields.get("total", info & (2**36 - 1))
        packed = rate << 44 | ch << 41 | bps << 36 | total
        return original[:18] + packed.to_bytes(8, "big") + original[26:]

    for rate in (0, 1, 7_999, 2**20 - 1):
        yield f"flac rate {rate}", with_fields(rate=rate)
    for channels in (0, 7):
        yield f"flac channel bits {channels}", with_fields(channels=channels)
    for bits in (0, 31):
        yield f"flac depth bits {bits}", with_fields(bits=bits)
    for total in (0, 1, 2**32, 2**36 - 1):
        yield f"flac {total} frames", with_fields(total=total)


def mp3_headers(original: bytes) -> Iterator[tuple[str, bytes]]:
    """MP3 frames and tags that lie about their size or length."""
    at = original.find(b"Xing")
    if at < 0:
        at = original.find(b"Info")
    if at >= 0:
        for frames in (0, 1, 0xFFFFFFFF):
            patched = original[: at + 8] + frames.to_bytes(4, "big") + original[at + 12 :]
            yield f"mp3 xing {frames} frames", patched
        for size in (0, 0xFFFFFFFF):
            patched = original[: at + 12] + size.to_bytes(4, "big") + original[at + 16 :]
            yield f"mp3 xing {size} bytes", patched
    for tag_size in (0, 0x7F7F7F7F):
        size = bytes([(tag_size >> s) & 0x7F for s in (21, 14, 7, 0)])
        yield f"mp3 id3 size {tag_size:#x}", b"ID3\x04\x00\x00" + size + original
    yield "mp3 id3 footer flag", b"ID3\x04\x00\x10\0\0\0\0" + original
    yield "mp3 only sync words", b"\xff\xfb\x90\x64" * 5000
    yield "mp3 free-format frames", b"\xff\xfb\x00\x00" * 5000
    yield "mp3 reserved rate", b"\xff\xfb\x9c\x00" * 5000
    yield "mp3 id3 then nothing", b"ID3\x04\x00\x00\0\0\0\x10" + b"\0" * 16


def ogg_headers(original: bytes) -> Iterator[tuple[str, bytes]]:
    """Ogg pages whose Vorbis header or granule position is absurd (CRCs left stale)."""
    vorbis = original.find(b"\x01vorbis")
    if vorbis >= 0:
        for channels in (0, 255):
            at = vorbis + 11
            yield f"ogg {channels} channels", original[:at] + bytes([channels]) + original[at + 1 :]
        for rate in (0, 1, 2**31 - 1, 2**32 - 1):
            at = vorbis + 12
            patched = original[:at] + struct.pack("<I", rate) + original[at + 4 :]
            yield f"ogg rate {rate}", patched
    last = original.rfind(b"OggS")
    for granule in (2**40, 2**63 - 1, 2**64 - 1):
        at = last + 6
        patched = original[:at] + struct.pack("<Q", granule) + original[at + 8 :]
        yield f"ogg granule {granule}", patched
    yield "ogg only a page header", b"OggS" + b"\0" * 23
    yield "ogg 255 empty segments", b"OggS\0\x02" + b"\0" * 20 + b"\xff" + b"\xff" * 255


def not_audio() -> Iterator[tuple[str, bytes]]:
    rng = np.random.default_rng(7)
    yield "zero bytes", b""
    for magic in (b"RIFF", b"RIFF\0\0\0\0WAVE", b"FORM", b"FORM\0\0\0\0AIFF", b"fLaC", b"OggS"):
        yield f"only {magic!r}", magic
    yield "only ID3", b"ID3"
    yield "only a sync word", b"\xff\xfb"
    for size in (1, 2, 3, 4, 12, 44, 100, 1000, 65_536, 1 << 20):
        yield f"{size} random bytes", rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    yield "1 MiB of zeros", bytes(1 << 20)
    yield "text", b"Not audio at all.\n" * 100


# --- Decoder cases -------------------------------------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("ext", [ext for ext, _, _ in FORMATS])
def test_a_file_cut_anywhere_is_refused_or_still_valid(valid, run, ext):
    data = valid[ext]
    outcomes = {run(data[:cut], f"{ext} cut at {cut}") for cut in cut_points(len(data))}
    assert outcomes - {"ok"}, "no cut was refused"


@pytest.mark.engine
@pytest.mark.parametrize("ext", [ext for ext, _, _ in FORMATS])
def test_flipped_header_bytes_are_refused_or_still_valid(valid, run, ext):
    data = valid[ext]
    for at in range(min(len(data), 96)):
        for damage in (0xFF, 0x80, 0x01):
            flipped = data[:at] + bytes([data[at] ^ damage]) + data[at + 1 :]
            run(flipped, f"{ext} byte {at} ^ {damage:#x}")
        run(data[:at] + b"\0" + data[at + 1 :], f"{ext} byte {at} zeroed")


@pytest.mark.engine
def test_absurd_wav_headers_are_refused(run):
    for label, data in wav_headers():
        for limit in (MAX_DURATION_S, None):
            run(data, label, max_duration_s=limit)


@pytest.mark.engine
def test_a_wav_declaring_billions_of_frames_is_refused_fast(run):
    header = riff(wav_fmt(), chunk(b"data", b"\1\0" * 2000, size=0xFFFFFFF0))
    assert run(header, "wav declares 4 GiB of data") == "truncated"


@pytest.mark.engine
def test_absurd_aiff_headers_are_refused(run):
    for label, data in aiff_headers():
        outcome = run(data, label, max_duration_s=None)
        # COMM's frame count is a hint: libsndfile reads the samples SSND holds.
        assert outcome != "ok" or label.endswith(" frames"), label


@pytest.mark.engine
@pytest.mark.parametrize("kind", ["flac", "mp3", "ogg"])
def test_absurd_compressed_headers_are_refused_or_still_valid(valid, run, kind):
    headers = {"flac": flac_headers, "mp3": mp3_headers, "ogg": ogg_headers}[kind]
    for label, data in headers(valid[kind]):
        for limit in (MAX_DURATION_S, None):
            run(data, label, max_duration_s=limit)


@pytest.mark.engine
def test_flac_declaring_billions_of_frames_is_refused(valid, run):
    cases = dict(flac_headers(valid["flac"]))
    assert run(cases[f"flac {2**36 - 1} frames"], "flac 2**36-1 frames") != "ok"


@pytest.mark.engine
def test_random_bytes_and_empty_files_are_refused(run):
    for label, data in not_audio():
        assert run(data, label) != "ok", label


def mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with bytes replaced, inserted, deleted, or cut off."""
    size = len(data)
    edit = st.tuples(
        st.sampled_from(["set", "insert", "delete", "cut"]),
        # Headers hold most of the decisions: aim half the edits at the first 256 bytes.
        st.integers(0, min(size, 256) - 1) | st.integers(0, size - 1),
        st.binary(min_size=1, max_size=8),
    )
    return st.lists(edit, min_size=1, max_size=6).map(lambda edits: apply_edits(data, edits))


def apply_edits(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for op, at, value in edits:
        at = min(at, max(len(out) - 1, 0))
        if op == "set":
            out[at : at + len(value)] = value
        elif op == "insert":
            out[at:at] = value
        elif op == "delete":
            del out[at : at + len(value)]
        else:
            del out[at:]
    return bytes(out)


@pytest.mark.engine
@pytest.mark.parametrize("ext", [ext for ext, _, _ in FORMATS])
def test_random_mutations_of_valid_files_are_refused_or_still_valid(valid, run, ext):
    @fuzz_settings(scaled(300))
    @given(damaged=mutations(valid[ext]))
    def check(damaged: bytes) -> None:
        run(damaged, f"{ext} mutated ({len(damaged)} bytes, head {damaged[:48]!r})")

    check()


# --- The upload path -----------------------------------------------------------------


def damaged_uploads(valid: dict[str, bytes]) -> Iterator[tuple[str, bytes]]:
    """One damaged file of each kind, for the slower upload path."""
    for ext, data in valid.items():
        yield f"cut.{ext}", data[: len(data) // 2]
        yield f"flipped.{ext}", bytes([data[0] ^ 0xFF]) + data[1:]
    yield "huge.wav", riff(wav_fmt(), chunk(b"data", b"\1\0" * 2000, size=0xFFFFFFF0))
    yield "rate0.wav", riff(wav_fmt(rate=0), chunk(b"data", b"\1\0" * 2000))
    yield "65535ch.wav", riff(wav_fmt(channels=65535), chunk(b"data", b"\1\0" * 2000))
    yield "deep.flac", dict(flac_headers(valid["flac"]))[f"flac {2**36 - 1} frames"]
    yield "noise.mp3", np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()


@pytest.mark.django_db
def test_a_damaged_upload_leaves_no_stem_file_or_job(project, alice, valid, media_dir, tmp_path):
    for name, data in damaged_uploads(valid):
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        with time_limit(CASE_TIMEOUT_S), pytest.raises(ServiceError) as refused:
            services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))
        assert refused.value.status == 400 and refused.value.message, name
        record("decoder")
    assert not Stem.objects.filter(project=project).exists()
    assert not Analysis.objects.filter(project=project).exists()
    assert stored_files(media_dir) == []


@pytest.mark.django_db
def test_a_damaged_upload_through_the_api_gets_a_clear_400(project, alice, valid, media_dir):
    _, key = services.token_create(user=alice, name="fuzz")
    client = Client(headers={"Authorization": f"Bearer {key}"})
    for name, data in damaged_uploads(valid):
        upload = SimpleUploadedFile(name, data)
        with time_limit(CASE_TIMEOUT_S):
            response = client.post(f"/api/projects/{project.pk}/stems", {"file": upload})
        assert response.status_code == 400, (name, response.content[:300])
        error = response.json()["error"]
        assert error["code"] and error["message"], name
        record("decoder")
    assert not Stem.objects.filter(project=project).exists()
    assert not Analysis.objects.filter(project=project).exists()
    assert stored_files(media_dir) == []
