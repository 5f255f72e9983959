"""The JSON API under /api/: token sign-in, every endpoint, and who is refused what."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from projects import services
from projects.models import Comment, Membership, Project, Role, Stem
from tests.conftest import stored_files, upload_of

pytestmark = pytest.mark.django_db


class Api:
    """A script's view of the API: a plain client that sends a Bearer token."""

    def __init__(self, key: str | None, *, client: Client | None = None) -> None:
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, path: str, **query: Any):
        return self.client.get("/api" + path, query, headers=self.headers)

    def send(self, method: str, path: str, body: Any = None):
        call = getattr(self.client, method)
        data = json.dumps(body) if body is not None else ""
        return call("/api" + path, data, content_type="application/json", headers=self.headers)

    def post(self, path: str, body: Any = None):
        return self.send("post", path, body)

    def patch(self, path: str, body: Any = None):
        return self.send("patch", path, body)

    def put(self, path: str, body: Any = None):
        return self.send("put", path, body)

    def delete(self, path: str):
        return self.client.delete("/api" + path, headers=self.headers)

    def upload(self, path: str, file: Path):
        with open(file, "rb") as handle:
            return self.client.post("/api" + path, {"file": handle}, headers=self.headers)


@pytest.fixture
def api_as():
    def make(user) -> Api:
        _, key = services.token_create(user=user, name="tests")
        return Api(key)

    return make


def stem_in(project: Project, user, path: Path) -> Stem:
    return services.stem_upload(user=user, project_id=project.pk, upload=upload_of(path))


def leftover_uploads(tmp_path: Path) -> list[Path]:
    """What is in FILE_UPLOAD_TEMP_DIR besides the fixtures' own folders."""
    return sorted(p for p in tmp_path.iterdir() if p.name not in {"media", "in"})


def error_of(response) -> dict[str, str]:
    return response.json()["error"]


# --- Signing in ----------------------------------------------------------------------


def test_no_token_gets_401(project):
    response = Api(None).get("/projects")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_wrong_token_gets_401(alice):
    services.token_create(user=alice, name="real")
    assert Api("st_not-a-real-key").get("/projects").status_code == 401


def test_a_token_in_the_wrong_scheme_gets_401(alice):
    _, key = services.token_create(user=alice, name="real")
    response = Client().get("/api/projects", headers={"Authorization": f"Token {key}"})
    assert response.status_code == 401


def test_a_revoked_token_gets_401(alice):
    token, key = services.token_create(user=alice, name="old")
    services.token_revoke(user=alice, token_id=token.pk)
    assert Api(key).get("/projects").status_code == 401


def test_a_token_of_a_deactivated_account_gets_401(alice):
    _, key = services.token_create(user=alice, name="real")
    alice.is_active = False
    alice.save()
    assert Api(key).get("/projects").status_code == 401


def test_a_valid_token_signs_in_and_records_its_use(project, alice):
    token, key = services.token_create(user=alice, name="real")
    assert token.last_used_at is None
    assert Api(key).get("/projects").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_browser_session_does_not_sign_in_to_the_api(project, alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/api/projects").status_code == 401
    assert (
        client.post("/api/projects", {"name": "x"}, content_type="application/json").status_code
        == 401
    )


def test_a_token_needs_no_csrf_token(alice):
    _, key = services.token_create(user=alice, name="script")
    api = Api(key, client=Client(enforce_csrf_checks=True))
    assert api.post("/projects", {"name": "Scripted"}).status_code == 201


# --- Projects ------------------------------------------------------------------------


def test_list_projects_gives_mine_with_my_role(project, bob, alice, api_as):
    services.project_create(user=alice, name="Solo")
    (row,) = api_as(bob).get("/projects").json()
    assert (row["id"], row["name"], row["owner"], row["role"]) == (
        project.pk,
        "Night Drive",
        "alice",
        "editor",
    )
    assert row["last_seq"] == project.last_seq


def test_mallory_lists_no_projects(project, mallory, api_as):
    assert api_as(mallory).get("/projects").json() == []


def test_create_project_answers_201_and_makes_me_owner(alice, api_as):
    response = api_as(alice).post("/projects", {"name": " Morning Run "})
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["owner"], body["role"]) == ("Morning Run", "alice", "owner")
    assert Membership.objects.get(project_id=body["id"], user=alice).role == Role.OWNER


