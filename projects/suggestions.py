"""Services for mixing suggestions and the project's mix settings: check, change, notify.

The engine proposes (``suggestion_publish``, called by the suggestion job with each measured
move); people decide (``suggestion_decide``), discuss (``comment_post`` with a suggestion),
try (``suggestion_preview``) and edit or undo the mix settings (``mix_update``,
``mix_undo``). Nothing reaches the mix settings without a person: the only writers of
``Project.mix_settings`` are the functions here that take a ``user``.

The suggestion phase and the preview are jobs whose state lives on rows
(``Analysis.suggest_status``, ``Suggestion.preview_status``), claimed like analyses.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from studio.processing.mixing import BusSettings, MixSettings, StemSettings
from studio.processing.suggest import apply_move

from . import events
from .errors import Conflict, Invalid, NotFound
from .models import (
    MIX_TARGET,
    Analysis,
    JobStatus,
    MixChange,
    Project,
    Role,
    Stem,
    Suggestion,
    SuggestionStatus,
)
from .services import (
    comment_payload,
    delete_files,
    fits_id,
    jobs_wake,
    membership_require,
    preview_file_names,
)

PREVIEW_AMOUNTS = range(0, 101)


# --- Payloads --------------------------------------------------------------------------


def suggestion_payload(suggestion: Suggestion) -> dict[str, Any]:
    stems = sorted(suggestion.stems.all(), key=lambda s: s.pk)
    return {
        "id": suggestion.pk,
        "scope": suggestion.scope,
        "kind": suggestion.kind,
        "code": suggestion.code,
        "title": suggestion.title,
        "reason": suggestion.reason,
        "stems": [{"id": s.pk, "name": s.name} for s in stems],
        "move": suggestion.move,
        "measure": suggestion.measure,
        "detail": suggestion.detail,
        "confidence": suggestion.confidence,
        "status": suggestion.status,
        "amount": suggestion.amount,
        "decided_by": suggestion.decided_by.get_username() if suggestion.decided_by else None,
        "decided_at": suggestion.decided_at.isoformat() if suggestion.decided_at else None,
        "created_at": suggestion.created_at.isoformat(),
        "author": "engine",
        "preview": {
            "possible": suggestion.preview_spec is not None,
            "status": suggestion.preview_status or None,
            "amount": suggestion.preview_amount,
            "error": suggestion.preview_error,
            # Changes with every render, so that browsers never play a stale cached file.
            "version": hashlib.sha256(
                json.dumps(suggestion.preview_files, sort_keys=True).encode()
            ).hexdigest()[:12],
            "info": (suggestion.preview_files or {}).get("info"),
        },
    }


def suggestion_thread_payload(suggestion: Suggestion) -> dict[str, Any]:
    """A suggestion with its discussion, for a page that shows both."""
    comments = [comment_payload(c) for c in suggestion.comments.all()]
    return suggestion_payload(suggestion) | {"comments": comments}


def mix_payload(project: Project) -> dict[str, Any]:
    """The project's mix settings with every stem filled in (defaults for untouched ones)."""
    mix = MixSettings.from_dict(project.mix_settings)
    stem_ids = Stem.objects.filter(project=project).values_list("pk", flat=True)
    last = MixChange.objects.filter(project=project).order_by("-revision").first()
    undoable = MixChange.objects.filter(project=project, undone=False).exclude(action="undo")
    return {
        "revision": project.mix_revision,
        "stems": {str(pk): mix.stem(str(pk)).to_dict() for pk in stem_ids},
        "bus": mix.bus.to_dict(),
        "default_stem": StemSettings().to_dict(),
        "last_change": last.summary if last else None,
        "can_undo": undoable.exists(),
    }


def _record(suggestion: Suggestion, type: str, actor: Any = None) -> None:
    events.record(
        project=suggestion.project,
        type=type,
        actor=actor,
        payload={"suggestion": suggestion_payload(suggestion)},
    )


# --- The suggestion job ----------------------------------------------------------------


def suggest_key(analysis: Analysis) -> str:
    """What a suggestion run depends on: the analysed input and the mix settings it reads."""
    settings = analysis.project.mix_settings
    if analysis.target != MIX_TARGET:
        settings = (settings.get("stems") or {}).get(str(analysis.stem_id), {})
    text = json.dumps([analysis.input_key, settings], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def suggest_claim(*, worker: str, scope: str | None = None) -> Analysis | None:
    """Take the next finished analysis whose suggestions are due (stems before the mix;
    ``scope`` "stem" or "mix" takes only those)."""
    with transaction.atomic():
        due = (
            Analysis.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=JobStatus.DONE, suggest_status=JobStatus.QUEUED)
            .select_related("project", "stem")
            .annotate(
                is_mix=Case(
                    When(target=MIX_TARGET, then=Value(1)),
                    default=Value(0),
                    output_field=IntegerField(),
                )
            )
            .order_by("is_mix", "finished_at", "pk")
        )
        if scope == "stem":
            due = due.exclude(target=MIX_TARGET)
        elif scope == "mix":
            due = due.filter(target=MIX_TARGET)
        analysis = due.first()
        if analysis is None:
            return None
        analysis.suggest_status = JobStatus.RUNNING
        analysis.suggest_key = suggest_key(analysis)
        analysis.suggest_error = ""
        analysis.suggest_worker = worker[:80]
        analysis.save(
            update_fields=["suggest_status", "suggest_key", "suggest_error", "suggest_worker"]
        )
    return analysis


