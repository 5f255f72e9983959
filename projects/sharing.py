"""Services for share links and client feedback: check, change, notify.

The team makes a link for chosen versions (``share_create``); the client, with no account,
opens it (``share_open``, then ``share_unlock`` when it has a password), listens, comments
at a time or over a range, and approves a version or asks for changes. A client is known
by the link and a name they give; what they can reach is the link's versions and nothing
else. Every client action is an event in the project's log, so the team sees it live.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import events
from .errors import Conflict, Gone, Invalid, NotFound, TooManyAttempts
from .models import (
    ClientComment,
    ClientDecision,
    JobStatus,
    MixVersion,
    Project,
    Role,
    ShareLink,
    ShareListen,
)
from .services import clean_name, clean_text, fits_id, membership_require

TOKEN_BYTES = 24  # 192 bits of randomness
PASSWORD_MAX = 200
FREE_ATTEMPTS = 5
LOCK_MAX_S = 900
COMMENT_MAX = 4000
NAME_MAX = 80


# --- Payloads ---------------------------------------------------------------------------


def share_payload(share: ShareLink) -> dict[str, Any]:
    now = timezone.now()
    versions = sorted(share.versions.all(), key=lambda v: v.number)
    return {
        "id": share.pk,
        "label": share.label,
        "versions": [f"v{v.number}" for v in versions],
        "version_ids": [v.pk for v in versions],
        "has_password": bool(share.password_hash),
        "expires_at": share.expires_at.isoformat() if share.expires_at else None,
        "allow_download": share.allow_download,
        "revoked": share.revoked_at is not None,
        "expired": share.expires_at is not None and share.expires_at <= now,
        "created_by": share.created_by.get_username() if share.created_by else None,
        "created_at": share.created_at.isoformat(),
        "listens": share.listens.count(),
    }


def client_comment_payload(comment: ClientComment) -> dict[str, Any]:
    author = comment.author.get_username() if comment.author else comment.client_name
    return {
        "id": comment.pk,
        "share_id": comment.share_id,
        "version_id": comment.version_id,
        "version_label": f"v{comment.version.number}",
        "parent_id": comment.parent_id,
        "author": author,
        "from_team": comment.author_id is not None,
        "at_s": comment.at_s,
        "end_s": comment.end_s,
        "body": comment.body,
        "created_at": comment.created_at.isoformat(),
    }


def decision_payload(decision: ClientDecision) -> dict[str, Any]:
    return {
        "id": decision.pk,
        "share_id": decision.share_id,
        "version_id": decision.version_id,
        "version_label": f"v{decision.version.number}",
        "client_name": decision.client_name,
        "decision": decision.decision,
        "note": decision.note,
        "created_at": decision.created_at.isoformat(),
    }


# --- The team shares --------------------------------------------------------------------


def _versions_of(project_id: int, version_ids: Any) -> list[MixVersion]:
    if not isinstance(version_ids, list) or not version_ids:
        raise Invalid("Choose at least one version to share.", code="no_versions")
    if not all(fits_id(v) for v in version_ids):
        raise Invalid("versions must be a list of version ids.", code="bad_versions")
    rows = list(MixVersion.objects.filter(project_id=project_id, pk__in=version_ids))
    if len(rows) != len(set(version_ids)):
        raise NotFound("No such version in this project.", code="no_such_version")
    unready = [f"v{v.number}" for v in rows if v.status != JobStatus.DONE]
    if unready:
        raise Conflict(f"{', '.join(unready)} is not rendered yet.", code="not_rendered")
    return rows


def _expiry(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    when = parse_datetime(value) if isinstance(value, str) else None
    if when is None:
        raise Invalid("expires_at must be a date and time like 2026-12-31T18:00.", code="bad_date")
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    if when <= timezone.now():
        raise Invalid("The expiry must be in the future.", code="bad_date")
    return when


def share_create(
    *,
    user: AbstractBaseUser,
    project_id: int,
    label: Any,
    version_ids: Any,
    password: Any = "",
    expires_at: Any = None,
    allow_download: Any = False,
) -> tuple[ShareLink, str]:
    """Make a link to chosen versions (editors). Returns the link and its token, which is
    shown once: only its hash is kept."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    label = clean_name(label, what="link name", max_length=120)
    chosen = _versions_of(project_id, version_ids)
    if not isinstance(password, str) or len(password) > PASSWORD_MAX:
        raise Invalid(f"A password is text of at most {PASSWORD_MAX} characters.")
    if not isinstance(allow_download, bool):
        raise Invalid("allow_download must be true or false.", code="bad_flag")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        share = ShareLink.objects.create(
            project=project,
            label=label,
            token_hash=ShareLink.hash_token(token),
            password_hash=make_password(password) if password else "",
            expires_at=_expiry(expires_at),
            allow_download=allow_download,
            created_by=user,
        )
        share.versions.set(chosen)
        _record_share(share, "share.created", user)
    return share, token


