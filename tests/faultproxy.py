"""A TCP proxy on loopback that a test can cut, to make a service fail on cue.

The studio reaches the service (PostgreSQL, the S3 server) through the proxy's port.
``cut()`` drops every connection and refuses new ones until ``restore()``, as a service
that went away would; ``cut_after(n)`` lets ``n`` more bytes through towards the service
and then cuts, as a store that fails in the middle of an upload would.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from tests.harness import free_port

CHUNK_BYTES = 64 * 1024


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` in a thread."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.open = True
        self.budget: int | None = None  # bytes left towards the service before a cut
        self.cuts = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    # --- Control, from the test's thread -------------------------------------------------

    def cut(self) -> None:
        """Drop every connection now and refuse new ones."""
        self._call(self._cut)

    def cut_after(self, n_bytes: int) -> None:
        """Let ``n_bytes`` more through towards the service, then cut."""
        self._call(lambda: setattr(self, "budget", n_bytes))

    def restore(self) -> None:
        """Take connections again."""
        self._call(self._restore)

    def close(self) -> None:
        self._call(self._cut)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    # --- The loop ------------------------------------------------------------------------

    def _call(self, fn) -> None:
        done = threading.Event()

        def run() -> None:
            fn()
            done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()
            self.loop.close()

    def _cut(self) -> None:
        self.open = False
        self.cuts += 1
        for writer in list(self.writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self.writers.clear()

    def _restore(self) -> None:
        self.open, self.budget = True, None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update({writer, up_writer})
        await asyncio.gather(
            self._pipe(reader, up_writer, towards_service=True),
            self._pipe(up_reader, writer, towards_service=False),
            return_exceptions=True,
        )
        for each in (writer, up_writer):
            self.writers.discard(each)
            with contextlib.suppress(Exception):
                each.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, towards_service: bool
    ) -> None:
        while self.open and (data := await reader.read(CHUNK_BYTES)):
            if towards_service and self.budget is not None:
                if len(data) >= self.budget:
                    writer.write(data[: self.budget])
                    self._cut()
                    return
                self.budget -= len(data)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(Exception):
            writer.write_eof()


@contextlib.contextmanager
def proxy_to(host: str, port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(host, port)
    try:
        yield proxy
    finally:
        proxy.close()
