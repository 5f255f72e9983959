"""Websocket frames made once for many sockets (RFC 6455, section 5.2)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from studio.wire import Frame, SendWire, text_frame


def read_frame(frame: bytes) -> tuple[int, bool, bytes]:
    """(opcode, fin, payload) of one unmasked frame, read as RFC 6455 lays it out."""
    first, second = frame[0], frame[1]
    assert second & 0x80 == 0, "a server's frames are not masked"
    size, start = second & 0x7F, 2
    if size == 126:
        (size,), start = struct.unpack("!H", frame[2:4]), 4
    elif size == 127:
        (size,), start = struct.unpack("!Q", frame[2:10]), 10
    payload = frame[start:]
    assert len(payload) == size
    return first & 0x0F, bool(first & 0x80), payload


@pytest.mark.parametrize(
    ("size", "header"), [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10), (200_000, 10)]
)
def test_a_text_frame_carries_its_payload_with_the_right_length_form(size, header):
    payload = ("é" * size).encode()[:size]
    frame = text_frame(payload)
    assert len(frame) == header + size
    assert read_frame(frame) == (1, True, payload)


def test_a_frame_is_encoded_once_as_utf8():
    frame = Frame('{"type": "event", "body": "Ça sonne ♪"}')
    assert frame.raw is frame.raw
    assert read_frame(frame.raw)[2].decode() == frame.text


async def test_the_asgi_wire_sends_in_the_order_written_and_flush_waits_for_all():
    sent: list[str] = []

    async def send(message: dict) -> None:
        if len(sent) % 2:
            await asyncio.sleep(0.001)  # a send that waits now and then
        sent.append(message["text"])

    wire = SendWire(send)
    for n in range(20):
        wire.write(Frame(str(n)))
    await wire.flush()
    assert sent == [str(n) for n in range(20)]