def _record_share(share: ShareLink, type: str, user: Any) -> None:
    events.record(
        project=share.project, type=type, actor=user, payload={"share": share_payload(share)}
    )


def _share_in(project_id: int, share_id: Any) -> ShareLink:
    if not fits_id(share_id):
        raise Invalid("share must be a share link's id.", code="invalid_share")
    share = ShareLink.objects.select_related("project", "created_by").filter(
        pk=share_id, project_id=project_id
    )
    found = share.first()
    if found is None:
        raise NotFound("No such share link in this project.", code="no_such_share")
    return found


def share_add_versions(
    *, user: AbstractBaseUser, project_id: int, share_id: Any, version_ids: Any
) -> ShareLink:
    """Let a link's client hear more versions too (editors)."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    chosen = _versions_of(project_id, version_ids)
    with transaction.atomic():
        share = _share_in(project_id, share_id)
        if share.revoked_at:
            raise Conflict("This link is revoked.", code="revoked")
        share.versions.add(*chosen)
        _record_share(share, "share.updated", user)
    return share


def share_revoke(*, user: AbstractBaseUser, project_id: int, share_id: Any) -> ShareLink:
    """Stop a link working, at once and for good (editors)."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    with transaction.atomic():
        share = _share_in(project_id, share_id)
        if share.revoked_at is None:
            share.revoked_at = timezone.now()
            share.save(update_fields=["revoked_at"])
            _record_share(share, "share.revoked", user)
    return share


def share_list(*, user: AbstractBaseUser, project_id: int) -> list[ShareLink]:
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    rows = ShareLink.objects.filter(project_id=project_id).select_related("created_by", "project")
    return list(rows.prefetch_related("versions"))


def team_reply(
    *, user: AbstractBaseUser, project_id: int, comment_id: Any, body: Any
) -> ClientComment:
    """Answer a client's comment (commenters and up); the client sees the answer."""
    membership_require(user=user, project_id=project_id, role=Role.COMMENTER)
    if not fits_id(comment_id):
        raise Invalid("comment must be a comment's id.", code="invalid_comment")
    parent = (
        ClientComment.objects.select_related("share__project", "version")
        .filter(pk=comment_id, share__project_id=project_id)
        .first()
    )
    if parent is None:
        raise NotFound("No such client comment in this project.", code="no_such_comment")
    return _comment(
        share=parent.share,
        version=parent.version,
        body=body,
        parent=parent,
        author=user,
        client_name="",
        span=(None, None),
    )


# --- The client ---------------------------------------------------------------------------


def share_open(token: Any) -> ShareLink:
    """The link a token opens: NotFound for no such link, Gone once revoked or expired."""
    if not isinstance(token, str) or not 20 <= len(token) <= 64:
        raise NotFound("There is no such link.", code="no_such_link")
    share = (
        ShareLink.objects.select_related("project", "created_by")
        .filter(token_hash=ShareLink.hash_token(token))
        .first()
    )
    if share is None:
        raise NotFound("There is no such link.", code="no_such_link")
    if share.revoked_at is not None:
        raise Gone("This link was revoked by the people who shared it.", code="revoked")
    if share.expires_at is not None and share.expires_at <= timezone.now():
        raise Gone("This link has expired. Ask for a new one.", code="expired")
    return share


