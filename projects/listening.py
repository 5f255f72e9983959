"""Listening together: one transport (play, pause, seek) for everyone in a project.

Anyone in the project may start a session on a rendered version, and anyone in it may
move the transport; every move reaches every connected browser at once as an ephemeral
notice (not logged: it is where a playhead is, like presence). The row keeps the last
state, so a browser that joins or reconnects starts in step.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from . import events
from .errors import Conflict, Invalid, NotFound
from .models import JobStatus, ListeningSession, MixVersion, Role
from .services import fits_id, membership_require

ACTIONS = ("play", "pause", "seek")


def session_payload(session: ListeningSession | None) -> dict[str, Any] | None:
    if session is None:
        return None
    version = session.version
    return {
        "id": session.pk,
        "version_id": version.pk,
        "version_label": f"v{version.number}",
        "version_name": version.name,
        "duration_s": (version.result or {}).get("duration_s"),
        "playing": session.playing,
        "position_s": round(session.position_s, 3),
        "moved_by": session.moved_by.get_username() if session.moved_by else None,
        "started_by": session.started_by.get_username() if session.started_by else None,
        # When the state was set, in ms since the epoch by the server's clock: a browser that
        # hears of a playing session later plays from position + the time since.
        "at_ms": int(session.updated_at.timestamp() * 1000),
    }


def session_active(*, project_id: int) -> ListeningSession | None:
    return (
        ListeningSession.objects.select_related("version", "moved_by", "started_by")
        .filter(project_id=project_id, ended_at__isnull=True)
        .order_by("-started_at")
        .first()
    )


def _tell(project_id: int, session: ListeningSession | None) -> None:
    payload = session_payload(session)
    transaction.on_commit(
        lambda: events.notify(project_id, {"kind": "listen.state", "session": payload})
    )


def listening_start(
    *, user: AbstractBaseUser, project_id: int, version_id: Any
) -> ListeningSession:
    """Start listening together to a rendered version (anyone in the project); a session
    already going ends."""
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    if not fits_id(version_id):
        raise Invalid("version_id must be a version's id.", code="invalid_version")
    version = MixVersion.objects.filter(
        pk=version_id, project_id=project_id, status=JobStatus.DONE
    ).first()
    if version is None:
        raise NotFound("No such rendered version in this project.", code="no_such_version")
    with transaction.atomic():
        ListeningSession.objects.filter(project_id=project_id, ended_at__isnull=True).update(
            ended_at=timezone.now()
        )
        session = ListeningSession.objects.create(
            project_id=project_id, version=version, started_by=user, moved_by=user
        )
        _tell(project_id, session)
    return session


def listening_move(
    *, user: AbstractBaseUser, project_id: int, action: Any, position_s: Any
) -> ListeningSession:
    """Play, pause or seek the session's transport at ``position_s`` (anyone in it)."""
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    if action not in ACTIONS:
        raise Invalid(f"action must be one of {', '.join(ACTIONS)}.", code="invalid_action")
    if isinstance(position_s, bool) or not isinstance(position_s, int | float):
        raise Invalid("position_s must be seconds into the version.", code="invalid_time")
    with transaction.atomic():
        session = (
            ListeningSession.objects.select_for_update(of=("self",))
            .select_related("version")
            .filter(project_id=project_id, ended_at__isnull=True)
            .first()
        )
        if session is None:
            raise Conflict("Nobody is listening together right now.", code="no_session")
        duration = (session.version.result or {}).get("duration_s") or 0.0
        if not 0 <= position_s <= duration + 0.5:
            raise Invalid(f"position_s runs from 0 to {duration:.1f} s.", code="invalid_time")
        if action != "seek":
            session.playing = action == "play"
        session.position_s = float(position_s)
        session.moved_by = user
        session.save()
        _tell(project_id, session)
    return session


def listening_stop(*, user: AbstractBaseUser, project_id: int) -> None:
    """End the session for everyone (anyone in it)."""
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    with transaction.atomic():
        ended = ListeningSession.objects.filter(
            project_id=project_id, ended_at__isnull=True
        ).update(ended_at=timezone.now())
        if ended:
            _tell(project_id, None)