def _current_run(analysis: Analysis) -> Analysis | None:
    """The analysis row if this run is still the one wanted, locked."""
    return (
        Analysis.objects.select_for_update(of=("self",))
        .select_related("project")
        .filter(
            pk=analysis.pk,
            status=JobStatus.DONE,
            suggest_status=JobStatus.RUNNING,
            suggest_key=analysis.suggest_key,
        )
        .first()
    )


def suggestion_publish(*, analysis: Analysis, candidate: dict[str, Any]) -> Suggestion | None:
    """Store one measured suggestion from a run and tell everyone; the same problem found
    again updates its row (a superseded one comes back), and one people already decided
    stays as they left it. Returns None when the run is no longer current."""
    with transaction.atomic():
        current = _current_run(analysis)
        if current is None:
            return None
        project = current.project
        stem_ids = [int(k) for k in candidate["stems"]]
        stems = list(Stem.objects.filter(project=project, pk__in=stem_ids))
        if len(stems) != len(set(stem_ids)):
            return None  # a stem went away meanwhile; the next run will settle it
        fields = {
            "scope": analysis.target,
            "kind": candidate["kind"],
            "code": candidate["code"],
            "title": candidate["title"][:200],
            "reason": candidate["reason"],
            "move": candidate["move"],
            "measure": candidate["measure"],
            "detail": candidate["detail"],
            "preview_spec": candidate["preview"],
            "confidence": candidate["confidence"],
        }
        existing = (
            Suggestion.objects.select_for_update()
            .filter(project=project, fingerprint=candidate["fingerprint"])
            .first()
        )
        if existing is None:
            suggestion = Suggestion.objects.create(
                project=project, fingerprint=candidate["fingerprint"], **fields
            )
            suggestion.stems.set(stems)
            _record(suggestion, "suggestion.created")
            return suggestion
        if existing.status in (SuggestionStatus.ACCEPTED, SuggestionStatus.REJECTED):
            return existing
        revived = existing.status == SuggestionStatus.SUPERSEDED
        stale_preview = existing.move != candidate["move"]
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.status = SuggestionStatus.PROPOSED
        if stale_preview:  # the move changed: the rendered preview is of another move
            _forget_preview(existing)
        existing.save()
        existing.stems.set(stems)
        _record(existing, "suggestion.created" if revived else "suggestion.updated")
        return existing


def suggest_finish(
    *, analysis: Analysis, fingerprints: list[str], masking: dict[str, Any] | None
) -> bool:
    """End a run: proposals of its scope that it did not find again are superseded (they
    no longer fit the stems or the mix settings). Returns whether the run was current."""
    with transaction.atomic():
        current = _current_run(analysis)
        if current is None:
            return False
        stale = Suggestion.objects.filter(
            project=current.project, scope=current.target, status=SuggestionStatus.PROPOSED
        ).exclude(fingerprint__in=fingerprints)
        for suggestion in stale.select_related("project"):
            _supersede(suggestion)
        current.suggest_status = JobStatus.DONE
        if masking is not None:
            current.masking = masking
        current.save(update_fields=["suggest_status", "masking"])
        if masking is not None:
            events.record(
                project=current.project,
                type="mix.masking",
                actor=None,
                payload={"analysis_id": current.pk},
            )
    return True


def suggest_fail(*, analysis: Analysis, error: str) -> None:
    with transaction.atomic():
        current = _current_run(analysis)
        if current is not None:
            current.suggest_status = JobStatus.FAILED
            current.suggest_error = error[:2000]
            current.save(update_fields=["suggest_status", "suggest_error"])


def _supersede(suggestion: Suggestion) -> None:
    suggestion.status = SuggestionStatus.SUPERSEDED
    suggestion.save(update_fields=["status", "updated_at"])
    _record(suggestion, "suggestion.superseded")


def supersede_stem(stem: Stem) -> None:
    """A stem is going away: its open suggestions go with it (inside the caller's
    transaction, before the stem row is deleted)."""
    open_ones = Suggestion.objects.filter(stems=stem, status=SuggestionStatus.PROPOSED)
    for suggestion in open_ones.select_related("project"):
        _supersede(suggestion)


