"""Mix versions: numbered renders of the mix settings, with what made them."""

from __future__ import annotations

import pytest
import soundfile as sf
from django.core.files.storage import default_storage
from django.test import Client

from projects import jobs, services, suggestions, tasks, versions
from projects.errors import Conflict, Forbidden, Invalid, NotFound
from projects.models import Event, JobStatus, MixVersion, Suggestion
from studio.processing import decode, loudness
from tests.conftest import upload_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(project, alice, fighting):
    """Both fighting stems uploaded (not yet analysed: see analysed())."""
    return [
        services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(path))
        for path in fighting.values()
    ]


def analysed() -> None:
    """Run the analyses and suggestion runs of the uploaded stems (for the AI moves)."""
    jobs.run_until_idle()


def render(project, user, **options) -> MixVersion:
    version = versions.version_create(
        user=user, project_id=project.pk, name=options.pop("name", "First mix"), **options
    )
    while (claimed := versions.version_claim(worker="test")) is not None:
        tasks.run_render(claimed)  # the render alone: the stems' analyses may wait
    version.refresh_from_db()
    return version


def local_copy(name: str, tmp_path) -> str:
    path = tmp_path / name.replace("/", "_")
    with default_storage.open(name) as handle:
        path.write_bytes(handle.read())
    return str(path)


def test_a_version_renders_every_format_of_the_whole_mix(project, alice, mixed, tmp_path):
    version = render(project, alice)
    assert version.status == JobStatus.DONE and version.number == 1
    assert sorted(version.files) == ["flac", "mp3", "wav"]
    longest = max(s.frames for s in mixed)
    info = {fmt: sf.info(local_copy(name, tmp_path)) for fmt, name in version.files.items()}
    assert info["wav"].subtype == "PCM_24" and info["flac"].subtype == "PCM_24"
    assert info["wav"].frames == info["flac"].frames == longest
    assert abs(info["mp3"].frames - longest) < 4096
    assert version.result["integrated_lufs"] < 0 and version.result["peaks"]["levels"]


def test_the_bus_limiter_holds_the_delivered_true_peak(project, alice, mixed, tmp_path):
    suggestions.mix_update(
        user=alice,
        project_id=project.pk,
        settings={"gain_db": 12.0, "ceiling_dbtp": -1.0, "target": "streaming"},
    )
    version = render(project, alice, formats=["wav"])
    signal, rate = decode.load(local_copy(version.files["wav"], tmp_path))
    measured = loudness.measure(signal, sample_rate=rate)
    assert measured.true_peak_dbtp <= -0.7
    assert measured.integrated_lufs == pytest.approx(version.result["integrated_lufs"], abs=0.1)


def test_numbers_count_up_and_each_version_keeps_its_snapshot(project, alice, bob, mixed):
    analysed()
    first = render(project, alice, name="Rough")
    masking = Suggestion.objects.get(project=project, code="masking.eq")
    suggestions.suggestion_decide(
        user=bob, project_id=project.pk, suggestion_id=masking.pk, decision="accept"
    )
    second = render(project, alice, name="With the cut")
    first.refresh_from_db()
    assert (first.number, second.number) == (1, 2)
    assert first.manifest["ai_suggestions"] == []
    assert second.result["integrated_lufs"] != first.result["integrated_lufs"]


def test_the_manifest_names_the_ai_moves_and_who_accepted_them(project, alice, bob, mixed):
    analysed()
    masking = Suggestion.objects.get(project=project, code="masking.eq")
    suggestions.suggestion_decide(
        user=bob, project_id=project.pk, suggestion_id=masking.pk, decision="accept", amount=80
    )
    vocals = mixed[0]
    suggestions.mix_update(
        user=alice, project_id=project.pk, stem_id=vocals.pk, settings={"gain_db": -1.0}
    )
    manifest = render(project, alice).manifest
    (ai,) = manifest["ai_suggestions"]
    assert ai["id"] == masking.pk and ai["accepted_by"] == "bob" and ai["author"] == "engine"
    assert ai["amount_percent"] == 80
    origins = [(c["by"], c["origin"]) for c in manifest["history"]]
    assert origins == [
        ("bob", "suggested by the studio's audio engine (AI), accepted by a person"),
        ("alice", "by hand"),
    ]
    stems = {s["id"]: s for s in manifest["stems"]}
    assert stems[vocals.pk]["sha256"] == vocals.checksum
    guitar = next(s for s in manifest["stems"] if s["id"] != vocals.pk)
    assert guitar["eq_sources"][0].startswith("suggested by the studio's audio engine (AI)")


