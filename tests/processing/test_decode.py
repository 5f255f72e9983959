"""Decoding and validating audio files: every format we take, and every way a file goes bad."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import soundfile as sf

from studio.processing import decode
from studio.processing.decode import AudioInfo, load, probe, read_blocks, write
from studio.processing.errors import (
    AudioError,
    AudioTooLong,
    CorruptAudio,
    TooManyChannels,
    UnsupportedAudio,
)
from tests.processing.conftest import DURATION_S, FREQUENCY_HZ, SEED

RATES = (22_050, 44_100, 48_000, 88_200, 96_000)

LOSSLESS = [
    *[("WAV", "PCM_16", rate, channels) for rate in RATES for channels in (1, 2)],
    ("WAV", "PCM_24", 48_000, 2),
    ("WAV", "PCM_24", 96_000, 1),
    ("WAV", "PCM_32", 44_100, 2),
    ("WAV", "FLOAT", 48_000, 2),
    ("WAV", "DOUBLE", 44_100, 1),
    ("FLAC", "PCM_16", 44_100, 2),
    ("FLAC", "PCM_16", 22_050, 1),
    ("FLAC", "PCM_24", 96_000, 2),
    ("FLAC", "PCM_24", 88_200, 1),
    ("AIFF", "PCM_16", 44_100, 2),
    ("AIFF", "PCM_24", 48_000, 1),
    ("AIFF", "PCM_32", 22_050, 2),
    ("AIFF", "FLOAT", 96_000, 2),
]
LOSSY = [
    ("OGG", "VORBIS", 22_050, 1),
    ("OGG", "VORBIS", 44_100, 2),
    ("OGG", "VORBIS", 48_000, 2),
    ("OGG", "VORBIS", 88_200, 1),
    ("OGG", "VORBIS", 96_000, 2),
    # MPEG audio stops at 48,000 Hz.
    *[("MP3", "MPEG_LAYER_III", rate, ch) for rate in (22_050, 44_100, 48_000) for ch in (1, 2)],
]
# Worst error after a round trip through each lossless encoding, in full-scale units.
QUANTISATION = {"PCM_16": 2**-15, "PCM_24": 2**-23, "PCM_32": 2**-31, "FLOAT": 0, "DOUBLE": 0}


def case_id(case: tuple[str, str, int, int]) -> str:
    container, subtype, rate, channels = case
    return f"{container}-{subtype}-{rate}-{'mono' if channels == 1 else 'stereo'}"


def peak_frequency_hz(channel: np.ndarray, *, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(channel * np.hanning(channel.size)))
    return float(np.fft.rfftfreq(channel.size, d=1 / sample_rate)[np.argmax(spectrum)])


# What comes back -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", LOSSLESS + LOSSY, ids=case_id)
def test_probe_reports_what_was_written(sine_file, case):
    container, subtype, rate, channels = case
    path, signal = sine_file(container, subtype=subtype, sample_rate=rate, channels=channels)

    info = probe(path)

    assert info == AudioInfo(
        format=container,
        subtype=subtype,
        sample_rate=rate,
        channels=channels,
        frames=signal.shape[1],
        duration_s=pytest.approx(DURATION_S),
    )


@pytest.mark.parametrize("case", LOSSLESS, ids=case_id)
def test_lossless_decode_returns_the_written_samples(sine_file, case):
    container, subtype, rate, channels = case
    path, signal = sine_file(container, subtype=subtype, sample_rate=rate, channels=channels)

    decoded, sample_rate = load(path)

    assert sample_rate == rate
    assert decoded.dtype == np.float32
    assert decoded.shape == signal.shape
    assert np.max(np.abs(decoded - signal)) <= QUANTISATION[subtype]


@pytest.mark.parametrize("case", LOSSY, ids=case_id)
def test_lossy_decode_keeps_the_sine_in_each_channel(sine_file, case):
    container, subtype, rate, channels = case
    path, signal = sine_file(container, subtype=subtype, sample_rate=rate, channels=channels)

    decoded, sample_rate = load(path)

    assert decoded.shape == signal.shape
    for written, heard in zip(signal, decoded, strict=True):
        assert np.corrcoef(written, heard)[0, 1] > 0.95
        assert peak_frequency_hz(heard, sample_rate=sample_rate) == pytest.approx(
            FREQUENCY_HZ, abs=2.0
        )


def test_read_blocks_yields_channel_first_float32_blocks_in_order(sine_file):
    path, signal = sine_file("FLAC", channels=2)

    blocks = list(read_blocks(path, block_frames=10_000))

    assert [block.shape for block in blocks] == [(2, 10_000)] * 6 + [(2, 6_150)]
    assert all(block.dtype == np.float32 for block in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), load(path)[0])


@pytest.mark.parametrize("case", LOSSY, ids=case_id)
def test_lossy_files_read_in_blocks_match_one_whole_read(sine_file, case):
    # libsndfile's MP3 seek, which soundfile made after every read, silenced the start of
    # every block after the first.
    container, subtype, rate, channels = case
    path, _ = sine_file(container, subtype=subtype, sample_rate=rate, channels=channels)
    whole = sf.read(path, dtype="float32", always_2d=True)[0].T

    blocks = np.concatenate(list(read_blocks(path, block_frames=4_096)), axis=1)

    # The decoder's float arithmetic may differ by one step with where the blocks end.
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-6)
    playing = np.abs(blocks[:, rate // 10 : -rate // 10]).max(axis=0)
    assert playing.min() > 0


FIRST_OF_EACH = [
    next(case for case in LOSSLESS + LOSSY if case[0] == container)
    for container in ("WAV", "FLAC", "AIFF", "OGG", "MP3")
]


@pytest.mark.parametrize("case", FIRST_OF_EACH, ids=case_id)
@pytest.mark.parametrize("start", [1, 30_001, -1])
def test_read_blocks_from_a_start_frame_matches_the_whole_decode_from_there(sine_file, case, start):
    container, subtype, rate, channels = case
    path, _ = sine_file(container, subtype=subtype, sample_rate=rate, channels=channels)
    whole = np.concatenate(list(read_blocks(path)), axis=1)
    start %= whole.shape[1]

    tail = list(read_blocks(path, block_frames=7_000, start_frame=start))

    np.testing.assert_allclose(np.concatenate(tail, axis=1), whole[:, start:], rtol=0, atol=1e-6)
    assert all(block.shape[1] <= 7_000 for block in tail)


def test_read_blocks_from_the_end_or_past_it_yields_nothing(sine_file):
    path, signal = sine_file("WAV")

    assert list(read_blocks(path, start_frame=signal.shape[1])) == []
    assert list(read_blocks(path, start_frame=10**9)) == []
    with pytest.raises(ValueError, match="start_frame must be at least 0"):
        list(read_blocks(path, start_frame=-1))


def test_a_cut_file_read_from_a_start_frame_is_still_refused(sine_file):
    path, _ = sine_file("WAV")
    cut = path.with_name("cut.wav")
    cut.write_bytes(path.read_bytes()[:-40_000])
    frames = sf.info(cut).frames

    with pytest.raises(CorruptAudio, match="truncated"):
        list(read_blocks(cut, start_frame=frames // 2))


def test_block_size_does_not_change_what_probe_finds(sine_file):
    path, _ = sine_file("OGG", channels=2)

    assert probe(path, block_frames=1_000) == probe(path)


def test_audio_info_to_dict_is_json_serialisable(sine_file):
    path, _ = sine_file("WAV", subtype="PCM_24", sample_rate=48_000, channels=1)

    as_json = json.loads(json.dumps(probe(path).to_dict()))

    assert as_json == {
        "format": "WAV",
        "subtype": "PCM_24",
        "sample_rate": 48_000,
        "channels": 1,
        "frames": 72_000,
        "duration_s": 1.5,
    }


@pytest.mark.parametrize("variant", ["WAVEX", "RF64"])
def test_wav_variants_are_reported_as_wav(tmp_path, variant):
    path = tmp_path / f"{variant}.wav"
    sf.write(path, np.zeros((4_410, 2), np.float32), 44_100, format=variant, subtype="PCM_24")

    info = probe(path)

    assert (info.format, info.subtype, info.frames) == ("WAV", "PCM_24", 4_410)


def test_mp3_with_id3_tags_at_both_ends_is_read(sine_file, raw_file):
    path, signal = sine_file("MP3")
    title = b"\x03Night Drive"
    frame = b"TIT2" + syncsafe(len(title)) + b"\0\0" + title
    body = frame + bytes(2_000)  # tag padding, as taggers leave
    id3v2 = b"ID3\x04\0\0" + syncsafe(len(body)) + body
    id3v1 = b"TAG" + b"Night Drive".ljust(30, b"\0") + bytes(94)

    info = probe(raw_file("tagged.mp3", id3v2 + path.read_bytes() + id3v1))

    assert (info.format, info.frames) == ("MP3", signal.shape[1])


def test_wav_with_chunks_around_its_data_is_read(sine_file, raw_file):
    path, signal = sine_file("WAV")
    data = path.read_bytes()
    at = data.index(b"data")
    odd_chunk = b"JUNK" + struct.pack("<I", 3) + b"abc\0"  # odd size, then its pad byte
    trailing = b"LIST" + struct.pack("<I", 12) + b"INFOISFT\0\0\0\0"
    wav = data[:at] + odd_chunk + data[at:] + trailing
    wav = wav[:4] + struct.pack("<I", len(wav) - 8) + wav[8:]

    info = probe(raw_file("chunky.wav", wav))

    assert info.frames == signal.shape[1]


def test_file_exactly_at_the_duration_limit_is_accepted(sine_file):
    path, _ = sine_file("WAV")

    assert probe(path, max_duration_s=DURATION_S).duration_s == DURATION_S


# Writing -----------------------------------------------------------------------------------


def test_this_libsndfile_can_write_mp3():
    assert sf.check_format("MP3", "MPEG_LAYER_III")


def test_write_takes_a_mono_vector(tmp_path):
    path = tmp_path / "mono.flac"

    write(path, np.full(1_000, 0.25), sample_rate=8_000, format="FLAC")

    decoded, sample_rate = load(path)
    assert (decoded.shape, sample_rate) == ((1, 1_000), 8_000)
    np.testing.assert_allclose(decoded, 0.25, atol=2**-15)


def test_write_clips_integer_subtypes_to_full_scale(tmp_path):
    path = tmp_path / "loud.wav"

    write(path, np.full((2, 100), 1.5), sample_rate=44_100, subtype="PCM_16")

    assert np.max(np.abs(load(path)[0])) <= 1.0


def test_write_leaves_no_file_when_libsndfile_refuses(tmp_path):
    path = tmp_path / "too-fast.mp3"

    with pytest.raises(sf.LibsndfileError, match="sample rates"):
        write(path, np.zeros((2, 100)), sample_rate=96_000, format="MP3")

    assert not path.exists()


def test_write_refuses_samples_by_channels_layout(tmp_path):
    with pytest.raises(ValueError, match=r"\(n_channels, n_samples\)"):
        write(tmp_path / "x.wav", np.zeros((44_100, 2)), sample_rate=44_100)


def test_write_refuses_a_format_the_studio_does_not_read(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        write(tmp_path / "x.caf", np.zeros((2, 10)), sample_rate=44_100, format="CAF")


# Bad files: not audio ------------------------------------------------------------------------


def test_empty_file_is_corrupt(raw_file):
    with pytest.raises(CorruptAudio) as caught:
        probe(raw_file("empty.wav", b""))

    assert caught.value.code == "empty"
    assert "empty (0 bytes)" in caught.value.message


def test_text_file_is_unsupported(raw_file):
    path = raw_file("notes.wav", b"verse, chorus, verse, bridge\n" * 40)

    with pytest.raises(UnsupportedAudio) as caught:
        probe(path)

    assert caught.value.code == "unsupported"
    assert "not an audio file the studio can read (found text)" in caught.value.message
    assert "use WAV, FLAC, AIFF, OGG Vorbis or MP3" in caught.value.message


def test_random_bytes_are_unsupported(raw_file):
    path = raw_file("noise.mp3", np.random.default_rng(SEED).bytes(50_000))

    with pytest.raises(UnsupportedAudio) as caught:
        probe(path)

    assert caught.value.code == "unsupported"
    assert "not an audio file the studio can read" in caught.value.message


def test_png_renamed_wav_is_unsupported(raw_file, png_bytes):
    with pytest.raises(UnsupportedAudio) as caught:
        probe(raw_file("cover.wav", png_bytes))

    assert caught.value.code == "unsupported"
    assert "found a PNG image" in caught.value.message


@pytest.mark.parametrize("variant", ["CAF", "AU", "W64"])
def test_audio_formats_the_studio_does_not_read_are_unsupported(tmp_path, variant):
    path = tmp_path / f"tone.{variant.lower()}"
    sf.write(path, np.zeros((4_410, 2), np.float32), 44_100, format=variant)

    with pytest.raises(UnsupportedAudio) as caught:
        probe(path)

    assert caught.value.code == "unsupported"


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "nowhere.wav")


# Bad files: truncated ------------------------------------------------------------------------


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_truncated_wav_is_corrupt(sine_file, cut, subtype):
    path, _ = sine_file("WAV", subtype=subtype)

    with pytest.raises(CorruptAudio) as caught:
        probe(cut(path, 0.5))

    assert caught.value.code == "truncated"
    assert "truncated: its WAV header declares" in caught.value.message
    assert "(1.50 s)" in caught.value.message


def test_truncated_aiff_is_corrupt(sine_file, cut):
    path, _ = sine_file("AIFF", subtype="PCM_24")

    with pytest.raises(CorruptAudio) as caught:
        probe(cut(path, 0.5))

    assert caught.value.code == "truncated"
    assert "truncated: its AIFF header declares" in caught.value.message


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9, 0.99])
def test_truncated_flac_is_corrupt(sine_file, cut, fraction):
    path, _ = sine_file("FLAC")

    with pytest.raises(CorruptAudio) as caught:
        probe(cut(path, fraction))

    assert caught.value.code == "truncated"
    assert "truncated or damaged" in caught.value.message


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_ogg_is_corrupt(sine_file, cut, fraction):
    path, _ = sine_file("OGG")

    with pytest.raises(CorruptAudio) as caught:
        probe(cut(path, fraction))

    assert caught.value.code == "truncated"
    assert "truncated: its Ogg stream stops" in caught.value.message


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_mp3_is_corrupt(sine_file, cut, fraction):
    path, _ = sine_file("MP3")

    with pytest.raises(CorruptAudio) as caught:
        probe(cut(path, fraction))

    assert caught.value.code == "truncated"
    assert "truncated: its MP3 header declares" in caught.value.message


def test_mp3_cut_inside_its_id3_tag_is_corrupt(sine_file, raw_file):
    path, _ = sine_file("MP3")
    cover_art = np.random.default_rng(SEED).bytes(100_000)
    frame = b"APIC" + syncsafe(len(cover_art)) + b"\0\0" + cover_art
    tagged = b"ID3\x04\0\0" + syncsafe(len(frame)) + frame + path.read_bytes()

    with pytest.raises(CorruptAudio) as caught:
        probe(raw_file("cut-in-tag.mp3", tagged[:50_000]))

    assert caught.value.code == "truncated"
    assert "its ID3 tag alone declares" in caught.value.message


def test_mp3_without_length_header_cut_mid_frame_is_corrupt(mp3_without_length_header, cut):
    with pytest.raises(CorruptAudio) as caught:
        probe(cut(mp3_without_length_header, 0.5))

    assert caught.value.code == "truncated"
    assert "its last MP3 frame needs" in caught.value.message


def test_variable_bitrate_mp3_without_length_header_is_unsupported(mp3_without_length_header):
    # libsndfile would guess its length from the first frames and silently stop there.
    with pytest.raises(UnsupportedAudio) as caught:
        probe(mp3_without_length_header)

    assert caught.value.code == "unsupported"
    assert "has no length header" in caught.value.message


def test_read_blocks_raises_after_the_good_blocks_of_a_truncated_mp3(sine_file, raw_file):
    path, _ = sine_file("MP3")
    data = bytearray(path.read_bytes()[: path.stat().st_size // 2])
    # Make the Xing header's byte count agree with the cut, so only decoding can tell: it
    # still declares the full frame count.
    xing = data.index(b"Xing")
    assert int.from_bytes(data[xing + 4 : xing + 8], "big") & 3 == 3  # frames and bytes present
    data[xing + 12 : xing + 16] = len(data).to_bytes(4, "big")
    blocks = []

    with pytest.raises(CorruptAudio) as caught:
        blocks.extend(read_blocks(raw_file("short.mp3", bytes(data)), block_frames=4_096))

    assert caught.value.code == "truncated"
    assert "could be decoded" in caught.value.message
    assert sum(block.shape[1] for block in blocks) > 4_096


def test_loading_a_truncated_flac_raises(sine_file, cut):
    path, _ = sine_file("FLAC")

    with pytest.raises(CorruptAudio) as caught:
        load(cut(path, 0.5))

    assert caught.value.code == "truncated"


# Bad files: impossible headers ---------------------------------------------------------------


def test_wav_declaring_billions_of_frames_is_corrupt(sine_file, raw_file):
    path, _ = sine_file("WAV", subtype="PCM_16", channels=1)
    data = bytearray(path.read_bytes())
    data_chunk = data.index(b"data")
    # 2.1 billion 16-bit mono frames: over 13 hours at 44,100 Hz.
    data[data_chunk + 4 : data_chunk + 8] = struct.pack("<I", 0xFFFF_FFF0)

    with pytest.raises(CorruptAudio) as caught:
        probe(raw_file("huge.wav", bytes(data)))

    assert caught.value.code == "truncated"
    assert "declares 4,294,967,280 bytes of audio (13 h 31 min)" in caught.value.message
    assert "holds only 132,300 (1.50 s)" in caught.value.message


def test_rf64_declaring_a_terabyte_is_corrupt(tmp_path, raw_file):
    path = tmp_path / "tone.wav"
    sf.write(path, np.zeros((4_410, 2), np.float32), 44_100, format="RF64", subtype="PCM_16")
    data = bytearray(path.read_bytes())
    ds64 = data.index(b"ds64")
    data[ds64 + 16 : ds64 + 24] = struct.pack("<Q", 2**40)  # the 64-bit data size

    with pytest.raises(CorruptAudio) as caught:
        probe(raw_file("huge-rf64.wav", bytes(data)))

    assert caught.value.code == "truncated"
    assert "declares 1,099,511,627,776 bytes" in caught.value.message


def test_flac_declaring_billions_of_frames_is_corrupt(sine_file, raw_file, monkeypatch):
    path, _ = sine_file("FLAC")
    data = bytearray(path.read_bytes())
    # STREAMINFO follows "fLaC" and a 4-byte block header; its total sample count is the low
    # 36 bits of the 8 bytes at offset 10 of the block.
    at = 4 + 4 + 10
    fields = int.from_bytes(data[at : at + 8], "big")
    data[at : at + 8] = (fields | (2**36 - 1)).to_bytes(8, "big")
    monkeypatch.setattr(decode, "_decode", refuse_to_decode)

    with pytest.raises(CorruptAudio) as caught:
        probe(raw_file("huge.flac", bytes(data)))

    assert caught.value.code == "corrupt"
    assert "claims 68,719,476,735 frames" in caught.value.message


def test_wav_without_frames_is_empty(tmp_path):
    path = tmp_path / "silence.wav"
    write(path, np.zeros((2, 0), np.float32), sample_rate=44_100)

    with pytest.raises(CorruptAudio) as caught:
        probe(path)

    assert caught.value.code == "empty"
    assert "decodes to 0 frames" in caught.value.message


# Bad files: outside the studio's limits ------------------------------------------------------


def test_six_channel_wav_has_too_many_channels(sine_file):
    path, _ = sine_file("WAV", channels=6)

    with pytest.raises(TooManyChannels) as caught:
        probe(path)

    assert isinstance(caught.value, UnsupportedAudio)
    assert caught.value.code == "too_many_channels"
    assert caught.value.message == (
        "This file has 6 channels; the studio takes mono or stereo stems: "
        "export it as stereo or as separate mono stems."
    )


def test_stereo_is_too_many_channels_when_mono_is_required(sine_file):
    path, _ = sine_file("WAV", channels=2)

    with pytest.raises(TooManyChannels, match="takes mono stems"):
        probe(path, max_channels=1)


def test_too_long_file_is_refused_from_its_header_before_decoding(sine_file, monkeypatch):
    path, _ = sine_file("FLAC")
    monkeypatch.setattr(decode, "_decode", refuse_to_decode)

    with pytest.raises(AudioTooLong) as caught:
        probe(path, max_duration_s=1.0)

    assert caught.value.code == "too_long"
    assert "lasts 1.50 s and the limit is 1.00 s" in caught.value.message


def test_sample_rate_below_8000_hz_is_unsupported(sine_file):
    path, _ = sine_file("WAV", sample_rate=4_000)

    with pytest.raises(UnsupportedAudio) as caught:
        probe(path)

    assert caught.value.code == "sample_rate"
    assert "4,000 Hz" in caught.value.message


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_duration_s": 0},
        {"max_duration_s": float("nan")},
        {"max_channels": 0},
        {"block_frames": 0},
    ],
)
def test_probe_refuses_arguments_out_of_range(sine_file, arguments):
    path, _ = sine_file("WAV")

    with pytest.raises(ValueError):
        probe(path, **arguments)


# The errors themselves -----------------------------------------------------------------------


def test_errors_carry_a_machine_code_and_a_human_message():
    error = CorruptAudio("This file is truncated: ...", code="truncated")

    assert isinstance(error, AudioError)
    assert (error.code, error.message, str(error)) == (
        "truncated",
        "This file is truncated: ...",
        "This file is truncated: ...",
    )
    assert error.to_dict() == {"code": "truncated", "message": "This file is truncated: ..."}


def test_each_error_class_has_its_own_default_code():
    codes = [
        cls("x").code for cls in (UnsupportedAudio, CorruptAudio, AudioTooLong, TooManyChannels)
    ]

    assert codes == ["unsupported", "corrupt", "too_long", "too_many_channels"]


def syncsafe(n: int) -> bytes:
    """An ID3v2 size: 28 bits in 4 bytes of 7 bits each."""
    return bytes((n >> shift) & 0x7F for shift in (21, 14, 7, 0))


def refuse_to_decode(*args, **kwargs):
    raise AssertionError("probe decoded a file it should have refused from its header")


@pytest.mark.parametrize(
    "data", [b"RIFF....WAVEfmt garbage", b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01"]
)
def test_wav_header_cut_inside_a_chunk_is_corrupt_not_a_crash(tmp_path, data):
    path = tmp_path / "cut-header.wav"
    path.write_bytes(data)
    with pytest.raises(decode.CorruptAudio) as refused:
        decode.probe(path)
    assert "header" in str(refused.value)
