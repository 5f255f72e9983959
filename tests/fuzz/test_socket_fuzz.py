"""Fuzz the two sockets with bad messages: /ws/projects/<id>/ and /ws/share/<token>/.

Each case is one frame sent on a socket that stays open for the whole run: malformed
JSON, JSON that is not an object, every field of every message type with wrong types,
frames over 16 KiB, binary frames, unknown types, duplicate ids, resumes in odd places
and with absurd ``after`` values, and objects drawn at random by hypothesis. After each
frame a ping must still get its pong, and every answer before it must be an ``error``
with a code and a message, an ``ack``, or what the socket sends anyway (events,
notices, presence). The application raising on any frame fails the test: the
communicator re-raises it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from projects import services, sharing, tasks, versions
from projects.consumers import MAX_MESSAGE_BYTES
from studio.asgi import application
from tests.conftest import upload_of
from tests.fuzz.budget import fuzz_settings, record, scaled

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
# Frames a socket may send between a request and the pong that follows it.
BACKGROUND = {"event", "notice", "presence.join", "presence.leave", "presence.roster"}
PROJECT_TYPES = ("comment.post", "resume", "ping", "listen.start", "listen.move", "listen.stop")
SHARE_TYPES = ("resume", "ping")

# Values of every JSON kind, and numbers at the edges of what a database or a float holds.
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    2**31,
    2**63,
    -(2**63) - 1,
    10**30,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    "1",
    "x" * 5000,
    "\u0000",
    "\U0001f3b5",
    [],
    [1, 2],
    {},
    {"id": 1},
]
FIELDS = {
    "comment.post": (
        "body",
        "stem_id",
        "version_id",
        "at_s",
        "end_s",
        "suggestion_id",
        "idea_id",
        "parent_id",
    ),
    "resume": ("after",),
    "ping": (),
    "listen.start": ("version_id",),
    "listen.move": ("action", "position_s"),
    "listen.stop": (),
}


# --- Frames --------------------------------------------------------------------------


def text(message: Any) -> str:
    return json.dumps(message)


def malformed_frames() -> Iterator[str]:
    """Text that is not JSON, or JSON that is not a message."""
    yield ""
    yield " "
    yield "{"
    yield "}"
    yield '{"type": "ping"'
    yield "{'type': 'ping'}"
    yield '{"type": "ping", "id": 1,}'
    yield "\ufeff" + text({"type": "ping"})
    yield "NaN"
    yield "null"
    yield "true"
    yield "42"
    yield '"ping"'
    yield "[]"
    yield text([{"type": "ping"}])
    yield "{}"
    yield "[" * 10_000  # deeper than the JSON decoder recurses, well under 16 KiB
    yield "[" * 5_000 + "]" * 5_000
    yield '{"a":' * 3_000 + "1" + "}" * 3_000
    yield text({"type": None})
    yield text({"type": 1})
    yield text({"type": ["ping"]})
    yield text({"type": {"ping": 1}})
    yield text({"type": ""})
    yield text({"type": "PING"})
    yield text({"type": "ping "})
    yield text({"type": "pong"})
    yield text({"type": "ack"})
    yield text({"type": "hello"})
    yield text({"type": "event"})
    yield text({"type": "__init__"})
    yield text({"type": "request_ping"})
    yield text({"type": "websocket.disconnect"})
    yield text({"type": "project.deleted"})
    yield text({"type": "presence.leave", "conn": "x"})
    yield text({"type": "\u0000"})
    for ref in ([1], {"a": 1}, 1.5, True, None, "", "x" * 1000, 10**30):
        yield text({"type": "ping", "id": ref})


def oversized_frames() -> Iterator[str]:
    """Frames just over 16 KiB, in characters and in UTF-8 bytes."""
    yield "x" * (MAX_MESSAGE_BYTES + 1)
    yield text({"type": "ping", "pad": "x" * MAX_MESSAGE_BYTES})
    yield text({"type": "comment.post", "body": "é" * (MAX_MESSAGE_BYTES // 2)})
    yield text({"type": "ping", "pad": "\U0001f3b5" * (MAX_MESSAGE_BYTES // 4)})
    yield "[" * (MAX_MESSAGE_BYTES + 1)
    yield text({"type": "comment.post", "body": "x" * (4 * MAX_MESSAGE_BYTES)})


def wrong_field_frames(types: tuple[str, ...]) -> Iterator[str]:
    """Every field of every message type, with a value of every odd kind."""
    for kind in types:
        for name in FIELDS[kind] + ("id", "extra"):
            for value in ODD_VALUES:
                yield text({"type": kind, "id": "w", name: value})


def order_frames(types: tuple[str, ...]) -> Iterator[str]:
    """Resumes in odd places, duplicate ids and requests out of their usual order."""
    for after in (-1, 0, 1, 3, 10**6, 2**62, 2**63 - 1, 2**63, 10**30, 1.0, "0", None, True):
        yield text({"type": "resume", "id": "r", "after": after})
    yield text({"type": "resume", "id": "r"})
    yield text({"type": "resume", "id": "r", "after": 0})
    yield text({"type": "resume", "id": "r", "after": 0})
    for _ in range(3):
        yield text({"type": "ping", "id": "same"})
    if "listen.move" in types:
        yield text({"type": "listen.stop", "id": 7})
        yield text({"type": "listen.move", "id": 7, "action": "play", "position_s": 0})
        yield text({"type": "listen.stop", "id": 7})
        yield text({"type": "comment.post", "id": 8, "body": "first"})
        yield text({"type": "comment.post", "id": 8, "body": "second, same id"})
        yield text({"type": "comment.post", "id": 9, "body": "a reply", "parent_id": 1})
    yield text({"type": "resume", "id": "r", "after": 0})


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


def random_objects(types: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped like messages (a known or random type, known or random fields)."""
    names = st.sampled_from([name for kind in types for name in FIELDS[kind]] + ["id", "type"])
    return st.fixed_dictionaries(
        {"type": st.sampled_from(types) | st.text(max_size=12) | JSON_VALUES},
        optional={"id": JSON_VALUES},
    ).flatmap(
        lambda head: st.dictionaries(names | st.text(max_size=8), JSON_VALUES, max_size=6).map(
            lambda rest: {**rest, **head}
        )
    )


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy``, drawn by hypothesis (derandomised by default)."""
    found: list[Any] = []

    @fuzz_settings(count)
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


def random_frames(types: tuple[str, ...], count: int) -> list[str]:
    return [text(message) for message in drawn(random_objects(types), count)]


# --- Driving a socket ----------------------------------------------------------------


@asynccontextmanager
async def connected(path: str, cookie: str | None) -> AsyncIterator[WebsocketCommunicator]:
    headers = [ORIGIN]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, path, headers)
    ok, _ = await communicator.connect()
    assert ok, f"{path} refused the connection"
    try:
        hello = await communicator.receive_json_from(timeout=5)
        assert hello["type"] == "hello"
        yield communicator
    finally:
        await communicator.disconnect()


def check_answer(frame: dict[str, Any]) -> None:
    """An answer to a bad frame: an error with a code and a message, or an ack."""
    if frame["type"] == "error":
        assert isinstance(frame.get("code"), str) and frame["code"], frame
        assert isinstance(frame.get("message"), str) and frame["message"], frame
        assert "ref" in frame, frame
    else:
        assert frame["type"] in {"ack", "pong"} | BACKGROUND, frame


async def exchange(ws: WebsocketCommunicator, frame: str | bytes, n: int) -> list[dict]:
    """Send one case, then a ping; return every answer before its pong."""
    # Straight to the application: send_to() refuses empty frames, which a browser can send.
    key = "bytes" if isinstance(frame, bytes) else "text"
    await ws.send_input({"type": "websocket.receive", key: frame})
    probe = f"probe-{n}"
    await ws.send_json_to({"type": "ping", "id": probe})
    answers = []
    while True:
        reply = json.loads(await ws.receive_from(timeout=10))
        if reply == {"type": "pong", "ref": probe}:
            return answers
        check_answer(reply)
        answers.append(reply)


async def fuzz_socket(ws: WebsocketCommunicator, frames: list[str | bytes]) -> int:
    """Send every frame; each must be answered and leave the socket usable."""
    for n, frame in enumerate(frames):
        try:
            answers = await exchange(ws, frame, n)
        except AssertionError as error:
            raise AssertionError(f"case {n} ({str(frame)[:200]!r}): {error}") from error
        replies = [a for a in answers if a["type"] not in BACKGROUND]
        assert replies, f"case {n} ({str(frame)[:200]!r}) got no answer"
        record("socket")
    return len(frames)


def binary_frames() -> list[bytes]:
    return [
        b"",
        b"\x00",
        b'{"type": "ping", "id": 1}',
        b"\xff\xfe\xfd",
        bytes(range(256)) * 80,
    ]


def frames_for(types: tuple[str, ...]) -> list[str | bytes]:
    frames: list[str | bytes] = [
        *malformed_frames(),
        *oversized_frames(),
        *binary_frames(),
        *wrong_field_frames(types),
        *order_frames(types),
        *random_frames(types, scaled(400)),
    ]
    return frames


# --- The sockets ---------------------------------------------------------------------


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def rendered_project(project: Any, alice: Any, audio_file: Any) -> Any:
    """alice's project with a stem and a rendered version (for listening and sharing)."""
    path = audio_file("bass.wav", duration_s=2.0, frequency_hz=110.0)
    services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))
    version = versions.version_create(user=alice, project_id=project.pk, name="v1", formats=["wav"])
    while (claimed := versions.version_claim(worker="fuzz")) is not None:
        tasks.run_render(claimed)
    version.refresh_from_db()
    return version


async def test_project_socket_answers_every_bad_frame_and_stays_usable(
    project, alice, carol, audio_file
):
    version = await database_sync_to_async(rendered_project)(project, alice, audio_file)
    frames = frames_for(PROJECT_TYPES)
    # A live listening session, so listen.move cases reach their checks.
    frames.insert(0, text({"type": "listen.start", "id": "s", "version_id": version.pk}))
    for user in (alice, carol):
        cookie = await database_sync_to_async(session_cookie)(user)
        async with connected(f"/ws/projects/{project.pk}/", cookie) as ws:
            await fuzz_socket(ws, frames)


async def test_share_socket_answers_every_bad_frame_and_stays_usable(project, alice, audio_file):
    def make_link() -> str:
        version = rendered_project(project, alice, audio_file)
        _, token = sharing.share_create(
            user=alice, project_id=project.pk, label="Carol", version_ids=[version.pk]
        )
        return token

    token = await database_sync_to_async(make_link)()
    async with connected(f"/ws/share/{token}/", None) as ws:
        await fuzz_socket(ws, frames_for(SHARE_TYPES))
