"""One encoded websocket frame, written to many sockets.

A project's live event goes to every browser in the room. Encoding it once per server
process, and writing the same bytes to each socket, costs a few microseconds per browser
where the whole ASGI send path (consumer, channels, Daphne, autobahn) costs about a
hundred.

``studio.serve`` hands each websocket application a ``DaphneWire`` in
``scope["extensions"]["studio.wire"]``. Other servers (and the test communicator) get a
``SendWire``, which goes through the ordinary ASGI ``send``, in order.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from django.conf import settings

TEXT_OPCODE = 0x81  # FIN bit and opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented RFC 6455 text frame, as a server sends it."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", TEXT_OPCODE, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", TEXT_OPCODE, 126, size)
    else:
        head = struct.pack("!BBQ", TEXT_OPCODE, 127, size)
    return head + payload


class Frame:
    """A text message for many sockets: its JSON text, and its frame bytes made once."""

    __slots__ = ("_raw", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._raw: bytes | None = None

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = text_frame(self.text.encode())
        return self._raw


class Wire(Protocol):
    def write(self, frame: Frame) -> None: ...

    def send_now(self) -> None: ...

    async def flush(self) -> None: ...


class DaphneWire:
    """Writes frames straight to one Daphne (autobahn) websocket's TCP connection.

    Frames written close together leave together (see ``_schedule``), in one ``send``
    per socket, past Twisted's write buffering when that buffer is empty (a buffered
    ``write`` costs two more system calls per socket to watch for writability).
    """

    __slots__ = ("pending", "protocol")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.pending: list[bytes] = []

    def write(self, frame: Frame) -> None:
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN:
            return  # closing or closed: autobahn would refuse the send too
        if getattr(protocol, "_perMessageCompress", None) is not None:
            self.send_pending()  # compression was agreed: autobahn frames it, in order
            protocol.sendMessage(frame.text.encode(), False)
            return
        if not self.pending:
            _due.append(self)
            if len(_due) == 1:
                _schedule()
        self.pending.append(frame.raw)

    def send_pending(self) -> None:
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        transport = self.protocol.transport
        if transport is not None and _idle(transport):
            try:
                sent = transport.socket.send(data)
            except OSError:  # full, or gone: Twisted's own write finds out which
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        if transport is not None:
            transport.write(data)

    def send_now(self) -> None:
        """Send what this socket has waiting now (an answer to its own request)."""
        self.send_pending()

    async def flush(self) -> None:
        self.send_pending()


_due: list[DaphneWire] = []  # wires with frames waiting to be sent
_last_send = -1e9  # when the last sending ended, in the loop's clock (s)
_last_send_took = 0.0  # how long it took (s)
SENDING_SHARE = 0.1  # at most this share of the time goes to sending, when frames wait


def _schedule() -> None:
    """Send the waiting frames at the end of this loop turn, or after a pause of nine
    times what the last sending took (at most ``STUDIO_SOCKET_BATCH_MS``): a server with
    few sockets sends at once, and under load several events share one system call per
    socket, on both ends, instead of the sending taking all the time."""
    loop = asyncio.get_running_loop()
    pause = min(
        settings.STUDIO_SOCKET_BATCH_MS / 1000,
        _last_send_took * (1 - SENDING_SHARE) / SENDING_SHARE,
    )
    at = _last_send + pause
    if at <= loop.time():
        loop.call_soon(_send_due)
    else:
        loop.call_at(at, _send_due)


def _send_due() -> None:
    global _last_send, _last_send_took
    began = time.perf_counter()
    wires = _due[:]
    _due.clear()
    for wire in wires:
        wire.send_pending()
    _last_send_took = time.perf_counter() - began
    _last_send = asyncio.get_running_loop().time()


def _idle(transport: Any) -> bool:
    """Whether a Twisted TCP transport is open, plain and has nothing buffered to send."""
    return (
        getattr(transport, "TLS", True) is False
        and transport.connected
        and not transport.disconnecting
        and not getattr(transport, "dataBuffer", True)
        and not getattr(transport, "_tempDataBuffer", True)
    )


class SendWire:
    """Writes frames through an ASGI ``send``, one after another, in the order written."""

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.send = send
        self.queue: deque[Frame] = deque()
        self.pump: asyncio.Task[None] | None = None

    def write(self, frame: Frame) -> None:
        self.queue.append(frame)
        if self.pump is None or self.pump.done():
            self.pump = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        while self.queue:
            await self.send({"type": "websocket.send", "text": self.queue.popleft().text})

    def send_now(self) -> None:
        """Frames leave as soon as they are written here."""

    async def flush(self) -> None:
        """Wait until every frame written so far has been sent."""
        while self.pump is not None and not self.pump.done():
            await asyncio.shield(self.pump)


def wire_for(scope: dict[str, Any], send: Callable[[dict[str, Any]], Awaitable[None]]) -> Wire:
    """The fastest wire this connection's server offers."""
    return scope.get("extensions", {}).get("studio.wire") or SendWire(send)
