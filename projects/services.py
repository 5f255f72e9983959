"""Every state change of the studio: check, change, notify.

Pages, the JSON API and the websocket all call these functions, so a rule holds
whichever door a request came in by. Each function is keyword-only, checks who is
asking, writes its rows and its event in one transaction, and leaves the broadcast
to ``events.record`` (sent after commit).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from studio.processing import decode
from studio.processing.errors import AudioError

from . import events
from .errors import Conflict, Forbidden, Invalid, NotFound, TooLarge, Unavailable
from .models import (
    MIX_TARGET,
    Analysis,
    ApiToken,
    Comment,
    Idea,
    JobStatus,
    Membership,
    MixVersion,
    Project,
    Role,
    Stem,
    Suggestion,
)

log = logging.getLogger(__name__)
User = get_user_model()

NAME_MAX = 200
COMMENT_MAX = 4000
# Ids are 64-bit integers in the database; SQLite and PostgreSQL raise (a server error)
# on a query with a larger number, so such a number is refused before it reaches one.
MAX_ROW_ID = 2**63 - 1


def fits_id(value: Any) -> bool:
    """Whether ``value`` is an int (not a bool) that a query on an id column can take."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ROW_ID


# --- Who is asking -------------------------------------------------------------------


def membership_require(*, user: AbstractBaseUser, project_id: int, role: str) -> Membership:
    """The asker's membership of a project, if their role includes ``role``.

    An outsider gets NotFound, the same answer as for a project that does not exist,
    so they learn nothing; a member whose role falls short gets Forbidden.
    """
    if not user or not user.is_authenticated or not fits_id(project_id):
        raise NotFound("No such project.")
    membership = (
        Membership.objects.select_related("project").filter(project_id=project_id, user=user)
    ).first()
    if membership is None:
        raise NotFound("No such project.")
    if not membership.can(role):
        raise Forbidden(
            f"Your role in this project is {membership.role}; this needs {role} or above."
        )
    return membership


# --- Names ---------------------------------------------------------------------------


def clean_name(value: Any, *, what: str, max_length: int = NAME_MAX) -> str:
    """A trimmed display name, or Invalid saying what is wrong with it."""
    if not isinstance(value, str):
        raise Invalid(f"The {what} must be text.", code="invalid_name")
    name = value.strip()
    if not name:
        raise Invalid(f"The {what} cannot be empty.", code="invalid_name")
    if len(name) > max_length:
        raise Invalid(
            f"The {what} is {len(name)} characters long; keep it to {max_length}.",
            code="invalid_name",
        )
    if "/" in name or "\\" in name:
        raise Invalid(
            f"The {what} contains a path separator (/ or \\); use a plain name.",
            code="invalid_name",
        )
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in name):
        raise Invalid(f"The {what} contains control characters; remove them.", code="invalid_name")
    if name in {".", ".."}:
        raise Invalid(f"The {what} cannot be “{name}”.", code="invalid_name")
    return name


def clean_text(value: Any, *, what: str, max_length: int, required: bool = True) -> str:
    """Free text (a comment, notes), trimmed, or Invalid saying what is wrong with it."""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid("Write something before posting.", code=f"empty_{what}")
    if len(value) > max_length:
        raise Invalid(f"Keep the {what} to {max_length} characters.", code=f"{what}_too_long")
    if "\x00" in value:  # no database keeps it in text, and no person types it
        raise Invalid(f"The {what} contains a NUL character; remove it.", code=f"bad_{what}")
    return value.strip()


# --- Projects ------------------------------------------------------------------------


def project_payload(project: Project) -> dict[str, Any]:
    return {"id": project.pk, "name": project.name}