def test_create_project_with_an_empty_name_gives_400_saying_why(alice, api_as):
    response = api_as(alice).post("/projects", {"name": "  "})
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "invalid_name",
        "message": "The project name cannot be empty.",
    }
    assert not Project.objects.exists()


def test_create_project_without_a_name_gives_422_naming_the_field(alice, api_as):
    response = api_as(alice).post("/projects", {})
    assert response.status_code == 422
    (problem,) = response.json()["error"]["detail"]
    assert problem["loc"][-1] == "name" and problem["msg"] == "Field required"


def test_create_project_with_a_broken_json_body_gives_4xx(alice, api_as):
    api = api_as(alice)
    response = api.client.post(
        "/api/projects", "{name:", content_type="application/json", headers=api.headers
    )
    assert response.status_code in {400, 422}
    assert not Project.objects.exists()


def test_get_project_shows_my_role(project, carol, api_as):
    body = api_as(carol).get(f"/projects/{project.pk}").json()
    assert (body["name"], body["role"]) == ("Night Drive", "commenter")


def test_editor_renames_the_project(project, bob, api_as):
    response = api_as(bob).patch(f"/projects/{project.pk}", {"name": "Day Drive"})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["role"]) == ("Day Drive", "editor")
    project.refresh_from_db()
    assert project.name == "Day Drive"


def test_owner_deletes_the_project_and_its_files(
    project, alice, audio_file, media_dir, api_as, django_capture_on_commit_callbacks
):
    stem_in(project, alice, audio_file())
    api = api_as(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/projects/{project.pk}")
    assert response.status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert stored_files(media_dir) == []
    assert api.get(f"/projects/{project.pk}").status_code == 404


def test_editor_cannot_delete_the_project(project, bob, api_as):
    response = api_as(bob).delete(f"/projects/{project.pk}")
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert Project.objects.filter(pk=project.pk).exists()


# --- Members -------------------------------------------------------------------------


def test_members_list_gives_everyone_with_their_role(project, victor, api_as):
    rows = api_as(victor).get(f"/projects/{project.pk}/members").json()
    assert [(r["username"], r["role"]) for r in rows] == [
        ("alice", "owner"),
        ("bob", "editor"),
        ("carol", "commenter"),
        ("victor", "viewer"),
    ]


def test_owner_invites_by_email(project, alice, mallory, api_as):
    response = api_as(alice).post(
        f"/projects/{project.pk}/members", {"who": "Mallory@Example.org", "role": "viewer"}
    )
    assert response.status_code == 201
    assert response.json() == {"user_id": mallory.pk, "username": "mallory", "role": "viewer"}


def test_inviting_someone_already_in_is_409(project, alice, api_as):
    response = api_as(alice).post(
        f"/projects/{project.pk}/members", {"who": "bob", "role": "viewer"}
    )
    assert response.status_code == 409
    assert error_of(response)["message"] == "bob is already in this project."


def test_inviting_as_owner_is_400(project, alice, mallory, api_as):
    response = api_as(alice).post(
        f"/projects/{project.pk}/members", {"who": "mallory", "role": "owner"}
    )
    assert response.status_code == 400
    assert error_of(response)["message"] == "The role must be editor, commenter or viewer."


def test_inviting_an_unknown_person_is_404_saying_to_sign_up_first(project, alice, api_as):
    response = api_as(alice).post(
        f"/projects/{project.pk}/members", {"who": "nobody", "role": "viewer"}
    )
    assert response.status_code == 404
    assert error_of(response)["code"] == "no_such_person"
    assert "sign up first" in error_of(response)["message"]


def test_editor_cannot_invite(project, bob, mallory, api_as):
    response = api_as(bob).post(
        f"/projects/{project.pk}/members", {"who": "mallory", "role": "editor"}
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user=mallory).exists()


def test_owner_changes_a_role(project, alice, victor, api_as):
    response = api_as(alice).patch(
        f"/projects/{project.pk}/members/{victor.pk}", {"role": "editor"}
    )
    assert response.status_code == 200 and response.json()["role"] == "editor"
    assert Membership.objects.get(project=project, user=victor).role == Role.EDITOR


def test_owner_removes_a_member(project, alice, bob, api_as):
    response = api_as(alice).delete(f"/projects/{project.pk}/members/{bob.pk}")
    assert response.status_code == 204
    assert not Membership.objects.filter(project=project, user=bob).exists()


def test_the_owner_cannot_be_removed(project, alice, api_as):
    response = api_as(alice).delete(f"/projects/{project.pk}/members/{alice.pk}")
    assert response.status_code == 403
    assert error_of(response) == {
        "code": "owner_fixed",
        "message": "The owner cannot be removed from the project.",
    }


def test_changing_the_role_of_someone_not_in_the_project_is_404(project, alice, mallory, api_as):
    response = api_as(alice).patch(
        f"/projects/{project.pk}/members/{mallory.pk}", {"role": "editor"}
    )
    assert response.status_code == 404
    assert error_of(response)["message"] == "That person is not in this project."


# --- Stems ---------------------------------------------------------------------------


def test_upload_answers_201_with_the_stem(project, bob, audio_file, api_as):
    path = audio_file("vox.flac", format="FLAC", subtype="PCM_24", sample_rate=48000)
    response = api_as(bob).upload(f"/projects/{project.pk}/stems", path)
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["original_name"], body["format"]) == ("vox", "vox.flac", "FLAC")
    assert (body["subtype"], body["sample_rate"], body["channels"]) == ("PCM_24", 48000, 2)
    assert body["duration_s"] == pytest.approx(1.0, abs=0.01)
    assert body["checksum"] == services.file_sha256(path)


