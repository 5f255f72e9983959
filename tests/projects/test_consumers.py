"""The project room's socket, driven through the real ASGI application and channel layer."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from projects import events, services
from projects.models import Comment
from studio.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True)]

ORIGIN = b"http://localhost"


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@asynccontextmanager
async def socket(user, project_id: int, *, origin: bytes = ORIGIN, resume: int | None = 0):
    """A connected socket of ``user``; resumes after ``resume`` and skips to its ack."""
    headers = [(b"origin", origin)]
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/projects/{project_id}/", headers)
    connected, _ = await communicator.connect()
    communicator.connected = connected
    try:
        if connected and resume is not None:
            hello = await communicator.receive_json_from()
            assert hello["type"] == "hello"
            await communicator.send_json_to({"type": "resume", "after": resume, "id": "r"})
        yield communicator
    finally:
        await communicator.disconnect()


async def receive_until(communicator, kind: str, *, timeout: float = 2.0) -> list[dict]:
    """Every message up to and including the first of type ``kind``."""
    seen = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        seen.append(message)
        if message["type"] == kind:
            return seen


def events_in(messages: list[dict]) -> list[dict]:
    return [m["event"] for m in messages if m["type"] == "event"]


async def next_event(communicator) -> dict:
    while True:
        message = await communicator.receive_json_from(timeout=2)
        if message["type"] == "event":
            return message["event"]


def last_seq(project) -> int:
    project.refresh_from_db()
    return project.last_seq


# --- Who may connect -----------------------------------------------------------------


async def test_mallory_cannot_open_the_project_socket(project, mallory):
    async with socket(mallory, project.pk) as ws:
        assert not ws.connected


async def test_anonymous_visitor_cannot_open_the_project_socket(project):
    async with socket(None, project.pk) as ws:
        assert not ws.connected


async def test_socket_refuses_a_foreign_origin(project, alice):
    async with socket(alice, project.pk, origin=b"http://evil.example") as ws:
        assert not ws.connected


async def test_socket_of_a_missing_project_is_refused(alice):
    async with socket(alice, 999999) as ws:
        assert not ws.connected


# --- Replay and live delivery --------------------------------------------------------


async def test_resume_from_zero_replays_the_whole_log_in_order(project, alice):
    total = await database_sync_to_async(last_seq)(project)
    async with socket(alice, project.pk) as ws:
        messages = await receive_until(ws, "ack")
        seqs = [e["seq"] for e in events_in(messages)]
        assert seqs == list(range(1, total + 1))
        assert messages[-1] == {"type": "ack", "ref": "r", "seq": total}


async def test_resume_after_a_seq_replays_only_what_came_later(project, alice):
    total = await database_sync_to_async(last_seq)(project)
    async with socket(alice, project.pk, resume=total - 1) as ws:
        messages = await receive_until(ws, "ack")
        assert [e["seq"] for e in events_in(messages)] == [total]


async def test_collaborator_sees_a_comment_live_once(project, alice, bob):
    total = await database_sync_to_async(last_seq)(project)
    async with socket(bob, project.pk, resume=total) as ws:
        await receive_until(ws, "ack")
        await database_sync_to_async(services.comment_post)(
            user=alice, project_id=project.pk, body="Check the snare"
        )
        event = await next_event(ws)
        assert event["type"] == "comment.created" and event["seq"] == total + 1
        assert event["payload"]["comment"]["body"] == "Check the snare"
        assert event["actor"]["username"] == "alice"
        assert await ws.receive_nothing(timeout=0.3)  # no second copy


async def test_reconnecting_browser_gets_what_it_missed_without_duplicates(project, alice, bob):
    seen = await database_sync_to_async(last_seq)(project)
    async with socket(bob, project.pk, resume=seen) as ws:
        await receive_until(ws, "ack")
    for text in ("one", "two", "three"):
        await database_sync_to_async(services.comment_post)(
            user=alice, project_id=project.pk, body=text
        )
    async with socket(bob, project.pk, resume=seen) as ws:
        missed = events_in(await receive_until(ws, "ack"))
        assert [e["payload"]["comment"]["body"] for e in missed] == ["one", "two", "three"]
        await database_sync_to_async(services.comment_post)(
            user=alice, project_id=project.pk, body="four"
        )
        live = await next_event(ws)
        assert live["seq"] == missed[-1]["seq"] + 1


async def test_a_gap_in_live_delivery_is_filled_from_the_log(project, alice, bob):
    seen = await database_sync_to_async(last_seq)(project)
    async with socket(bob, project.pk, resume=seen) as ws:
        await receive_until(ws, "ack")
        with mock.patch.object(events, "broadcast"):  # both broadcasts get lost
            for text in ("lost one", "lost two"):
                await database_sync_to_async(services.comment_post)(
                    user=alice, project_id=project.pk, body=text
                )
        rows = await database_sync_to_async(events.events_after)(
            project_id=project.pk, after_seq=seen
        )
        newest = await database_sync_to_async(events.serialize)(rows[-1])
        await get_channel_layer().group_send(
            events.group_name(project.pk), {"type": "project.event", "event": newest}
        )
        first, second = await next_event(ws), await next_event(ws)
        assert [first["seq"], second["seq"]] == [seen + 1, seen + 2]


async def test_events_that_cross_on_the_way_are_put_in_order_without_the_log(project, alice, bob):
    seen = await database_sync_to_async(last_seq)(project)
    async with socket(bob, project.pk, resume=seen) as ws:
        await receive_until(ws, "ack")
        with mock.patch.object(events, "broadcast"):  # sent below, the other way round
            for text in ("first", "second"):
                await database_sync_to_async(services.comment_post)(
                    user=alice, project_id=project.pk, body=text
                )
        rows = await database_sync_to_async(events.events_after)(
            project_id=project.pk, after_seq=seen
        )
        early, late = [await database_sync_to_async(events.serialize)(row) for row in rows]
        queries = []
        with mock.patch.object(events, "events_after", side_effect=queries.append):
            for event in (late, early):  # as two servers' broadcasts may cross
                await get_channel_layer().group_send(
                    events.group_name(project.pk), {"type": "project.event", "event": event}
                )
            first, second = await next_event(ws), await next_event(ws)
        assert [first["seq"], second["seq"]] == [seen + 1, seen + 2]
        assert queries == []  # held a moment, not read from the log per browser


async def test_event_messages_round_trip_through_json_with_their_documented_keys(project, alice):
    async with socket(alice, project.pk) as ws:
        for event in events_in(await receive_until(ws, "ack")):
            assert json.loads(json.dumps(event)) == event
            assert set(event) == {"seq", "type", "at", "actor", "payload", "summary"}
            assert set(event["payload"]) == events.EVENT_SHAPES[event["type"]]


# --- Presence ------------------------------------------------------------------------


async def test_presence_shows_who_else_is_here(project, alice, bob):
    async with socket(alice, project.pk) as alice_ws:
        await receive_until(alice_ws, "ack")
        async with socket(bob, project.pk) as bob_ws:
            joined = await receive_until(alice_ws, "presence.join")
            while joined[-1]["user"]["username"] != "bob":  # alice's own echo may come first
                joined = await receive_until(alice_ws, "presence.join")
            # bob reads who is here from the roster: nobody had to answer his arrival
            roster = (await receive_until(bob_ws, "presence.roster"))[-1]
            assert {m["user"]["username"] for m in roster["members"]} == {"alice", "bob"}
        left = await receive_until(alice_ws, "presence.leave")
        assert left[-1]["conn"] == joined[-1]["conn"]
    async with socket(bob, project.pk) as bob_ws:  # alice left the roster with her socket
        roster = (await receive_until(bob_ws, "presence.roster"))[-1]
        assert [m["user"]["username"] for m in roster["members"]] == ["bob"]


async def test_presence_is_not_logged(project, alice, bob):
    before = await database_sync_to_async(last_seq)(project)
    async with socket(alice, project.pk), socket(bob, project.pk):
        pass
    assert await database_sync_to_async(last_seq)(project) == before


# --- Client requests -----------------------------------------------------------------


async def test_commenter_posts_a_comment_over_the_socket(project, carol):
    async with socket(carol, project.pk) as ws:
        await receive_until(ws, "ack")
        await ws.send_json_to({"type": "comment.post", "id": 7, "body": "Nice groove"})
        messages = await receive_until(ws, "ack")
        assert messages[-1]["ref"] == 7
        created = events_in(messages) or [await next_event(ws)]
        assert created[0]["type"] == "comment.created"
        assert created[0]["payload"]["comment"]["body"] == "Nice groove"


async def test_viewer_cannot_comment_over_the_socket(project, victor):
    async with socket(victor, project.pk) as ws:
        await receive_until(ws, "ack")
        await ws.send_json_to({"type": "comment.post", "id": "c1", "body": "sneaky"})
        error = (await receive_until(ws, "error"))[-1]
        assert error["code"] == "forbidden" and error["ref"] == "c1"
    assert not await database_sync_to_async(Comment.objects.exists)()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_message"),
        ('{"no": "type"}', "bad_message"),
        ('{"type": "launch.missiles", "id": 1}', "unknown_type"),
        ('{"type": "resume", "after": "ten", "id": 2}', "bad_message"),
        ('{"type": "resume", "after": -1, "id": 3}', "bad_message"),
        ('{"type": "comment.post", "id": 4, "body": ""}', "empty_comment"),
        ('{"type": "comment.post", "id": {"x": 1}, "body": "hi"}', "bad_message"),
        ('{"type": "ping", "pad": "' + "x" * 20000 + '"}', "bad_message"),
    ],
)
async def test_malformed_messages_get_a_clear_error_and_change_nothing(project, carol, frame, code):
    before = await database_sync_to_async(last_seq)(project)
    async with socket(carol, project.pk) as ws:
        await receive_until(ws, "ack")
        await ws.send_to(text_data=frame)
        error = (await receive_until(ws, "error"))[-1]
        assert error["code"] == code and error["message"]
        await ws.send_json_to({"type": "ping", "id": "still-there"})
        assert (await receive_until(ws, "pong"))[-1]["ref"] == "still-there"
    assert await database_sync_to_async(last_seq)(project) == before


async def test_removed_member_is_disconnected(project, alice, bob):
    async with socket(bob, project.pk) as ws:
        await receive_until(ws, "ack")
        await database_sync_to_async(services.member_remove)(
            user=alice, project_id=project.pk, member_user_id=bob.pk
        )
        event = await next_event(ws)
        assert event["type"] == "member.removed"
        closed = await ws.receive_output(timeout=2)
        assert closed == {"type": "websocket.close", "code": 4403}


# --- Suggestions over the socket -------------------------------------------------------


def _proposed_suggestion(project):
    """A proposed suggestion row as the engine would publish it (the engine itself is
    tested in test_suggestions.py; here only the socket's delivery matters)."""
    from projects.models import Suggestion

    return Suggestion.objects.create(
        project=project,
        scope="mix",
        fingerprint="f" * 32,
        kind="balance",
        code="balance.gain",
        title="Lower drums by 3 dB",
        reason="Too loud for its role.",
        move=[{"op": "bus", "gain_db": -3.0, "ceiling_dbtp": -1.0}],
        measure={"name": "x", "label": "x", "unit": "LU", "before": 3, "after": 0},
        confidence=0.6,
    )


async def test_a_decision_and_a_thread_reply_reach_both_people_live(project, alice, bob, carol):
    from projects import suggestions

    suggestion = await database_sync_to_async(_proposed_suggestion)(project)
    seq = await database_sync_to_async(last_seq)(project)
    async with (
        socket(alice, project.pk, resume=seq) as a,
        socket(carol, project.pk, resume=seq) as c,
    ):
        await receive_until(a, "ack")
        await receive_until(c, "ack")
        await c.send_json_to(
            {"type": "comment.post", "id": 7, "body": "Why 3 dB?", "suggestion_id": suggestion.pk}
        )
        for ws in (a, c):
            event = await next_event(ws)
            assert event["type"] == "comment.created"
            assert event["payload"]["comment"]["suggestion_id"] == suggestion.pk
        await database_sync_to_async(suggestions.suggestion_decide)(
            user=bob, project_id=project.pk, suggestion_id=suggestion.pk, decision="accept"
        )
        for ws in (a, c):
            seen = [await next_event(ws), await next_event(ws)]
            assert [e["type"] for e in seen] == ["suggestion.decided", "mix.changed"]
            assert seen[0]["payload"]["suggestion"]["decided_by"] == "bob"
            assert seen[1]["payload"]["mix"]["bus"]["gain_db"] == -3.0


async def test_a_reconnecting_browser_replays_the_decision_it_missed(project, alice, bob):
    from projects import suggestions

    suggestion = await database_sync_to_async(_proposed_suggestion)(project)
    seq = await database_sync_to_async(last_seq)(project)
    await database_sync_to_async(suggestions.suggestion_decide)(
        user=bob, project_id=project.pk, suggestion_id=suggestion.pk, decision="reject"
    )
    async with socket(alice, project.pk, resume=seq) as ws:
        replayed = events_in(await receive_until(ws, "ack"))
    assert [e["type"] for e in replayed] == ["suggestion.decided"]
    assert replayed[0]["payload"]["suggestion"]["status"] == "rejected"


async def test_a_commenter_cannot_reply_into_another_projects_thread(project, carol, alice):
    other = await database_sync_to_async(services.project_create)(user=alice, name="Other")
    suggestion = await database_sync_to_async(_proposed_suggestion)(other)
    async with socket(carol, project.pk) as ws:
        await receive_until(ws, "ack")
        await ws.send_json_to(
            {"type": "comment.post", "id": 9, "body": "sneaky", "suggestion_id": suggestion.pk}
        )
        error = (await receive_until(ws, "error"))[-1]
    assert error["code"] == "no_such_suggestion" and error["ref"] == 9


# --- Listening together ------------------------------------------------------------------


def _rendered_version(project, alice):
    from projects.models import MixVersion

    return MixVersion.objects.create(
        project=project,
        number=1,
        name="First",
        status="done",
        result={"duration_s": 30.0},
        files={"mp3": "x.mp3"},
        created_by=alice,
    )


async def next_notice(communicator, kind: str) -> dict:
    while True:
        message = await communicator.receive_json_from(timeout=2)
        if message["type"] == "notice" and message["notice"]["kind"] == kind:
            return message["notice"]


async def test_one_transport_moves_everyone_listening_together(project, alice, victor):
    version = await database_sync_to_async(_rendered_version)(project, alice)
    seq = await database_sync_to_async(last_seq)(project)
    async with (
        socket(alice, project.pk, resume=seq) as a,
        socket(victor, project.pk, resume=seq) as v,
    ):
        await receive_until(a, "ack")
        await receive_until(v, "ack")
        await v.send_json_to({"type": "listen.start", "id": 1, "version_id": version.pk})
        for ws in (a, v):
            session = (await next_notice(ws, "listen.state"))["session"]
            assert session["version_label"] == "v1" and session["started_by"] == "victor"
        await a.send_json_to({"type": "listen.move", "id": 2, "action": "play", "position_s": 12.5})
        for ws in (a, v):
            session = (await next_notice(ws, "listen.state"))["session"]
            assert session["playing"] and session["position_s"] == 12.5
            assert session["moved_by"] == "alice" and session["at_ms"] > 0
        await v.send_json_to({"type": "listen.move", "id": 3, "action": "seek", "position_s": 99})
        error = (await receive_until(v, "error"))[-1]
        assert error["code"] == "invalid_time" and error["ref"] == 3
        await v.send_json_to({"type": "listen.stop", "id": 4})
        assert (await next_notice(a, "listen.state"))["session"] is None


async def test_a_late_joiner_gets_the_session_in_its_hello(project, alice, bob):
    from projects import listening

    version = await database_sync_to_async(_rendered_version)(project, alice)
    await database_sync_to_async(listening.listening_start)(
        user=alice, project_id=project.pk, version_id=version.pk
    )
    async with socket(bob, project.pk, resume=None) as ws:
        hello = await ws.receive_json_from()
    assert hello["session"]["version_id"] == version.pk and hello["server_ms"] > 0


async def test_moving_with_nobody_listening_is_refused(project, alice):
    async with socket(alice, project.pk) as ws:
        await receive_until(ws, "ack")
        await ws.send_json_to({"type": "listen.move", "id": 5, "action": "play", "position_s": 0})
        error = (await receive_until(ws, "error"))[-1]
        await ws.send_json_to({"type": "listen.move", "id": 6, "action": "dance", "position_s": 0})
        bad = (await receive_until(ws, "error"))[-1]
    assert error["code"] == "no_session" and bad["code"] == "invalid_action"
