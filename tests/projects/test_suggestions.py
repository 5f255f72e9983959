"""Mixing suggestions in the project: proposed by the engine after each analysis, decided
by people, discussed in threads, previewed, superseded when the stems change."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.test import Client

from projects import jobs, services, suggestions
from projects.errors import Conflict, Forbidden, Invalid, NotFound
from projects.models import Comment, Event, MixChange, Suggestion, SuggestionStatus
from studio.processing import decode
from studio.processing.preview import integrated_lufs
from tests.conftest import upload_of

pytestmark = pytest.mark.django_db
SR = 44100


def upload_both(project, user, fighting):
    vocals = services.stem_upload(
        user=user, project_id=project.pk, upload=upload_of(fighting["vocals"])
    )
    guitar = services.stem_upload(
        user=user, project_id=project.pk, upload=upload_of(fighting["guitar"])
    )
    jobs.run_until_idle()
    return vocals, guitar


def masking_of(project) -> Suggestion:
    return Suggestion.objects.get(project=project, code="masking.eq")


@pytest.fixture
def fought(project, alice, fighting):
    """The project after alice uploaded both stems and every job ran."""
    vocals, guitar = upload_both(project, alice, fighting)
    return vocals, guitar, masking_of(project)


def test_the_engine_finds_the_guitar_masking_the_vocal_and_measures_its_cut(project, fought):
    vocals, guitar, masking = fought
    assert set(masking.stems.values_list("pk", flat=True)) == {vocals.pk, guitar.pk}
    cut = masking.move[0]
    assert cut["op"] == "eq" and cut["stem"] == str(guitar.pk) and cut["gain_db"] < 0
    assert 1000 <= cut["freq_hz"] <= 5000
    assert masking.measure["after"] < masking.measure["before"] - 2
    assert masking.status == SuggestionStatus.PROPOSED and masking.kind == "masking"
    assert "vocal" in masking.reason.lower() or "voice" in masking.reason.lower()


def test_every_suggestion_is_logged_as_an_event_with_its_payload(project, fought):
    created = Event.objects.filter(project=project, type="suggestion.created")
    ids = {e.payload["suggestion"]["id"] for e in created}
    assert ids == set(Suggestion.objects.filter(project=project).values_list("pk", flat=True))
    payload = json.loads(json.dumps(created.first().payload))["suggestion"]
    assert payload["author"] == "engine" and payload["measure"]["unit"]


def test_the_mix_run_stores_a_masking_map_of_every_stem(project, fought):
    mix = project.analyses.get(target="mix")
    assert {row["stem"] for row in mix.masking["stems"]} == {str(s.pk) for s in fought[:2]}
    assert len(mix.masking["stems"][0]["db"]) == len(mix.masking["band_centres_hz"])


def test_accepting_puts_the_move_in_the_mix_settings_with_who_and_when(project, bob, fought):
    _, guitar, masking = fought
    suggestions.suggestion_decide(
        user=bob, project_id=project.pk, suggestion_id=masking.pk, decision="accept"
    )
    masking.refresh_from_db()
    project.refresh_from_db()
    assert masking.status == SuggestionStatus.ACCEPTED and masking.decided_by == bob
    assert masking.decided_at is not None
    band = project.mix_settings["stems"][str(guitar.pk)]["eq"][0]
    assert band["source"] == f"suggestion:{masking.pk}"
    assert band["gain_db"] == pytest.approx(masking.move[0]["gain_db"])
    change = MixChange.objects.get(project=project)
    assert change.actor == bob and change.suggestion == masking and change.action == "accept"
    assert Event.objects.filter(project=project, type="mix.changed").count() == 1


def test_the_amount_scales_the_accepted_move(project, bob, fought):
    _, guitar, masking = fought
    suggestions.suggestion_decide(
        user=bob, project_id=project.pk, suggestion_id=masking.pk, decision="accept", amount=50
    )
    project.refresh_from_db()
    band = project.mix_settings["stems"][str(guitar.pk)]["eq"][0]
    assert band["gain_db"] == pytest.approx(masking.move[0]["gain_db"] / 2)


def test_rejecting_records_the_decision_and_leaves_the_mix_alone(project, alice, fought):
    masking = fought[2]
    suggestions.suggestion_decide(
        user=alice, project_id=project.pk, suggestion_id=masking.pk, decision="reject"
    )
    masking.refresh_from_db()
    project.refresh_from_db()
    assert masking.status == SuggestionStatus.REJECTED and masking.decided_by == alice
    assert project.mix_settings == {} and project.mix_revision == 0


def test_a_decided_suggestion_cannot_be_decided_again(project, alice, fought):
    masking = fought[2]
    suggestions.suggestion_decide(
        user=alice, project_id=project.pk, suggestion_id=masking.pk, decision="reject"
    )
    with pytest.raises(Conflict):
        suggestions.suggestion_decide(
            user=alice, project_id=project.pk, suggestion_id=masking.pk, decision="accept"
        )


@pytest.mark.parametrize("persona", ["carol", "victor"])
def test_commenters_and_viewers_cannot_decide(project, fought, persona, request):
    with pytest.raises(Forbidden):
        suggestions.suggestion_decide(
            user=request.getfixturevalue(persona),
            project_id=project.pk,
            suggestion_id=fought[2].pk,
            decision="accept",
        )
    assert masking_of(project).status == SuggestionStatus.PROPOSED


def test_mallory_is_refused_everything_about_suggestions(project, fought, mallory):
    masking = fought[2]
    for call in (
        lambda: suggestions.suggestion_get(
            user=mallory, project_id=project.pk, suggestion_id=masking.pk
        ),
        lambda: suggestions.suggestion_decide(
            user=mallory, project_id=project.pk, suggestion_id=masking.pk, decision="reject"
        ),
        lambda: suggestions.suggestion_preview(
            user=mallory, project_id=project.pk, suggestion_id=masking.pk
        ),
        lambda: suggestions.mix_undo(user=mallory, project_id=project.pk),
    ):
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize(
    ("decision", "amount"), [("maybe", 100), ("accept", 101), ("accept", -1), ("accept", "x")]
)
def test_a_bad_decision_is_refused_and_changes_nothing(project, alice, fought, decision, amount):
    with pytest.raises(Invalid):
        suggestions.suggestion_decide(
            user=alice,
            project_id=project.pk,
            suggestion_id=fought[2].pk,
            decision=decision,
            amount=amount,
        )
    assert masking_of(project).status == SuggestionStatus.PROPOSED


def test_undo_restores_the_mix_and_reopens_the_suggestion(project, alice, fought):
    masking = fought[2]
    suggestions.suggestion_decide(
        user=alice, project_id=project.pk, suggestion_id=masking.pk, decision="accept"
    )
    suggestions.mix_undo(user=alice, project_id=project.pk)
    project.refresh_from_db()
    masking.refresh_from_db()
    assert project.mix_settings == {"stems": {}, "bus": project.mix_settings["bus"]}
    assert masking.status == SuggestionStatus.PROPOSED and masking.decided_by is None
    with pytest.raises(Conflict):
        suggestions.mix_undo(user=alice, project_id=project.pk)


def test_hand_edits_are_checked_and_recorded(project, bob, fought):
    vocals = fought[0]
    with pytest.raises(Invalid):
        suggestions.mix_update(
            user=bob, project_id=project.pk, stem_id=vocals.pk, settings={"gain_db": 99}
        )
    with pytest.raises(Invalid):
        suggestions.mix_update(
            user=bob, project_id=project.pk, stem_id=vocals.pk, settings={"volume": 1}
        )
    suggestions.mix_update(
        user=bob, project_id=project.pk, stem_id=vocals.pk, settings={"gain_db": -2.5, "pan": 0.2}
    )
    project.refresh_from_db()
    assert project.mix_settings["stems"][str(vocals.pk)]["gain_db"] == -2.5
    assert MixChange.objects.get(project=project).action == "edit"


def test_commenters_cannot_edit_the_mix(project, carol, fought):
    with pytest.raises(Forbidden):
        suggestions.mix_update(
            user=carol, project_id=project.pk, stem_id=fought[0].pk, settings={"gain_db": 1}
        )


def test_changing_the_mix_asks_for_fresh_suggestions_without_duplicates(project, alice, fought):
    vocals = fought[0]
    before = Suggestion.objects.filter(project=project).count()
    suggestions.mix_update(
        user=alice, project_id=project.pk, stem_id=vocals.pk, settings={"gain_db": -1.0}
    )
    assert jobs.run_until_idle() >= 1
    fingerprints = list(
        Suggestion.objects.filter(project=project).values_list("fingerprint", flat=True)
    )
    assert len(fingerprints) == len(set(fingerprints)) and len(fingerprints) >= before - 1


def test_deleting_a_stem_supersedes_its_open_suggestions(project, alice, fought):
    _, guitar, masking = fought
    services.stem_delete(user=alice, project_id=project.pk, stem_id=guitar.pk)
    masking.refresh_from_db()
    assert masking.status == SuggestionStatus.SUPERSEDED
    assert Event.objects.filter(project=project, type="suggestion.superseded").exists()


def test_a_thread_takes_comments_and_replies_from_commenters(project, carol, bob, fought):
    masking = fought[2]
    first = services.comment_post(
        user=carol, project_id=project.pk, body="Is 2.5 kHz right?", suggestion_id=masking.pk
    )
    reply = services.comment_post(
        user=bob, project_id=project.pk, body="Yes.", suggestion_id=masking.pk, parent_id=first.pk
    )
    assert reply.parent == first and reply.suggestion == masking
    payload = suggestions.suggestion_thread_payload(masking)
    assert [c["body"] for c in payload["comments"]] == ["Is 2.5 kHz right?", "Yes."]


def test_a_reply_must_stay_in_its_thread(project, carol, fought):
    outside = services.comment_post(user=carol, project_id=project.pk, body="General remark")
    with pytest.raises(NotFound):
        services.comment_post(
            user=carol,
            project_id=project.pk,
            body="Reply",
            suggestion_id=fought[2].pk,
            parent_id=outside.pk,
        )
    assert Comment.objects.filter(body="Reply").count() == 0


def test_viewers_cannot_comment_on_a_suggestion(project, victor, fought):
    with pytest.raises(Forbidden):
        services.comment_post(
            user=victor, project_id=project.pk, body="hi", suggestion_id=fought[2].pk
        )


def test_a_preview_renders_both_versions_matched_in_loudness(project, carol, fought, tmp_path):
    masking = fought[2]
    suggestions.suggestion_preview(user=carol, project_id=project.pk, suggestion_id=masking.pk)
    assert jobs.run_until_idle() >= 1
    masking.refresh_from_db()
    assert masking.preview_status == "done", masking.preview_error
    signals = {}
    for which in ("before", "after"):
        with (
            default_storage.open(masking.preview_files[which]) as handle,
            open(f"/tmp/preview-{which}.flac", "wb") as copy,
        ):
            copy.write(handle.read())
        signals[which], rate = decode.load(f"/tmp/preview-{which}.flac")
    before, after = signals["before"], signals["after"]
    assert before.shape == after.shape
    assert integrated_lufs(before, sample_rate=rate) == pytest.approx(
        integrated_lufs(after, sample_rate=rate), abs=0.2
    )
    difference = np.sqrt(np.mean((before - after) ** 2))
    assert 20 * np.log10(difference) > -40  # the move is audible


def test_advice_has_no_preview(project, alice, fought):
    masking = fought[2]
    Suggestion.objects.filter(pk=masking.pk).update(preview_spec=None)
    with pytest.raises(Conflict):
        suggestions.suggestion_preview(user=alice, project_id=project.pk, suggestion_id=masking.pk)


def test_the_preview_file_is_served_only_to_members(project, alice, mallory, fought):
    masking = fought[2]
    suggestions.suggestion_preview(user=alice, project_id=project.pk, suggestion_id=masking.pk)
    jobs.run_until_idle()
    url = f"/projects/{project.pk}/suggestions/{masking.pk}/preview/after/"
    member, outsider = Client(), Client()
    member.force_login(alice)
    outsider.force_login(mallory)
    response = member.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "audio/flac"
    assert outsider.get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page


def test_the_http_door_decides_with_json_and_refuses_bad_json(project, bob, fought):
    client = Client()
    client.force_login(bob)
    url = f"/projects/{project.pk}/suggestions/{fought[2].pk}/decide/"
    bad = client.post(
        url, data="{nope", content_type="application/json", HTTP_ACCEPT="application/json"
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_json"
    good = client.post(
        url,
        data=json.dumps({"decision": "accept", "amount": 80}),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
    )
    assert good.status_code == 200 and good.json()["suggestion"]["status"] == "accepted"
    mix = client.get(f"/projects/{project.pk}/mix/").json()["mix"]
    assert mix["revision"] == 1 and mix["can_undo"]


def test_suggestions_and_previews_run_in_the_engine_processes(project, alice, fighting):
    """The server's path: every job's audio work in a spawned engine process."""
    pool = jobs.EnginePool(workers=1)
    try:
        for path in fighting.values():
            services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))
        while jobs.run_next(engine=pool):
            pass
        masking = masking_of(project)
        suggestions.suggestion_preview(user=alice, project_id=project.pk, suggestion_id=masking.pk)
        assert jobs.run_next(engine=pool)
    finally:
        pool.executor.shutdown()
        pool.manager.shutdown()
    masking.refresh_from_db()
    assert masking.preview_status == "done", masking.preview_error
    assert masking.preview_files["info"]["before_lufs"] is not None


@pytest.fixture
def api_as():
    from tests.projects.test_api import Api

    def make(user):
        _, key = services.token_create(user=user, name="tests")
        return Api(key)

    return make


def test_the_api_lists_suggestions_labelled_as_the_engines(project, carol, api_as, fought):
    response = api_as(carol).get(f"/projects/{project.pk}/suggestions")
    assert response.status_code == 200
    rows = response.json()
    assert {row["code"] for row in rows} >= {"masking.eq"}
    assert all(row["author"] == "engine" for row in rows)


def test_the_api_decides_edits_and_undoes(project, bob, api_as, fought):
    api = api_as(bob)
    vocals, _, masking = fought
    decided = api.post(
        f"/projects/{project.pk}/suggestions/{masking.pk}/decision",
        {"decision": "accept", "amount": 60},
    )
    assert decided.status_code == 200 and decided.json()["status"] == "accepted"
    edited = api.put(f"/projects/{project.pk}/mix/stems/{vocals.pk}", {"gain_db": 1.5})
    assert edited.status_code == 200 and edited.json()["revision"] == 2
    bad = api.put(f"/projects/{project.pk}/mix/stems/{vocals.pk}", {"gain_db": "loud"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_settings"
    bus = api.put(f"/projects/{project.pk}/mix/bus", {"target": "broadcast", "ceiling_dbtp": -1})
    assert bus.status_code == 200 and bus.json()["bus"]["target"] == "broadcast"
    undone = api.post(f"/projects/{project.pk}/mix/undo")
    assert undone.status_code == 200 and undone.json()["bus"]["target"] is None


def test_the_api_refuses_commenters_decisions_and_outsiders(
    project, carol, mallory, api_as, fought
):
    masking = fought[2]
    path = f"/projects/{project.pk}/suggestions/{masking.pk}/decision"
    assert api_as(carol).post(path, {"decision": "accept"}).status_code == 403
    assert api_as(mallory).post(path, {"decision": "accept"}).status_code == 404
    assert api_as(mallory).get(f"/projects/{project.pk}/mix").status_code == 404
    assert (
        api_as(carol)
        .post(f"/projects/{project.pk}/comments", {"body": "Hm.", "suggestion_id": masking.pk})
        .status_code
        == 201
    )


def test_a_new_preview_replaces_the_old_files_and_deleting_the_project_removes_them(
    project, alice, fought, django_capture_on_commit_callbacks
):
    masking = fought[2]
    rendered = []
    for amount in (100, 50):
        suggestions.suggestion_preview(
            user=alice, project_id=project.pk, suggestion_id=masking.pk, amount=amount
        )
        with django_capture_on_commit_callbacks(execute=True):
            jobs.run_until_idle()
        masking.refresh_from_db()
        rendered.append([masking.preview_files["before"], masking.preview_files["after"]])
    assert masking.preview_amount == 50
    assert not any(default_storage.exists(name) for name in rendered[0])
    assert all(default_storage.exists(name) for name in rendered[1])
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(user=alice, project_id=project.pk)
    assert not any(default_storage.exists(name) for name in rendered[1])
