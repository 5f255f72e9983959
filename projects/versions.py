"""Services for mix versions: check, change, notify.

A person asks for a version (``version_create``): the project's stems and mix settings are
snapshotted into its manifest at that moment, with the provenance of every setting, and a
worker renders exactly that snapshot (``version_claim`` ... ``version_finish``), so that a
version is reproducible and says what made it whatever happens to the project afterwards.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from studio.processing.mixing import MixSettings
from studio.processing.render import FORMATS

from . import events, jobrows
from .errors import Conflict, Invalid, NotFound
from .models import JobStatus, MixChange, MixVersion, Project, Role, Stem, Suggestion
from .services import clean_name, jobs_wake, membership_require

NOTES_MAX = 4000
DEFAULT_FORMATS = ("wav", "flac", "mp3")
AUTHORSHIP = (
    "Every setting of this mix is listed with where it came from. A setting marked "
    "'suggested by the studio's audio engine (AI)' was proposed by the engine and applied "
    "only because the person named accepted it; a setting marked 'by hand' was made by the "
    "person named. The audio of the stems is the work of the people who recorded and "
    "uploaded them; the engine generated no audio of its own for this mix."
)


# --- Payloads ---------------------------------------------------------------------------


def version_payload(version: MixVersion) -> dict[str, Any]:
    result = version.result or {}
    return {
        "id": version.pk,
        "number": version.number,
        "label": f"v{version.number}",
        "name": version.name,
        "notes": version.notes,
        "formats": version.formats,
        "status": version.status,
        "progress": round(version.progress, 3),
        "error": version.error,
        "created_by": version.created_by.get_username() if version.created_by else None,
        "created_at": version.created_at.isoformat(),
        "finished_at": version.finished_at.isoformat() if version.finished_at else None,
        "available": sorted(version.files),
        "integrated_lufs": result.get("integrated_lufs"),
        "true_peak_dbtp": result.get("true_peak_dbtp"),
        "duration_s": result.get("duration_s"),
        "clipped_samples": result.get("clipped_samples"),
        "ai_moves": len(version.manifest.get("ai_suggestions", [])),
    }


def _record(version: MixVersion, type: str, actor: Any = None) -> None:
    events.record(
        project=version.project,
        type=type,
        actor=actor,
        payload={"version": version_payload(version)},
    )


# --- The manifest ----------------------------------------------------------------------


def manifest_build(project: Project, *, number: int, name: str, user: Any) -> dict[str, Any]:
    """The snapshot a version is rendered from, with the provenance of its settings."""
    stems = list(Stem.objects.filter(project=project).select_related("uploaded_by"))
    mix = MixSettings.from_dict(project.mix_settings)
    changes = list(
        MixChange.objects.filter(project=project, undone=False)
        .exclude(action="undo")
        .select_related("actor", "suggestion__decided_by")
        .order_by("revision")
    )
    return {
        "version": number,
        "name": name,
        "created_by": user.get_username(),
        "created_at": timezone.now().isoformat(),
        "stems": [_stem_entry(stem, mix) for stem in stems],
        "bus": mix.bus.to_dict(),
        "mix_revision": project.mix_revision,
        "history": [_change_entry(change) for change in changes],
        "ai_suggestions": [
            _change_entry(c)["suggestion"] for c in changes if c.suggestion_id is not None
        ],
        "authorship": AUTHORSHIP,
    }


def _stem_entry(stem: Stem, mix: MixSettings) -> dict[str, Any]:
    settings = mix.stem(str(stem.pk)).to_dict()
    return {
        "id": stem.pk,
        "name": stem.name,
        "original_name": stem.original_name,
        "file": stem.file.name,
        "sha256": stem.checksum,
        "sample_rate": stem.sample_rate,
        "channels": stem.channels,
        "duration_s": stem.duration_s,
        "uploaded_by": stem.uploaded_by.get_username() if stem.uploaded_by else None,
        "settings": settings,
        "eq_sources": [_source_words(band["source"]) for band in settings["eq"]],
    }


def _source_words(source: str) -> str:
    if source.startswith("suggestion:"):
        return f"suggested by the studio's audio engine (AI), suggestion #{source[11:]}"
    return "by hand"


def _change_entry(change: MixChange) -> dict[str, Any]:
    suggestion: Suggestion | None = change.suggestion
    entry: dict[str, Any] = {
        "revision": change.revision,
        "summary": change.summary,
        "by": change.actor.get_username() if change.actor else None,
        "at": change.created_at.isoformat(),
        "origin": "by hand",
        "suggestion": None,
    }
    if suggestion is not None:
        entry["origin"] = "suggested by the studio's audio engine (AI), accepted by a person"
        entry["suggestion"] = {
            "id": suggestion.pk,
            "code": suggestion.code,
            "title": suggestion.title,
            "move": suggestion.move,
            "amount_percent": suggestion.amount,
            "measure": suggestion.measure,
            "author": "engine",
            "accepted_by": suggestion.decided_by.get_username() if suggestion.decided_by else None,
            "accepted_at": suggestion.decided_at.isoformat() if suggestion.decided_at else None,
        }
    return entry


# --- People ask ------------------------------------------------------------------------


def _formats(value: Any) -> list[str]:
    if value is None:
        return list(DEFAULT_FORMATS)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Invalid("formats must be a list such as ['wav', 'flac', 'mp3'].", code="bad_formats")
    unknown = sorted(set(value) - set(FORMATS))
    if unknown:
        raise Invalid(
            f"Unknown format {', '.join(unknown)}: choose from {', '.join(FORMATS)}.",
            code="bad_formats",
        )
    return [f for f in FORMATS if f in value]


def version_create(
    *, user: AbstractBaseUser, project_id: int, name: Any, notes: Any = "", formats: Any = None
) -> MixVersion:
    """Snapshot the mix as the next numbered version and queue its render (editors)."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    name = clean_name(name, what="version name", max_length=120)
    if not isinstance(notes, str) or len(notes) > NOTES_MAX:
        raise Invalid(f"Notes are text of at most {NOTES_MAX} characters.", code="bad_notes")
    chosen = _formats(formats)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        if not Stem.objects.filter(project=project).exists():
            raise Conflict("Upload stems before rendering a mix.", code="no_stems")
        top = MixVersion.objects.filter(project=project).aggregate(top=Max("number"))["top"]
        number = (top or 0) + 1
        version = MixVersion.objects.create(
            project=project,
            number=number,
            name=name,
            notes=notes.strip(),
            formats=chosen,
            manifest=manifest_build(project, number=number, name=name, user=user),
            created_by=user,
        )
        _record(version, "version.created", user)
        transaction.on_commit(jobs_wake)
    return version


