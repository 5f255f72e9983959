"""Arrangement ideas: asked for by people, written by the engine from the mix's analysis,
heard in time with the song, exported as MIDI, discussed, kept or discarded."""

from __future__ import annotations

import io
import json

import mido
import numpy as np
import pytest
import soundfile as sf
from django.core.files.storage import default_storage
from django.test import Client

from projects import ideas, services, tasks, versions
from projects.errors import Conflict, Forbidden, Invalid, NotFound
from projects.models import Analysis, Event, Idea, IdeaDecision, JobStatus
from studio.processing import decode, synth
from studio.processing.theory import QUALITY_INTERVALS
from tests.conftest import upload_of

pytestmark = pytest.mark.django_db

TONIC, MODE, TEMPO = 7, "major", 112.0  # G major
G_MAJOR = set(synth.scale_pitch_classes(tonic=TONIC, mode=MODE))


@pytest.fixture(scope="module")
def band(tmp_path_factory):
    """Drums, bass and keys of a 12-bar song in G major at 112 BPM, as WAV files."""
    song = synth.compose_song(tonic=TONIC, mode=MODE, tempo_bpm=TEMPO, n_bars=12, seed=5)
    stems = synth.render_stems(song, sample_rate=44100)
    folder = tmp_path_factory.mktemp("band")
    paths = {}
    for part in ("drums", "bass", "keys"):
        signal = stems[part]
        paths[part] = folder / f"{part}.wav"
        decode.write(paths[part], signal, sample_rate=44100, format="WAV", subtype="PCM_16")
    return paths


@pytest.fixture
def analysed(project, alice, band):
    """The project with the band's stems uploaded and every analysis run."""
    for path in band.values():
        services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))
    while (claimed := services.analysis_claim(worker="test")) is not None:
        tasks.run_analysis(claimed)
    return project


def run_ideas() -> None:
    while (claimed := ideas.idea_claim(worker="test")) is not None:
        tasks.run_idea(claimed)


def ask(project, user, kind="chords", **fields) -> Idea:
    return ideas.idea_request(user=user, project_id=project.pk, kind=kind, **fields)


def written(idea: Idea) -> Idea:
    run_ideas()
    idea.refresh_from_db()
    assert idea.status == JobStatus.DONE, idea.error
    return idea


def midi_of(browser: Client, idea: Idea) -> mido.MidiFile:
    response = browser.get(f"/projects/{idea.project_id}/ideas/{idea.pk}/midi/")
    assert response.status_code == 200 and response["Content-Type"] == "audio/midi"
    assert (
        "attachment" in response["Content-Disposition"]
        and ".mid" in response["Content-Disposition"]
    )
    return mido.MidiFile(file=io.BytesIO(response.content))


