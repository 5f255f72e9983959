"""The project room's websocket at /ws/projects/<id>/.

A thin door: it checks who is asking, joins the project's group, replays the event
log from where the browser left off, relays live events in order without
duplicates, keeps presence, and passes client requests to the services.

Client messages are JSON objects with a ``type`` and an ``id``; each is answered by
``{"type": "ack", "ref": id, ...}`` or ``{"type": "error", "code", "message", "ref"}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from functools import cached_property
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError, close_old_connections

from studio.failures import UNAVAILABLE, database_unavailable
from studio.wire import Frame, Wire, wire_for

from . import events, listening, presence, relay, services
from .dbcall import database_call
from .errors import NotFound, ServiceError
from .models import Role

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024
CLOSE_FORBIDDEN = 4403


class JsonDoor(AsyncWebsocketConsumer):
    """A socket that takes JSON requests with a ``type`` and an ``id`` and answers each with
    an ack or an error frame; subclasses list their handlers in ``requests``."""

    requests: dict[str, Any] = {}
    closed_code = CLOSE_FORBIDDEN

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its database clean-up before every message: that
        runs on the one thread all database work shares, so each event sent to each
        browser waited behind every query. Every database call here goes through
        ``database_sync_to_async``, which cleans up around itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data.encode()) > MAX_MESSAGE_BYTES:
            await self.error("bad_message", "Send JSON text messages of at most 16 KiB.")
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self.error("bad_json", "That message is not valid JSON.")
            return
        except RecursionError:  # nesting deeper than the decoder goes, in a few KiB
            await self.error("bad_message", "That message nests too deeply.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.error("bad_message", "A message is a JSON object with a string 'type'.")
            return
        ref = message.get("id")
        if ref is not None and not isinstance(ref, str | int):
            await self.error("bad_message", "'id' must be a string or a number.")
            return
        handler = self.requests.get(message["type"])
        if handler is None:
            await self.error("unknown_type", f"Unknown message type {message['type']!r}.", ref)
            return
        try:
            await handler(self, message, ref)
        except DatabaseError as error:
            if not database_unavailable(error):
                raise
            log.warning("a socket request met an unavailable database", exc_info=True)
            await database_call(close_old_connections)()
            await self.error("unavailable", UNAVAILABLE, ref)
        except ServiceError as error:
            await self.error(error.code, error.message, ref)
            if isinstance(error, NotFound) and error.code == "not_found":
                await self.close(code=self.closed_code)

    async def resume_point(self, message: dict[str, Any], ref: Any) -> int | None:
        """The sequence number a ``resume`` asks to start after, or None (error sent)."""
        after = message.get("after", 0)
        if not services.fits_id(after) or after < 0:
            await self.error("bad_message", "'after' must be a sequence number, 0 or more.", ref)
            return None
        return after

    @cached_property
    def wire(self) -> Wire:
        """Every frame to the browser goes this one way, so frames leave in order."""
        return wire_for(self.scope, self.base_send)

    async def send_json(self, content: dict[str, Any]) -> None:
        """Send a message of this socket's own (an answer, hello, roster) at once, after
        the room's frames that wait for it."""
        self.wire.write(Frame(json.dumps(content)))
        self.wire.send_now()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        await self.wire.flush()
        await super().close(code=code, reason=reason)

    async def error(self, code: str, message: str, ref: Any = None) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "ref": ref})