def _session_key(share: ShareLink) -> str:
    return f"share:{share.pk}"


def share_unlocked(share: ShareLink, session: Any) -> bool:
    return not share.password_hash or session.get(_session_key(share)) is True


def share_unlock(share: ShareLink, session: Any, password: Any) -> None:
    """Check a link's password for this browser session. After FREE_ATTEMPTS wrong ones, the
    link waits longer after each (doubling, up to LOCK_MAX_S) before it listens again."""
    with transaction.atomic():
        locked = ShareLink.objects.select_for_update().get(pk=share.pk)
        now = timezone.now()
        if locked.locked_until and locked.locked_until > now:
            wait = int((locked.locked_until - now).total_seconds()) + 1
            raise TooManyAttempts(f"Too many wrong passwords. Try again in {wait} s.")
        if isinstance(password, str) and check_password(password, locked.password_hash):
            locked.failed_attempts, locked.locked_until = 0, None
            locked.save(update_fields=["failed_attempts", "locked_until"])
            session[_session_key(share)] = True
            return
        locked.failed_attempts += 1
        over = locked.failed_attempts - FREE_ATTEMPTS
        if over >= 0:
            locked.locked_until = now + timedelta(seconds=min(2**over, LOCK_MAX_S))
        locked.save(update_fields=["failed_attempts", "locked_until"])
    raise Invalid("That password is not right.", code="wrong_password")


def share_require(token: Any, session: Any) -> ShareLink:
    """The link, if this session may use it (opened and, with a password, unlocked)."""
    share = share_open(token)
    if not share_unlocked(share, session):
        raise Invalid("This link needs its password.", code="password_needed")
    return share


def client_version(share: ShareLink, version_id: Any) -> MixVersion:
    """One of the link's versions; any other version is as if it did not exist."""
    if not fits_id(version_id):
        raise Invalid("version must be a version's id.", code="invalid_version")
    version = share.versions.filter(pk=version_id, status=JobStatus.DONE).first()
    if version is None:
        raise NotFound("This link has no such version.", code="no_such_version")
    return version


def client_name(session: Any, share: ShareLink, name: Any = None) -> str:
    """The name the client gave (kept for the session), or the one given now."""
    key = f"share-name:{share.pk}"
    if name is not None:
        session[key] = clean_name(name, what="your name", max_length=NAME_MAX)
    if not session.get(key):
        raise Invalid("Tell us your name first.", code="name_needed")
    return session[key]


def _span(at_s: Any, end_s: Any, version: MixVersion) -> tuple[float | None, float | None]:
    duration = (version.result or {}).get("duration_s") or 0.0
    values = []
    for value in (at_s, end_s):
        if value is None:
            values.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid("Times are seconds into the song.", code="invalid_time")
        if not 0 <= value <= duration + 0.5:
            raise Invalid(f"Times run from 0 to {duration:.1f} s.", code="invalid_time")
        values.append(float(value))
    start, end = values
    if end is not None and (start is None or end <= start):
        raise Invalid("A range ends after it starts.", code="invalid_time")
    return start, end


def _comment(
    *,
    share: ShareLink,
    version: MixVersion,
    body: Any,
    parent: ClientComment | None,
    author: Any,
    client_name: str,
    span: tuple[float | None, float | None],
) -> ClientComment:
    body = clean_text(body, what="comment", max_length=COMMENT_MAX)
    with transaction.atomic():
        comment = ClientComment.objects.create(
            share=share,
            version=version,
            parent=parent,
            author=author,
            client_name=client_name,
            at_s=span[0],
            end_s=span[1],
            body=body.strip(),
        )
        events.record(
            project=share.project,
            type="client.comment",
            actor=author,
            payload={"comment": client_comment_payload(comment), "share_id": share.pk},
        )
    return comment


