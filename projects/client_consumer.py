"""A share link's websocket at /ws/share/<token>/: the client hears only its own link.

The client (no account) connects with the session that opened the link (and unlocked it,
when it has a password). It receives the events of the project's log that belong to its
link and that a client may see (comments in its threads, decisions, the link's
revocation), replayed from where it left off and then live; nothing else of the project.
"""

from __future__ import annotations

from typing import Any

from . import events, sharing
from .consumers import JsonDoor
from .dbcall import database_call
from .errors import ServiceError
from .models import Event

CLOSE_GONE = 4410


class ShareConsumer(JsonDoor):
    closed_code = CLOSE_GONE

    async def connect(self) -> None:
        self.cursor: int | None = None
        token = self.scope["url_route"]["kwargs"]["token"]
        session = self.scope.get("session") or {}
        try:
            share = await database_call(sharing.share_require)(token, session)
        except ServiceError:
            await self.close(code=CLOSE_GONE)
            return
        self.share_id, self.project_id = share.pk, share.project_id
        self.group = events.share_group_name(share.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "share": share.pk, "label": share.label})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def request_resume(self, message: dict[str, Any], ref: Any) -> None:
        after = await self.resume_point(message, ref)
        if after is None:
            return
        self.cursor = after
        await self.catch_up(None)
        await self.send_json({"type": "ack", "ref": ref, "seq": self.cursor})

    async def request_ping(self, message: dict[str, Any], ref: Any) -> None:
        await self.send_json({"type": "pong", "ref": ref})

    requests = {"resume": request_resume, "ping": request_ping}

    async def share_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if self.cursor is None or event["seq"] <= self.cursor:
            return
        await self.catch_up(event["seq"])  # fills anything a lost broadcast left out
        if event["type"] == "share.revoked":
            await self.close(code=CLOSE_GONE)

    async def catch_up(self, until_seq: int | None) -> None:
        """Send this link's events after the cursor (up to ``until_seq``), in order."""
        while True:
            rows, last = await database_call(self.load_after)(self.cursor, until_seq)
            for row in rows:
                await self.send_json({"type": "event", "event": row})
            if last == self.cursor:
                return  # nothing left in range
            self.cursor = last

    def load_after(self, cursor: int, until_seq: int | None) -> tuple[list[dict[str, Any]], int]:
        """This link's client events after ``cursor`` (the project's sequence numbers), and
        the newest sequence number looked at."""
        rows = Event.objects.filter(
            project_id=self.project_id, seq__gt=cursor, type__in=events.CLIENT_EVENT_TYPES
        )
        if until_seq is not None:
            rows = rows.filter(seq__lte=until_seq)
        batch = list(rows.select_related("actor").order_by("seq")[: events.LOG_PAGE])
        mine = [row for row in batch if _share_of(row) == self.share_id]
        last = batch[-1].seq if batch else cursor
        return [events.serialize(row) for row in mine], last


def _share_of(event: Event) -> int | None:
    payload = event.payload
    return payload.get("share_id") or (payload.get("share") or {}).get("id")
