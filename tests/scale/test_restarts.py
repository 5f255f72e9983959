"""Faults in the arrangement lose nothing: a Daphne process restarted under connected
browsers, and Redis (the channel layer) restarted under live rooms.

alice is pinned to Daphne A and bob to Daphne B through nginx; comments are the events.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
from playwright.sync_api import Page, expect

from projects import services
from projects.models import Project, Role
from tests.browser.conftest import off_the_loop, open_room
from tests.scale.arrangement import Arrangement

pytest_plugins = ["tests.s3fixture"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]
ARRANGEMENT_WORKERS = 0  # comments need no job workers
RECONNECT_TIMEOUT_MS = 30_000  # the page's backoff reaches 10 s between attempts
RESUBSCRIBE_TIMEOUT_S = 20.0

# Every state the page's connection badge takes, kept by the page itself.
WATCH_CONNECTION = """
(() => {
  const conn = document.getElementById("conn");
  window.__connStates = [conn.dataset.state];
  new MutationObserver(() => window.__connStates.push(conn.dataset.state))
    .observe(conn, { attributes: true, attributeFilter: ["data-state"] });
  window.__sameDocument = true;
})()
"""


def shared_project(alice, bob) -> Project:
    """alice's project, in which bob may comment."""

    def arrange() -> Project:
        project = services.project_create(user=alice, name="Night Drive")
        services.member_invite(
            user=alice, project_id=project.pk, who=bob.username, role=Role.COMMENTER
        )
        return project

    return off_the_loop(arrange)


def comment(page: Page, body: str) -> None:
    """Post a comment and wait for the server's ack (the form empties)."""
    page.get_by_label("Comment", exact=True).fill(body)
    page.get_by_role("button", name="Post").click()
    expect(page.get_by_label("Comment", exact=True)).to_have_value("")


def comment_bodies(page: Page, bodies: list[str]) -> list[str]:
    """Which of ``bodies`` the page shows, in the page's order, each as often as shown."""
    shown = page.locator("#comments li").all_inner_texts()
    return [body for text in shown for body in bodies if body in text]


def expect_each_once_in_order(page: Page, bodies: list[str]) -> None:
    for body in bodies:
        expect(page.locator("#comments li", has_text=body)).to_have_count(1)
    expect(page.locator("#comments li")).to_have_count(len(bodies))
    assert comment_bodies(page, bodies) == bodies
    summaries = page.locator("#activity li", has_text="alice commented")
    expect(summaries).to_have_count(len(bodies))


def test_browsers_on_a_restarted_daphne_reconnect_and_replay_what_they_missed(
    arranged: Arrangement, person: Callable[..., Page], alice, bob
):
    project = shared_project(alice, bob)
    writer = open_room(person("alice", backend="a"), project.pk)
    reader = open_room(person("bob", backend="b"), project.pk)
    reader.evaluate(WATCH_CONNECTION)
    before = "Before the restart: the verse is done."
    comment(writer, before)
    expect(reader.locator("#comments li", has_text=before)).to_have_count(1)

    arranged.daphnes["b"].stop()  # SIGTERM, then SIGKILL
    expect(reader.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    expect(reader.locator("#conn")).to_have_text("Reconnecting…")
    missed = [f"Missed {n}: bar {8 * n} needs a fill." for n in (1, 2, 3)]
    for body in missed:
        comment(writer, body)
    arranged.daphnes["b"].start()  # a new process on the same port

    expect(reader.locator("#conn")).to_have_attribute(
        "data-state", "live", timeout=RECONNECT_TIMEOUT_MS
    )
    expect(reader.locator("#conn")).to_have_text("Live")
    after = "After the restart: the bridge is four bars shorter."
    comment(writer, after)
    expect(reader.locator("#comments li", has_text=after)).to_have_count(1)
    expect_each_once_in_order(reader, [before, *missed, after])
    assert reader.evaluate("window.__sameDocument") is True, "bob's page was reloaded"


def group_subscribers(arranged: Arrangement, project: Project) -> int:
    """How many processes listen to the project's group on the channel layer's Redis."""
    client = redis.Redis.from_url(arranged.redis_url)
    try:
        channels = [
            c for c in client.pubsub_channels() if c.endswith(f"project.{project.pk}".encode())
        ]
        return sum(count for _, count in client.pubsub_numsub(*channels)) if channels else 0
    except redis.RedisError:
        return 0
    finally:
        client.close()


def wait_for_subscribers(arranged: Arrangement, project: Project, count: int) -> None:
    deadline = time.monotonic() + RESUBSCRIBE_TIMEOUT_S
    while group_subscribers(arranged, project) < count:
        if time.monotonic() > deadline:
            pytest.fail(
                f"The Daphnes did not subscribe to the project's group again on Redis within "
                f"{RESUBSCRIBE_TIMEOUT_S:.0f} s.\n{arranged.report()}",
                pytrace=False,
            )
        time.sleep(0.2)  # polling Redis for the subscriptions of other processes


def test_live_delivery_resumes_after_a_redis_restart_and_the_log_fills_the_gap(
    arranged: Arrangement, person: Callable[..., Page], alice, bob
):
    project = shared_project(alice, bob)
    writer = open_room(person("alice", backend="a"), project.pk)
    reader = open_room(person("bob", backend="b"), project.pk)
    reader.evaluate(WATCH_CONNECTION)
    wait_for_subscribers(arranged, project, 2)
    before = "Before Redis went away."
    comment(writer, before)
    expect(reader.locator("#comments li", has_text=before)).to_have_count(1)
    missed = [f"While Redis was down {n}: try the tambourine." for n in (1, 2)]

    def post_missed() -> None:
        for body in missed:
            comment(writer, body)  # committed to the log; the broadcast fails
        expect(reader.locator("#comments li", has_text=missed[0])).to_have_count(0)

    arranged.restart_redis(down=post_missed)
    wait_for_subscribers(arranged, project, 2)

    live = "Redis is back: this one arrives live."
    comment(writer, live)
    expect(reader.locator("#comments li", has_text=live)).to_have_count(1)
    expect_each_once_in_order(reader, [before, *missed, live])
    expect_each_once_in_order(writer, [before, *missed, live])
    # Live delivery, not a reconnect's replay, brought them: bob's socket never dropped.
    assert reader.evaluate("window.__connStates") == ["live"]
    assert reader.evaluate("window.__sameDocument") is True