def suggest_requeue(project: Project, *, stem_ids: list[int] | None = None) -> None:
    """Ask for fresh suggestions after the mix settings changed: for the mix, and for the
    stems whose settings changed (inside the caller's transaction)."""
    targets = [MIX_TARGET] + [f"stem:{pk}" for pk in stem_ids or []]
    Analysis.objects.filter(project=project, status=JobStatus.DONE, target__in=targets).update(
        suggest_status=JobStatus.QUEUED
    )
    transaction.on_commit(jobs_wake)


# --- People decide ---------------------------------------------------------------------


def _suggestion_in(project_id: int, suggestion_id: Any, *, lock: bool = False) -> Suggestion:
    if not fits_id(suggestion_id):
        raise Invalid("suggestion must be a suggestion's id.", code="invalid_suggestion")
    rows = Suggestion.objects.select_related("project", "decided_by")
    if lock:
        rows = rows.select_for_update(of=("self",))
    found = rows.filter(pk=suggestion_id, project_id=project_id).first()
    if found is None:
        raise NotFound("No such suggestion in this project.", code="no_such_suggestion")
    return found


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in PREVIEW_AMOUNTS:
        raise Invalid("amount must be a whole percentage from 0 to 100.", code="invalid_amount")
    return value


def suggestion_get(*, user: AbstractBaseUser, project_id: int, suggestion_id: Any) -> Suggestion:
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    return _suggestion_in(project_id, suggestion_id)


def suggestion_decide(
    *,
    user: AbstractBaseUser,
    project_id: int,
    suggestion_id: Any,
    decision: Any,
    amount: Any = 100,
) -> Suggestion:
    """Accept (its move joins the mix settings at ``amount`` percent) or reject a proposed
    suggestion; editors and owners only. Records who and when."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    if decision not in ("accept", "reject"):
        raise Invalid("decision must be accept or reject.", code="invalid_decision")
    amount = _amount(amount)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        suggestion = _suggestion_in(project_id, suggestion_id, lock=True)
        if suggestion.status != SuggestionStatus.PROPOSED:
            raise Conflict(
                f"This suggestion is already {suggestion.status}.", code="already_decided"
            )
        suggestion.status = (
            SuggestionStatus.ACCEPTED if decision == "accept" else SuggestionStatus.REJECTED
        )
        suggestion.decided_by, suggestion.decided_at = user, timezone.now()
        suggestion.amount = amount
        suggestion.save()
        _record(suggestion, "suggestion.decided", user)
        if decision == "accept" and _changes_mix(suggestion.move):
            after = apply_move(
                MixSettings.from_dict(project.mix_settings),
                suggestion.move,
                amount=amount / 100,
                source=f"suggestion:{suggestion.pk}",
            )
            summary = f"Accepted “{suggestion.title}” at {amount}%"
            _change_mix(
                project, user, after, action="accept", summary=summary, suggestion=suggestion
            )
    return suggestion


def _changes_mix(move: list[dict[str, Any]]) -> bool:
    return any(op.get("op") != "advice" for op in move)


def _change_mix(
    project: Project,
    user: AbstractBaseUser,
    after: MixSettings,
    *,
    action: str,
    summary: str,
    suggestion: Suggestion | None = None,
) -> MixChange:
    """Write new mix settings with their history row and event (inside a transaction, the
    project row locked), and ask for fresh suggestions."""
    before = MixSettings.from_dict(project.mix_settings)
    project.mix_revision += 1
    project.mix_settings = after.to_dict()
    project.save(update_fields=["mix_revision", "mix_settings", "updated_at"])
    change = MixChange.objects.create(
        project=project,
        revision=project.mix_revision,
        actor=user,
        suggestion=suggestion,
        action=action,
        summary=summary[:300],
        before=before.to_dict(),
        after=after.to_dict(),
    )
    changed = [
        int(k)
        for k in set(before.stems) | set(after.stems)
        if before.stem(k) != after.stem(k) and k.isdigit()
    ]
    events.record(
        project=project,
        type="mix.changed",
        actor=user,
        payload={"mix": mix_payload(project), "change": _change_payload(change)},
    )
    suggest_requeue(project, stem_ids=changed)
    return change


def _change_payload(change: MixChange) -> dict[str, Any]:
    return {
        "revision": change.revision,
        "action": change.action,
        "summary": change.summary,
        "suggestion_id": change.suggestion_id,
    }


def mix_update(
    *, user: AbstractBaseUser, project_id: int, stem_id: Any = None, settings: Any
) -> MixChange:
    """Set one stem's settings (``stem_id``) or the bus's (no ``stem_id``) by hand; editors
    and owners only. ``settings`` is a whole StemSettings or BusSettings dict."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        mix = MixSettings.from_dict(project.mix_settings)
        try:
            if stem_id is None:
                new = BusSettings.from_dict(settings)
                after, what = MixSettings(stems=mix.stems, bus=new), "the mix bus"
            else:
                stem = _stem_of(project_id, stem_id)
                after = mix.with_stem(str(stem.pk), StemSettings.from_dict(settings))
                what = f"“{stem.name}”"
        except ValueError as error:
            raise Invalid(str(error), code="invalid_settings") from None
        if after == mix:
            raise Conflict("Nothing changed.", code="unchanged")
        return _change_mix(project, user, after, action="edit", summary=f"Edited {what}")


