"""The project room in real browsers: each test is one person's (or two people's) journey.

alice owns "Night Drive", bob may only view it and carol may comment (the
``night_drive`` fixture). Each person is logged in through the form in a context of
their own, so what one sees of another's action came through the server and the socket.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from projects.models import Membership, Role, Stem
from tests.browser.conftest import PHONE, open_room
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp")

# The page's width against the viewport's, and the elements that stick out on the right.
WIDTHS = """
(() => {
  const client = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((node) => node.getBoundingClientRect().right > client + 1)
    .filter((node) => !node.parentElement.closest(".table-wrap"))
    .map((node) => `${node.tagName.toLowerCase()}#${node.id}.${node.className}`);
  return { scroll: document.documentElement.scrollWidth, client, wide: wide.slice(0, 10) };
})()
"""


def stem_row(page: Page, name: str):
    return page.locator("#stem-rows tr.stem-row").filter(
        has=page.locator(".name", has_text=re.compile(rf"^{re.escape(name)}$"))
    )


def upload_row(page: Page, file_name: str):
    return page.locator("#uploads li").filter(has=page.locator(".file", has_text=file_name))


def upload(page: Page, *files: Path) -> None:
    """Add files through the room's file input, as the file chooser does."""
    page.locator("#file-input").set_input_files(list(files))
    for path in files:
        expect(upload_row(page, path.name).locator(".status")).to_have_text("added")


def comment(page: Page, body: str) -> None:
    page.get_by_label("Comment", exact=True).fill(body)
    page.get_by_role("button", name="Post").click()
    expect(page.get_by_label("Comment", exact=True)).to_have_value("")


def test_bob_sees_the_stem_alice_uploads_appear(log_in, night_drive, wav):
    alice = open_room(log_in("alice"), night_drive.pk)
    bob = open_room(log_in("bob"), night_drive.pk)
    for page in (alice, bob):
        expect(page.locator("#presence li[data-user=alice]")).to_be_visible()
        expect(page.locator("#presence li[data-user=bob]")).to_be_visible()
    expect(alice.locator("#presence")).to_contain_text("alice (you)")
    expect(bob.locator("#presence")).to_contain_text("bob (you)")
    bob.evaluate("window.__sameDocument = true")

    with alice.expect_file_chooser() as chooser:
        alice.get_by_text("choose files").click()
    chooser.value.set_files(wav("kick.wav", frequency_hz=60.0))
    progress = upload_row(alice, "kick.wav")
    expect(progress.locator(".status")).to_have_text("added")
    expect(progress.locator("progress")).to_have_js_property("value", 100)

    row = stem_row(bob, "kick")
    expect(row).to_be_visible()
    expect(row).to_contain_text("WAV 24-bit")
    expect(row).to_contain_text("44.1 kHz")
    expect(row).to_contain_text("stereo")
    expect(row).to_contain_text("alice")
    expect(row.get_by_role("link", name="Download kick")).to_be_visible()
    expect(bob.get_by_role("button", name=re.compile(r"^Delete"))).to_have_count(0)
    expect(bob.locator("#dropzone")).to_be_hidden()
    expect(bob.locator("#read-only-note")).to_be_visible()
    expect(bob.locator("#activity")).to_contain_text("alice uploaded the stem “kick”")
    assert bob.evaluate("window.__sameDocument") is True, "bob's page was reloaded"


def test_rename_and_delete_reach_the_other_browser(log_in, night_drive, wav, server_media):
    alice = open_room(log_in("alice"), night_drive.pk)
    bob = open_room(log_in("bob"), night_drive.pk)
    upload(alice, wav("snare.wav", frequency_hz=200.0), wav("bass.wav", frequency_hz=55.0))
    expect(bob.locator("#stem-rows tr.stem-row")).to_have_count(2)
    expect(bob.locator("#stem-count")).to_have_text("2 stems")
    alice.screenshot(path=str(SCREENSHOTS / "room.png"))

    alice.get_by_role("button", name="Rename snare").click()
    alice.get_by_label("New name").fill("Snare, dry")
    alice.get_by_role("button", name="Save").click()
    renamed = stem_row(bob, "Snare, dry")
    expect(renamed).to_be_visible()
    expect(renamed).to_contain_text("snare.wav")  # the original name stays visible
    expect(bob.locator("#activity")).to_contain_text("alice renamed a stem to “Snare, dry”")

    stored = Stem.objects.get(project=night_drive, name="Snare, dry").file.name
    assert (server_media / stored).is_file()
    questions: list[str] = []

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    alice.once("dialog", accept)
    alice.get_by_role("button", name="Delete Snare, dry").click()
    expect(renamed).to_have_count(0)
    expect(bob.locator("#stem-rows tr.stem-row")).to_have_count(1)
    expect(stem_row(bob, "bass")).to_be_visible()
    expect(bob.locator("#stem-count")).to_have_text("1 stem")
    expect(bob.locator("#activity")).to_contain_text("alice deleted the stem “Snare, dry”")
    assert questions == ["Delete the stem “Snare, dry” for everyone? Its file is deleted too."]
    assert not (server_media / stored).exists()


