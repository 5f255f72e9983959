"""A project's room in one server process: one subscription, events in order, once."""

from __future__ import annotations

import asyncio
import json
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from projects import events, presence, relay, services
from studio.wire import Frame
from tests.projects.test_consumers import last_seq, next_event, receive_until, socket

pytestmark = [pytest.mark.django_db(transaction=True)]


class Browser:
    """A socket as the room sees one, keeping what is written to it."""

    def __init__(self, cursor: int | None) -> None:
        self.cursor = cursor
        self.catching_up = False
        self.frames: list[dict] = []
        self.wire = self
        self.woken = 0
        self.shut_down = False

    def write(self, frame: Frame) -> None:
        self.frames.append(json.loads(frame.text))

    def catch_up_soon(self) -> None:
        self.woken += 1

    def shut(self) -> None:
        self.shut_down = True

    def removed_by(self, event: dict) -> bool:
        return False

    def seqs(self) -> list[int]:
        return [f["event"]["seq"] for f in self.frames if f["type"] == "event"]


def post_comments(project, user, count: int) -> list[dict]:
    """Post comments without their broadcasts; return their events as the log has them."""
    before = last_seq(project)
    with mock.patch.object(events, "broadcast"):
        for n in range(count):
            services.comment_post(user=user, project_id=project.pk, body=f"comment {n}")
    rows = events.events_after(project_id=project.pk, after_seq=before)
    return [events.serialize(row) for row in rows]


def framed(event: dict) -> Frame:
    return Frame(events.event_frame(event))


async def test_every_socket_of_a_project_shares_one_subscription(project, alice, bob):
    group = events.group_name(project.pk)
    layer = get_channel_layer()
    with (
        mock.patch.object(layer, "group_add", wraps=layer.group_add) as joins,
        mock.patch.object(layer, "group_discard", wraps=layer.group_discard) as leaves,
    ):
        async with socket(alice, project.pk) as a, socket(bob, project.pk) as b:
            await receive_until(a, "ack")
            await receive_until(b, "ack")
            assert [c.args[0] for c in joins.call_args_list] == [group]  # the room's only
            assert len(relay._here()[0][project.pk].sockets) == 2
            await database_sync_to_async(services.comment_post)(
                user=alice, project_id=project.pk, body="once to the process"
            )
            assert (await next_event(a))["seq"] == (await next_event(b))["seq"]
        assert [c.args[0] for c in leaves.call_args_list] == [group]  # the last one out
    assert project.pk not in relay._here()[0]


async def test_crossed_events_go_out_in_order_and_duplicates_are_dropped(project, alice):
    first, second, third = await database_sync_to_async(post_comments)(project, alice, 3)
    room = relay.Room(project.pk, seq=first["seq"] - 1)
    up_to_date, behind, not_resumed = Browser(first["seq"] - 1), Browser(0), Browser(None)
    room.sockets |= {up_to_date, behind, not_resumed}
    for event in (second, third, first, second):
        room.order(event, framed(event))
    assert up_to_date.seqs() == [first["seq"], second["seq"], third["seq"]]
    assert behind.frames == [] and behind.woken == 3  # told to catch up, written nothing
    assert not_resumed.frames == [] and not_resumed.woken == 0
    assert room.ahead == {} and room.gap_timer is None


async def test_a_lasting_gap_is_filled_from_the_log_once_for_every_socket(project, alice):
    first, second, third = await database_sync_to_async(post_comments)(project, alice, 3)
    room = relay.Room(project.pk, seq=first["seq"] - 1)
    browsers = [Browser(first["seq"] - 1) for _ in range(5)]
    room.sockets |= set(browsers)
    room.order(third, framed(third))  # the first two never came live
    assert all(b.frames == [] for b in browsers)
    reads = []
    real = events.events_after
    with mock.patch.object(
        events, "events_after", side_effect=lambda **kw: reads.append(kw) or real(**kw)
    ):
        await asyncio.sleep(relay.GAP_WAIT_S + 0.2)
    assert len(reads) == 1
    for browser in browsers:
        assert browser.seqs() == [first["seq"], second["seq"], third["seq"]]


async def test_recent_events_reach_back_only_as_far_as_the_room_kept_them(project, alice):
    made = await database_sync_to_async(post_comments)(project, alice, 4)
    room = relay.Room(project.pk, seq=made[0]["seq"] - 1)
    for event in made:
        room.order(event, framed(event))
    assert [seq for seq, _, _ in room.after(made[1]["seq"])] == [e["seq"] for e in made[2:]]
    assert room.after(made[-1]["seq"]) == []
    assert [seq for seq, _, _ in room.after(made[0]["seq"] - 1)] == [e["seq"] for e in made]
    assert room.after(made[0]["seq"] - 2) is None  # older than the room: read the log


