"""Mixing suggestions live in two browsers: seen, discussed, previewed, decided."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from projects import services
from projects.models import Role
from tests.browser.conftest import off_the_loop, open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_two_people_see_discuss_preview_and_decide_a_masking_suggestion(
    log_in, night_drive, fighting, alice, bob
):
    off_the_loop(
        services.member_change_role,
        user=alice,
        project_id=night_drive.pk,
        member_user_id=bob.pk,
        role=Role.EDITOR,
    )
    alice, bob = (
        open_room(log_in("alice"), night_drive.pk),
        open_room(log_in("bob"), night_drive.pk),
    )
    alice.locator("#file-input").set_input_files(fighting)

    # Both see the masking suggestion arrive, labelled as the engine's, with its measure.
    cards = {}
    for page in (alice, bob):
        card = page.locator('#suggestions-open .suggestion[data-code="masking.eq"]')
        expect(card).to_be_visible(timeout=120_000)
        expect(card).to_contain_text("AI suggestion")
        expect(card).to_contain_text("Make room for vocals: cut guitar")
        expect(card.locator(".measure")).to_contain_text("masking of vocals by guitar")
        cards[page] = card

    # bob says something in its thread; alice sees it without reloading.
    bob_card = cards[bob]
    bob_card.locator("summary").click()
    bob_card.get_by_role("textbox").fill("Cut the guitar, not the vocal. Agreed.")
    bob_card.get_by_role("button", name="Post").click()
    expect(cards[alice].locator(".thread")).to_contain_text("Cut the guitar, not the vocal.")
    expect(cards[alice].locator(".thread .meta").first).to_contain_text("bob")

    # alice previews: both renders arrive and play, switched in place.
    cards[alice].get_by_role("button", name="Preview").click()
    play = cards[alice].get_by_role("button", name="Play")
    expect(play).to_be_visible(timeout=60_000)
    play.click()
    expect(cards[alice].get_by_role("button", name="Pause")).to_be_visible()
    switch = cards[alice].locator("button.ab")
    expect(switch).to_contain_text("with the move")
    switch.click()
    expect(switch).to_contain_text("original")
    cards[alice].get_by_role("button", name="Pause").click()

    # alice accepts; bob sees the decision and the mix settings change.
    cards[alice].get_by_role("button", name="Accept").click()
    decided = bob.locator('#suggestions-decided .suggestion[data-code="masking.eq"]')
    expect(decided).to_have_attribute("data-status", "accepted", timeout=15_000)
    expect(decided).to_contain_text("accepted by alice")
    guitar_row = bob.locator("#mix-stems tr", has_text="guitar")
    expect(guitar_row.locator(".eq-bands")).to_contain_text("dB @ 2.5 kHz")
    expect(guitar_row.locator(".badge.ai")).to_be_visible()
    expect(bob.locator("#mix-last")).to_contain_text("Accepted")
    expect(bob.locator("#activity")).to_contain_text("alice accepted the AI suggestion")

    # bob turns the vocal down by hand; alice sees it. Then alice undoes her acceptance.
    vocals_row = bob.locator("#mix-stems tr", has_text="vocals")
    vocals_row.get_by_label("gain_db of vocals").fill("-2")
    vocals_row.get_by_role("button", name="Apply the settings of vocals").click()
    expect(
        alice.locator("#mix-stems tr", has_text="vocals").get_by_label("gain_db of vocals")
    ).to_have_value("-2", timeout=15_000)
    expect(alice.locator("#mix-last")).to_contain_text("Edited “vocals”")
    alice.locator("#mix-undo").click()  # undoes bob's edit: the newest change
    alice.locator("#mix-undo").click()  # then the accepted suggestion
    reopened = bob.locator('#suggestions-open .suggestion[data-code="masking.eq"]')
    expect(reopened).to_be_visible(timeout=15_000)
    expect(
        bob.locator("#mix-stems tr", has_text="guitar").locator(".eq-bands")
    ).not_to_contain_text("2.5 kHz")
