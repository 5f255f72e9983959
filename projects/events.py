"""The per-project event log and its broadcast.

Every change that people should see is written as an ``Event`` row with the next
per-project sequence number, in the same transaction as the change, and is sent to
the project's channel-layer group after the transaction commits. The socket
consumer replays rows from the database to a reconnecting browser, so the
broadcast is only ever a notification about a row that already exists.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from .models import Event, Project

log = logging.getLogger(__name__)

# The event types and the keys of their payloads: the contract with the browser.
EVENT_SHAPES: dict[str, set[str]] = {
    "project.created": {"project"},
    "project.renamed": {"project"},
    "member.added": {"member"},
    "member.role_changed": {"member"},
    "member.removed": {"member"},
    "stem.created": {"stem"},
    "stem.renamed": {"stem"},
    "stem.deleted": {"stem"},
    "stem.reordered": {"order"},
    "comment.created": {"comment"},
    "analysis.queued": {"analysis"},
    "analysis.started": {"analysis"},
    "analysis.done": {"analysis"},
    "analysis.failed": {"analysis"},
    "analysis.removed": {"analysis"},
    "suggestion.created": {"suggestion"},
    "suggestion.updated": {"suggestion"},
    "suggestion.superseded": {"suggestion"},
    "suggestion.decided": {"suggestion"},
    "suggestion.preview": {"suggestion"},
    "mix.changed": {"mix", "change"},
    "mix.masking": {"analysis_id"},
    "version.created": {"version"},
    "version.queued": {"version"},
    "version.started": {"version"},
    "version.done": {"version"},
    "version.failed": {"version"},
    "idea.requested": {"idea"},
    "idea.queued": {"idea"},
    "idea.started": {"idea"},
    "idea.done": {"idea"},
    "idea.failed": {"idea"},
    "idea.decided": {"idea"},
    "share.created": {"share"},
    "share.updated": {"share"},
    "share.revoked": {"share"},
    "client.comment": {"comment", "share_id"},
    "client.decision": {"decision", "share_id"},
    "client.listened": {"listen", "share_id"},
}

# What a client (a share link, no account) may see of the log: only these types, and only
# those carrying its own share_id.
CLIENT_EVENT_TYPES = frozenset(
    {"client.comment", "client.decision", "share.updated", "share.revoked"}
)


def group_name(project_id: int) -> str:
    """The channel-layer group of everyone connected to one project."""
    return f"project.{project_id}"


def record(*, project: Project, type: str, actor: Any, payload: dict[str, Any]) -> Event:
    """Append an event to the project's log and broadcast it once the transaction commits.

    Must run inside ``transaction.atomic()``: the UPDATE that takes the next sequence
    number locks the project row until commit, so numbers are gap-free and ordered.
    """
    if type not in EVENT_SHAPES:
        raise ValueError(f"unknown event type {type!r}")
    if set(payload) != EVENT_SHAPES[type]:
        raise ValueError(f"{type} payload needs keys {sorted(EVENT_SHAPES[type])}")
    seq = _next_seq(project.pk)
    event = Event.objects.create(
        project=project, seq=seq, type=type, actor=actor if actor else None, payload=payload
    )
    message = serialize(event)
    transaction.on_commit(lambda: broadcast(project.pk, message))
    share_id = payload.get("share_id") or (payload.get("share") or {}).get("id")
    if type in CLIENT_EVENT_TYPES and share_id:
        transaction.on_commit(lambda: broadcast_to_share(share_id, message))
    return event


def _next_seq(project_id: int) -> int:
    """Take the project's next sequence number (one statement: PostgreSQL and SQLite
    both return the updated value)."""
    quote, meta = connection.ops.quote_name, Project._meta
    table, key = quote(meta.db_table), quote(meta.pk.column)
    column = quote(meta.get_field("last_seq").column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = {column} + 1 WHERE {key} = %s RETURNING {column}",
            [project_id],
        )
        return cursor.fetchone()[0]


def serialize(event: Event) -> dict[str, Any]:
    """The JSON form of an event, as the socket and the API send it."""
    actor = event.actor
    return {
        "seq": event.seq,
        "type": event.type,
        "at": event.created_at.isoformat(),
        "actor": {"id": actor.pk, "username": actor.get_username()} if actor else None,
        "payload": event.payload,
        "summary": describe(event),
    }


def describe(event: Event) -> str:
    """One plain sentence saying who did what, for the activity list."""
    who = event.actor.get_username() if event.actor else "Someone"
    payload = event.payload
    match event.type:
        case "project.created":
            return f"{who} created the project “{payload['project']['name']}”"
        case "project.renamed":
            return f"{who} renamed the project to “{payload['project']['name']}”"
        case "member.added":
            member = payload["member"]
            return f"{who} added {member['username']} as {member['role']}"
        case "member.role_changed":
            member = payload["member"]
            return f"{who} made {member['username']} {member['role']}"
        case "member.removed":
            member = payload["member"]
            if event.actor and member["user_id"] == event.actor.pk:
                return f"{who} left the project"
            return f"{who} removed {member['username']}"
        case "stem.created":
            return f"{who} uploaded the stem “{payload['stem']['name']}”"
        case "stem.renamed":
            return f"{who} renamed a stem to “{payload['stem']['name']}”"
        case "stem.deleted":
            return f"{who} deleted the stem “{payload['stem']['name']}”"
        case "stem.reordered":
            return f"{who} reordered the stems"
        case "comment.created":
            return f"{who} commented"
        case "analysis.queued" | "analysis.started" | "analysis.done" | "analysis.removed":
            return _describe_analysis(event.type, payload["analysis"])
        case "analysis.failed":
            analysis = payload["analysis"]
            return f"Analysis of {analysis['label']} failed: {analysis['error']}"
        case (
            "suggestion.created"
            | "suggestion.updated"
            | "suggestion.superseded"
            | "suggestion.decided"
            | "suggestion.preview"
        ):
            return _describe_suggestion(event.type, payload["suggestion"], who)
        case "mix.changed":
            return f"{who}: {payload['change']['summary']}"
        case "share.created" | "share.updated" | "share.revoked":
            share = payload["share"]
            verb = {
                "share.created": "shared",
                "share.updated": "changed the share",
                "share.revoked": "revoked the share",
            }[event.type]
            return f"{who} {verb} “{share['label']}” ({', '.join(share['versions'])})"
        case "client.comment":
            comment = payload["comment"]
            return f"{comment['author']} commented on {comment['version_label']}"
        case "client.decision":
            decision = payload["decision"]
            verb = "approved" if decision["decision"] == "approve" else "asked for changes on"
            return f"{decision['client_name']} (client) {verb} {decision['version_label']}"
        case "client.listened":
            listen = payload["listen"]
            return f"{listen['client_name'] or 'A client'} listened to {listen['version_label']}"
        case "mix.masking":
            return "The engine mapped where the stems mask each other"
        case "version.created" | "version.queued":
            version = payload["version"]
            return f"{who} asked for a render of {version['label']} “{version['name']}”"
        case "version.started":
            return f"Rendering {payload['version']['label']}"
        case "version.done":
            version = payload["version"]
            return f"{version['label']} “{version['name']}” is ready"
        case "version.failed":
            version = payload["version"]
            return f"The render of {version['label']} failed: {version['error']}"
    return f"{who}: {event.type}"


def _describe_suggestion(type: str, suggestion: dict[str, Any], who: str) -> str:
    title = f"“{suggestion['title']}”"
    if type == "suggestion.decided":
        if suggestion["status"] == "proposed":
            return f"{who} reopened the AI suggestion {title}"
        return f"{who} {suggestion['status']} the AI suggestion {title}"
    if type == "suggestion.preview":
        status = suggestion["preview"]["status"]
        if status == "queued":
            return f"{who} asked for a preview of {title}"
        return f"Preview of {title} {'ready' if status == 'done' else 'failed'}"
    return {
        "suggestion.created": f"The engine suggests {title}",
        "suggestion.updated": f"The engine measured {title} again",
        "suggestion.superseded": f"{title} no longer fits the stems: superseded",
    }[type]


def _describe_analysis(type: str, analysis: dict[str, Any]) -> str:
    label = analysis["label"]
    return {
        "analysis.queued": f"Analysis of {label} queued",
        "analysis.started": f"Analysing {label}",
        "analysis.done": f"Analysis of {label} done",
        "analysis.removed": f"Analysis of {label} removed",
    }[type]


# The event loop of the server process, once a socket has connected. Worker threads
# hand their broadcasts to it: the in-memory channel layer's queues belong to it.
_server_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _server_loop
    _server_loop = loop


def _group_send(project_id: int, message: dict[str, Any]) -> None:
    _group_send_to(group_name(project_id), message)


def _group_send_to(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    send = layer.group_send(group, message)
    loop = _server_loop
    if loop is not None and loop.is_running() and not _on_loop(loop):
        # Not waited for: the database thread goes on to the next request while the
        # server's loop publishes (the rooms put crossed events back in order).
        asyncio.run_coroutine_threadsafe(send, loop).add_done_callback(_log_failure)
    else:
        async_to_sync(_await)(send)


def _log_failure(sent: concurrent.futures.Future[Any]) -> None:
    if not sent.cancelled() and sent.exception() is not None:
        log.error("a broadcast to the channel layer failed", exc_info=sent.exception())


async def _await(coroutine: Any) -> Any:
    return await coroutine


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def event_frame(event: dict[str, Any]) -> str:
    """The socket frame that carries an event, as JSON text."""
    return json.dumps({"type": "event", "event": event})


def broadcast(project_id: int, message: dict[str, Any]) -> None:
    """Send an event to the project's group, with its frame encoded once for every browser;
    a failure here loses nothing (the log has it)."""
    try:
        frame = event_frame(message)
        _group_send(project_id, {"type": "project.event", "event": message, "frame": frame})
    except Exception:  # the row is committed; reconnecting browsers replay it
        log.exception("broadcast of event %s in project %s failed", message["seq"], project_id)


def share_group_name(share_id: int) -> str:
    """The channel-layer group of the clients connected through one share link."""
    return f"share.{share_id}"


def broadcast_to_share(share_id: int, message: dict[str, Any]) -> None:
    """Send an event a client may see to the sockets of its share link."""
    try:
        _group_send_to(share_group_name(share_id), {"type": "share.event", "event": message})
    except Exception:
        log.exception("broadcast of event %s to share %s failed", message["seq"], share_id)


def notify(project_id: int, message: dict[str, Any]) -> None:
    """Send an ephemeral notice (never logged, never replayed), such as job progress."""
    try:
        _group_send(project_id, {"type": "project.notice", "notice": message})
    except Exception:
        log.exception("notice to project %s failed", project_id)


def notify_project_deleted(project_id: int) -> None:
    """Tell connected browsers that a project is gone (it has no log left to write to)."""
    try:
        _group_send(project_id, {"type": "project.deleted"})
    except Exception:
        log.exception("notice of deletion of project %s failed", project_id)


def events_after(*, project_id: int, after_seq: int, limit: int = 1000) -> list[Event]:
    """The project's events with a sequence number above ``after_seq``, oldest first."""
    return list(
        Event.objects.filter(project_id=project_id, seq__gt=after_seq)
        .select_related("actor")
        .order_by("seq")[:limit]
    )


LOG_PAGE = 500  # events read from the log at a time, to replay or to fill a gap


def logged_after(project_id: int, after_seq: int) -> list[dict[str, Any]]:
    """The next page of the project's events after ``after_seq``, serialized, oldest first."""
    rows = events_after(project_id=project_id, after_seq=after_seq, limit=LOG_PAGE)
    return [serialize(row) for row in rows]
