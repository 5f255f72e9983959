"""Share links: a client with no account hears chosen versions, comments and decides;
everything else stays out of reach."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.hashers import identify_hasher
from django.test import Client
from django.utils import timezone

from projects import services, sharing, tasks, versions
from projects.errors import Conflict, Forbidden, Invalid, NotFound, TooManyAttempts
from projects.models import ClientComment, Event, ShareLink, ShareListen
from studio.asgi import application
from tests.conftest import upload_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def rendered(project, alice, fighting):
    """Two stems and two rendered versions of their mix (the stems left unanalysed)."""
    for path in fighting.values():
        services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))
    v1 = versions.version_create(user=alice, project_id=project.pk, name="First", formats=["mp3"])
    v2 = versions.version_create(user=alice, project_id=project.pk, name="Second", formats=["mp3"])
    # Only the renders: these tests need no analysis or suggestion of the stems.
    while (claimed := versions.version_claim(worker="test")) is not None:
        tasks.run_render(claimed)
    v1.refresh_from_db()
    v2.refresh_from_db()
    return v1, v2


def share(project, alice, version, **options):
    return sharing.share_create(
        user=alice,
        project_id=project.pk,
        label=options.pop("label", "For Carol"),
        version_ids=[version.pk],
        **options,
    )


def client_for(token: str) -> Client:
    browser = Client(enforce_csrf_checks=False)
    assert browser.get(f"/s/{token}/").status_code == 200
    return browser


def post_json(browser: Client, url: str, body: dict):
    return browser.post(
        url, data=json.dumps(body), content_type="application/json", HTTP_ACCEPT="application/json"
    )


def test_a_token_has_at_least_128_bits_and_only_its_hash_is_kept(project, alice, rendered):
    link, token = share(project, alice, rendered[0])
    assert len(token) >= 32  # token_urlsafe(24): 192 bits in 32 characters
    assert token not in link.token_hash and link.token_hash == ShareLink.hash_token(token)
    assert len({share(project, alice, rendered[0])[1] for _ in range(20)}) == 20


def test_the_client_page_shows_only_what_was_shared(project, alice, rendered):
    v1, v2 = rendered
    _, token = share(project, alice, v1)
    page = Client().get(f"/s/{token}/")
    state = json.loads(page.context["state"] and json.dumps(page.context["state"]))
    assert [v["label"] for v in state["versions"]] == ["v1"]
    body = page.content.decode()
    assert "Second" not in body and "vocals.wav" not in body and "guitar" not in body


def test_the_client_cannot_reach_another_version_stems_or_the_room(project, alice, rendered):
    v1, v2 = rendered
    _, token = share(project, alice, v1)
    browser = client_for(token)
    assert browser.get(f"/s/{token}/versions/{v1.pk}/listen/").status_code == 200
    assert browser.get(f"/s/{token}/versions/{v2.pk}/listen/").status_code == 404
    assert browser.get(f"/projects/{project.pk}/").status_code == 302  # to the login page
    stem = project.stems.first()
    assert browser.get(f"/projects/{project.pk}/stems/{stem.pk}/download/").status_code == 302


def test_downloads_only_when_allowed(project, alice, rendered):
    v1 = rendered[0]
    _, closed = share(project, alice, v1)
    _, open_ = share(project, alice, v1, allow_download=True)
    assert client_for(closed).get(f"/s/{closed}/versions/{v1.pk}/download/mp3/").status_code == 404
    response = client_for(open_).get(f"/s/{open_}/versions/{v1.pk}/download/mp3/")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]


def test_a_password_is_hashed_and_needed(project, alice, rendered):
    link, token = share(project, alice, rendered[0], password="blue moon")
    assert "blue moon" not in link.password_hash
    assert identify_hasher(link.password_hash).algorithm  # a Django password hash
    browser = Client()
    assert b"protected by a password" in browser.get(f"/s/{token}/").content
    listen = browser.get(f"/s/{token}/versions/{rendered[0].pk}/listen/")
    assert listen.status_code == 400
    assert browser.post(f"/s/{token}/unlock/", {"password": "nope"}).status_code == 400
    assert browser.post(f"/s/{token}/unlock/", {"password": "blue moon"}).status_code == 302
    assert browser.get(f"/s/{token}/versions/{rendered[0].pk}/listen/").status_code == 200


def test_repeated_wrong_passwords_slow_the_link_down(project, alice, rendered):
    link, _ = share(project, alice, rendered[0], password="right")
    session: dict = {}
    for _ in range(sharing.FREE_ATTEMPTS):
        with pytest.raises(Invalid):
            sharing.share_unlock(link, session, "wrong")
    with pytest.raises(TooManyAttempts):  # locked now, even for the right one
        sharing.share_unlock(link, session, "right")
    ShareLink.objects.filter(pk=link.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    sharing.share_unlock(link, session, "right")
    assert session[f"share:{link.pk}"] is True


def test_an_expired_or_revoked_link_gets_a_clear_page_and_no_audio(project, alice, rendered):
    v1 = rendered[0]
    link, token = share(project, alice, v1)
    browser = client_for(token)
    sharing.share_revoke(user=alice, project_id=project.pk, share_id=link.pk)
    page = browser.get(f"/s/{token}/")
    assert page.status_code == 410 and b"revoked" in page.content
    assert browser.get(f"/s/{token}/versions/{v1.pk}/listen/").status_code == 410
    old, old_token = share(
        project, alice, v1, expires_at=(timezone.now() + timedelta(hours=1)).isoformat()
    )
    ShareLink.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = Client().get(f"/s/{old_token}/")
    assert expired.status_code == 410 and b"expired" in expired.content
    assert Client().get("/s/" + "x" * 32 + "/").status_code == 404


def test_the_client_comments_at_a_time_and_over_a_range_and_the_team_sees_it(
    project, alice, carol, rendered
):
    v1 = rendered[0]
    link, token = share(project, alice, v1)
    browser = client_for(token)
    assert (
        post_json(browser, f"/s/{token}/comments/", {"version_id": v1.pk, "body": "x"}).status_code
        == 400
    )
    assert post_json(browser, f"/s/{token}/name/", {"name": "Carol"}).status_code == 200
    at = post_json(
        browser, f"/s/{token}/comments/", {"version_id": v1.pk, "body": "Kick!", "at_s": 4.2}
    )
    span = post_json(
        browser,
        f"/s/{token}/comments/",
        {"version_id": v1.pk, "body": "Too busy here", "at_s": 2.0, "end_s": 6.5},
    )
    assert at.status_code == 201 and span.json()["comment"]["end_s"] == 6.5
    logged = Event.objects.filter(project=project, type="client.comment")
    assert [e.payload["comment"]["author"] for e in logged] == ["Carol", "Carol"]
    reply = sharing.team_reply(
        user=carol, project_id=project.pk, comment_id=at.json()["comment"]["id"], body="On it."
    )
    assert reply.parent_id == at.json()["comment"]["id"] and reply.author == carol


@pytest.mark.parametrize(
    "body",
    [
        {"body": "x", "at_s": -1},
        {"body": "x", "at_s": 10_000},
        {"body": "x", "at_s": 5, "end_s": 4},
        {"body": "x", "end_s": 4},
        {"body": ""},
        {"body": "x", "at_s": "soon"},
    ],
)
def test_bad_client_comments_are_refused_and_change_nothing(project, alice, rendered, body):
    v1 = rendered[0]
    _, token = share(project, alice, v1)
    browser = client_for(token)
    post_json(browser, f"/s/{token}/name/", {"name": "Carol"})
    assert (
        post_json(browser, f"/s/{token}/comments/", {"version_id": v1.pk, **body}).status_code
        == 400
    )
    assert not ClientComment.objects.exists()


def test_approval_is_tied_to_one_version_with_an_audit_trail(project, alice, rendered):
    v1, v2 = rendered
    link, token = share(project, alice, v1)
    sharing.share_add_versions(
        user=alice, project_id=project.pk, share_id=link.pk, version_ids=[v2.pk]
    )
    browser = client_for(token)
    post_json(browser, f"/s/{token}/name/", {"name": "Carol"})
    changes = post_json(
        browser,
        f"/s/{token}/decisions/",
        {"version_id": v1.pk, "decision": "changes", "note": "Vocal lower"},
    )
    approve = post_json(
        browser, f"/s/{token}/decisions/", {"version_id": v2.pk, "decision": "approve"}
    )
    assert changes.status_code == approve.status_code == 201
    trail = [(d.version.number, d.decision, d.client_name) for d in link.decisions.all()]
    assert trail == [(1, "changes", "Carol"), (2, "approve", "Carol")]
    bad = post_json(browser, f"/s/{token}/decisions/", {"version_id": v2.pk, "decision": "maybe"})
    assert bad.status_code == 400


def test_a_listen_counts_once_per_session(project, alice, rendered):
    v1 = rendered[0]
    _, token = share(project, alice, v1)
    first, second = client_for(token), client_for(token)
    for browser in (first, first, second):
        assert browser.get(f"/s/{token}/versions/{v1.pk}/listen/").status_code == 200
    assert ShareListen.objects.count() == 2
    assert Event.objects.filter(project=project, type="client.listened").count() == 2


def test_only_editors_share_and_revoke(project, carol, mallory, alice, rendered):
    with pytest.raises(Forbidden):
        share(project, carol, rendered[0])
    with pytest.raises(NotFound):
        share(project, mallory, rendered[0])
    link, _ = share(project, alice, rendered[0])
    with pytest.raises(Forbidden):
        sharing.share_revoke(user=carol, project_id=project.pk, share_id=link.pk)


def test_a_link_needs_rendered_versions_of_its_project(project, alice, rendered, carol):
    other = services.project_create(user=alice, name="Other")
    with pytest.raises(Invalid):
        sharing.share_create(user=alice, project_id=project.pk, label="x", version_ids=[])
    with pytest.raises(NotFound):
        sharing.share_create(
            user=alice, project_id=other.pk, label="x", version_ids=[rendered[0].pk]
        )
    queued = versions.version_create(user=alice, project_id=project.pk, name="Later")
    with pytest.raises(Conflict):
        share(project, alice, queued)
    with pytest.raises(Invalid):
        share(project, alice, rendered[0], expires_at="yesterday")


@pytest.mark.django_db(transaction=True)
async def test_a_client_socket_sees_only_its_own_links_events(project, alice, rendered):
    v1 = rendered[0]
    mine, token = await database_sync_to_async(share)(project, alice, v1, label="Mine")
    theirs, other_token = await database_sync_to_async(share)(project, alice, v1, label="Theirs")

    def session_cookie(token: str) -> str:
        browser = client_for(token)
        return browser.cookies["sessionid"].value

    cookie = await database_sync_to_async(session_cookie)(token)
    socket = WebsocketCommunicator(
        application,
        f"/ws/share/{token}/",
        [(b"origin", b"http://localhost"), (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from())["type"] == "hello"
    await socket.send_json_to({"type": "resume", "after": 0, "id": 1})
    assert (await socket.receive_json_from())["type"] == "ack"

    def comment_on(link) -> None:
        sharing.client_comment(share=link, name="X", version_id=v1.pk, body=f"on {link.label}")
        services.comment_post(user=alice, project_id=project.pk, body="internal team talk")

    await database_sync_to_async(comment_on)(theirs)
    await database_sync_to_async(comment_on)(mine)
    event = (await socket.receive_json_from(timeout=3))["event"]
    assert event["type"] == "client.comment" and event["payload"]["comment"]["body"] == "on Mine"
    assert await socket.receive_nothing(timeout=0.5)
    await database_sync_to_async(sharing.share_revoke)(
        user=alice, project_id=project.pk, share_id=mine.pk
    )
    assert (await socket.receive_json_from(timeout=3))["event"]["type"] == "share.revoked"
    await socket.disconnect()
    stranger = WebsocketCommunicator(
        application, f"/ws/share/{other_token}/", [(b"origin", b"http://localhost")]
    )
    connected, _ = await stranger.connect()
    assert connected  # no password on that link: a session is enough
    await stranger.disconnect()
    gone = WebsocketCommunicator(
        application, f"/ws/share/{token}/", [(b"origin", b"http://localhost")]
    )
    connected, code = await gone.connect()
    assert not connected and code == 4410