def test_upload_stores_the_exact_bytes(project, bob, audio_file, media_dir, api_as):
    path = audio_file("keys.mp3", format="MP3", subtype="MPEG_LAYER_III")
    assert api_as(bob).upload(f"/projects/{project.pk}/stems", path).status_code == 201
    (stored,) = stored_files(media_dir)
    assert stored.read_bytes() == path.read_bytes()


def test_upload_leaves_no_temporary_files(project, bob, audio_file, tmp_path, api_as):
    assert api_as(bob).upload(f"/projects/{project.pk}/stems", audio_file()).status_code == 201
    assert leftover_uploads(tmp_path) == []


def test_upload_of_a_text_file_is_400_naming_it_and_stores_nothing(
    project, bob, tmp_path, media_dir, api_as
):
    path = tmp_path / "in" / "lyrics.wav"
    path.parent.mkdir()
    path.write_bytes(b"these are my lyrics, not audio\n" * 20)
    response = api_as(bob).upload(f"/projects/{project.pk}/stems", path)
    assert response.status_code == 400
    assert "lyrics.wav" in error_of(response)["message"]
    assert stored_files(media_dir) == [] and leftover_uploads(tmp_path) == []


def test_upload_without_a_file_is_400_naming_the_field(project, bob, api_as):
    api = api_as(bob)
    response = api.client.post(f"/api/projects/{project.pk}/stems", {}, headers=api.headers)
    assert response.status_code == 400
    assert error_of(response)["code"] == "no_file" and "'file'" in error_of(response)["message"]


def test_upload_over_the_size_limit_is_413_and_stores_nothing(
    project, bob, audio_file, settings, media_dir, tmp_path, api_as
):
    settings.STUDIO_MAX_UPLOAD_MB = 1
    path = audio_file("long.wav", duration_s=9.0)  # about 1.5 MB at 16-bit stereo
    response = api_as(bob).upload(f"/projects/{project.pk}/stems", path)
    assert response.status_code == 413
    assert "long.wav" in error_of(response)["message"]
    assert stored_files(media_dir) == [] and not Stem.objects.exists()
    assert leftover_uploads(tmp_path) == []


def test_uploading_the_same_file_twice_is_409(project, bob, audio_file, media_dir, api_as):
    api = api_as(bob)
    path = audio_file()
    assert api.upload(f"/projects/{project.pk}/stems", path).status_code == 201
    response = api.upload(f"/projects/{project.pk}/stems", path)
    assert response.status_code == 409 and error_of(response)["code"] == "duplicate"
    assert len(stored_files(media_dir)) == 1


