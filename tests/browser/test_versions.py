"""Mix versions in two browsers: rendered, heard, compared A/B, explained."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from projects import services
from projects.models import Role
from tests.browser.conftest import off_the_loop, open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLAYING = "(selector) => { const a = document.querySelector(selector); return a && !a.paused; }"


def render_version(page, name: str) -> None:
    page.get_by_placeholder("Name, e.g. First mix").fill(name)
    page.get_by_role("button", name="Render").click()


def test_versions_render_live_and_compare_at_the_same_loudness(
    log_in,
    night_drive,
    fighting: list[Path],
    alice,
    bob,
):
    off_the_loop(
        services.member_change_role,
        user=alice,
        project_id=night_drive.pk,
        member_user_id=bob.pk,
        role=Role.EDITOR,
    )
    alice_page = open_room(log_in("alice"), night_drive.pk)
    bob_page = open_room(log_in("bob"), night_drive.pk)
    alice_page.locator("#file-input").set_input_files(fighting)
    expect(alice_page.locator("#stem-rows tr.stem-row")).to_have_count(2)

    render_version(alice_page, "First mix")
    for page in (alice_page, bob_page):
        first = page.locator('.version[data-status="done"]', has_text="v1")
        expect(first).to_be_visible(timeout=60_000)
        expect(first).to_contain_text("LUFS")
        expect(first.get_by_role("link", name="WAV")).to_be_visible()
    expect(bob_page.locator("#activity")).to_contain_text("v1 “First mix” is ready")

    # bob turns the guitar down by hand and renders v2; alice sees it arrive.
    guitar = bob_page.locator("#mix-stems tr", has_text="guitar")
    guitar.get_by_label("gain_db of guitar").fill("-6")
    guitar.get_by_role("button", name="Apply the settings of guitar").click()
    expect(alice_page.locator("#mix-last")).to_contain_text("Edited “guitar”")
    render_version(bob_page, "Guitar down")
    expect(alice_page.locator('.version[data-status="done"]', has_text="v2")).to_be_visible(
        timeout=60_000
    )

    # alice compares: both play together, one heard, switched at the same place.
    compare = alice_page.locator("#compare-box")
    expect(compare).to_be_visible()
    compare.get_by_role("button", name="Play").click()
    expect(compare.get_by_role("button", name="Pause")).to_be_visible()
    expect(compare).to_contain_text("Matched in loudness")
    compare.get_by_role("button", name="Switch A/B").click()
    expect(alice_page.locator("#compare-now")).to_contain_text("Hearing B: v2")
    compare.get_by_role("button", name="Pause").click()

    # What made v2: the hand edit, by bob.
    bob_page.locator(".version", has_text="v2").get_by_role(
        "link", name="What made this mix"
    ).click()
    expect(bob_page.locator("h1")).to_contain_text("v2 “Guitar down”")
    expect(bob_page.locator("main")).to_contain_text("Edited “guitar”")
    expect(bob_page.locator("main")).to_contain_text("by hand")


POSITION = "() => document.getElementById('together-audio').currentTime"


def test_listening_together_keeps_both_transports_in_step(
    log_in, night_drive, fighting, alice, bob
):
    alice_page = open_room(log_in("alice"), night_drive.pk)
    bob_page = open_room(log_in("bob"), night_drive.pk)  # bob may only view: he can listen
    alice_page.locator("#file-input").set_input_files(fighting)
    expect(alice_page.locator("#stem-rows tr.stem-row")).to_have_count(2)
    render_version(alice_page, "First mix")
    done = alice_page.locator('.version[data-status="done"]', has_text="v1")
    expect(done).to_be_visible(timeout=60_000)

    done.get_by_role("button", name="Listen together").click()
    expect(bob_page.locator("#together")).to_be_visible()
    expect(bob_page.locator("#together-what")).to_contain_text("v1 First mix")
    bob_page.get_by_role("button", name="Join").click()

    alice_page.locator("#together").get_by_role("button", name="Play").click()
    for page in (alice_page, bob_page):
        page.wait_for_function(f"() => ({POSITION})() > 1.0")
    gap = abs(alice_page.evaluate(POSITION) - bob_page.evaluate(POSITION))
    assert gap < 0.5, f"the two transports are {gap:.2f} s apart"

    # bob seeks; alice follows within a fraction of a second
    bob_page.locator("#together-seek").evaluate(
        "(seek) => { seek.value = '12'; seek.dispatchEvent(new Event('change')); }"
    )
    for page in (alice_page, bob_page):
        page.wait_for_function(f"() => ({POSITION})() >= 12 && ({POSITION})() < 14")

    # alice comments at the playhead; bob (a viewer: he may listen, not write) sees where
    alice_page.get_by_placeholder("Comment at the playhead…").fill("Listen to this fill")
    alice_page.locator("#together").get_by_role("button", name="Comment").click()
    expect(bob_page.locator("#comments")).to_contain_text("on v1 at 0:1")
    expect(bob_page.locator("#comments")).to_contain_text("Listen to this fill")

    # bob pauses for everyone
    bob_page.locator("#together").get_by_role("button", name="Pause").click()
    expect(alice_page.locator("#together")).to_have_attribute("data-playing", "false")
    alice_page.wait_for_function("() => document.getElementById('together-audio').paused")
