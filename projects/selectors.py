"""Reads: what a person may see, fetched in as few queries as the page needs."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Prefetch, QuerySet

from .events import events_after
from .models import (
    Analysis,
    ClientComment,
    ClientDecision,
    Comment,
    Event,
    Idea,
    Membership,
    MixVersion,
    Project,
    Role,
    Stem,
    Suggestion,
)
from .services import membership_require


def project_list_for(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """The projects a person is a member of, newest activity first, with stem counts."""
    return (
        Project.objects.filter(memberships__user=user)
        .select_related("owner")
        .annotate(stem_count=Count("stems", distinct=True))
        .order_by("-updated_at")
    )


def project_members(*, project_id: int) -> list[Membership]:
    return list(
        Membership.objects.filter(project_id=project_id).select_related("user").order_by("added_at")
    )


def project_stems(*, project_id: int) -> list[Stem]:
    return list(Stem.objects.filter(project_id=project_id).select_related("uploaded_by"))


def project_comments(*, project_id: int, limit: int = 200) -> list[Comment]:
    """The project's own discussion (suggestion threads are read with their suggestion)."""
    rows = Comment.objects.filter(project_id=project_id, suggestion__isnull=True)
    rows = rows.select_related("author", "stem")
    return list(rows.order_by("-created_at", "-id")[:limit])[::-1]


def suggestion_feed(*, project_id: int, limit: int = 300) -> list[Suggestion]:
    """The project's suggestions, newest last, with their stems, deciders and threads."""
    rows = (
        Suggestion.objects.filter(project_id=project_id)
        .select_related("decided_by", "project")
        .prefetch_related(
            "stems",
            Prefetch("comments", queryset=Comment.objects.select_related("author")),
        )
    )
    return list(rows.order_by("-created_at", "-id")[:limit])[::-1]


def project_ideas(*, project_id: int, limit: int = 200) -> list[Idea]:
    """The project's arrangement ideas, newest last, with who asked, who decided and threads."""
    rows = (
        Idea.objects.filter(project_id=project_id)
        .select_related("requested_by", "decided_by", "project")
        .prefetch_related(Prefetch("comments", queryset=Comment.objects.select_related("author")))
    )
    return list(rows.order_by("-created_at", "-id")[:limit])[::-1]


def project_activity(*, project_id: int, limit: int = 50) -> list[Event]:
    """The newest events of the project's log, newest first."""
    rows = Event.objects.filter(project_id=project_id).select_related("actor")
    return list(rows.order_by("-seq")[:limit])


def event_feed(
    *, user: AbstractBaseUser, project_id: int, after_seq: int, limit: int = 1000
) -> list[Event]:
    """The events a member may read after a sequence number, oldest first."""
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    return events_after(project_id=project_id, after_seq=after_seq, limit=limit)


def project_analyses(*, project_id: int) -> list[Analysis]:
    """The project's analyses without their reports (those are fetched one at a time)."""
    rows = Analysis.objects.filter(project_id=project_id).select_related("stem")
    return list(rows.defer("report", "masking").order_by("pk"))


def project_versions(*, project_id: int) -> list[MixVersion]:
    """The project's mix versions, oldest first, without their waveform peaks."""
    rows = MixVersion.objects.filter(project_id=project_id).select_related("created_by")
    return list(rows.order_by("number"))


def client_feedback(*, project_id: int) -> dict[str, list[dict[str, Any]]]:
    """What clients said through the project's share links, for the team, oldest first."""
    from .sharing import client_comment_payload, decision_payload

    comments = ClientComment.objects.filter(share__project_id=project_id)
    decisions = ClientDecision.objects.filter(share__project_id=project_id)
    return {
        "comments": [
            client_comment_payload(c) for c in comments.select_related("version", "author")
        ],
        "decisions": [decision_payload(d) for d in decisions.select_related("version")],
    }