def test_the_manifest_page_and_json_are_for_members_only(project, alice, mallory, mixed):
    version = render(project, alice)
    url = f"/projects/{project.pk}/versions/{version.pk}/manifest/"
    member, outsider = Client(), Client()
    member.force_login(alice)
    outsider.force_login(mallory)
    page = member.get(url)
    assert page.status_code == 200 and b"Authorship" in page.content
    download = member.get(url + "?format=json")
    assert download.json()["version"] == 1
    assert "attachment" in download["Content-Disposition"]
    assert outsider.get(url).status_code == 404


def test_files_are_served_through_checks(project, alice, victor, mallory, mixed):
    version = render(project, alice)
    base = f"/projects/{project.pk}/versions/{version.pk}"
    viewer, outsider = Client(), Client()
    viewer.force_login(victor)
    outsider.force_login(mallory)
    listen = viewer.get(f"{base}/listen/")
    assert listen.status_code == 200 and listen["Content-Type"] == "audio/mpeg"
    download = viewer.get(f"{base}/download/wav/")
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert viewer.get(f"{base}/download/ogg/").status_code == 404
    assert outsider.get(f"{base}/listen/").status_code == 404


def test_only_editors_ask_for_versions(project, carol, victor, mixed):
    for person in (carol, victor):
        with pytest.raises(Forbidden):
            versions.version_create(user=person, project_id=project.pk, name="Mine")
    assert not MixVersion.objects.exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": ""}, Invalid),
        ({"name": "x", "formats": ["aac"]}, Invalid),
        ({"name": "x", "formats": "wav"}, Invalid),
        ({"name": "x", "notes": 5}, Invalid),
    ],
)
def test_a_bad_request_is_refused_and_queues_nothing(project, alice, mixed, fields, error):
    with pytest.raises(error):
        versions.version_create(user=alice, project_id=project.pk, **fields)
    assert not MixVersion.objects.exists()


def test_a_project_without_stems_cannot_render(project, alice):
    with pytest.raises(Conflict):
        versions.version_create(user=alice, project_id=project.pk, name="Nothing")


def test_a_stem_deleted_before_the_render_fails_it_with_a_reason(project, alice, mixed):
    version = versions.version_create(user=alice, project_id=project.pk, name="Doomed")
    services.stem_delete(user=alice, project_id=project.pk, stem_id=mixed[1].pk)
    jobs.run_until_idle()
    version.refresh_from_db()
    assert version.status == JobStatus.FAILED and "guitar" in version.error
    assert Event.objects.filter(project=project, type="version.failed").exists()
    with pytest.raises(NotFound):
        versions.version_get(user=alice, project_id=project.pk, version_id=version.pk + 99)


def test_each_step_of_a_render_is_logged(project, alice, mixed):
    seq = project.last_seq
    project.refresh_from_db()
    render(project, alice)
    types = list(
        Event.objects.filter(project=project, seq__gt=seq, type__startswith="version.")
        .order_by("seq")
        .values_list("type", flat=True)
    )
    assert types == ["version.created", "version.started", "version.done"]


def test_the_api_renders_lists_and_serves_versions(project, alice, victor, mixed):
    from tests.projects.test_api import Api

    api = Api(services.token_create(user=alice, name="t")[1])
    created = api.post(f"/projects/{project.pk}/versions", {"name": "API mix", "formats": ["flac"]})
    assert created.status_code == 201 and created.json()["label"] == "v1"
    jobs.run_until_idle()
    listed = api.get(f"/projects/{project.pk}/versions").json()
    assert listed[0]["status"] == "done" and listed[0]["available"] == ["flac"]
    version_id = listed[0]["id"]
    viewer = Api(services.token_create(user=victor, name="t")[1])
    flac = viewer.get(f"/projects/{project.pk}/versions/{version_id}/files/flac")
    assert flac.status_code == 200 and flac["Content-Type"] == "audio/flac"
    assert viewer.get(f"/projects/{project.pk}/versions/{version_id}/files/wav").status_code == 404
    manifest = viewer.get(f"/projects/{project.pk}/versions/{version_id}/manifest").json()
    assert manifest["version"] == 1 and len(manifest["stems"]) == 2
    refused = viewer.post(f"/projects/{project.pk}/versions", {"name": "Mine"})
    assert refused.status_code == 403


def test_players_can_seek_byte_ranges_of_a_version(project, alice, mixed):
    version = render(project, alice, formats=["mp3"])
    member = Client()
    member.force_login(alice)
    url = f"/projects/{project.pk}/versions/{version.pk}/listen/"
    whole = b"".join(member.get(url).streaming_content)
    part = member.get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Accept-Ranges"] == "bytes"
    assert part["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert b"".join(part.streaming_content) == whole[100:200]
    tail = member.get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == whole[-10:]
    from_middle = member.get(url, HTTP_RANGE=f"bytes={len(whole) - 5}-")
    assert b"".join(from_middle.streaming_content) == whole[-5:]
    beyond = member.get(url, HTTP_RANGE=f"bytes={len(whole)}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(whole)}"
