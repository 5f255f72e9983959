"""Arrangement ideas in two browsers: bob asks for chords for the bridge, alice hears them
with the song, comments and keeps them."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
from playwright.sync_api import expect

from projects import services
from projects.models import Analysis, Idea, Role
from studio.processing import decode, synth
from tests.browser.conftest import off_the_loop, open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABELS = ("verse", "chorus", "bridge", "chorus")  # 4 bars each
BRIDGE = LABELS.index("bridge")


@pytest.fixture
def band(tmp_path: Path) -> list[Path]:
    """A 16-bar song in E minor at 120 BPM with a bridge, as four stems."""
    song = synth.compose_arrangement(LABELS, tonic=4, mode="minor", tempo_bpm=120.0, seed=2)
    paths = []
    for part, signal in synth.render_stems(song, sample_rate=44100).items():
        paths.append(tmp_path / f"{part}.wav")
        decode.write(paths[-1], signal, sample_rate=44100, format="WAV", subtype="PCM_16")
    return paths


def bridge_option(project_id: int) -> str:
    """The section the engine found where the score's bridge is (bars 9 to 12: 16 s at
    120 BPM), as the value of its option in the section menu."""
    report = Analysis.objects.get(project_id=project_id, target="mix").report
    starts = [s["start_s"] for s in report["structure"]["sections"]]
    bridge_s = BRIDGE * 4 * 4 * 60 / 120.0
    return str(min(range(len(starts)), key=lambda i: abs(starts[i] - bridge_s)))


def test_bob_asks_for_bridge_chords_alice_hears_them_with_the_song_and_keeps_them(
    log_in, night_drive, band, alice, bob, tmp_path
):
    off_the_loop(
        services.member_change_role,
        user=alice,
        project_id=night_drive.pk,
        member_user_id=bob.pk,
        role=Role.COMMENTER,
    )
    alice_page = open_room(log_in("alice"), night_drive.pk)
    bob_page = open_room(log_in("bob"), night_drive.pk)
    alice_page.locator("#file-input").set_input_files(band)

    # Once the mix is analysed, both see the song's form and bob can ask.
    for page in (alice_page, bob_page):
        expect(page.locator("#song-form")).to_be_visible(timeout=180_000)
        expect(page.locator("#song-form-words")).to_contain_text("E minor, 120 BPM")
        expect(page.locator("#ideas-originality")).to_contain_text("not drawn from")
    # alice's first request for the idea's audio is refused, as a signed storage URL that
    # has expired would be: her player asks the studio's door again and plays on.
    asked = []

    def refuse_once(route):
        asked.append(route.request.url)
        if len(asked) == 1:
            route.fulfill(status=403, body="Request has expired")
        else:
            route.continue_()

    alice_page.route("**/audio/with_song/**", refuse_once)
    bob_page.locator("#idea-kind").select_option("chords")
    bob_page.locator("#idea-section").select_option(off_the_loop(bridge_option, night_drive.pk))
    bob_page.get_by_role("button", name="Ask the engine").click()

    # The idea arrives for both, labelled as the engine's, with its reasons and chords.
    card = alice_page.locator("#ideas .idea").first
    expect(card).to_have_attribute("data-status", "done", timeout=60_000)
    expect(card).to_contain_text("AI-generated idea")
    expect(card).to_contain_text("asked by bob")
    expect(card.locator(".reason")).to_contain_text("E minor")
    expect(card.locator(".reason")).to_contain_text("bars 9-12")  # the bridge, counted from 1
    expect(card.locator(".chords-line .chord").first).to_be_visible()
    expect(bob_page.locator("#ideas .idea").first).to_have_attribute("data-status", "done")

    # alice hears it with the song: the player runs, and switches to the idea alone in place.
    card.get_by_role("button", name="Play").click()
    expect(card.get_by_role("button", name="Pause")).to_be_visible()
    card.page.wait_for_function(
        "() => { const c = document.querySelector('#ideas .idea [data-idea-clock]');"
        " return c && c.textContent !== c.dataset.start; }",
        timeout=10_000,
    )
    assert len(asked) >= 2
    switch = card.locator("button.ab")
    expect(switch).to_contain_text("with the song")
    switch.click()
    expect(switch).to_contain_text("the idea alone")
    card.get_by_role("button", name="Pause").click()

    # The MIDI file opens at the song's tempo.
    with alice_page.expect_download() as download:
        card.get_by_role("link", name="Download MIDI").click()
    midi_path = tmp_path / "idea.mid"
    download.value.save_as(midi_path)
    tempos = [m.tempo for t in mido.MidiFile(midi_path).tracks for m in t if m.type == "set_tempo"]
    assert mido.tempo2bpm(tempos[0]) == pytest.approx(120.0, rel=0.02)

    # alice comments; bob sees it live. Then she keeps the idea; bob sees that too.
    card.locator("summary").click()
    card.get_by_role("textbox").fill("The borrowed lift into the last chorus works.")
    card.get_by_role("button", name="Post").click()
    bob_card = bob_page.locator("#ideas .idea").first
    expect(bob_card.locator(".thread")).to_contain_text("borrowed lift", timeout=15_000)
    card.get_by_role("button", name="Keep").click()
    expect(bob_card).to_have_attribute("data-decision", "kept", timeout=15_000)
    expect(bob_card).to_contain_text("kept by alice")
    expect(bob_card.get_by_role("button", name="Keep")).to_have_count(0)  # bob only comments
    idea = off_the_loop(lambda: Idea.objects.get(project=night_drive))
    assert idea.requested_by_id == bob.pk and idea.decided_by_id == alice.pk
    expect(card).to_have_attribute("data-stale", "false")

    # alice takes a stem out: the idea was written for the mix as it was, and both see so.
    drums = off_the_loop(lambda: night_drive.stems.get(name="drums"))
    off_the_loop(services.stem_delete, user=alice, project_id=night_drive.pk, stem_id=drums.pk)
    for page in (alice_page, bob_page):
        stale = page.locator("#ideas .idea").first
        expect(stale).to_have_attribute("data-stale", "true", timeout=15_000)
        expect(stale.locator(".badge.stale")).to_have_text("written for an earlier mix")
        expect(stale).to_contain_text("Ask for a variation to fit the mix as it is now")


def moves_idea(project, tmp_media: Path, *, seed: int, moves: list[dict], heard, cut_s=None):
    """A done moves idea as the engine leaves it, with two 4 s audition files in the
    server's storage (the A/B player needs real audio to play)."""
    files = {}
    for which, frequency in (("with_song", 330.0), ("alone", 440.0)):
        name = f"ideas/{project.pk}/{seed}-{which}.flac"
        (tmp_media / name).parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(4 * 44100) / 44100
        tone = (0.2 * np.sin(2 * np.pi * frequency * t))[np.newaxis].astype(np.float32)
        decode.write(tmp_media / name, tone, sample_rate=44100, format="FLAC")
        files[which] = name
    files["info"] = {
        "start_s": 10.0,
        "duration_s": 4.0,
        "idea_at_s": 2.0,
        "move": heard,
        "cut_s": cut_s,
    }
    content = {"kind": "moves", "moves": moves, "title": f"Arrangement: {len(moves)} moves"}
    return Idea.objects.create(
        project=project,
        kind="moves",
        seed=seed,
        status="done",
        title=content["title"],
        reasoning="Read from the song's form.",
        content=content,
        files=files,
    )


