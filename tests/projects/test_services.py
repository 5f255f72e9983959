"""The services: who may do what, what is checked, and what the event log records."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from projects import services
from projects.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from projects.models import Event, Membership, Project, Role, Stem
from tests.conftest import stored_files, upload_of

pytestmark = pytest.mark.django_db


def event_types(project: Project) -> list[str]:
    return list(
        Event.objects.filter(project=project).order_by("seq").values_list("type", flat=True)
    )


# --- Projects and members ------------------------------------------------------------


def test_creating_a_project_makes_the_creator_its_owner(alice):
    project = services.project_create(user=alice, name="  Night Drive ")
    assert project.name == "Night Drive"
    assert Membership.objects.get(project=project, user=alice).role == Role.OWNER
    assert event_types(project) == ["project.created"]


def test_events_are_numbered_one_by_one_per_project(project, alice):
    services.project_rename(user=alice, project_id=project.pk, name="Day Drive")
    seqs = list(Event.objects.filter(project=project).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    project.refresh_from_db()
    assert project.last_seq == seqs[-1]


def test_editor_can_rename_the_project(project, bob):
    services.project_rename(user=bob, project_id=project.pk, name="Bob's Cut")
    project.refresh_from_db()
    assert project.name == "Bob's Cut"


def test_commenter_cannot_rename_the_project(project, carol):
    with pytest.raises(Forbidden):
        services.project_rename(user=carol, project_id=project.pk, name="Mine")


def test_mallory_gets_not_found_for_a_project_that_exists(project, mallory):
    with pytest.raises(NotFound) as refused:
        services.project_rename(user=mallory, project_id=project.pk, name="Pwned")
    assert "Night Drive" not in refused.value.message


def test_only_the_owner_deletes_a_project(project, bob):
    with pytest.raises(Forbidden):
        services.project_delete(user=bob, project_id=project.pk)
    assert Project.objects.filter(pk=project.pk).exists()


def test_deleting_a_project_removes_its_stem_files(
    project, alice, audio_file, media_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.stem_upload(user=alice, project_id=project.pk, upload=upload_of(audio_file()))
    assert stored_files(media_dir)
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(user=alice, project_id=project.pk)
    assert not Project.objects.filter(pk=project.pk).exists()
    assert stored_files(media_dir) == []


@pytest.mark.parametrize("who", ["bob", "BOB@example.org"])
def test_owner_invites_by_username_or_email(alice, bob, who):
    project = services.project_create(user=alice, name="Song")
    member = services.member_invite(user=alice, project_id=project.pk, who=who, role="commenter")
    assert member.user == bob and member.role == Role.COMMENTER
    assert event_types(project)[-1] == "member.added"


def test_inviting_an_unknown_person_says_to_sign_up_first(alice):
    project = services.project_create(user=alice, name="Song")
    with pytest.raises(NotFound, match="sign up first"):
        services.member_invite(user=alice, project_id=project.pk, who="nobody", role="viewer")


def test_inviting_someone_twice_is_a_conflict(project, alice):
    with pytest.raises(Conflict):
        services.member_invite(user=alice, project_id=project.pk, who="bob", role="viewer")


def test_nobody_can_be_invited_as_owner(project, alice, mallory):
    with pytest.raises(Invalid):
        services.member_invite(user=alice, project_id=project.pk, who="mallory", role="owner")


def test_editor_cannot_invite(project, bob, mallory):
    with pytest.raises(Forbidden):
        services.member_invite(user=bob, project_id=project.pk, who="mallory", role="editor")


def test_owner_changes_a_role(project, alice, victor):
    services.member_change_role(
        user=alice, project_id=project.pk, member_user_id=victor.pk, role="editor"
    )
    assert Membership.objects.get(project=project, user=victor).role == Role.EDITOR
    assert event_types(project)[-1] == "member.role_changed"


def test_the_owner_cannot_be_removed(project, alice):
    with pytest.raises(Forbidden, match="owner cannot be removed"):
        services.member_remove(user=alice, project_id=project.pk, member_user_id=alice.pk)


def test_owner_removes_a_member(project, alice, bob):
    services.member_remove(user=alice, project_id=project.pk, member_user_id=bob.pk)
    assert not Membership.objects.filter(project=project, user=bob).exists()


def test_a_member_may_leave(project, carol):
    services.member_remove(user=carol, project_id=project.pk, member_user_id=carol.pk)
    assert not Membership.objects.filter(project=project, user=carol).exists()


def test_editor_cannot_remove_others(project, bob, carol):
    with pytest.raises(Forbidden):
        services.member_remove(user=bob, project_id=project.pk, member_user_id=carol.pk)


# --- Stems ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "format", "subtype"),
    [
        ("a.wav", "WAV", "PCM_16"),
        ("b.wav", "WAV", "PCM_24"),
        ("c.wav", "WAV", "PCM_32"),
        ("d.wav", "WAV", "FLOAT"),
        ("e.flac", "FLAC", "PCM_24"),
        ("f.aiff", "AIFF", "PCM_16"),
        ("g.ogg", "OGG", "VORBIS"),
        ("h.mp3", "MP3", "MPEG_LAYER_III"),
    ],
)
def test_stem_records_what_the_file_is(project, bob, audio_file, name, format, subtype):
    path = audio_file(name, format=format, subtype=subtype, sample_rate=48000, duration_s=1.0)
    stem = services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(path))
    assert (stem.format, stem.subtype) == (format, subtype)
    assert stem.sample_rate == 48000 and stem.channels == 2
    assert stem.duration_s == pytest.approx(1.0, abs=0.06)
    assert stem.size_bytes == path.stat().st_size
    assert stem.checksum == services.file_sha256(path)
    assert stem.uploaded_by == bob and stem.original_name == name
    assert default_storage.open(stem.file.name).read() == path.read_bytes()


def test_mono_stem_at_22050_hz_is_accepted(project, bob, audio_file):
    path = audio_file("mono.wav", channels=1, sample_rate=22050)
    stem = services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(path))
    assert (stem.channels, stem.sample_rate) == (1, 22050)


def test_stem_upload_records_the_stem_and_queues_its_analysis(project, bob, audio_file):
    before = project.last_seq
    stem = services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(audio_file()))
    rows = list(Event.objects.filter(project=project, seq__gt=before).order_by("seq"))
    assert [e.type for e in rows] == ["stem.created", "analysis.queued", "analysis.queued"]
    assert rows[0].payload["stem"]["id"] == stem.pk and rows[0].actor == bob
    assert {e.payload["analysis"]["target"] for e in rows[1:]} == {f"stem:{stem.pk}", "mix"}


def test_stems_are_placed_after_the_last(project, bob, audio_file):
    first = services.stem_upload(
        user=bob, project_id=project.pk, upload=upload_of(audio_file("a.wav", seed=1))
    )
    second = services.stem_upload(
        user=bob, project_id=project.pk, upload=upload_of(audio_file("b.wav", seed=2))
    )
    assert (first.position, second.position) == (0, 1)


def test_commenter_cannot_upload(project, carol, audio_file, media_dir):
    with pytest.raises(Forbidden):
        services.stem_upload(user=carol, project_id=project.pk, upload=upload_of(audio_file()))
    assert stored_files(media_dir) == []


def test_second_copy_of_a_stem_is_refused_and_nothing_stored(project, bob, audio_file, media_dir):
    path = audio_file()
    services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(path))
    with pytest.raises(Conflict, match="same file"):
        services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(path, "copy.wav"))
    assert Stem.objects.filter(project=project).count() == 1
    assert len(stored_files(media_dir)) == 1


def write_bytes(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("notes.wav", b"these are my lyrics, not audio\n" * 20, "unsupported"),
        ("empty.wav", b"", "empty"),
        ("noise.flac", bytes(range(256)) * 40, "unsupported"),
    ],
)
def test_bad_files_are_refused_and_nothing_stored(
    project, bob, tmp_path, media_dir, name, data, code
):
    with pytest.raises(Invalid) as refused:
        services.stem_upload(
            user=bob, project_id=project.pk, upload=upload_of(write_bytes(tmp_path, name, data))
        )
    assert refused.value.code == code
    assert name in refused.value.message
    assert stored_files(media_dir) == [] and not Stem.objects.exists()
    assert event_types(project)[-1] != "stem.created"


@pytest.mark.parametrize(("name", "format"), [("cut.wav", "WAV"), ("cut.flac", "FLAC")])
def test_truncated_file_is_refused(project, bob, audio_file, media_dir, name, format):
    path = audio_file(name, format=format, duration_s=2.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(Invalid) as refused:
        services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(path))
    assert refused.value.code == "truncated"
    assert stored_files(media_dir) == []


def test_surround_file_is_refused_with_advice(project, bob, audio_file, media_dir):
    path = audio_file("surround.wav", channels=6)
    with pytest.raises(Invalid) as refused:
        services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(path))
    assert "6 channels" in refused.value.message and "stereo" in refused.value.message
    assert stored_files(media_dir) == []


def test_file_over_the_size_limit_is_refused(project, bob, audio_file, settings, media_dir):
    settings.STUDIO_MAX_UPLOAD_MB = 1
    path = audio_file("long.wav", duration_s=7.0)  # about 1.2 MB at 16-bit stereo
    with pytest.raises(TooLarge, match="limit is 1 MB"):
        services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(path))
    assert stored_files(media_dir) == []


def test_file_over_the_duration_limit_is_refused(project, bob, audio_file, settings, media_dir):
    settings.STUDIO_MAX_DURATION_S = 1
    path = audio_file("long.wav", duration_s=2.0)
    with pytest.raises(Invalid) as refused:
        services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(path))
    assert refused.value.code == "too_long"
    assert stored_files(media_dir) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../etc/passwd.wav", "path separator"),
        ("sub\\dir.wav", "path separator"),
        ("bad\x07name.wav", "control characters"),
        ("bad\u202ename.wav", "control characters"),
        ("x" * 296 + ".wav", "characters long"),
    ],
)
def test_bad_file_names_are_refused(project, bob, audio_file, media_dir, name, why):
    with pytest.raises(Invalid, match=why):
        services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(audio_file(), name))
    assert stored_files(media_dir) == []


def test_rename_checks_the_name(project, bob, audio_file):
    stem = services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(audio_file()))
    with pytest.raises(Invalid):
        services.stem_rename(user=bob, project_id=project.pk, stem_id=stem.pk, name="a/b")
    renamed = services.stem_rename(user=bob, project_id=project.pk, stem_id=stem.pk, name="Kick")
    assert renamed.name == "Kick" and renamed.original_name == "tone.wav"


def test_viewer_cannot_delete_a_stem(project, bob, victor, audio_file):
    stem = services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(audio_file()))
    with pytest.raises(Forbidden):
        services.stem_delete(user=victor, project_id=project.pk, stem_id=stem.pk)
    assert Stem.objects.filter(pk=stem.pk).exists()


def test_deleted_stem_file_leaves_storage(
    project, bob, audio_file, media_dir, django_capture_on_commit_callbacks
):
    stem = services.stem_upload(user=bob, project_id=project.pk, upload=upload_of(audio_file()))
    with django_capture_on_commit_callbacks(execute=True):
        services.stem_delete(user=bob, project_id=project.pk, stem_id=stem.pk)
    assert stored_files(media_dir) == []
    assert event_types(project)[-2:] == ["stem.deleted", "analysis.removed"]


def test_a_stem_of_another_project_is_not_found(project, alice, bob, audio_file):
    other = services.project_create(user=alice, name="Other")
    stem = services.stem_upload(user=alice, project_id=other.pk, upload=upload_of(audio_file()))
    with pytest.raises(NotFound):
        services.stem_delete(user=bob, project_id=project.pk, stem_id=stem.pk)


def test_reorder_needs_every_stem_once(project, bob, audio_file):
    a = services.stem_upload(
        user=bob, project_id=project.pk, upload=upload_of(audio_file("a.wav", seed=1))
    )
    b = services.stem_upload(
        user=bob, project_id=project.pk, upload=upload_of(audio_file("b.wav", seed=2))
    )
    with pytest.raises(Invalid):
        services.stem_reorder(user=bob, project_id=project.pk, order=[a.pk])
    services.stem_reorder(user=bob, project_id=project.pk, order=[b.pk, a.pk])
    assert list(Stem.objects.filter(project=project).values_list("pk", flat=True)) == [b.pk, a.pk]


def test_move_up_swaps_with_the_stem_above(project, bob, audio_file):
    a = services.stem_upload(
        user=bob, project_id=project.pk, upload=upload_of(audio_file("a.wav", seed=1))
    )
    b = services.stem_upload(
        user=bob, project_id=project.pk, upload=upload_of(audio_file("b.wav", seed=2))
    )
    services.stem_move(user=bob, project_id=project.pk, stem_id=b.pk, offset=-1)
    assert list(Stem.objects.filter(project=project).values_list("pk", flat=True)) == [b.pk, a.pk]


# --- Comments ------------------------------------------------------------------------


def test_commenter_can_comment(project, carol):
    comment = services.comment_post(user=carol, project_id=project.pk, body="Love the bass")
    assert comment.author == carol
    assert event_types(project)[-1] == "comment.created"


def test_viewer_cannot_comment(project, victor):
    with pytest.raises(Forbidden):
        services.comment_post(user=victor, project_id=project.pk, body="hi")


@pytest.mark.parametrize("body", ["", "   ", None, 42, "x" * 4001])
def test_bad_comment_bodies_are_refused(project, carol, body):
    with pytest.raises(Invalid):
        services.comment_post(user=carol, project_id=project.pk, body=body)


def test_comment_on_a_stem_of_another_project_is_refused(project, alice, carol, audio_file):
    other = services.project_create(user=alice, name="Other")
    stem = services.stem_upload(user=alice, project_id=other.pk, upload=upload_of(audio_file()))
    with pytest.raises(NotFound):
        services.comment_post(user=carol, project_id=project.pk, body="hm", stem_id=stem.pk)