def version_get(*, user: AbstractBaseUser, project_id: int, version_id: Any) -> MixVersion:
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    return _version_in(project_id, version_id)


def _version_in(project_id: int, version_id: Any) -> MixVersion:
    if not isinstance(version_id, int) or isinstance(version_id, bool):
        raise Invalid("version must be a version's id.", code="invalid_version")
    version = (
        MixVersion.objects.select_related("project", "created_by")
        .filter(pk=version_id, project_id=project_id)
        .first()
    )
    if version is None:
        raise NotFound("No such version in this project.", code="no_such_version")
    return version


def version_retry(*, user: AbstractBaseUser, project_id: int, version_id: Any) -> MixVersion:
    """Queue a failed render again (editors)."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    with transaction.atomic():
        version = _version_in(project_id, version_id)
        if version.status != JobStatus.FAILED:
            raise Conflict("Only a failed render can be retried.", code="not_failed")
        version.status, version.progress, version.error, version.attempts = "queued", 0, "", 0
        version.save()
        _record(version, "version.queued", user)
        transaction.on_commit(jobs_wake)
    return version


# --- The render job --------------------------------------------------------------------


def _rows():
    return MixVersion.objects.select_related("project", "created_by")


def _tell(version: MixVersion, what: str) -> None:
    _record(version, f"version.{what}")


def version_claim(*, worker: str) -> MixVersion | None:
    """Take the oldest queued render; one tried MAX_ATTEMPTS times fails instead."""
    return jobrows.claim(_rows(), worker=worker, tell=_tell)


def version_progress(*, version: MixVersion, progress: float) -> None:
    """How far a render is (0 to 1): kept on the row, sent live, not logged."""
    jobrows.progress(MixVersion.objects, version.pk, progress)
    events.notify(
        version.project_id,
        {"kind": "version.progress", "id": version.pk, "progress": round(progress, 3)},
    )


def version_finish(*, version: MixVersion, files: dict[str, str], result: dict[str, Any]) -> bool:
    return jobrows.finish(_rows(), version.pk, tell=_tell, files=files, result=result) is not None


def version_fail(*, version: MixVersion, error: str) -> None:
    jobrows.fail(_rows(), version.pk, error, tell=_tell)


def version_recover() -> int:
    """Put renders left running by a stopped process back in the queue."""
    return jobrows.recover(MixVersion.objects)