def move(kind: str, start_bar: int, end_bar: int, mutes: list[str]) -> dict:
    return {
        "kind": kind,
        "start_bar": start_bar,
        "end_bar": end_bar,
        "start_s": 2.0 * start_bar,
        "end_s": 2.0 * end_bar,
        "message": f"{kind} over bars {start_bar + 1}-{end_bar}",
        "mute_stems": mutes,
    }


def test_a_moves_idea_plays_the_move_it_can_and_says_when_it_cannot(
    log_in, night_drive, server_media
):
    intro, mute = move("shorten-intro", 0, 36, []), move("mute-for-contrast", 12, 20, ["Keys"])
    repeat = move("vary-repeat", 24, 36, [])

    def arrange() -> None:
        moves_idea(night_drive, server_media, seed=1, moves=[repeat, mute], heard=1)
        moves_idea(night_drive, server_media, seed=2, moves=[repeat], heard=None)
        moves_idea(night_drive, server_media, seed=3, moves=[], heard=None)
        moves_idea(night_drive, server_media, seed=4, moves=[intro], heard=0, cut_s=[8.0, 64.0])

    off_the_loop(arrange)
    page = open_room(log_in("alice"), night_drive.pk)
    cards = page.locator("#ideas .idea")
    expect(cards).to_have_count(4)
    cut, no_moves, silent, audible = (cards.nth(i) for i in range(4))  # newest first

    # The move that mutes a stem is the one heard, named by its number and bars.
    expect(audible.locator("button.ab")).to_have_text("Hearing: with move 2")
    expect(audible.locator(".player")).to_contain_text("Plays move 2 (bars 13–20)")
    audible.locator("button.ab").click()
    expect(audible.locator("button.ab")).to_have_text("Hearing: as it is now")
    audible.get_by_role("button", name="Play").click()
    expect(audible.get_by_role("button", name="Pause")).to_be_visible()
    audible.get_by_role("button", name="Pause").click()
    # A shorter intro is heard as an edit of the song from the top.
    expect(cut.locator("button.ab")).to_have_text("Hearing: with move 1")
    expect(cut.locator(".player")).to_contain_text("the song to 0:08, then on from 1:04")
    # Nothing the song has to take out: nothing to switch to, and the page says why.
    expect(silent.locator("button.ab")).to_have_count(0)
    expect(silent.locator(".player")).to_contain_text("None of these moves can be played")
    # No moves at all: nothing to play.
    expect(no_moves.locator(".player")).to_have_count(0)
    expect(no_moves).to_contain_text("Arrangement: 0 moves")