@pytest.mark.parametrize("who", ["carol", "victor"])
def test_commenter_and_viewer_cannot_upload(
    project, request, audio_file, media_dir, tmp_path, api_as, who
):
    api = api_as(request.getfixturevalue(who))
    response = api.upload(f"/projects/{project.pk}/stems", audio_file())
    assert response.status_code == 403
    assert stored_files(media_dir) == [] and leftover_uploads(tmp_path) == []


@pytest.fixture
def two_stems(project, bob, audio_file) -> tuple[Stem, Stem]:
    return (
        stem_in(project, bob, audio_file("a.wav", seed=1)),
        stem_in(project, bob, audio_file("b.wav", seed=2)),
    )


def test_list_stems_gives_them_in_order(project, victor, two_stems, api_as):
    a, b = two_stems
    rows = api_as(victor).get(f"/projects/{project.pk}/stems").json()
    assert [(r["id"], r["name"], r["position"]) for r in rows] == [(a.pk, "a", 0), (b.pk, "b", 1)]


def test_get_stem(project, victor, two_stems, api_as):
    a, _ = two_stems
    body = api_as(victor).get(f"/projects/{project.pk}/stems/{a.pk}").json()
    assert body == services.stem_payload(a)


def test_get_a_stem_of_another_project_is_404(project, alice, bob, audio_file, api_as):
    other = services.project_create(user=alice, name="Other")
    stem = stem_in(other, alice, audio_file())
    response = api_as(bob).get(f"/projects/{project.pk}/stems/{stem.pk}")
    assert response.status_code == 404 and error_of(response)["code"] == "no_such_stem"


def test_editor_renames_a_stem(project, bob, two_stems, api_as):
    a, _ = two_stems
    response = api_as(bob).patch(f"/projects/{project.pk}/stems/{a.pk}", {"name": "Kick"})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["original_name"]) == ("Kick", "a.wav")


def test_renaming_a_stem_to_a_path_is_400(project, bob, two_stems, api_as):
    a, _ = two_stems
    response = api_as(bob).patch(f"/projects/{project.pk}/stems/{a.pk}", {"name": "x/y"})
    assert response.status_code == 400 and "path separator" in error_of(response)["message"]


def test_editor_deletes_a_stem_and_its_file(
    project, bob, two_stems, media_dir, api_as, django_capture_on_commit_callbacks
):
    a, b = two_stems
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(bob).delete(f"/projects/{project.pk}/stems/{a.pk}")
    assert response.status_code == 204
    assert list(Stem.objects.values_list("pk", flat=True)) == [b.pk]
    assert [p.name for p in stored_files(media_dir)] == ["b.wav"]


def test_editor_orders_the_stems_with_put(project, bob, two_stems, api_as):
    a, b = two_stems
    response = api_as(bob).put(f"/projects/{project.pk}/stems/order", {"order": [b.pk, a.pk]})
    assert response.status_code == 200 and response.json() == {"order": [b.pk, a.pk]}
    assert list(Stem.objects.values_list("pk", flat=True)) == [b.pk, a.pk]


def test_an_order_missing_a_stem_is_400(project, bob, two_stems, api_as):
    a, b = two_stems
    response = api_as(bob).put(f"/projects/{project.pk}/stems/order", {"order": [a.pk]})
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "The order must name every stem of the project exactly once."
    )


def test_an_order_of_words_is_422(project, bob, two_stems, api_as):
    response = api_as(bob).put(f"/projects/{project.pk}/stems/order", {"order": ["a", "b"]})
    assert response.status_code == 422
    assert response.json()["error"]["detail"][0]["loc"][-2:] == ["order", 0]


def download(api: Api, project: Project, stem: Stem):
    response = api.get(f"/projects/{project.pk}/stems/{stem.pk}/download")
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    response.close()
    return response, body