def _stem_of(project_id: int, stem_id: Any) -> Stem:
    if not fits_id(stem_id):
        raise Invalid("stem_id must be a stem's id.", code="invalid_stem")
    stem = Stem.objects.filter(pk=stem_id, project_id=project_id).first()
    if stem is None:
        raise NotFound("No such stem in this project.", code="no_such_stem")
    return stem


def mix_undo(*, user: AbstractBaseUser, project_id: int) -> MixChange:
    """Undo the newest change of the mix settings that is not undone yet; an accepted
    suggestion it carried goes back to proposed. Editors and owners only."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        last = (
            MixChange.objects.select_related("suggestion")
            .filter(project=project, undone=False)
            .exclude(action="undo")
            .order_by("-revision")
            .first()
        )
        if last is None:
            raise Conflict("There is nothing to undo.", code="nothing_to_undo")
        last.undone = True
        last.save(update_fields=["undone"])
        after = MixSettings.from_dict(last.before)
        change = _change_mix(project, user, after, action="undo", summary=f"Undid: {last.summary}")
        if last.suggestion and last.suggestion.status == SuggestionStatus.ACCEPTED:
            suggestion = last.suggestion
            suggestion.status = SuggestionStatus.PROPOSED
            suggestion.decided_by, suggestion.decided_at = None, None
            suggestion.save()
            _record(suggestion, "suggestion.decided", user)
    return change


# --- Previews ------------------------------------------------------------------------


def suggestion_preview(
    *, user: AbstractBaseUser, project_id: int, suggestion_id: Any, amount: Any = 100
) -> Suggestion:
    """Ask for a preview of a suggestion at ``amount`` percent (anyone who may discuss it):
    a worker renders the original and the move, matched in loudness."""
    membership_require(user=user, project_id=project_id, role=Role.COMMENTER)
    amount = _amount(amount)
    with transaction.atomic():
        suggestion = _suggestion_in(project_id, suggestion_id, lock=True)
        if suggestion.preview_spec is None:
            raise Conflict(
                "This suggestion is advice; there is nothing to render.", code="no_preview"
            )
        wanted = (JobStatus.DONE, JobStatus.QUEUED, JobStatus.RUNNING)
        if suggestion.preview_status in wanted and suggestion.preview_amount == amount:
            return suggestion  # ready, or on its way
        suggestion.preview_status = JobStatus.QUEUED
        suggestion.preview_amount = amount
        suggestion.preview_error = ""
        suggestion.preview_queued_at = timezone.now()
        suggestion.save()
        _record(suggestion, "suggestion.preview", user)
        transaction.on_commit(jobs_wake)
    return suggestion


def _forget_preview(suggestion: Suggestion) -> None:
    """Drop a suggestion's rendered preview; its files leave storage after commit."""
    names = preview_file_names(suggestion.preview_files)
    suggestion.preview_status, suggestion.preview_files = "", None
    if names:
        transaction.on_commit(lambda: delete_files(names))


def preview_claim(*, worker: str) -> Suggestion | None:
    with transaction.atomic():
        suggestion = (
            Suggestion.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("project")
            .filter(preview_status=JobStatus.QUEUED)
            .order_by("preview_queued_at", "pk")
            .first()
        )
        if suggestion is None:
            return None
        suggestion.preview_status = JobStatus.RUNNING
        suggestion.preview_worker = worker[:80]
        suggestion.save(update_fields=["preview_status", "preview_worker"])
    return suggestion


def preview_finish(
    *, suggestion: Suggestion, amount: int, files: dict[str, str] | None, error: str = ""
) -> bool:
    """Store a rendered preview (or why it failed), unless another amount was asked for
    meanwhile. Returns whether it was stored."""
    with transaction.atomic():
        current = (
            Suggestion.objects.select_for_update(of=("self",))
            .select_related("project")
            .filter(pk=suggestion.pk, preview_status=JobStatus.RUNNING, preview_amount=amount)
            .first()
        )
        if current is None:
            return False
        _forget_preview(current)
        current.preview_status = JobStatus.DONE if files else JobStatus.FAILED
        current.preview_files = files
        current.preview_error = error[:2000]
        current.save()
        _record(current, "suggestion.preview")
    return True
