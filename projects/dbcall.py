"""Database calls from the server's event loop.

Channels runs every such call on one thread per process, so on a busy server one
socket's query waits behind every other socket's. On PostgreSQL they run on a small pool
of threads (each with its own connection) instead; SQLite takes one writer at a time, so
there they stay on the one thread.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from channels.db import database_sync_to_async
from django.db import connections


def database_call(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a coroutine function that runs it on a database thread."""
    return database_sync_to_async(function, thread_sensitive=not _parallel())


@cache
def _parallel() -> bool:
    return connections["default"].vendor == "postgresql"
