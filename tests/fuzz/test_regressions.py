"""What the fuzzers found, pinned: each answered with a server error or crashed a socket.

- Ids larger than the database's 64-bit integers reached queries, which raise
  OverflowError on SQLite (and an out-of-range error on PostgreSQL): a 500 from the API
  and the pages, a crashed socket.
- A body the API could not parse was answered in django-ninja's ``{"detail": ...}``
  shape, not the documented ``{"error": {"code", "message"}}``; ``GET /api/projects``
  did not document its 401.
- A socket message nested deeper than the JSON decoder recurses (a few KiB of ``[``)
  raised RecursionError and crashed the socket.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from projects import services
from projects.api import api
from tests.fuzz.test_socket_fuzz import BACKGROUND, connected, session_cookie

HUGE = 2**63  # one more than the largest id the database holds


async def answer_to(ws) -> dict:
    """The next frame that is not presence, an event or a notice."""
    while True:
        frame = await ws.receive_json_from(timeout=5)
        if frame["type"] not in BACKGROUND:
            return frame


@pytest.fixture
def alice_api(alice) -> Client:
    _, key = services.token_create(user=alice, name="regressions")
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.mark.django_db
def test_an_id_beyond_64_bits_in_an_api_path_is_refused_not_a_500(project, alice_api):
    for path in (f"/api/projects/{HUGE}", f"/api/projects/{project.pk}/stems/{HUGE}"):
        response = alice_api.get(path)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.django_db
def test_an_id_beyond_64_bits_in_an_api_body_is_refused_not_a_500(project, alice_api):
    response = alice_api.post(
        f"/api/projects/{project.pk}/comments",
        {"body": "hi", "stem_id": HUGE},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_stem"


@pytest.mark.django_db
def test_an_event_cursor_beyond_64_bits_is_refused_not_a_500(project, alice_api):
    response = alice_api.get(f"/api/projects/{project.pk}/events", {"after": HUGE})
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_page_of_a_project_id_beyond_64_bits_is_not_found(alice):
    browser = Client()
    browser.force_login(alice)
    assert browser.get(f"/projects/{HUGE}/").status_code == 404


@pytest.mark.django_db
def test_an_unparseable_api_body_gets_the_documented_error_shape(project, alice_api):
    response = alice_api.post("/api/projects", "{", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_body"


def test_listing_projects_documents_its_401():
    responses = api.get_openapi_schema()["paths"]["/api/projects"]["get"]["responses"]
    assert 401 in responses


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "message",
    [
        {"type": "comment.post", "id": 1, "body": "hi", "stem_id": HUGE},
        {"type": "comment.post", "id": 1, "body": "hi", "parent_id": -HUGE - 1},
        {"type": "listen.start", "id": 1, "version_id": HUGE},
        {"type": "resume", "id": 1, "after": HUGE},
    ],
)
async def test_a_socket_id_beyond_64_bits_gets_an_error_frame(project, alice, message):
    cookie = await database_sync_to_async(session_cookie)(alice)
    async with connected(f"/ws/projects/{project.pk}/", cookie) as ws:
        await ws.send_json_to(message)
        answer = await answer_to(ws)
        assert answer["type"] == "error" and answer["ref"] == 1
        await ws.send_json_to({"type": "ping", "id": 2})
        assert await answer_to(ws) == {"type": "pong", "ref": 2}


@pytest.mark.django_db(transaction=True)
async def test_a_deeply_nested_socket_message_gets_an_error_frame(project, alice):
    cookie = await database_sync_to_async(session_cookie)(alice)
    async with connected(f"/ws/projects/{project.pk}/", cookie) as ws:
        await ws.send_to(text_data="[" * 10_000)
        answer = await answer_to(ws)
        assert answer["type"] == "error" and answer["code"] == "bad_message"
        await ws.send_json_to({"type": "ping", "id": 2})
        assert await answer_to(ws) == {"type": "pong", "ref": 2}


def test_text_with_a_nul_character_is_refused_before_the_database(project, alice):
    from projects.errors import Invalid

    with pytest.raises(Invalid) as refused:
        services.comment_post(user=alice, project_id=project.pk, body="a\x00b")
    assert "NUL" in refused.value.message
