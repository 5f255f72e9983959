"""The pages and form posts: who gets in, what each door answers, and what it leaves behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from projects import services
from projects.models import ApiToken, Comment, Membership, Project, Role, Stem
from tests.conftest import PASSWORD, stored_files, upload_of

pytestmark = pytest.mark.django_db

User = get_user_model()
JSON = {"Accept": "application/json"}


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def room_url(project: Project) -> str:
    return f"/projects/{project.pk}/"


def room_state(response) -> dict:
    found = re.search(
        r'<script id="room-state" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found, "the room page embeds no room-state script"
    return json.loads(found.group(1))


def upload(client: Client, project: Project, path: Path):
    with open(path, "rb") as handle:
        return client.post(f"/projects/{project.pk}/stems/", {"file": handle}, headers=JSON)


def stem_in(project: Project, user, path: Path) -> Stem:
    return services.stem_upload(user=user, project_id=project.pk, upload=upload_of(path))


def text_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def leftover_uploads(tmp_path: Path) -> list[Path]:
    """What is in FILE_UPLOAD_TEMP_DIR besides the fixtures' own folders."""
    return sorted(p for p in tmp_path.iterdir() if p.name not in {"media", "in"})


def flashes(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- Accounts ------------------------------------------------------------------------


def signup_form(**changes: str) -> dict[str, str]:
    return {
        "username": "dana",
        "email": "dana@example.org",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **changes,
    }


def test_signup_creates_the_account_and_logs_in(client):
    response = client.post("/signup/", signup_form())
    assert response.status_code == 302 and response.url == "/projects/"
    dana = User.objects.get(username="dana")
    assert dana.email == "dana@example.org" and dana.check_password(PASSWORD)
    assert client.get("/projects/").context["user"] == dana


def test_signup_welcomes_the_new_person_on_the_project_list(client):
    response = client.post("/signup/", signup_form(), follow=True)
    assert any("Welcome, dana" in message for message in flashes(response))


def test_signup_with_a_used_email_is_refused_with_a_clear_message(client, alice):
    response = client.post("/signup/", signup_form(email="ALICE@example.org"))
    assert response.status_code == 200
    assert "An account already uses this e-mail; log in instead." in response.content.decode()
    assert not User.objects.filter(username="dana").exists()
    assert "_auth_user_id" not in client.session


def test_signup_page_sends_a_logged_in_person_to_their_projects(alice):
    response = client_of(alice).get("/signup/")
    assert response.status_code == 302 and response.url == "/projects/"


def test_login_with_the_right_password_opens_the_project_list(client, alice):
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/projects/"
    assert client.get("/projects/").status_code == 200


def test_login_with_a_wrong_password_says_so_and_stays_out(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_by_post_ends_the_session(alice):
    client = client_of(alice)
    response = client.post("/logout/")
    assert response.status_code == 302 and response.url == "/login/"
    assert client.get("/projects/").status_code == 302


def test_logout_by_get_is_refused(alice):
    client = client_of(alice)
    assert client.get("/logout/").status_code == 405
    assert client.get("/projects/").status_code == 200


def test_home_sends_anonymous_to_login_and_members_to_projects(client, alice):
    assert client.get("/").url == "/login/"
    assert client_of(alice).get("/").url == "/projects/"


def test_login_never_redirects_to_another_site(client, alice):
    response = client.post(
        "/login/",
        {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and response.url == "/projects/"


def test_form_posts_return_to_the_page_they_came_from(project, bob):
    response = client_of(bob).post(
        f"/projects/{project.pk}/rename/",
        {"name": "Day Drive"},
        headers={"Referer": f"http://testserver/projects/{project.pk}/?from=settings"},
    )
    assert response.url == f"http://testserver/projects/{project.pk}/?from=settings"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"]
)
def test_form_posts_never_redirect_to_another_site(project, bob, target):
    response = client_of(bob).post(
        f"/projects/{project.pk}/rename/",
        {"name": "Day Drive", "next": target},
        headers={"Referer": target},
    )
    assert response.status_code == 302 and response.url == room_url(project)


# --- Project list --------------------------------------------------------------------


def test_project_list_shows_the_projects_i_am_in(project, bob):
    response = client_of(bob).get("/projects/")
    assert [p.pk for p in response.context["projects"]] == [project.pk]
    assert "Night Drive" in response.content.decode()


def test_project_list_hides_projects_i_am_not_in(project, alice, mallory):
    services.project_create(user=mallory, name="Mallory's Demo")
    page = client_of(alice).get("/projects/").content.decode()
    assert "Night Drive" in page and "Mallory&#x27;s Demo" not in page


def test_project_list_without_projects_shows_the_empty_state(mallory):
    page = client_of(mallory).get("/projects/").content.decode()
    assert "No projects yet" in page and "Create a project" in page


def test_creating_a_project_from_the_list_opens_its_room(alice):
    response = client_of(alice).post("/projects/", {"name": "  Morning Run "})
    made = Project.objects.get(name="Morning Run")
    assert response.status_code == 302 and response.url == room_url(made)
    assert Membership.objects.get(project=made, user=alice).role == Role.OWNER


def test_creating_a_project_without_a_name_is_refused_with_a_message(alice):
    response = client_of(alice).post("/projects/", {"name": "   "}, follow=True)
    assert "The project name cannot be empty." in flashes(response)
    assert not Project.objects.exists()


# --- Project room --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "role"),
    [("alice", "owner"), ("bob", "editor"), ("carol", "commenter"), ("victor", "viewer")],
)
def test_room_renders_for_every_member_role(project, request, who, role):
    response = client_of(request.getfixturevalue(who)).get(room_url(project))
    assert response.status_code == 200
    state = room_state(response)
    assert state["role"] == role and state["me"]["username"] == who
    assert state["project"] == {
        "id": project.pk,
        "name": "Night Drive",
        "last_seq": project.last_seq,
    }


def test_room_state_lists_stems_members_comments_and_activity(project, bob, carol, audio_file):
    stem = stem_in(project, bob, audio_file())
    services.comment_post(user=carol, project_id=project.pk, body="Louder kick")
    state = room_state(client_of(bob).get(room_url(project)))
    assert [s["id"] for s in state["stems"]] == [stem.pk]
    assert [m["username"] for m in state["members"]] == ["alice", "bob", "carol", "victor"]
    assert [c["body"] for c in state["comments"]] == ["Louder kick"]
    assert state["activity"][0]["type"] == "comment.created"


def test_room_state_survives_a_hostile_project_name(alice):
    name = 'Night <script>alert("x")'
    made = services.project_create(user=alice, name=name)
    response = client_of(alice).get(room_url(made))
    assert "<script>alert" not in response.content.decode()
    assert room_state(response)["project"]["name"] == name


def test_only_the_owner_sees_the_delete_form(project, alice, bob):
    assert 'name="confirm_name"' in client_of(alice).get(room_url(project)).content.decode()
    assert 'name="confirm_name"' not in client_of(bob).get(room_url(project)).content.decode()


def test_mallory_gets_404_for_the_project_page(project, mallory):
    response = client_of(mallory).get(room_url(project))
    assert response.status_code == 404
    assert "Night Drive" not in response.content.decode()


def without_csrf_tokens(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def test_a_missing_project_looks_the_same_as_one_mallory_is_not_in(project, mallory):
    client = client_of(mallory)
    refused = client.get(room_url(project))
    missing = client.get(f"/projects/{project.pk + 1000}/")
    assert refused.status_code == missing.status_code == 404
    assert without_csrf_tokens(refused) == without_csrf_tokens(missing)


def test_mallory_gets_404_for_a_stem_download(project, bob, mallory, audio_file):
    stem = stem_in(project, bob, audio_file())
    response = client_of(mallory).get(f"/projects/{project.pk}/stems/{stem.pk}/download/")
    assert response.status_code == 404
    assert "Night Drive" not in response.content.decode()


def post_endpoints(project: Project, stem_id: int, user_id: int) -> list[tuple[str, dict]]:
    base = f"/projects/{project.pk}"
    return [
        (f"{base}/rename/", {"name": "Pwned"}),
        (f"{base}/delete/", {"confirm_name": "Night Drive"}),
        (f"{base}/members/", {"who": "mallory", "role": "editor"}),
        (f"{base}/members/{user_id}/role/", {"role": "viewer"}),
        (f"{base}/members/{user_id}/remove/", {}),
        (f"{base}/stems/", {}),
        (f"{base}/stems/order/", {}),
        (f"{base}/stems/{stem_id}/rename/", {"name": "Pwned"}),
        (f"{base}/stems/{stem_id}/move/", {"direction": "up"}),
        (f"{base}/stems/{stem_id}/delete/", {}),
        (f"{base}/comments/", {"body": "hello"}),
    ]


@pytest.mark.parametrize("index", range(11))
@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_mallory_gets_404_on_every_post_endpoint(
    project, bob, mallory, audio_file, media_dir, index, accept
):
    stem = stem_in(project, bob, audio_file())
    project.refresh_from_db()
    before = (project.last_seq, sorted(stored_files(media_dir)))
    url, data = post_endpoints(project, stem.pk, bob.pk)[index]
    response = client_of(mallory).post(url, data, headers={"Accept": accept})
    assert response.status_code == 404
    assert "Night Drive" not in response.content.decode()
    project.refresh_from_db()
    assert (project.last_seq, sorted(stored_files(media_dir))) == before
    assert project.name == "Night Drive" and not Membership.objects.filter(user=mallory).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/projects/",
        "/projects/{id}/",
        "/projects/{id}/stems/1/download/",
        "/account/tokens/",
    ],
)
def test_anonymous_is_sent_to_login_from_pages(client, project, path):
    url = path.format(id=project.pk)
    response = client.get(url)
    assert response.status_code == 302 and response.url == f"/login/?next={url}"


@pytest.mark.parametrize("index", range(11))
def test_anonymous_is_sent_to_login_from_every_post_endpoint(client, project, bob, index):
    url, data = post_endpoints(project, 1, bob.pk)[index]
    response = client.post(url, data)
    assert response.status_code == 302 and response.url.startswith("/login/?next=")
    project.refresh_from_db()
    assert project.name == "Night Drive"


# --- CSRF ----------------------------------------------------------------------------


def csrf_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/projects/")
    return client, client.cookies["csrftoken"].value


def test_post_without_csrf_token_is_refused_and_changes_nothing(alice):
    client, _ = csrf_client(alice)
    response = client.post("/projects/", {"name": "Forged"})
    assert response.status_code == 403
    assert not Project.objects.exists()


def test_post_with_csrf_token_is_accepted(alice):
    client, token = csrf_client(alice)
    response = client.post("/projects/", {"name": "Real", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Project.objects.filter(name="Real").exists()


def test_upload_without_csrf_token_is_refused_and_stores_nothing(
    project, bob, audio_file, media_dir
):
    client, _ = csrf_client(bob)
    assert upload(client, project, audio_file()).status_code == 403
    assert stored_files(media_dir) == [] and not Stem.objects.exists()


def test_upload_with_csrf_header_is_accepted(project, bob, audio_file):
    client, token = csrf_client(bob)
    with open(audio_file(), "rb") as handle:
        response = client.post(
            f"/projects/{project.pk}/stems/",
            {"file": handle},
            headers={**JSON, "X-CSRFToken": token},
        )
    assert response.status_code == 201


def test_oversized_upload_with_csrf_header_gets_413(project, bob, audio_file, settings, media_dir):
    settings.STUDIO_MAX_UPLOAD_MB = 1
    client, token = csrf_client(bob)
    with open(audio_file("long.wav", duration_s=9.0), "rb") as handle:
        response = client.post(
            f"/projects/{project.pk}/stems/",
            {"file": handle},
            headers={**JSON, "X-CSRFToken": token},
        )
    assert response.status_code == 413
    assert stored_files(media_dir) == []


def test_json_post_without_csrf_token_is_refused(project, bob, audio_file):
    stem = stem_in(project, bob, audio_file())
    client, _ = csrf_client(bob)
    response = client.post(f"/projects/{project.pk}/stems/{stem.pk}/delete/", headers=JSON)
    assert response.status_code == 403
    assert Stem.objects.filter(pk=stem.pk).exists()


# --- Uploads -------------------------------------------------------------------------


def test_upload_answers_201_with_the_stem(project, bob, audio_file):
    response = upload(client_of(bob), project, audio_file("kick.wav"))
    assert response.status_code == 201
    (stem,) = response.json()["stems"]
    assert stem["name"] == "kick" and stem["original_name"] == "kick.wav"
    assert stem["uploaded_by"] == "bob" and stem["position"] == 0
    assert Stem.objects.get(pk=stem["id"]).project == project


@pytest.mark.parametrize(
    ("name", "format", "subtype"),
    [
        ("vox.wav", "WAV", "PCM_24"),
        ("bass.flac", "FLAC", "PCM_16"),
        ("keys.mp3", "MP3", "MPEG_LAYER_III"),
    ],
)
def test_upload_stores_the_exact_bytes_of_each_format(
    project, bob, audio_file, media_dir, name, format, subtype
):
    path = audio_file(name, format=format, subtype=subtype, sample_rate=48000)
    response = upload(client_of(bob), project, path)
    assert response.status_code == 201
    (stem,) = response.json()["stems"]
    assert (stem["format"], stem["subtype"], stem["sample_rate"]) == (format, subtype, 48000)
    assert stem["size_bytes"] == path.stat().st_size
    (stored,) = stored_files(media_dir)
    assert stored.name == name and stored.read_bytes() == path.read_bytes()


def test_upload_of_several_files_adds_each_in_order(project, bob, audio_file):
    paths = [audio_file("a.wav", seed=1), audio_file("b.wav", seed=2)]
    with open(paths[0], "rb") as first, open(paths[1], "rb") as second:
        response = client_of(bob).post(
            f"/projects/{project.pk}/stems/", {"file": [first, second]}, headers=JSON
        )
    assert response.status_code == 201
    assert [(s["name"], s["position"]) for s in response.json()["stems"]] == [("a", 0), ("b", 1)]


def test_upload_of_a_text_file_is_refused_by_name_and_stores_nothing(
    project, bob, tmp_path, media_dir
):
    path = text_file(tmp_path, "lyrics.wav", b"these are my lyrics, not audio\n" * 20)
    response = upload(client_of(bob), project, path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported" and "lyrics.wav" in error["message"]
    assert stored_files(media_dir) == [] and not Stem.objects.exists()


def test_upload_without_a_file_asks_for_one(project, bob):
    response = client_of(bob).post(f"/projects/{project.pk}/stems/", {}, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "no_file",
        "message": "Choose an audio file to upload.",
    }


def test_upload_over_the_size_limit_gets_413_and_stores_nothing(
    project, bob, audio_file, settings, media_dir, tmp_path
):
    settings.STUDIO_MAX_UPLOAD_MB = 1
    path = audio_file("long.wav", duration_s=9.0)  # about 1.5 MB at 16-bit stereo
    response = upload(client_of(bob), project, path)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and "long.wav" in error["message"]
    assert "1 MB" in error["message"]
    assert stored_files(media_dir) == [] and not Stem.objects.exists()
    assert leftover_uploads(tmp_path) == []


def test_upload_leaves_no_temporary_files(project, bob, audio_file, tmp_path):
    assert upload(client_of(bob), project, audio_file()).status_code == 201
    assert leftover_uploads(tmp_path) == []


def test_refused_upload_leaves_no_temporary_files(project, bob, tmp_path):
    path = text_file(tmp_path, "notes.flac", bytes(range(256)) * 40)
    assert upload(client_of(bob), project, path).status_code == 400
    assert leftover_uploads(tmp_path) == []


@pytest.mark.parametrize("who", ["carol", "victor"])
def test_commenter_and_viewer_cannot_upload(project, request, audio_file, media_dir, tmp_path, who):
    response = upload(client_of(request.getfixturevalue(who)), project, audio_file())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert stored_files(media_dir) == [] and not Stem.objects.exists()
    assert leftover_uploads(tmp_path) == []


def test_uploading_the_same_file_twice_is_a_conflict(project, bob, audio_file, media_dir):
    client = client_of(bob)
    path = audio_file()
    assert upload(client, project, path).status_code == 201
    response = upload(client, project, path)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate"
    assert len(stored_files(media_dir)) == 1 and Stem.objects.count() == 1


def test_upload_without_json_accept_redirects_with_the_error_shown(project, bob, tmp_path):
    path = text_file(tmp_path, "lyrics.wav", b"not audio at all\n" * 40)
    with open(path, "rb") as handle:
        response = client_of(bob).post(
            f"/projects/{project.pk}/stems/",
            {"file": handle, "next": room_url(project)},
            follow=True,
        )
    assert response.redirect_chain[-1][0] == room_url(project)
    assert any("lyrics.wav" in message for message in flashes(response))


# --- Stems ---------------------------------------------------------------------------


@pytest.fixture
def two_stems(project, bob, audio_file) -> tuple[Stem, Stem]:
    return (
        stem_in(project, bob, audio_file("a.wav", seed=1)),
        stem_in(project, bob, audio_file("b.wav", seed=2)),
    )


def stem_order(project: Project) -> list[int]:
    return list(Stem.objects.filter(project=project).values_list("pk", flat=True))


def test_editor_renames_a_stem(project, bob, two_stems):
    a, _ = two_stems
    url = f"/projects/{project.pk}/stems/{a.pk}/rename/"
    response = client_of(bob).post(url, {"name": "Kick"}, headers=JSON)
    assert response.status_code == 200 and response.json() == {"ok": True}
    a.refresh_from_db()
    assert a.name == "Kick" and a.original_name == "a.wav"


def test_renaming_a_stem_from_the_page_returns_to_the_room(project, bob, two_stems):
    a, _ = two_stems
    url = f"/projects/{project.pk}/stems/{a.pk}/rename/"
    response = client_of(bob).post(url, {"name": "Kick"})
    assert response.status_code == 302 and response.url == room_url(project)


def test_renaming_a_stem_to_a_path_is_refused_with_the_reason(project, bob, two_stems):
    a, _ = two_stems
    url = f"/projects/{project.pk}/stems/{a.pk}/rename/"
    response = client_of(bob).post(url, {"name": "../a"}, headers=JSON)
    assert response.status_code == 400
    assert "path separator" in response.json()["error"]["message"]
    a.refresh_from_db()
    assert a.name == "a"


def test_moving_a_stem_up_puts_it_first(project, bob, two_stems):
    a, b = two_stems
    url = f"/projects/{project.pk}/stems/{b.pk}/move/"
    response = client_of(bob).post(url, {"direction": "up"}, headers=JSON)
    assert response.status_code == 200
    assert stem_order(project) == [b.pk, a.pk]


def test_moving_a_stem_down_puts_it_after_the_next(project, bob, two_stems):
    a, b = two_stems
    url = f"/projects/{project.pk}/stems/{a.pk}/move/"
    client_of(bob).post(url, {"direction": "down"}, headers=JSON)
    assert stem_order(project) == [b.pk, a.pk]


def test_ordering_stems_with_a_json_body(project, bob, two_stems):
    a, b = two_stems
    response = client_of(bob).post(
        f"/projects/{project.pk}/stems/order/",
        {"order": [b.pk, a.pk]},
        content_type="application/json",
        headers=JSON,
    )
    assert response.status_code == 200 and response.json() == {"order": [b.pk, a.pk]}
    assert stem_order(project) == [b.pk, a.pk]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "null", '{"order": "b,a"}'])
def test_ordering_stems_with_a_bad_body_is_refused(project, bob, two_stems, body):
    a, b = two_stems
    response = client_of(bob).post(
        f"/projects/{project.pk}/stems/order/",
        body,
        content_type="application/json",
        headers=JSON,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_order"
    assert stem_order(project) == [a.pk, b.pk]


def test_ordering_stems_must_name_every_stem(project, bob, two_stems):
    a, b = two_stems
    response = client_of(bob).post(
        f"/projects/{project.pk}/stems/order/",
        {"order": [b.pk]},
        content_type="application/json",
        headers=JSON,
    )
    assert response.status_code == 400
    assert "every stem" in response.json()["error"]["message"]
    assert stem_order(project) == [a.pk, b.pk]


def test_deleting_a_stem_removes_its_row_and_file(
    project, bob, two_stems, media_dir, django_capture_on_commit_callbacks
):
    a, b = two_stems
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(bob).post(f"/projects/{project.pk}/stems/{a.pk}/delete/", headers=JSON)
    assert response.status_code == 200
    assert stem_order(project) == [b.pk]
    assert [p.name for p in stored_files(media_dir)] == ["b.wav"]


def test_deleting_a_missing_stem_is_404(project, bob):
    response = client_of(bob).post(f"/projects/{project.pk}/stems/999/delete/", headers=JSON)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_such_stem"


def stem_writes(project: Project, a: Stem, b: Stem) -> list[tuple[str, object, str | None]]:
    base = f"/projects/{project.pk}/stems"
    return [
        (f"{base}/{a.pk}/rename/", {"name": "Mine"}, None),
        (f"{base}/{b.pk}/move/", {"direction": "up"}, None),
        (f"{base}/{a.pk}/delete/", {}, None),
        (f"{base}/order/", {"order": [b.pk, a.pk]}, "application/json"),
    ]


@pytest.mark.parametrize("index", range(4))
def test_viewer_gets_403_on_each_stem_write(project, victor, two_stems, media_dir, index):
    a, b = two_stems
    url, data, content_type = stem_writes(project, a, b)[index]
    extra = {"content_type": content_type} if content_type else {}
    response = client_of(victor).post(url, data, headers=JSON, **extra)
    assert response.status_code == 403
    assert stem_order(project) == [a.pk, b.pk]
    assert Stem.objects.get(pk=a.pk).name == "a"
    assert len(stored_files(media_dir)) == 2


def test_viewer_gets_403_page_on_a_stem_write_from_a_form(project, victor, two_stems):
    a, _ = two_stems
    response = client_of(victor).post(f"/projects/{project.pk}/stems/{a.pk}/delete/")
    assert response.status_code == 403
    assert "this needs editor or above" in response.content.decode()
    assert Stem.objects.filter(pk=a.pk).exists()


def download(client: Client, project: Project, stem: Stem):
    response = client.get(f"/projects/{project.pk}/stems/{stem.pk}/download/")
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    response.close()
    return response, body


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "victor"])
def test_every_member_downloads_the_original_bytes(project, bob, audio_file, request, who):
    path = audio_file("vox.wav", subtype="PCM_24")
    stem = stem_in(project, bob, path)
    response, body = download(client_of(request.getfixturevalue(who)), project, stem)
    assert response.status_code == 200
    assert body == path.read_bytes()


def test_download_is_named_after_the_original_file(project, bob, audio_file):
    stem = stem_in(project, bob, audio_file("vox.wav"))
    services.stem_rename(user=bob, project_id=project.pk, stem_id=stem.pk, name="Lead vocal")
    response, _ = download(client_of(bob), project, stem)
    assert response["Content-Disposition"] == 'attachment; filename="vox.wav"'


def test_download_keeps_a_non_ascii_original_name(project, bob, audio_file):
    stem = stem_in(project, bob, audio_file("Bässe.wav"))
    response, _ = download(client_of(bob), project, stem)
    assert "filename*=utf-8''B%C3%A4sse.wav" in response["Content-Disposition"]


def test_download_of_a_stem_from_another_project_is_404(project, alice, bob, audio_file):
    other = services.project_create(user=alice, name="Other")
    stem = stem_in(other, alice, audio_file())
    response, _ = download(client_of(bob), project, stem)
    assert response.status_code == 404


# --- Comments ------------------------------------------------------------------------


def test_commenter_posts_a_comment_on_a_stem(project, bob, carol, two_stems):
    a, _ = two_stems
    response = client_of(carol).post(
        f"/projects/{project.pk}/comments/", {"body": "Nice", "stem_id": a.pk}, headers=JSON
    )
    assert response.status_code == 201
    comment = response.json()["comment"]
    assert (comment["author"], comment["stem_id"], comment["body"]) == ("carol", a.pk, "Nice")


def test_viewer_cannot_comment(project, victor):
    response = client_of(victor).post(
        f"/projects/{project.pk}/comments/", {"body": "hi"}, headers=JSON
    )
    assert response.status_code == 403
    assert not Comment.objects.exists()


# --- Members -------------------------------------------------------------------------


def members(project: Project) -> dict[str, str]:
    rows = Membership.objects.filter(project=project).select_related("user")
    return {m.user.username: m.role for m in rows}


@pytest.mark.parametrize("who", ["mallory", "MALLORY@example.org"])
def test_owner_invites_by_username_or_email(project, alice, mallory, who):
    response = client_of(alice).post(
        f"/projects/{project.pk}/members/", {"who": who, "role": "editor"}, follow=True
    )
    assert members(project)["mallory"] == Role.EDITOR
    assert "Added mallory as editor." in flashes(response)


def test_inviting_an_unknown_person_says_to_sign_up_first(project, alice):
    response = client_of(alice).post(
        f"/projects/{project.pk}/members/",
        {"who": "nobody", "role": "viewer", "next": room_url(project)},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == room_url(project)
    assert any("Ask them to sign up first" in message for message in flashes(response))
    assert "nobody" not in members(project)


def test_inviting_with_an_unknown_role_is_refused(project, alice, mallory):
    response = client_of(alice).post(
        f"/projects/{project.pk}/members/", {"who": "mallory", "role": "owner"}, headers=JSON
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_role"
    assert "mallory" not in members(project)


def test_editor_cannot_invite(project, bob, mallory):
    response = client_of(bob).post(
        f"/projects/{project.pk}/members/", {"who": "mallory", "role": "editor"}
    )
    assert response.status_code == 403
    assert "mallory" not in members(project)


def test_owner_changes_a_role(project, alice, victor):
    response = client_of(alice).post(
        f"/projects/{project.pk}/members/{victor.pk}/role/", {"role": "commenter"}
    )
    assert response.status_code == 302
    assert members(project)["victor"] == Role.COMMENTER


def test_owner_removes_a_member(project, alice, bob):
    response = client_of(alice).post(f"/projects/{project.pk}/members/{bob.pk}/remove/")
    assert response.status_code == 302 and response.url == room_url(project)
    assert "bob" not in members(project)


def test_the_owner_cannot_be_removed_and_is_told_so(project, alice):
    response = client_of(alice).post(f"/projects/{project.pk}/members/{alice.pk}/remove/")
    assert response.status_code == 403
    assert "The owner cannot be removed from the project." in response.content.decode()
    assert members(project)["alice"] == Role.OWNER


def test_a_member_may_leave_and_lands_on_the_project_list(project, carol):
    response = client_of(carol).post(f"/projects/{project.pk}/members/{carol.pk}/remove/")
    assert response.status_code == 302 and response.url == "/projects/"
    assert "carol" not in members(project)


def test_editor_cannot_remove_others(project, bob, carol):
    response = client_of(bob).post(
        f"/projects/{project.pk}/members/{carol.pk}/remove/", headers=JSON
    )
    assert response.status_code == 403
    assert "carol" in members(project)


# --- Project settings ----------------------------------------------------------------


def test_editor_renames_the_project(project, bob):
    response = client_of(bob).post(f"/projects/{project.pk}/rename/", {"name": "Day Drive"})
    assert response.status_code == 302 and response.url == room_url(project)
    project.refresh_from_db()
    assert project.name == "Day Drive"


def test_commenter_cannot_rename_the_project(project, carol):
    response = client_of(carol).post(f"/projects/{project.pk}/rename/", {"name": "Mine"})
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.name == "Night Drive"


def test_owner_deletes_the_project_by_typing_its_name(
    project, alice, audio_file, media_dir, django_capture_on_commit_callbacks
):
    stem_in(project, alice, audio_file())
    with django_capture_on_commit_callbacks(execute=True):
        response = client_of(alice).post(
            f"/projects/{project.pk}/delete/", {"confirm_name": " Night Drive "}, follow=True
        )
    assert response.redirect_chain[-1][0] == "/projects/"
    assert "Deleted the project “Night Drive”." in flashes(response)
    assert not Project.objects.filter(pk=project.pk).exists()
    assert stored_files(media_dir) == []


@pytest.mark.parametrize("typed", ["", "night drive", "Night"])
def test_deleting_with_the_wrong_name_deletes_nothing(project, alice, audio_file, media_dir, typed):
    stem_in(project, alice, audio_file())
    response = client_of(alice).post(
        f"/projects/{project.pk}/delete/",
        {"confirm_name": typed, "next": room_url(project)},
        follow=True,
    )
    assert "Type the project's name exactly to confirm deleting it." in flashes(response)
    assert Project.objects.filter(pk=project.pk).exists()
    assert Stem.objects.count() == 1 and len(stored_files(media_dir)) == 1


def test_editor_cannot_delete_the_project(project, bob):
    response = client_of(bob).post(
        f"/projects/{project.pk}/delete/", {"confirm_name": "Night Drive"}
    )
    assert response.status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()


# --- API tokens ----------------------------------------------------------------------


def created_key(response) -> str:
    found = re.search(
        r'<code class="token" id="new-token">([^<]+)</code>', response.content.decode()
    )
    assert found, "the page shows no new token"
    return found.group(1)


def test_tokens_page_without_tokens_says_so(alice):
    response = client_of(alice).get("/account/tokens/")
    assert response.status_code == 200 and "No tokens yet." in response.content.decode()


def test_creating_a_token_shows_the_key_and_stores_only_its_hash(alice):
    response = client_of(alice).post("/account/tokens/", {"name": "batch upload"})
    key = created_key(response)
    token = ApiToken.objects.get(user=alice)
    assert token.name == "batch upload" and key.startswith(token.prefix)
    assert token.key_hash == ApiToken.hash_key(key) != key
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in {str(value) for value in stored.values()}


def test_a_new_token_key_is_shown_only_once(alice):
    client = client_of(alice)
    key = created_key(client.post("/account/tokens/", {"name": "ci"}))
    page = client.get("/account/tokens/").content.decode()
    assert "ci" in page and key not in page


def test_creating_a_token_without_a_name_is_refused(alice):
    response = client_of(alice).post("/account/tokens/", {"name": " "}, follow=True)
    assert "The token name cannot be empty." in flashes(response)
    assert not ApiToken.objects.exists()


def test_revoking_a_token_deletes_it(alice):
    token, _ = services.token_create(user=alice, name="old")
    response = client_of(alice).post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert response.redirect_chain[-1][0] == "/account/tokens/"
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_mallory_cannot_revoke_alices_token(alice, mallory):
    token, _ = services.token_create(user=alice, name="mine")
    response = client_of(mallory).post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_revoking_by_get_is_refused(alice):
    token, _ = services.token_create(user=alice, name="mine")
    assert client_of(alice).get(f"/account/tokens/{token.pk}/revoke/").status_code == 405
    assert ApiToken.objects.filter(pk=token.pk).exists()
