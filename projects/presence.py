"""Who is in a project's room now: one roster per project, shared by every server process.

Presence costs one message per arrival and one per departure, however many people are
in the room. A socket that opens adds itself to the roster and tells the project's group
once; the newcomer gets the roster instead of asking everyone to answer (from its
process's room, :mod:`projects.relay`, which reads it here at most every
``HEARTBEAT_S``). Every ``HEARTBEAT_S`` a socket refreshes its own entry (no message), and
every ``ROSTER_EVERY`` beats it sends its browser the roster again, which drops the people
of a server that stopped without saying goodbye (entries older than ``TTL_S``).

With ``REDIS_URL`` the roster is a Redis hash per project; otherwise (the embedded set-up,
one process) a dict in this process.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from typing import Any

from django.conf import settings

HEARTBEAT_S = 20.0
ROSTER_EVERY = 3  # beats: the browser's roster is at most a minute old
TTL_S = 65.0
KEY_TTL_S = 3600  # a roster nobody refreshes for an hour is dropped by Redis


class MemoryRoster:
    """The roster in this process's memory."""

    def __init__(self) -> None:
        self.rooms: dict[int, dict[str, tuple[dict[str, Any], float]]] = {}

    async def add(self, project_id: int, conn: str, user: dict[str, Any]) -> None:
        self.rooms.setdefault(project_id, {})[conn] = (user, time.time())

    async def remove(self, project_id: int, conn: str) -> None:
        self.rooms.get(project_id, {}).pop(conn, None)

    async def members(self, project_id: int) -> list[dict[str, Any]]:
        room = self.rooms.get(project_id, {})
        fresh = time.time() - TTL_S
        for conn in [c for c, (_, seen) in room.items() if seen < fresh]:
            del room[conn]
        return [{"conn": conn, "user": user} for conn, (user, _) in room.items()]


class RedisRoster:
    """The roster in a Redis hash per project: conn -> {"user", "seen"}."""

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self.redis = redis.asyncio.Redis.from_url(url)

    @staticmethod
    def key(project_id: int) -> str:
        return f"studio:presence:{project_id}"

    async def add(self, project_id: int, conn: str, user: dict[str, Any]) -> None:
        entry = json.dumps({"user": user, "seen": time.time()})
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.key(project_id), conn, entry)
            pipe.expire(self.key(project_id), KEY_TTL_S)
            await pipe.execute()

    async def remove(self, project_id: int, conn: str) -> None:
        await self.redis.hdel(self.key(project_id), conn)

    async def members(self, project_id: int) -> list[dict[str, Any]]:
        entries = await self.redis.hgetall(self.key(project_id))
        fresh, out, stale = time.time() - TTL_S, [], []
        for conn, raw in entries.items():
            entry = json.loads(raw)
            if entry["seen"] < fresh:
                stale.append(conn)
            else:
                out.append({"conn": conn.decode(), "user": entry["user"]})
        if stale:
            await self.redis.hdel(self.key(project_id), *stale)
        return out


_rosters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def roster() -> MemoryRoster | RedisRoster:
    """The roster for the running event loop (a Redis client belongs to one loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _rosters:
        _rosters[loop] = RedisRoster(settings.REDIS_URL) if settings.REDIS_URL else _memory
    return _rosters[loop]


_memory = MemoryRoster()