async def test_notices_go_to_live_sockets_and_presence_to_all(project):
    room = relay.Room(project.pk, seq=0)
    live, waiting = Browser(0), Browser(None)
    room.sockets |= {live, waiting}
    room.take({"type": "project.notice", "notice": {"kind": "job", "percent": 40}})
    room.take({"type": "presence.join", "conn": "c1", "user": {"id": 1, "username": "a"}})
    assert [f["type"] for f in live.frames] == ["notice", "presence.join"]
    assert [f["type"] for f in waiting.frames] == ["presence.join"]


async def test_a_deleted_project_closes_every_socket_after_saying_so(project):
    room = relay.Room(project.pk, seq=0)
    browsers = [Browser(0), Browser(None)]
    room.sockets |= set(browsers)
    room.take({"type": "project.deleted"})
    for browser in browsers:
        assert browser.frames == [{"type": "project.deleted"}] and browser.shut_down


async def test_a_socket_behind_catches_up_from_the_room_without_reading_the_log(
    project, alice, bob
):
    async with socket(bob, project.pk) as ws:
        await receive_until(ws, "ack")
        made = await database_sync_to_async(post_comments)(project, alice, 3)
        room = relay._here()[0][project.pk]
        (bob_socket,) = room.sockets
        bob_socket.catching_up = True  # as while it replays the log: live events pass it by
        for event in made:
            room.order(event, framed(event))
        bob_socket.catching_up = False
        with mock.patch.object(events, "events_after", side_effect=AssertionError("log read")):
            await bob_socket.catch_up()
            assert [(await next_event(ws))["seq"] for _ in made] == [e["seq"] for e in made]


async def test_a_room_listens_again_after_its_channel_layer_fails(project):
    room = relay.Room(project.pk, seq=0)
    live = Browser(0)
    room.sockets.add(live)
    await room.open()
    real = room.layer.receive
    failures = [ConnectionError("Redis went away")]

    async def receive(channel: str) -> dict:
        if failures:
            raise failures.pop()
        return await real(channel)

    try:
        with mock.patch.object(room.layer, "receive", side_effect=receive):
            room.reader.cancel()
            room.reader = asyncio.ensure_future(room.read())
            await asyncio.sleep(relay.RETRY_S + 0.2)
            await room.layer.group_send(room.group, {"type": "project.notice", "notice": {}})
            for _ in range(50):
                if live.frames:
                    break
                await asyncio.sleep(0.02)
        assert live.frames == [{"type": "notice", "notice": {}}]
    finally:
        await room.close()


# --- Who is here -----------------------------------------------------------------------


class Reads(list):
    during = None


@pytest.fixture
def roster_reads(monkeypatch):
    """Every read of the shared roster, whichever kind it is (memory or Redis); a test may
    set ``during`` to run something while a read is out."""
    reads = Reads()
    for kind in (presence.MemoryRoster, presence.RedisRoster):

        async def counted(self, project_id, _read=kind.members):
            reads.append(project_id)
            members = await _read(self, project_id)
            if reads.during:
                reads.during()
            return members

        monkeypatch.setattr(kind, "members", counted)
    return reads


async def test_a_room_reads_the_roster_once_for_all_its_sockets(project, alice, bob, roster_reads):
    async with (
        socket(alice, project.pk) as a,
        socket(bob, project.pk) as b,
        socket(alice, project.pk) as c,
    ):
        seen = {ws: await receive_until(ws, "ack") for ws in (a, b, c)}
        roster = next(m for m in seen[c] if m["type"] == "presence.roster")  # before its ack
        assert len(roster["members"]) == 3  # the newest socket sees everyone here
    assert roster_reads == [project.pk]


async def test_joins_and_leaves_while_the_roster_is_read_are_kept(project, roster_reads):
    room = relay.Room(project.pk, 0)
    shared = presence.roster()
    for conn, name in (("old", "alice"), ("gone", "carol")):
        await shared.add(project.pk, conn, {"username": name})

    def meanwhile() -> None:  # another server's socket arrives, and one leaves
        room.take({"type": "presence.join", "conn": "new", "user": {"username": "bob"}})
        room.take({"type": "presence.leave", "conn": "gone"})

    roster_reads.during = meanwhile
    try:
        members = json.loads((await room.roster_frame()).text)["members"]
    finally:
        for conn in ("old", "gone"):
            await shared.remove(project.pk, conn)
    assert {m["conn"]: m["user"]["username"] for m in members} == {"old": "alice", "new": "bob"}


async def test_the_room_reads_the_roster_again_once_its_copy_is_old(project, roster_reads):
    room = relay.Room(project.pk, 0)
    shared = presence.roster()
    await shared.add(project.pk, "a", {"username": "alice"})
    first = await room.roster_frame()
    await shared.remove(project.pk, "a")  # as expiry drops a stopped server's sockets
    assert await room.roster_frame() is first  # young: the same frame, no read
    with mock.patch.object(relay, "ROSTER_READ_S", 0.0):
        members = json.loads((await room.roster_frame()).text)["members"]
    assert members == [] and roster_reads == [project.pk, project.pk]