def test_download_gives_the_original_bytes_under_the_original_name(
    project, bob, victor, audio_file, api_as
):
    path = audio_file("vox.wav", subtype="PCM_24")
    stem = stem_in(project, bob, path)
    services.stem_rename(user=bob, project_id=project.pk, stem_id=stem.pk, name="Lead")
    response, body = download(api_as(victor), project, stem)
    assert response.status_code == 200 and body == path.read_bytes()
    assert response["Content-Disposition"] == 'attachment; filename="vox.wav"'


# --- Comments and events -------------------------------------------------------------


def test_commenter_posts_a_comment_at_a_time_on_a_stem(project, carol, two_stems, api_as):
    a, _ = two_stems
    response = api_as(carol).post(
        f"/projects/{project.pk}/comments", {"body": "Kick at 0:01", "stem_id": a.pk, "at_s": 1}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["author"], body["stem_id"], body["at_s"]) == ("carol", a.pk, 1.0)


def test_comments_list_in_the_order_posted(project, carol, alice, victor, api_as):
    services.comment_post(user=carol, project_id=project.pk, body="first")
    services.comment_post(user=alice, project_id=project.pk, body="second")
    rows = api_as(victor).get(f"/projects/{project.pk}/comments").json()
    assert [(r["author"], r["body"]) for r in rows] == [("carol", "first"), ("alice", "second")]


def test_an_empty_comment_is_400(project, carol, api_as):
    response = api_as(carol).post(f"/projects/{project.pk}/comments", {"body": "  "})
    assert response.status_code == 400
    assert error_of(response)["message"] == "Write something before posting."
    assert not Comment.objects.exists()


def test_a_comment_at_a_negative_time_is_400(project, carol, api_as):
    response = api_as(carol).post(f"/projects/{project.pk}/comments", {"body": "x", "at_s": -1})
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_time"


def test_viewer_cannot_comment(project, victor, api_as):
    response = api_as(victor).post(f"/projects/{project.pk}/comments", {"body": "hi"})
    assert response.status_code == 403
    assert not Comment.objects.exists()


def test_events_after_n_give_the_rest_of_the_log_in_order(project, alice, carol, api_as):
    services.project_rename(user=alice, project_id=project.pk, name="Day Drive")
    services.comment_post(user=carol, project_id=project.pk, body="hm")
    rows = api_as(carol).get(f"/projects/{project.pk}/events", after=4).json()
    assert [(r["seq"], r["type"]) for r in rows] == [(5, "project.renamed"), (6, "comment.created")]
    assert rows[1]["actor"]["username"] == "carol" and rows[1]["payload"]["comment"]["body"] == "hm"


def test_events_from_the_start_give_the_whole_log(project, victor, api_as):
    rows = api_as(victor).get(f"/projects/{project.pk}/events").json()
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert [r["type"] for r in rows] == ["project.created"] + ["member.added"] * 3


def test_events_limit_caps_the_answer(project, victor, api_as):
    rows = api_as(victor).get(f"/projects/{project.pk}/events", after=1, limit=2).json()
    assert [r["seq"] for r in rows] == [2, 3]


@pytest.mark.parametrize("query", [{"after": -1}, {"limit": 0}, {"limit": 1001}])
def test_events_with_a_bad_range_are_400(project, victor, api_as, query):
    response = api_as(victor).get(f"/projects/{project.pk}/events", **query)
    assert response.status_code == 400
    assert "after must be 0 or more" in error_of(response)["message"]


def test_events_with_a_non_number_are_422(project, victor, api_as):
    response = api_as(victor).get(f"/projects/{project.pk}/events", after="soon")
    assert response.status_code == 422
    assert response.json()["error"]["detail"][0]["loc"][-1] == "after"


# --- Outsiders and roles -------------------------------------------------------------