def browser_for(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_a_chord_idea_fits_the_songs_key_and_tempo_and_plays_with_the_song(analysed, bob):
    idea = written(ask(analysed, bob, section=1, options={"colour": "diatonic"}, seed=7))
    content = idea.content
    assert (content["tonic"], content["mode"]) == (TONIC, MODE)
    assert content["tempo_bpm"] == pytest.approx(TEMPO, rel=0.02)
    assert idea.title and "G major" in idea.reasoning
    # The MIDI file: the song's tempo, notes only in G major (the colour asked is diatonic).
    midi = midi_of(browser_for(bob), idea)
    tempos = [m.tempo for t in midi.tracks for m in t if m.type == "set_tempo"]
    assert mido.tempo2bpm(tempos[0]) == pytest.approx(content["tempo_bpm"], rel=1e-3)
    pitches = [m.note for t in midi.tracks for m in t if m.type == "note_on" and m.velocity]
    assert pitches and {p % 12 for p in pitches} <= G_MAJOR
    # Heard with the song: two files on one timeline, the idea silent during the lead-in.
    info = idea.files["info"]
    with_song, rate = sf.read(default_storage.open(idea.files["with_song"]), always_2d=True)
    alone, _ = sf.read(default_storage.open(idea.files["alone"]), always_2d=True)
    assert with_song.shape == alone.shape
    lead_in = int(info["idea_at_s"] * rate)
    assert info["idea_at_s"] > 2.0  # two bars of the song before the idea
    assert np.abs(alone[: lead_in - 100]).max() < 1e-4 < np.abs(with_song[: lead_in - 100]).max()
    assert np.abs(alone[lead_in:]).max() > 0.01
    assert np.abs(with_song).max() <= 10 ** (-1 / 20) + 1e-3


def test_the_same_seed_gives_the_same_idea_and_a_variation_gives_another(analysed, bob, carol):
    first = written(ask(analysed, bob, "drums", section=2, seed=42))
    again = written(ask(analysed, carol, "drums", section=2, seed=42))
    assert again.content == first.content
    variation = written(ideas.idea_regenerate(user=carol, project_id=analysed.pk, idea_id=first.pk))
    assert variation.parent_id == first.pk and variation.kind == "drums"
    assert variation.section == 2 and variation.seed != first.seed
    assert variation.content["tracks"] != first.content["tracks"]


@pytest.mark.parametrize("kind", ["bass", "melody", "reharmonise"])
def test_every_pitched_kind_stays_in_the_key(analysed, bob, kind):
    idea = written(ask(analysed, bob, kind, section=1, seed=3))
    notes = [n for t in idea.content["tracks"] if not t["is_drums"] for n in t["notes"]]
    assert notes
    outside = {n[0] % 12 for n in notes} - G_MAJOR
    # Only chords marked borrowed, secondary or the song's own bring tones outside the key.
    allowed = {pc for c in idea.content["chords"] if c["source"] != "diatonic" for pc in _tones(c)}
    assert outside <= allowed
    assert idea.files["with_song"] and idea.files["alone"]


def _tones(chord: dict) -> set[int]:
    if chord["root"] is None:
        return set()
    return {(chord["root"] + i) % 12 for i in QUALITY_INTERVALS.get(chord["quality"], ())}


def test_arrangement_moves_come_with_bar_positions(analysed, bob):
    idea = written(ask(analysed, bob, "moves"))
    for move in idea.content["moves"]:
        assert 0 <= move["start_bar"] < move["end_bar"] and move["message"]
    assert idea.files["with_song"]


def test_who_may_ask_hear_keep_and_discard(analysed, bob, carol, victor, mallory):
    with pytest.raises(Forbidden):
        ask(analysed, victor)
    idea = written(ask(analysed, carol, section=0, seed=1))  # a commenter may ask
    with pytest.raises(Forbidden):
        ideas.idea_decide(user=carol, project_id=analysed.pk, idea_id=idea.pk, decision="keep")
    outsider = browser_for(mallory)
    for path in ("midi/", "audio/with_song/"):
        assert outsider.get(f"/projects/{analysed.pk}/ideas/{idea.pk}/{path}").status_code == 404
    assert (
        browser_for(victor).get(f"/projects/{analysed.pk}/ideas/{idea.pk}/midi/").status_code == 200
    )
    kept = ideas.idea_decide(user=bob, project_id=analysed.pk, idea_id=idea.pk, decision="keep")
    assert kept.decision == IdeaDecision.KEPT and kept.decided_by == bob
    assert Event.objects.filter(project=analysed, type="idea.decided").count() == 1
    with pytest.raises(Conflict):
        ideas.idea_decide(user=bob, project_id=analysed.pk, idea_id=idea.pk, decision="discard")
    waiting = ask(analysed, bob)
    with pytest.raises(Conflict):  # not written yet
        ideas.idea_decide(user=bob, project_id=analysed.pk, idea_id=waiting.pk, decision="keep")


def test_bad_requests_change_nothing(analysed, bob):
    before = Event.objects.filter(project=analysed).count()
    bad = [
        {"kind": "solo"},
        {"kind": "drums", "options": {"style": "polka"}},
        {"kind": "drums", "options": {"tempo": 90}},
        {"kind": "chords", "options": "loud"},
        {"kind": "chords", "seed": -1},
        {"kind": "chords", "seed": True},
        {"kind": "chords", "section": 99},
        {"kind": "chords", "section": "bridge"},
    ]
    for fields in bad:
        with pytest.raises(Invalid) as refused:
            ideas.idea_request(user=bob, project_id=analysed.pk, **fields)
        assert refused.value.message
    assert not Idea.objects.exists()
    assert Event.objects.filter(project=analysed).count() == before
    browser = browser_for(bob)
    response = browser.post(
        f"/projects/{analysed.pk}/ideas/",
        data="{not json",
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400 and not Idea.objects.exists()


def test_ideas_wait_for_the_mix_analysis(project, bob):
    with pytest.raises(Conflict) as refused:
        ask(project, bob)
    assert "analysed" in refused.value.message


def test_an_analysis_by_an_older_engine_is_done_again(analysed, bob):
    mix = Analysis.objects.get(project=analysed, target="mix")
    report = {k: v for k, v in mix.report.items() if k not in ("structure", "chords")}
    Analysis.objects.filter(pk=mix.pk).update(report=report)
    with pytest.raises(Conflict) as refused:
        ask(analysed, bob)
    assert "older engine" in refused.value.message
    assert Analysis.objects.get(pk=mix.pk).status == JobStatus.QUEUED
    tasks.run_analysis(services.analysis_claim(worker="test"))
    assert written(ask(analysed, bob)).content["tonic"] == TONIC


def test_an_idea_that_cannot_be_written_fails_with_a_reason(analysed, alice, bob):
    idea = ask(analysed, bob)
    for stem in list(analysed.stems.all()):
        services.stem_delete(user=alice, project_id=analysed.pk, stem_id=stem.pk)
    run_ideas()
    idea.refresh_from_db()
    assert idea.status == JobStatus.FAILED and idea.error
    assert Event.objects.filter(project=analysed, type="idea.failed").exists()


def test_an_idea_has_its_own_thread(analysed, bob, carol):
    idea = written(ask(analysed, bob, seed=2))
    first = services.comment_post(
        user=carol, project_id=analysed.pk, body="Nice lift", idea_id=idea.pk
    )
    reply = services.comment_post(
        user=bob, project_id=analysed.pk, body="Agreed", idea_id=idea.pk, parent_id=first.pk
    )
    assert reply.parent_id == first.pk and reply.idea_id == idea.pk
    thread = ideas.idea_thread_payload(idea)
    assert [c["body"] for c in thread["comments"]] == ["Nice lift", "Agreed"]
    with pytest.raises(NotFound):  # a reply stays in its thread
        services.comment_post(user=bob, project_id=analysed.pk, body="x", parent_id=first.pk)
    with pytest.raises(NotFound):
        services.comment_post(user=bob, project_id=analysed.pk, body="x", idea_id=10**6)


def test_kept_ideas_stay_labelled_ai_generated_in_the_next_manifest(analysed, alice, bob):
    idea = written(ask(analysed, bob, section=1, seed=9))
    ideas.idea_decide(user=alice, project_id=analysed.pk, idea_id=idea.pk, decision="keep")
    version = versions.version_create(user=alice, project_id=analysed.pk, name="With idea")
    [entry] = version.manifest["ideas_kept"]
    assert entry["idea_id"] == idea.pk and entry["author"] == "engine (AI-generated)"
    assert entry["requested_by"] == "bob" and entry["kept_by"] == "alice"
    page = browser_for(alice).get(f"/projects/{analysed.pk}/versions/{version.pk}/manifest/")
    assert b"AI-generated idea" in page.content and idea.title.encode() in page.content


def test_the_api_asks_lists_and_exports(analysed, bob):
    _, key = services.token_create(user=bob, name="script")
    headers = {"Authorization": f"Bearer {key}"}
    client = Client()
    response = client.post(
        f"/api/projects/{analysed.pk}/ideas",
        json.dumps({"kind": "bass", "section": 1, "seed": 5, "options": {"style": "octaves"}}),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 202, response.content
    assert response.json()["author"] == "engine" and response.json()["status"] == "queued"
    run_ideas()
    listed = client.get(f"/api/projects/{analysed.pk}/ideas", headers=headers).json()
    assert listed[0]["status"] == "done" and listed[0]["options"]["style"] == "octaves"
    midi = client.get(f"/api/projects/{analysed.pk}/ideas/{listed[0]['id']}/midi", headers=headers)
    assert midi.status_code == 200 and midi.content[:4] == b"MThd"
    refused = client.post(
        f"/api/projects/{analysed.pk}/ideas/{listed[0]['id']}/decision",
        json.dumps({"decision": "maybe"}),
        content_type="application/json",
        headers=headers,
    )
    assert refused.status_code == 400


def test_an_idea_names_the_mix_it_was_written_for_and_the_mix_moves_on(analysed, alice, bob):
    _, key = services.token_create(user=bob, name="script")
    headers = {"Authorization": f"Bearer {key}"}
    client = Client()
    idea = written(ask(analysed, bob, section=1, seed=3))
    mix = client.get(f"/api/projects/{analysed.pk}/analyses", headers=headers).json()
    mix_key = next(a["input_key"] for a in mix if a["target"] == "mix")
    listed = client.get(f"/api/projects/{analysed.pk}/ideas", headers=headers).json()
    assert listed[0]["based_on"] == idea.based_on == mix_key != ""

    keys = analysed.stems.get(name="keys")
    services.stem_delete(user=alice, project_id=analysed.pk, stem_id=keys.pk)

    mix = client.get(f"/api/projects/{analysed.pk}/analyses", headers=headers).json()
    assert next(a["input_key"] for a in mix if a["target"] == "mix") != idea.based_on
