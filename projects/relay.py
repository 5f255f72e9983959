"""A project's room in one server process: one subscription, one frame, every socket.

Every server process keeps one ``Room`` per project that has sockets open in it. The room
alone joins the project's channel-layer group, so each broadcast reaches a process once,
however many browsers it serves. The room puts events in sequence order (two servers'
broadcasts can cross on the way: an event ahead of the next one waits ``GAP_WAIT_S`` for
the ones before it, then the room reads the missing ones from the log, once for all its
sockets), encodes each frame once, and writes it to every socket that is up to date.

A socket that is behind (it is replaying the log after a reconnect, or it missed an event)
catches up by itself: from the room's ``RECENT`` newest events when they reach back far
enough, otherwise from the log.

The room also holds who is here: it reads the shared roster (:mod:`projects.presence`) at
most every ``ROSTER_READ_S`` and follows the joins and leaves it relays in between, so a
newcomer, or a socket's periodic refresh, is one frame made once, not a read of the whole
roster per socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import deque
from itertools import islice
from typing import Any, Protocol

from channels.layers import get_channel_layer

from studio.wire import Frame, Wire

from . import events, presence
from .dbcall import database_call

log = logging.getLogger(__name__)

GAP_WAIT_S = 0.25  # how long an event ahead of the next one waits for those before it
RECENT = 1024  # newest events kept in memory for sockets that fell a little behind
RETRY_S = 0.5  # how soon a room listens again after its channel layer failed
ROSTER_READ_S = presence.HEARTBEAT_S  # how old the room's copy of the roster may grow


class Socket(Protocol):
    """What a room needs of a browser's socket (``ProjectConsumer``)."""

    wire: Wire
    cursor: int | None  # the newest event sent to the browser; None before it resumes
    catching_up: bool

    def catch_up_soon(self) -> None: ...

    def shut(self) -> None: ...

    def removed_by(self, event: dict[str, Any]) -> bool: ...