def every_project_call(project: Project, stem: Stem, user_id: int) -> list[tuple[str, str, Any]]:
    base = f"/projects/{project.pk}"
    return [
        ("get", base, None),
        ("patch", base, {"name": "Pwned"}),
        ("delete", base, None),
        ("get", f"{base}/members", None),
        ("post", f"{base}/members", {"who": "mallory", "role": "editor"}),
        ("patch", f"{base}/members/{user_id}", {"role": "viewer"}),
        ("delete", f"{base}/members/{user_id}", None),
        ("get", f"{base}/stems", None),
        ("upload", f"{base}/stems", None),
        ("get", f"{base}/stems/{stem.pk}", None),
        ("patch", f"{base}/stems/{stem.pk}", {"name": "Pwned"}),
        ("delete", f"{base}/stems/{stem.pk}", None),
        ("put", f"{base}/stems/order", {"order": [stem.pk]}),
        ("get", f"{base}/stems/{stem.pk}/download", None),
        ("get", f"{base}/comments", None),
        ("post", f"{base}/comments", {"body": "hi"}),
        ("get", f"{base}/events", None),
    ]


def call(api: Api, method: str, path: str, body: Any, audio: Path):
    if method == "upload":
        return api.upload(path, audio)
    if method in {"get", "delete"}:
        return getattr(api, method)(path)
    return getattr(api, method)(path, body)


@pytest.mark.parametrize("index", range(17))
def test_mallory_gets_404_on_alices_project_and_its_stems(
    project, bob, mallory, audio_file, media_dir, tmp_path, api_as, index
):
    stem = stem_in(project, bob, audio_file())
    project.refresh_from_db()
    method, path, body = every_project_call(project, stem, bob.pk)[index]
    response = call(api_as(mallory), method, path, body, audio_file("mine.wav", seed=9))
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "No such project."}
    seq = project.last_seq
    project.refresh_from_db()
    assert (project.name, project.last_seq) == ("Night Drive", seq)
    assert [p.name for p in stored_files(media_dir)] == ["tone.wav"]
    assert leftover_uploads(tmp_path) == []


def test_mallory_gets_the_same_404_for_a_project_that_does_not_exist(project, mallory, api_as):
    api = api_as(mallory)
    assert api.get(f"/projects/{project.pk}").content == api.get("/projects/9999").content


WRITES = {1, 2, 4, 5, 6, 8, 10, 11, 12, 15}


@pytest.mark.parametrize("index", sorted(WRITES))
def test_viewer_gets_403_on_writes(project, bob, victor, audio_file, media_dir, api_as, index):
    stem = stem_in(project, bob, audio_file())
    project.refresh_from_db()
    method, path, body = every_project_call(project, stem, bob.pk)[index]
    response = call(api_as(victor), method, path, body, audio_file("mine.wav", seed=9))
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    seq = project.last_seq
    project.refresh_from_db()
    assert project.last_seq == seq and Stem.objects.get(pk=stem.pk).name == "tone"
    assert [p.name for p in stored_files(media_dir)] == ["tone.wav"]


@pytest.mark.parametrize("index", sorted(set(range(17)) - WRITES))
def test_viewer_may_read(project, bob, victor, audio_file, api_as, index):
    stem = stem_in(project, bob, audio_file())
    method, path, body = every_project_call(project, stem, bob.pk)[index]
    response = call(api_as(victor), method, path, body, audio_file())
    assert response.status_code == 200
    response.close()


# --- The API's own documents ---------------------------------------------------------


def test_openapi_document_is_public_json_listing_the_paths():
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content)
    assert {
        "/api/projects",
        "/api/projects/{project_id}",
        "/api/projects/{project_id}/members",
        "/api/projects/{project_id}/members/{user_id}",
        "/api/projects/{project_id}/stems",
        "/api/projects/{project_id}/stems/order",
        "/api/projects/{project_id}/stems/{stem_id}",
        "/api/projects/{project_id}/stems/{stem_id}/download",
        "/api/projects/{project_id}/comments",
        "/api/projects/{project_id}/events",
    } <= set(document["paths"])


def test_openapi_document_declares_bearer_sign_in():
    document = Client().get("/api/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    assert document["paths"]["/api/projects"]["get"]["security"]


def test_openapi_stem_order_is_a_put():
    document = Client().get("/api/openapi.json").json()
    assert set(document["paths"]["/api/projects/{project_id}/stems/order"]) == {"put"}


def test_api_docs_render_without_anything_from_another_host():
    response = Client().get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    links = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', page)
    assert links, "the docs page loads no scripts or styles"
    assert all(link.startswith("/") and not link.startswith("//") for link in links), links
    assert not re.search(r"https?://|//cdn", page)
