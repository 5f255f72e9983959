"""A client on a share link, in a browser context of her own with no account."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from studio.processing import decode, faults, synth
from tests.browser.conftest import open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
RATE = 44100


@pytest.fixture
def long_fight(tmp_path: Path) -> list[Path]:
    """Fifty seconds of a vocal and a guitar that covers it (long enough for 0:42)."""
    song = synth.compose_song(tonic=9, mode="minor", tempo_bpm=96.0, n_bars=20, seed=3)
    stems = synth.render_stems(song, sample_rate=RATE)
    guitar = faults.masking_guitar(stems["keys"], sample_rate=RATE, like=stems["lead"])
    paths = [tmp_path / "vocals.wav", tmp_path / "guitar.wav"]
    decode.write(paths[0], stems["lead"], sample_rate=RATE, format="WAV", subtype="PCM_24")
    decode.write(paths[1], guitar, sample_rate=RATE, format="WAV", subtype="PCM_24")
    return paths


def render(page, name: str, label: str) -> None:
    page.get_by_placeholder("Name, e.g. First mix").fill(name)
    page.get_by_role("button", name="Render").click()
    expect(page.locator('.version[data-status="done"]', has_text=label)).to_be_visible(
        timeout=90_000
    )


def test_alice_shares_carol_asks_for_changes_then_compares_and_approves_v2(
    log_in, new_page, night_drive, long_fight
):
    alice = open_room(log_in("alice"), night_drive.pk)
    alice.locator("#file-input").set_input_files(long_fight)
    masking = alice.locator('#suggestions-open .suggestion[data-code="masking.eq"]')
    expect(masking).to_be_visible(timeout=120_000)
    render(alice, "First mix", "v1")

    alice.get_by_placeholder("e.g. Carol at the label").fill("Carol at the label")
    alice.get_by_role("button", name="Make the link").click()
    expect(alice.locator("#share-url")).to_have_value(re.compile(r"/s/[\w-]{32}/$"))
    url = alice.locator("#share-url").input_value()
    expect(alice.locator("#shares")).to_contain_text("Carol at the label")

    # carol, no account, in a context of her own
    carol = new_page(who="carol")
    carol.goto(url)
    expect(carol.locator("h1")).to_have_text("Night Drive")
    expect(carol.locator("#conn")).to_have_text("Live")
    expect(carol.locator("body")).not_to_contain_text("guitar.wav")
    wave = carol.locator("#client-wave")
    expect(wave).to_be_visible()
    duration = carol.evaluate(
        "JSON.parse(document.getElementById('client-state').textContent).versions[0].duration_s"
    )
    box = wave.bounding_box()
    wave.click(position={"x": box["width"] * 42.3 / duration, "y": box["height"] / 2})
    expect(carol.locator("#client-when")).to_have_text("At 0:42")
    carol.get_by_label("Your name").fill("Carol")
    carol.get_by_label("Comment", exact=True).fill("The vocal disappears here.")
    carol.get_by_role("button", name="Post").click()
    expect(carol.locator("#client-comments")).to_contain_text("0:42")
    carol.get_by_role("button", name="Request changes").click()
    expect(carol.locator("#audit")).to_contain_text("Carol asked for changes on v1")

    # alice sees it live, takes the engine's suggestion, renders v2 and adds it to the link
    feedback = alice.locator("#feedback")
    expect(feedback).to_contain_text("Carol (client) on v1 at 0:42: The vocal disappears here.")
    expect(feedback).to_contain_text("Carol (client) asked for changes on v1")
    masking.get_by_role("button", name="Accept").click()
    expect(alice.locator("#mix-last")).to_contain_text("Accepted")
    render(alice, "Vocal clear", "v2")
    alice.locator("#shares").get_by_role("button", name="Add v2").click()

    # carol compares v1 and v2 at one loudness and approves v2
    carol.get_by_role("tab", name="v2 Vocal clear").click()
    expect(carol.locator("#approve")).to_have_text("Approve v2")
    carol.get_by_label("Version to compare with").select_option(label="v1 First mix")
    carol.get_by_role("button", name="Play", exact=True).click()
    expect(carol.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    carol.get_by_role("button", name="Switch A/B").click()
    expect(carol.locator("#ab-now")).to_have_text("Hearing v1, matched in loudness")
    carol.get_by_role("button", name="Pause", exact=True).click()
    carol.get_by_role("button", name="Approve v2").click()
    expect(feedback).to_contain_text("Carol (client) approved v2")
    expect(alice.locator("#shares")).to_contain_text("listen")

    # what made v2: the engine's suggestion, accepted by alice
    alice.locator(".version", has_text="v2").get_by_role("link", name="What made this mix").click()
    expect(alice.locator("main")).to_contain_text("Make room for vocals: cut guitar")
    expect(alice.locator("main")).to_contain_text("accepted by alice")