class ProjectConsumer(JsonDoor):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.cursor: int | None = None  # the newest seq this browser has been sent
        self.catching_up = False
        self.room: relay.Room | None = None
        self.heartbeat: asyncio.Task[None] | None = None
        try:
            self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
            membership = await database_call(services.membership_require)(
                user=self.user, project_id=self.project_id, role=Role.VIEWER
            )
        except (NotFound, ValueError):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        events.remember_server_loop(asyncio.get_running_loop())
        self.group = events.group_name(self.project_id)
        self.joined_seq = membership.project.last_seq
        await self.accept()
        await self.send_json(
            {
                "type": "hello",
                "user": self.person(),
                "role": membership.role,
                "project": self.project_id,
                "last_seq": self.joined_seq,
                "session": await database_call(self.active_session)(),
                "server_ms": int(time.time() * 1000),
            }
        )
        # Joined before any resume is read: the replay then meets the live events.
        self.room = await relay.join(self, self.project_id, self.joined_seq)
        await self.arrive()
        self.heartbeat = asyncio.create_task(self.beat())

    def active_session(self) -> dict[str, Any] | None:
        return listening.session_payload(listening.session_active(project_id=self.project_id))

    async def disconnect(self, code: int) -> None:
        if self.heartbeat:
            self.heartbeat.cancel()
        if getattr(self, "room", None):
            await relay.leave(self, self.room)
        if hasattr(self, "group"):
            # a goodbye lost with the channel layer is cleared by the roster's expiry
            await presence.roster().remove(self.project_id, self.channel_name)
            await self.channel_layer.group_send(
                self.group, {"type": "presence.leave", "conn": self.channel_name}
            )

    # --- Client requests ------------------------------------------------------------

    async def request_resume(self, message: dict[str, Any], ref: Any) -> None:
        after = await self.resume_point(message, ref)
        if after is None:
            return
        await database_call(services.membership_require)(
            user=self.user, project_id=self.project_id, role=Role.VIEWER
        )
        self.cursor = after
        await self.catch_up(from_log=True)
        await self.send_json({"type": "ack", "ref": ref, "seq": self.cursor})

    async def request_comment(self, message: dict[str, Any], ref: Any) -> None:
        comment = await database_call(services.comment_post)(
            user=self.user,
            project_id=self.project_id,
            body=message.get("body"),
            stem_id=message.get("stem_id"),
            at_s=message.get("at_s"),
            end_s=message.get("end_s"),
            version_id=message.get("version_id"),
            suggestion_id=message.get("suggestion_id"),
            idea_id=message.get("idea_id"),
            parent_id=message.get("parent_id"),
        )
        await self.send_json({"type": "ack", "ref": ref, "comment_id": comment.pk})

    async def request_ping(self, message: dict[str, Any], ref: Any) -> None:
        await self.send_json({"type": "pong", "ref": ref})

    async def request_listen_start(self, message: dict[str, Any], ref: Any) -> None:
        await database_call(listening.listening_start)(
            user=self.user, project_id=self.project_id, version_id=message.get("version_id")
        )
        await self.send_json({"type": "ack", "ref": ref})

    async def request_listen_move(self, message: dict[str, Any], ref: Any) -> None:
        await database_call(listening.listening_move)(
            user=self.user,
            project_id=self.project_id,
            action=message.get("action"),
            position_s=message.get("position_s"),
        )
        await self.send_json({"type": "ack", "ref": ref})

    async def request_listen_stop(self, message: dict[str, Any], ref: Any) -> None:
        await database_call(listening.listening_stop)(user=self.user, project_id=self.project_id)
        await self.send_json({"type": "ack", "ref": ref})

    requests = {
        "resume": request_resume,
        "comment.post": request_comment,
        "ping": request_ping,
        "listen.start": request_listen_start,
        "listen.move": request_listen_move,
        "listen.stop": request_listen_stop,
    }

    # --- Events (the room writes live ones to up-to-date sockets itself) -----------

    def catch_up_soon(self) -> None:
        """The room has events this socket missed: fetch them, in the background."""
        if not self.catching_up:
            self.catching_up = True
            asyncio.ensure_future(self.catch_up())

    async def catch_up(self, *, from_log: bool = False) -> None:
        """Send every event after the cursor: ``from_log`` reads the whole log first (a
        resume); then the room's recent events, or the log where they do not reach."""
        self.catching_up = True
        try:
            if from_log:
                await self.replay_log()
            while self.room is not None and self.cursor < self.room.seq:
                recent = self.room.after(self.cursor)
                if recent is None:
                    if not await self.replay_log():
                        return  # the log has nothing newer (the room saw it deleted)
                    continue
                for _, event, frame in recent:
                    self.deliver(event, frame)
        finally:
            self.catching_up = False

    async def replay_log(self) -> bool:
        """Send the logged events after the cursor, oldest first; False if there were none."""
        sent = False
        while True:
            rows = await database_call(events.logged_after)(self.project_id, self.cursor)
            for row in rows:
                self.deliver(row, Frame(events.event_frame(row)))
            sent = sent or bool(rows)
            if len(rows) < events.LOG_PAGE:
                return sent

    def deliver(self, event: dict[str, Any], frame: Frame) -> None:
        """Send one event, unless it was sent already (a replay and live delivery cross)."""
        if self.cursor is not None and event["seq"] <= self.cursor:
            return
        self.wire.write(frame)
        self.cursor = event["seq"]
        if self.removed_by(event):
            self.shut()

    def removed_by(self, event: dict[str, Any]) -> bool:
        """Whether an event since this socket opened takes its person out of the project."""
        if event["type"] != "member.removed" or event["seq"] <= self.joined_seq:
            return False
        return (event["payload"].get("member") or {}).get("user_id") == self.user.pk

    def shut(self) -> None:
        """Close this socket as forbidden, after what was written to it."""
        asyncio.ensure_future(self.close(code=CLOSE_FORBIDDEN))

    # --- Presence (ephemeral, never logged) -----------------------------------------

    def person(self) -> dict[str, Any]:
        return {"id": self.user.pk, "username": self.user.get_username()}

    async def arrive(self) -> None:
        """Join the roster, tell the room once, and show this browser who is here."""
        await presence.roster().add(self.project_id, self.channel_name, self.person())
        await self.channel_layer.group_send(
            self.group, {"type": "presence.join", "conn": self.channel_name, "user": self.person()}
        )
        if self.room is not None:
            self.room.arrived(self.channel_name, self.person())  # before its echo comes
        await self.send_roster()

    async def send_roster(self) -> None:
        if self.room is not None:
            self.wire.write(await self.room.roster_frame())
            self.wire.send_now()

    async def beat(self) -> None:
        """Keep this socket's roster entry fresh, and now and then its browser's roster."""
        beats = 0
        while True:
            await asyncio.sleep(presence.HEARTBEAT_S)
            beats += 1
            try:
                await presence.roster().add(self.project_id, self.channel_name, self.person())
                if beats % presence.ROSTER_EVERY == 0:
                    await self.send_roster()
            except Exception:  # the roster's Redis is away for a moment: beat again later
                log.warning("presence beat of %s failed", self.channel_name, exc_info=True)