def client_comment(
    *,
    share: ShareLink,
    name: str,
    version_id: Any,
    body: Any,
    at_s: Any = None,
    end_s: Any = None,
    parent_id: Any = None,
) -> ClientComment:
    """A client's comment on one of the link's versions, at ``at_s`` or over a range."""
    version = client_version(share, version_id)
    parent = None
    if parent_id is not None:
        if not fits_id(parent_id):
            raise Invalid("parent must be a comment's id.", code="invalid_comment")
        parent = ClientComment.objects.filter(pk=parent_id, share=share, version=version).first()
        if parent is None:
            raise NotFound("No such comment to reply to.", code="no_such_comment")
    span = _span(at_s, end_s, version)
    return _comment(
        share=share, version=version, body=body, parent=parent, author=None,
        client_name=name, span=span,
    )  # fmt: skip


def client_decide(
    *, share: ShareLink, name: str, version_id: Any, decision: Any, note: Any = ""
) -> ClientDecision:
    """Approve one exact version, or ask for changes to it; kept as an audit trail."""
    version = client_version(share, version_id)
    if decision not in (ClientDecision.APPROVE, ClientDecision.CHANGES):
        raise Invalid("decision must be approve or changes.", code="invalid_decision")
    note = clean_text(note, what="note", max_length=COMMENT_MAX, required=False)
    with transaction.atomic():
        row = ClientDecision.objects.create(
            share=share, version=version, client_name=name, decision=decision, note=note.strip()
        )
        events.record(
            project=share.project,
            type="client.decision",
            actor=None,
            payload={"decision": decision_payload(row), "share_id": share.pk},
        )
    return row


def client_listened(
    *, share: ShareLink, version: MixVersion, session_key: str, name: str = ""
) -> bool:
    """Count a listen once per browser session and version; returns whether it was new."""
    session_hash = hashlib.sha256(f"{share.pk}:{session_key}".encode()).hexdigest()
    heard = ShareListen.objects.filter(share=share, version=version, session_hash=session_hash)
    if heard.exists():  # a player asks for many byte ranges of one listen
        return False
    try:
        with transaction.atomic():
            listen = ShareListen.objects.create(
                share=share, version=version, session_hash=session_hash, client_name=name
            )
            events.record(
                project=share.project,
                type="client.listened",
                actor=None,
                payload={
                    "listen": {
                        "share_id": share.pk,
                        "version_id": version.pk,
                        "version_label": f"v{version.number}",
                        "client_name": name,
                        "created_at": listen.created_at.isoformat(),
                    },
                    "share_id": share.pk,
                },
            )
    except IntegrityError:
        return False
    return True


def client_feed(share: ShareLink) -> dict[str, Any]:
    """What the client's page starts from: its versions, comments and decisions."""
    versions = sorted(share.versions.filter(status=JobStatus.DONE), key=lambda v: v.number)
    comments = ClientComment.objects.filter(share=share).select_related("version", "author")
    decisions = ClientDecision.objects.filter(share=share).select_related("version")
    return {
        "share": {"id": share.pk, "label": share.label, "allow_download": share.allow_download},
        "project": share.project.name,
        "versions": [_client_version_payload(v) for v in versions],
        "comments": [client_comment_payload(c) for c in comments],
        "decisions": [decision_payload(d) for d in decisions],
        "last_seq": share.project.last_seq,
    }


def _client_version_payload(version: MixVersion) -> dict[str, Any]:
    result = version.result or {}
    return {
        "id": version.pk,
        "label": f"v{version.number}",
        "name": version.name,
        "notes": version.notes,
        "duration_s": result.get("duration_s"),
        "integrated_lufs": result.get("integrated_lufs"),
        "available": sorted(version.files),
    }
