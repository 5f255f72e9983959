"""Daphne, with request bodies kept on disk until the application reads them.

Two things in Daphne 4.2 hold a whole upload in memory before Django sees it:
Twisted's request object parses every multipart POST into ``request.args`` (a
200 MB upload took the process to 2.6 GB), and Daphne reads the body out of
Twisted's temporary file and queues all of it for the application at once. Here
Twisted is told not to parse bodies (Daphne never uses ``request.args``), and each
body chunk that Daphne queues is parked in a spooled temporary file until the
application asks for it, so the server's memory stays flat whatever the uploads.

Each websocket application also gets a ``DaphneWire`` (``scope["extensions"]
["studio.wire"]``): one encoded frame can then be written to many sockets without the
whole ASGI send path per socket (see ``studio.wire``).

Run it exactly like the ``daphne`` command:
``python -m studio.serve -b 127.0.0.1 -p 8000 studio.asgi:application``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
from collections import deque
from functools import partial
from typing import Any

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server

from studio.wire import DaphneWire

SPOOL_IN_MEMORY_BYTES = 256 * 1024
GC_THRESHOLDS = (3_000, 10, 50)  # Python's are (700, 10, 10)


class StreamingWebRequest(WebRequest):
    """Daphne's request, without Twisted's in-memory parsing of form bodies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)


class StreamingHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802 (Twisted's name)
        protocol = super().buildProtocol(addr)
        if protocol is not None:
            protocol.requestFactory = StreamingWebRequest
        return protocol


class SpooledBodyQueue(asyncio.Queue):
    """An application's input queue that parks request body bytes in a temporary file.

    ``asyncio.Queue`` stores items through its ``_init``/``_put``/``_get`` hooks (as
    ``PriorityQueue`` does); these keep a message's body in the spool file and put
    it back into the message when the application takes it.
    """

    def _init(self, maxsize: int) -> None:
        self._queue: deque[tuple[dict[str, Any], int]] = deque()
        # Lives as long as the queue (one request); closed when it is collected.
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
        self._read_at = 0

    def _put(self, message: dict[str, Any]) -> None:
        body = message.get("body") if message.get("type") == "http.request" else None
        if not body:
            self._queue.append((message, 0))
            return
        self._spool.seek(0, 2)
        self._spool.write(body)
        self._queue.append(({**message, "body": b""}, len(body)))

    def _get(self) -> dict[str, Any]:
        message, size = self._queue.popleft()
        if size:
            self._spool.seek(self._read_at)
            message["body"] = self._spool.read(size)
            self._read_at += size
        if not self._queue:
            self._spool.seek(0)
            self._spool.truncate()
            self._read_at = 0
        return message


class SpoolingServer(Server):
    def run(self) -> None:
        """Start the embedded job workers beside the web server, then serve."""
        from django.conf import settings

        from projects import jobs

        jobs.start(workers=settings.STUDIO_WORKERS)
        # Everything loaded so far (Django, the engine's libraries: 220,000 objects)
        # lives as long as the process, so it is kept out of the collector's full
        # passes; and full passes over a thousand open sockets' objects (about 100,000,
        # 50 to 100 ms each, every few seconds under load with Python's thresholds) come
        # rarely. Each pass pauses every socket of the server. Measured with the load
        # benchmark: full passes of 220 to 280 ms before, none during its burst after.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        super().run()

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        """Start an application instance for a connection, fed by a SpooledBodyQueue."""
        if protocol not in self.connections:
            return None
        queue = SpooledBodyQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        if scope["type"] == "websocket":
            scope.setdefault("extensions", {})["studio.wire"] = DaphneWire(protocol)
        instance = self.application(
            scope=scope, receive=queue.get, send=partial(self.handle_reply, protocol)
        )
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(instance)
        return queue


class SpoolingCommandLine(CommandLineInterface):
    server_class = SpoolingServer


def main() -> None:
    # Server.run builds its HTTP factory from this module-level name.
    daphne.server.HTTPFactory = StreamingHTTPFactory
    SpoolingCommandLine().run(sys.argv[1:])


if __name__ == "__main__":
    main()