class Room:
    def __init__(self, project_id: int, seq: int) -> None:
        self.project_id = project_id
        self.group = events.group_name(project_id)
        self.seq = seq  # the newest event relayed, in order
        self.sockets: set[Socket] = set()
        self.ahead: dict[int, tuple[dict[str, Any], Frame]] = {}
        self.recent: deque[tuple[int, dict[str, Any], Frame]] = deque(maxlen=RECENT)
        self.gap_timer: asyncio.TimerHandle | None = None
        self.layer: Any = None
        self.channel = ""
        self.reader: asyncio.Task[None] | None = None
        self.roster: dict[str, dict[str, Any]] = {}  # conn -> user, as this room knows it
        self.roster_read_at: float | None = None  # loop time of the last read
        self.roster_lock = asyncio.Lock()
        self.roster_seen: list[tuple[str, dict[str, Any] | None]] | None = None
        self.roster_text: Frame | None = None

    async def open(self) -> None:
        self.layer = get_channel_layer()
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self.reader = asyncio.ensure_future(self.read())

    async def close(self) -> None:
        if self.reader:
            self.reader.cancel()
        if self.gap_timer:
            self.gap_timer.cancel()
        await self.layer.group_discard(self.group, self.channel)

    async def read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:  # the channel layer is away: the log fills what is missed
                log.warning("room %s lost its channel layer", self.project_id, exc_info=True)
                await asyncio.sleep(RETRY_S)
                continue
            try:
                self.take(message)
            except Exception:  # one bad message must not silence the room
                log.exception("room %s could not relay %r", self.project_id, message)

    # --- What arrives from the group ----------------------------------------------

    def take(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "project.event":
            event = message["event"]
            self.order(event, Frame(message.get("frame") or events.event_frame(event)))
        elif kind == "project.notice":
            self.tell({"type": "notice", "notice": message["notice"]}, live_only=True)
        elif kind == "presence.join":
            self.arrived(message["conn"], message["user"])
            self.tell({"type": "presence.join", "conn": message["conn"], "user": message["user"]})
        elif kind == "presence.leave":
            self.arrived(message["conn"], None)
            self.tell({"type": "presence.leave", "conn": message["conn"]})
        elif kind == "project.deleted":
            self.tell({"type": "project.deleted"})
            for socket in list(self.sockets):
                socket.shut()

    def tell(self, content: dict[str, Any], *, live_only: bool = False) -> None:
        """Write one ephemeral message (never logged) to every socket."""
        frame = Frame(json.dumps(content))
        for socket in self.sockets:
            if not live_only or socket.cursor is not None:
                socket.wire.write(frame)

    # --- Who is here ----------------------------------------------------------------

    def arrived(self, conn: str, user: dict[str, Any] | None) -> None:
        """A socket joined (``user``) or left (None) the project, in any process."""
        if self.roster_seen is not None:  # a read is on its way: apply this after it
            self.roster_seen.append((conn, user))
        if user is None:
            self.roster.pop(conn, None)
        else:
            self.roster[conn] = user
        self.roster_text = None

    async def roster_frame(self) -> Frame:
        """The ``presence.roster`` frame: everyone here, read afresh when the room's copy
        is older than ``ROSTER_READ_S`` (which drops those of a server that stopped)."""
        async with self.roster_lock:
            now = asyncio.get_running_loop().time()
            if self.roster_read_at is None or now - self.roster_read_at >= ROSTER_READ_S:
                await self.read_roster()
                self.roster_read_at = now
        if self.roster_text is None:
            members = [{"conn": conn, "user": user} for conn, user in self.roster.items()]
            self.roster_text = Frame(json.dumps({"type": "presence.roster", "members": members}))
        return self.roster_text

    async def read_roster(self) -> None:
        self.roster_seen = []
        try:
            members = await presence.roster().members(self.project_id)
        finally:
            seen, self.roster_seen = self.roster_seen, None
        self.roster = {m["conn"]: m["user"] for m in members}
        for conn, user in seen:  # joins and leaves that came while the read was out
            self.arrived(conn, user)
        self.roster_text = None

    # --- Events, in order, once ---------------------------------------------------

    def order(self, event: dict[str, Any], frame: Frame) -> None:
        seq = event["seq"]
        if seq <= self.seq:
            return  # relayed already (or filled from the log)
        self.ahead[seq] = (event, frame)
        self.relay_ahead()
        if self.ahead:
            self.wait_for_gap()
        elif self.gap_timer is not None:  # the gap closed by itself
            self.gap_timer.cancel()
            self.gap_timer = None

    def relay_ahead(self) -> None:
        while self.seq + 1 in self.ahead:
            self.relay(*self.ahead.pop(self.seq + 1))

    async def fill_gap(self) -> None:
        """Events before a held one did not come live: read them from the log, once."""
        self.gap_timer = None
        if not self.ahead:
            return
        try:
            rows = await database_call(events.logged_after)(self.project_id, self.seq)
        except Exception:  # the database is away for a moment: try again
            log.warning("room %s could not read the log", self.project_id, exc_info=True)
            self.wait_for_gap()
            return
        for event in rows:
            if event["seq"] > self.seq:
                self.relay(event, Frame(events.event_frame(event)))
        for seq in [seq for seq in self.ahead if seq <= self.seq]:
            del self.ahead[seq]
        if self.ahead and not rows:  # gone from the log (a deleted project): relay as is
            self.relay(*self.ahead.pop(min(self.ahead)))
        self.relay_ahead()
        if self.ahead:
            self.wait_for_gap(0 if len(rows) == events.LOG_PAGE else GAP_WAIT_S)

    def wait_for_gap(self, delay_s: float = GAP_WAIT_S) -> None:
        """Fill the gap before the held events in ``delay_s`` seconds, unless it closes."""
        if self.gap_timer is None:
            self.gap_timer = asyncio.get_running_loop().call_later(
                delay_s, lambda: asyncio.ensure_future(self.fill_gap())
            )

    def relay(self, event: dict[str, Any], frame: Frame) -> None:
        """Write an event to every socket that is up to date; wake those that are behind."""
        seq = event["seq"]
        if seq != self.seq + 1:
            self.recent.clear()  # keep the recent events without holes
        self.seq = seq
        self.recent.append((seq, event, frame))
        removal = event["type"] == "member.removed"
        for socket in self.sockets:
            cursor = socket.cursor
            if cursor is None or socket.catching_up or seq <= cursor:
                continue  # not resumed yet, replaying, or has it already
            if seq != cursor + 1:
                socket.catch_up_soon()
                continue
            socket.wire.write(frame)
            socket.cursor = seq
            if removal and socket.removed_by(event):
                socket.shut()

    def after(self, cursor: int) -> list[tuple[int, dict[str, Any], Frame]] | None:
        """The recent events after ``cursor``, or None when they do not reach back so far."""
        if not self.recent or self.recent[0][0] > cursor + 1:
            return None
        return list(islice(self.recent, cursor + 1 - self.recent[0][0], None))


_rooms: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Room]] = (
    weakref.WeakKeyDictionary()
)
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _here() -> tuple[dict[int, Room], asyncio.Lock]:
    loop = asyncio.get_running_loop()
    if loop not in _rooms:
        _rooms[loop], _locks[loop] = {}, asyncio.Lock()
    return _rooms[loop], _locks[loop]


async def join(socket: Socket, project_id: int, seq: int) -> Room:
    """Put a socket in its project's room in this process, opening the room if need be;
    ``seq`` is the project's newest event as the socket's connection read it."""
    rooms, lock = _here()
    async with lock:
        room = rooms.get(project_id)
        if room is None:
            room = Room(project_id, seq)
            await room.open()
            rooms[project_id] = room
        room.sockets.add(socket)
    return room


async def leave(socket: Socket, room: Room) -> None:
    """Take a socket out of its room; the last one out closes the room."""
    rooms, lock = _here()
    async with lock:
        room.sockets.discard(socket)
        if not room.sockets and rooms.get(room.project_id) is room:
            del rooms[room.project_id]
            try:
                await room.close()
            except Exception:  # the channel layer is away: its subscription went with it
                log.warning("room %s did not close cleanly", room.project_id, exc_info=True)