def test_bad_upload_shows_a_clear_error(log_in, night_drive, tmp_path):
    notes = tmp_path / "notes.wav"
    notes.write_text("Bridge: try the bass an octave down.\nChorus: double the vocal.\n")
    alice = open_room(log_in("alice"), night_drive.pk)

    alice.locator("#file-input").set_input_files(notes)
    row = upload_row(alice, "notes.wav")
    expect(row).to_have_class(re.compile(r"\bfailed\b"))
    # The server's own words, which name the file and say what is wrong with it.
    expect(row.get_by_role("alert")).to_have_text(
        re.compile(r"^“notes\.wav”: This is not an audio file the studio can read")
    )
    expect(alice.locator("#stem-rows tr.stem-row")).to_have_count(0)
    expect(alice.locator("#stems-empty")).to_be_visible()
    assert not Stem.objects.filter(project=night_drive).exists()

    row.get_by_role("button", name="Dismiss").click()
    expect(row).to_have_count(0)


def test_commenter_posts_and_others_see_it(log_in, night_drive):
    alice = open_room(log_in("alice"), night_drive.pk)
    carol = open_room(log_in("carol"), night_drive.pk)
    body = "Love the groove. Can the hats sit a little lower in the second verse?"

    comment(carol, body)

    posted = alice.locator("#comments li", has_text=body)
    expect(posted).to_be_visible()
    expect(posted.locator(".meta")).to_contain_text("carol")
    expect(alice.locator("#comments-empty")).to_be_hidden()
    expect(alice.locator("#activity")).to_contain_text("carol commented")
    expect(carol.locator("#comments li", has_text=body)).to_have_count(1)


def test_reconnecting_browser_catches_up(log_in, night_drive):
    alice = open_room(log_in("alice"), night_drive.pk)
    bob = open_room(log_in("bob"), night_drive.pk)

    # bob's network goes away: his page says so at once (it does not wait minutes for the
    # socket to notice), and new sockets cannot connect.
    bob.context.set_offline(True)
    expect(bob.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    expect(alice.locator("#presence li[data-user=bob]")).to_have_count(0)
    missed = "Pushed the tempo to 98, listen from the top."
    comment(alice, missed)
    expect(alice.locator("#comments li", has_text=missed)).to_be_visible()
    expect(bob.locator("#comments li", has_text=missed)).to_have_count(0)

    bob.context.set_offline(False)
    expect(bob.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(bob.locator("#comments li", has_text=missed)).to_have_count(1)
    # A live comment after the catch-up proves the replay is over; still one of each.
    live = "And the bridge is four bars shorter now."
    comment(alice, live)
    expect(bob.locator("#comments li", has_text=live)).to_have_count(1)
    expect(bob.locator("#comments li", has_text=missed)).to_have_count(1)
    expect(bob.locator("#comments li")).to_have_count(2)
    expect(bob.locator("#activity li", has_text="alice commented")).to_have_count(2)


def test_signup_create_project_invite_flow(new_page, log_in, bob):
    dana = new_page(who="dana")
    dana.goto("/")
    dana.get_by_role("link", name="Sign up").click()
    dana.get_by_label("Username").fill("dana")
    dana.get_by_label("Email").fill("dana@example.org")
    dana.get_by_label("Password", exact=True).fill(PASSWORD)
    dana.get_by_label("Password confirmation").fill(PASSWORD)
    dana.get_by_role("button", name="Sign up").click()
    expect(dana).to_have_url(re.compile(r"/projects/$"))
    expect(dana.locator(".flash")).to_contain_text("Welcome, dana")

    dana.get_by_label("Project name").fill("Harbour Lights")
    dana.get_by_role("button", name="Create project").click()
    expect(dana).to_have_url(re.compile(r"/projects/\d+/$"))
    expect(dana.get_by_role("heading", name="Harbour Lights")).to_be_visible()
    expect(dana.locator("#conn")).to_have_attribute("data-state", "live")

    dana.get_by_label("Username or e-mail").fill("bob@example.org")
    dana.get_by_label("Role", exact=True).select_option("editor")
    dana.get_by_role("button", name="Invite").click()
    expect(dana.locator(".flash")).to_contain_text("Added bob as editor.")
    people = dana.locator("#members")
    expect(people.locator("li", has_text="bob")).to_be_visible()
    expect(dana.get_by_label("Role of bob")).to_have_value("editor")
    membership = Membership.objects.get(user=bob, project__name="Harbour Lights")
    assert membership.role == Role.EDITOR

    bobs_list = log_in("bob")
    expect(bobs_list.get_by_role("link", name="Harbour Lights")).to_be_visible()


def test_room_is_usable_on_a_phone(log_in, night_drive, wav):
    alice = open_room(
        log_in("alice", viewport=PHONE, is_mobile=True, has_touch=True), night_drive.pk
    )
    # An editor sees where to drop stems without scrolling.
    expect(alice.locator("#dropzone")).to_be_visible()
    expect(alice.locator("#dropzone")).to_be_in_viewport()
    # (The comment first: while the engine reports on new stems the page grows above the
    # discussion, and a tap aimed at a moving button is not what this test is about.)
    comment(alice, "Check this on the phone speaker too.")
    upload(alice, wav("Lead vocal, comp 3 (final).wav"), wav("pad.wav", frequency_hz=330.0))
    expect(alice.locator("#stem-rows tr.stem-row")).to_have_count(2)

    alice.screenshot(path=str(SCREENSHOTS / "room-phone.png"), full_page=True)
    widths = alice.evaluate(WIDTHS)
    assert widths["scroll"] <= widths["client"] + 1, widths