def project_create(*, user: AbstractBaseUser, name: Any) -> Project:
    if not user.is_authenticated:
        raise Forbidden("Log in to create a project.")
    clean = clean_name(name, what="project name", max_length=120)
    with transaction.atomic():
        project = Project.objects.create(name=clean, owner=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        events.record(
            project=project,
            type="project.created",
            actor=user,
            payload={"project": project_payload(project)},
        )
    return project


def project_rename(*, user: AbstractBaseUser, project_id: int, name: Any) -> Project:
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    clean = clean_name(name, what="project name", max_length=120)
    with transaction.atomic():
        project = Project.objects.get(pk=project_id)
        project.name = clean
        project.save(update_fields=["name", "updated_at"])
        events.record(
            project=project,
            type="project.renamed",
            actor=user,
            payload={"project": project_payload(project)},
        )
    return project


def project_delete(*, user: AbstractBaseUser, project_id: int) -> None:
    """Delete a project with everything in it; its files leave storage after commit."""
    membership_require(user=user, project_id=project_id, role=Role.OWNER)
    with transaction.atomic():
        names = list(Stem.objects.filter(project_id=project_id).values_list("file", flat=True))
        for files in Suggestion.objects.filter(project_id=project_id).values_list(
            "preview_files", flat=True
        ):
            names += preview_file_names(files)
        for files in MixVersion.objects.filter(project_id=project_id).values_list(
            "files", flat=True
        ):
            names += list((files or {}).values())
        for files in Idea.objects.filter(project_id=project_id).values_list("files", flat=True):
            names += [files[k] for k in ("with_song", "alone") if files.get(k)]
        Project.objects.filter(pk=project_id).delete()
        transaction.on_commit(lambda: delete_files(names))
        transaction.on_commit(lambda: events.notify_project_deleted(project_id))


def preview_file_names(files: dict[str, Any] | None) -> list[str]:
    """The stored files of a suggestion's preview (its ``preview_files``)."""
    return [files[k] for k in ("before", "after") if files and files.get(k)]


def delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # a file left behind is logged, never a failed request
            log.exception("could not delete %s from storage", name)


# --- Members -------------------------------------------------------------------------


def member_payload(membership: Membership) -> dict[str, Any]:
    return {
        "user_id": membership.user_id,
        "username": membership.user.get_username(),
        "role": membership.role,
    }


INVITABLE_ROLES = {Role.EDITOR, Role.COMMENTER, Role.VIEWER}


def _invitable_role(role: Any) -> Role:
    if role not in {r.value for r in INVITABLE_ROLES}:
        raise Invalid("The role must be editor, commenter or viewer.", code="invalid_role")
    return Role(role)


def member_invite(*, user: AbstractBaseUser, project_id: int, who: Any, role: Any) -> Membership:
    """Add a person, found by username or e-mail, to the project with a role."""
    membership_require(user=user, project_id=project_id, role=Role.OWNER)
    role = _invitable_role(role)
    if not isinstance(who, str) or not who.strip():
        raise Invalid("Give the username or e-mail of the person to invite.", code="invalid_who")
    who = who.strip()
    found = User.objects.filter(Q(username__iexact=who) | Q(email__iexact=who)).first()
    if found is None:
        raise NotFound(
            f"No account is called or registered as “{who}”. Ask them to sign up first, "
            "then invite them again.",
            code="no_such_person",
        )
    with transaction.atomic():
        project = Project.objects.get(pk=project_id)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(project=project, user=found, role=role)
        except IntegrityError:
            raise Conflict(
                f"{found.get_username()} is already in this project.", code="already_member"
            ) from None
        events.record(
            project=project,
            type="member.added",
            actor=user,
            payload={"member": member_payload(membership)},
        )
    return membership


def _other_member(*, project_id: int, member_user_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("user", "project")
        .filter(project_id=project_id, user_id=member_user_id)
        .first()
    )
    if membership is None:
        raise NotFound("That person is not in this project.", code="no_such_member")
    return membership


def member_change_role(
    *, user: AbstractBaseUser, project_id: int, member_user_id: int, role: Any
) -> Membership:
    membership_require(user=user, project_id=project_id, role=Role.OWNER)
    role = _invitable_role(role)
    membership = _other_member(project_id=project_id, member_user_id=member_user_id)
    if membership.role == Role.OWNER:
        raise Forbidden("The owner's role cannot change.", code="owner_fixed")
    with transaction.atomic():
        membership.role = role
        membership.save(update_fields=["role"])
        events.record(
            project=membership.project,
            type="member.role_changed",
            actor=user,
            payload={"member": member_payload(membership)},
        )
    return membership


def member_remove(*, user: AbstractBaseUser, project_id: int, member_user_id: int) -> None:
    """Remove a member; the owner may remove anyone but themself, others may leave."""
    own = membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    if own.user_id != member_user_id and own.role != Role.OWNER:
        raise Forbidden("Only the owner can remove other people.")
    membership = _other_member(project_id=project_id, member_user_id=member_user_id)
    if membership.role == Role.OWNER:
        raise Forbidden("The owner cannot be removed from the project.", code="owner_fixed")
    with transaction.atomic():
        payload = {"member": member_payload(membership)}
        membership.delete()
        events.record(project=own.project, type="member.removed", actor=user, payload=payload)


# --- Stems ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A file that has arrived whole on local disk, with what the upload handler measured."""

    path: Path
    original_name: str
    size_bytes: int
    checksum: str | None = None


def stem_payload(stem: Stem) -> dict[str, Any]:
    return {
        "id": stem.pk,
        "name": stem.name,
        "original_name": stem.original_name,
        "format": stem.format,
        "subtype": stem.subtype,
        "sample_rate": stem.sample_rate,
        "channels": stem.channels,
        "duration_s": round(stem.duration_s, 3),
        "size_bytes": stem.size_bytes,
        "checksum": stem.checksum,
        "position": stem.position,
        "uploaded_by": stem.uploaded_by.get_username() if stem.uploaded_by else None,
        "uploaded_at": stem.uploaded_at.isoformat(),
    }


def file_sha256(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _check_upload(project_id: int, upload: Upload) -> tuple[str, decode.AudioInfo, str]:
    """Validate an arrived file: name, size, audio content and uniqueness in the project."""
    original = clean_name(upload.original_name, what="file name")
    limit_bytes = settings.STUDIO_MAX_UPLOAD_MB * 1024 * 1024
    if upload.size_bytes > limit_bytes:
        raise TooLarge(
            f"“{original}” is {upload.size_bytes / 1048576:.1f} MB; the limit is "
            f"{settings.STUDIO_MAX_UPLOAD_MB} MB.",
        )
    if upload.size_bytes == 0:
        raise Invalid(f"“{original}” is empty (0 bytes).", code="empty")
    try:
        info = decode.probe(upload.path, max_duration_s=settings.STUDIO_MAX_DURATION_S)
    except AudioError as error:
        raise Invalid(f"“{original}”: {error}", code=error.code) from None
    checksum = upload.checksum or file_sha256(upload.path)
    twin = Stem.objects.filter(project_id=project_id, checksum=checksum).first()
    if twin is not None:
        raise Conflict(
            f"“{original}” is the same file as the stem “{twin.name}” already in this project.",
            code="duplicate",
        )
    if Stem.objects.filter(project_id=project_id).count() >= settings.STUDIO_MAX_STEMS_PER_PROJECT:
        raise Invalid(
            f"This project already holds {settings.STUDIO_MAX_STEMS_PER_PROJECT} stems, the "
            "limit; delete one first.",
            code="too_many_stems",
        )
    return original, info, checksum


def stem_upload(*, user: AbstractBaseUser, project_id: int, upload: Upload) -> Stem:
    """Check an uploaded file, store it in STORAGES["default"] and add it as a stem.

    Nothing is stored when any check fails; a file already stored is removed again
    when the row cannot be written.
    """
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    original, info, checksum = _check_upload(project_id, upload)
    stem = Stem(
        project_id=project_id,
        name=clean_name(Path(original).stem or original, what="stem name"),
        original_name=original,
        format=info.format,
        subtype=info.subtype,
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=info.frames,
        duration_s=info.duration_s,
        size_bytes=upload.size_bytes,
        checksum=checksum,
        uploaded_by=user,
    )
    _store(stem, upload.path, original)
    try:
        with transaction.atomic():
            project = Project.objects.select_for_update().get(pk=project_id)
            top = Stem.objects.filter(project_id=project_id).aggregate(top=Max("position"))
            stem.position = (top["top"] + 1) if top["top"] is not None else 0
            stem.save()
            project.save(update_fields=["updated_at"])
            events.record(
                project=project,
                type="stem.created",
                actor=user,
                payload={"stem": stem_payload(stem)},
            )
            _queue_stem(project, stem)
    except BaseException as error:
        delete_files([stem.file.name])
        if isinstance(error, IntegrityError):
            raise Conflict(
                f"“{original}” is the same file as a stem already in this project.",
                code="duplicate",
            ) from None
        raise
    return stem


# What a file store raises when it cannot take a file: a full or failing disk, an S3
# server that refuses or drops the connection.
STORE_ERRORS = (OSError, BotoCoreError, ClientError)


def _store(stem: Stem, path: Path, original: str) -> None:
    """Put the upload in the file store; a store that fails keeps nothing of it and the
    person is told to try again."""
    try:
        with open(path, "rb") as handle:
            stem.file.save(get_valid_filename(original) or "stem", File(handle), save=False)
    except STORE_ERRORS as error:
        log.warning("the file store did not take %s: %s", original, error)
        if stem.file.name:
            delete_files([stem.file.name])
        raise Unavailable(
            f"The file store did not take “{original}”, so nothing was added. "
            "Try again in a moment.",
        ) from None


def _stem_in(project_id: int, stem_id: int) -> Stem:
    stem = Stem.objects.select_related("project", "uploaded_by").filter(
        pk=stem_id, project_id=project_id
    )
    found = stem.first()
    if found is None:
        raise NotFound("No such stem in this project.", code="no_such_stem")
    return found


def stem_get(*, user: AbstractBaseUser, project_id: int, stem_id: int) -> Stem:
    """A stem the asker may see (read access: any member)."""
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    return _stem_in(project_id, stem_id)


def stem_rename(*, user: AbstractBaseUser, project_id: int, stem_id: int, name: Any) -> Stem:
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    clean = clean_name(name, what="stem name")
    with transaction.atomic():
        stem = _stem_in(project_id, stem_id)
        stem.name = clean
        stem.save(update_fields=["name"])
        events.record(
            project=stem.project,
            type="stem.renamed",
            actor=user,
            payload={"stem": stem_payload(stem)},
        )
    return stem


def stem_reorder(*, user: AbstractBaseUser, project_id: int, order: Any) -> list[int]:
    """Put the project's stems in the given order (a list of every stem id, once each)."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    if not isinstance(order, list) or not all(fits_id(i) for i in order):
        raise Invalid("The order must be a list of stem ids.", code="invalid_order")
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        stems = {s.pk: s for s in Stem.objects.filter(project_id=project_id)}
        if sorted(order) != sorted(stems):
            raise Invalid(
                "The order must name every stem of the project exactly once.",
                code="invalid_order",
            )
        for position, stem_id in enumerate(order):
            if stems[stem_id].position != position:
                stems[stem_id].position = position
                stems[stem_id].save(update_fields=["position"])
        events.record(project=project, type="stem.reordered", actor=user, payload={"order": order})
    return order


def stem_move(*, user: AbstractBaseUser, project_id: int, stem_id: int, offset: int) -> list[int]:
    """Move one stem up (offset -1) or down (+1) in the project's order."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    order = list(Stem.objects.filter(project_id=project_id).values_list("pk", flat=True))
    if stem_id not in order:
        raise NotFound("No such stem in this project.", code="no_such_stem")
    index = order.index(stem_id)
    target = min(max(index + offset, 0), len(order) - 1)
    order.insert(target, order.pop(index))
    return stem_reorder(user=user, project_id=project_id, order=order)


def stem_delete(*, user: AbstractBaseUser, project_id: int, stem_id: int) -> None:
    """Delete a stem; its file leaves storage once the deletion has committed."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    with transaction.atomic():
        stem = _stem_in(project_id, stem_id)
        payload = {"stem": stem_payload(stem)}
        name = stem.file.name
        _forget_stem(stem)
        stem.delete()
        events.record(project=stem.project, type="stem.deleted", actor=user, payload=payload)
        _requeue_mix(stem.project)
        transaction.on_commit(lambda: delete_files([name]))


def _forget_stem(stem: Stem) -> None:
    """Before a stem row goes: its open suggestions are superseded and its mix settings
    dropped (history keeps them)."""
    from .suggestions import supersede_stem

    supersede_stem(stem)
    project = Project.objects.select_for_update().get(pk=stem.project_id)
    stems = (project.mix_settings or {}).get("stems") or {}
    if str(stem.pk) in stems:
        del stems[str(stem.pk)]
        project.save(update_fields=["mix_settings"])


# --- Comments ------------------------------------------------------------------------


def comment_payload(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.pk,
        "author": comment.author.get_username() if comment.author else None,
        "stem_id": comment.stem_id,
        "suggestion_id": comment.suggestion_id,
        "idea_id": comment.idea_id,
        "parent_id": comment.parent_id,
        "version_id": comment.version_id,
        "at_s": comment.at_s,
        "end_s": comment.end_s,
        "body": comment.body,
        "created_at": comment.created_at.isoformat(),
    }


def _id_or_none(value: Any, *, what: str) -> int | None:
    if value is None:
        return None
    if not fits_id(value):
        raise Invalid(f"{what}_id must be a {what}'s id.", code=f"invalid_{what}")
    return value


def comment_post(
    *,
    user: AbstractBaseUser,
    project_id: int,
    body: Any,
    stem_id: Any = None,
    at_s: Any = None,
    suggestion_id: Any = None,
    parent_id: Any = None,
    version_id: Any = None,
    end_s: Any = None,
    idea_id: Any = None,
) -> Comment:
    """Add a remark to the project's discussion, optionally on a stem at a time in seconds,
    or to the thread of a suggestion (``suggestion_id``) or an idea (``idea_id``),
    optionally as a reply to one of its comments (``parent_id``)."""
    project = membership_require(user=user, project_id=project_id, role=Role.COMMENTER).project
    body = clean_text(body, what="comment", max_length=COMMENT_MAX)
    stem_id = _id_or_none(stem_id, what="stem")
    stem = _stem_in(project_id, stem_id) if stem_id is not None else None
    at_s, end_s = _time(at_s, "at_s"), _time(end_s, "end_s")
    if end_s is not None and (at_s is None or end_s <= at_s):
        raise Invalid("A time range ends after it starts.", code="invalid_time")
    version = _version_of(project_id, _id_or_none(version_id, what="version"))
    suggestion_id = _thread_of(Suggestion, project_id, suggestion_id, what="suggestion")
    idea_id = _thread_of(Idea, project_id, idea_id, what="idea")
    if suggestion_id is not None and idea_id is not None:
        raise Invalid("A comment is about a suggestion or an idea, not both.", code="two_threads")
    parent = _reply_target(
        project_id, suggestion_id, idea_id, _id_or_none(parent_id, what="parent")
    )
    with transaction.atomic():
        comment = Comment.objects.create(
            project=project,
            author=user,
            stem=stem,
            at_s=at_s,
            end_s=end_s,
            version=version,
            suggestion_id=suggestion_id,
            idea_id=idea_id,
            parent=parent,
            body=body.strip(),
        )
        events.record(
            project=project,
            type="comment.created",
            actor=user,
            payload={"comment": comment_payload(comment)},
        )
    return comment


def _time(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1e6:
        raise Invalid(f"{name} must be a time in seconds, 0 or more.", code="invalid_time")
    return float(value)


def _version_of(project_id: int, version_id: int | None) -> MixVersion | None:
    if version_id is None:
        return None
    version = MixVersion.objects.filter(pk=version_id, project_id=project_id).first()
    if version is None:
        raise NotFound("No such version in this project.", code="no_such_version")
    return version


def _thread_of(model: Any, project_id: int, value: Any, *, what: str) -> int | None:
    """The id of the suggestion or idea a comment is about, if it is in the project."""
    found = _id_or_none(value, what=what)
    if found is not None and not model.objects.filter(pk=found, project_id=project_id).exists():
        raise NotFound(f"No such {what} in this project.", code=f"no_such_{what}")
    return found


def _reply_target(
    project_id: int, suggestion_id: int | None, idea_id: int | None, parent_id: int | None
) -> Any:
    """The comment a reply answers: it must be in the same thread."""
    if parent_id is None:
        return None
    parent = Comment.objects.filter(
        pk=parent_id, project_id=project_id, suggestion_id=suggestion_id, idea_id=idea_id
    ).first()
    if parent is None:
        raise NotFound("No such comment in this thread to reply to.", code="no_such_comment")
    return parent


# --- API tokens ----------------------------------------------------------------------


def token_create(*, user: AbstractBaseUser, name: Any) -> tuple[ApiToken, str]:
    """A new API token; the key is returned once and only its hash is kept."""
    if not user.is_authenticated:
        raise Forbidden("Log in to create a token.")
    clean = clean_name(name, what="token name", max_length=80)
    key = "st_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=clean, prefix=key[:10], key_hash=ApiToken.hash_key(key)
    )
    return token, key


def token_revoke(*, user: AbstractBaseUser, token_id: int) -> None:
    deleted, _ = ApiToken.objects.filter(pk=token_id, user=user).delete()
    if not deleted:
        raise NotFound("No such token.")


def temporary_path_of(uploaded: Any) -> Path:
    """Where Django's upload handler left an uploaded file on disk."""
    path = getattr(uploaded, "temporary_file_path", None)
    if path is None:
        raise Invalid("The upload did not arrive as a file.", code="no_file")
    return Path(os.fspath(path()))


# --- Analyses (the engine's jobs) ------------------------------------------------------

MAX_ATTEMPTS = 3


def analysis_label(analysis: Analysis) -> str:
    if analysis.target == MIX_TARGET:
        return "the mix"
    return f"“{analysis.stem.name}”" if analysis.stem else "a stem"


def analysis_payload(analysis: Analysis) -> dict[str, Any]:
    return {
        "id": analysis.pk,
        "target": analysis.target,
        "stem_id": analysis.stem_id,
        "label": analysis_label(analysis),
        "status": analysis.status,
        "progress": round(analysis.progress, 3),
        "attempts": analysis.attempts,
        "error": analysis.error,
        "summary": analysis.summary,
        "finished_at": analysis.finished_at.isoformat() if analysis.finished_at else None,
        # What it is of (the stems' checksums): an idea written from another is stale.
        "input_key": analysis.input_key,
    }


def _record_analysis(analysis: Analysis, type: str) -> None:
    events.record(
        project=analysis.project,
        type=type,
        actor=None,
        payload={"analysis": analysis_payload(analysis)},
    )


def _queue(*, project: Project, target: str, stem: Stem | None, input_key: str) -> Analysis:
    """(Re)queue the analysis of a target; must run inside a transaction."""
    analysis, _ = Analysis.objects.update_or_create(
        project=project,
        target=target,
        defaults={
            "stem": stem,
            "input_key": input_key,
            "status": JobStatus.QUEUED,
            "progress": 0.0,
            "attempts": 0,
            "error": "",
            "summary": None,
            "report": None,
            "started_at": None,
            "finished_at": None,
            "suggest_status": "",
        },
    )
    _record_analysis(analysis, "analysis.queued")
    transaction.on_commit(jobs_wake)
    return analysis


def mix_input_key(project_id: int) -> str | None:
    """What the mix is made of: a hash of its stems' checksums, or None without stems."""
    checksums = list(
        Stem.objects.filter(project_id=project_id).order_by("pk").values_list("checksum", flat=True)
    )
    if not checksums:
        return None
    return hashlib.sha256(",".join(checksums).encode()).hexdigest()


def _requeue_mix(project: Project) -> None:
    """Queue the mix analysis again after the stems changed (or drop it without stems)."""
    key = mix_input_key(project.pk)
    current = Analysis.objects.filter(project=project, target=MIX_TARGET).first()
    if key is None:
        if current is not None:
            payload = {"analysis": analysis_payload(current)}
            current.delete()
            events.record(project=project, type="analysis.removed", actor=None, payload=payload)
        return
    if current is not None and current.input_key == key and current.status != JobStatus.FAILED:
        return
    _queue(project=project, target=MIX_TARGET, stem=None, input_key=key)


def mix_reanalyse(project: Project) -> None:
    """Queue the mix's analysis again for a report that an older engine wrote (without
    the structure and chords that arrangement ideas stand on)."""
    key = mix_input_key(project.pk)
    if key is not None:
        with transaction.atomic():
            _queue(project=project, target=MIX_TARGET, stem=None, input_key=key)


def _queue_stem(project: Project, stem: Stem) -> None:
    _queue(project=project, target=f"stem:{stem.pk}", stem=stem, input_key=stem.checksum)
    _requeue_mix(project)


def jobs_wake() -> None:
    """Tell this process's job workers that there is work (others poll)."""
    from . import jobs

    jobs.wake()


def analysis_claim(*, worker: str, scope: str | None = None) -> Analysis | None:
    """Take the oldest queued analysis for ``worker``: stems first, then mixes whose stems
    are all analysed (``scope`` "stem" or "mix" takes only those). A job that has already
    been tried MAX_ATTEMPTS times fails instead."""
    with transaction.atomic():
        queued = (
            Analysis.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=JobStatus.QUEUED)
            .select_related("project", "stem")
            .order_by("queued_at", "pk")
        )
        analysis = None
        if scope != "mix":
            analysis = queued.exclude(target=MIX_TARGET).first()
        if analysis is None and scope != "stem":
            busy = Analysis.objects.filter(
                status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
            ).exclude(target=MIX_TARGET)
            analysis = (
                queued.filter(target=MIX_TARGET)
                .exclude(project_id__in=busy.values("project_id"))
                .first()
            )
        if analysis is None:
            return None
        if analysis.attempts >= MAX_ATTEMPTS:
            _fail(analysis, f"Gave up after {MAX_ATTEMPTS} attempts: the worker stopped each time.")
            return None
        analysis.status = JobStatus.RUNNING
        analysis.attempts += 1
        analysis.worker = worker[:80]
        analysis.progress = 0.0
        analysis.started_at = timezone.now()
        analysis.save()
        _record_analysis(analysis, "analysis.started")
    return analysis


def analysis_progress(*, analysis: Analysis, progress: float) -> None:
    """Note how far a running analysis is (0 to 1): kept on the row, sent live, not logged."""
    Analysis.objects.filter(pk=analysis.pk, status=JobStatus.RUNNING).update(progress=progress)
    events.notify(
        analysis.project_id,
        {"kind": "analysis.progress", "id": analysis.pk, "progress": round(progress, 3)},
    )


def analysis_finish(*, analysis: Analysis, report: dict[str, Any], summary: dict[str, Any]) -> bool:
    """Store a finished report, unless the input changed while it ran (then it is queued
    again already, and the result is dropped). Returns whether it was stored."""
    with transaction.atomic():
        current = (
            Analysis.objects.select_for_update(of=("self",))
            .select_related("project", "stem")
            .filter(pk=analysis.pk, status=JobStatus.RUNNING, input_key=analysis.input_key)
            .first()
        )
        if current is None:
            return False
        current.status = JobStatus.DONE
        current.progress = 1.0
        current.report = report
        current.summary = summary
        current.error = ""
        current.finished_at = timezone.now()
        current.suggest_status = JobStatus.QUEUED  # the suggestion phase follows
        current.save()
        _record_analysis(current, "analysis.done")
        transaction.on_commit(jobs_wake)
    return True


def _fail(analysis: Analysis, error: str) -> None:
    analysis.status = JobStatus.FAILED
    analysis.error = error[:2000]
    analysis.finished_at = timezone.now()
    analysis.save()
    _record_analysis(analysis, "analysis.failed")


def analysis_fail(*, analysis: Analysis, error: str) -> None:
    """Mark a running analysis failed with a reason people will read."""
    with transaction.atomic():
        current = (
            Analysis.objects.select_for_update(of=("self",))
            .select_related("project", "stem")
            .filter(pk=analysis.pk, status=JobStatus.RUNNING, input_key=analysis.input_key)
            .first()
        )
        if current is not None:
            _fail(current, error)


def analysis_recover() -> int:
    """Put every job (analysis, suggestion run, preview, render, idea) whose process
    stopped back in the queue; see ``projects.workers``."""
    from .workers import recover

    return recover()


def analysis_retry(*, user: AbstractBaseUser, project_id: int, analysis_id: int) -> Analysis:
    """Queue a failed analysis again (editors)."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    with transaction.atomic():
        analysis = (
            Analysis.objects.select_related("project", "stem")
            .filter(pk=analysis_id, project_id=project_id)
            .first()
        )
        if analysis is None:
            raise NotFound("No such analysis in this project.", code="no_such_analysis")
        if analysis.status != JobStatus.FAILED:
            raise Conflict("Only a failed analysis can be retried.", code="not_failed")
        return _queue(
            project=analysis.project,
            target=analysis.target,
            stem=analysis.stem,
            input_key=analysis.input_key,
        )


def analysis_get(*, user: AbstractBaseUser, project_id: int, analysis_id: int) -> Analysis:
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    analysis = (
        Analysis.objects.select_related("stem")
        .filter(pk=analysis_id, project_id=project_id)
        .first()
    )
    if analysis is None:
        raise NotFound("No such analysis in this project.", code="no_such_analysis")
    return analysis
