"""Services for arrangement ideas: ask, generate, hear, discuss, keep or discard.

A person asks for an idea of a kind (chords for the bridge, a drum pattern, ...) with
``idea_request``; a worker generates it from the latest analysis of the mix (its key,
tempo, beat grid, sections and chords) and renders it to audio in time with the song
(``idea_claim`` ... ``idea_finish``); people hear it, discuss it (``comment_post`` with an
idea) and an editor keeps or discards it (``idea_decide``). A variation is a new request
with another seed (``idea_regenerate``); the same seed on the same analysis gives the same
idea. Every idea is AI-generated and says so wherever it is shown.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from studio.processing import ideas as engine_ideas
from studio.processing.ideas import Idea as EngineIdea
from studio.processing.midi import to_midi

from . import events, jobrows, services
from .errors import Conflict, Invalid, NotFound
from .models import MIX_TARGET, Analysis, Idea, IdeaDecision, JobStatus, Project, Role
from .services import comment_payload, fits_id, jobs_wake, membership_require

SEED_MAX = 2**31 - 1
KIND_NAMES = {
    "chords": "Chord progression",
    "reharmonise": "Reharmonisation",
    "drums": "Drum pattern",
    "bass": "Bass line",
    "melody": "Melody sketch",
    "moves": "Arrangement moves",
}
ORIGINALITY = (
    "Ideas are generated from this song's own analysis (its key, tempo, beat grid, chords "
    "and sections) and from music theory, by rules written for this studio. They are not "
    "drawn from, trained on or copied from any recording."
)


def kinds_payload() -> list[dict[str, Any]]:
    """What can be asked for: each kind with its options, their choices and defaults (a
    choice of None is a number, such as a melody's lowest note)."""
    return [
        {
            "kind": kind,
            "name": KIND_NAMES[kind],
            "options": {
                name: {
                    "choices": list(choices) if choices is not None else None,
                    "default": engine_ideas.DEFAULTS[kind].get(name),
                }
                for name, choices in engine_ideas.OPTIONS[kind].items()
            },
        }
        for kind in engine_ideas.KINDS
    ]


# --- Payloads --------------------------------------------------------------------------


def idea_payload(idea: Idea) -> dict[str, Any]:
    return {
        "id": idea.pk,
        "kind": idea.kind,
        "kind_name": KIND_NAMES.get(idea.kind, idea.kind),
        "section": idea.section,
        "section_label": idea.section_label,
        "options": idea.options,
        "seed": idea.seed,
        "based_on": idea.based_on,
        "parent_id": idea.parent_id,
        "requested_by": idea.requested_by.get_username() if idea.requested_by else None,
        "author": "engine",
        "status": idea.status,
        "progress": round(idea.progress, 3),
        "attempts": idea.attempts,
        "error": idea.error,
        "title": idea.title,
        "reasoning": idea.reasoning,
        "content": idea.content,
        "audio": {
            "available": sorted(k for k in idea.files if k in ("with_song", "alone")),
            # Changes with every render, so that browsers never play a stale cached file.
            "version": hashlib.sha256(json.dumps(idea.files, sort_keys=True).encode()).hexdigest()[
                :12
            ],
            "info": idea.files.get("info"),
        },
        "decision": idea.decision,
        "decided_by": idea.decided_by.get_username() if idea.decided_by else None,
        "decided_at": idea.decided_at.isoformat() if idea.decided_at else None,
        "created_at": idea.created_at.isoformat(),
    }


def idea_thread_payload(idea: Idea) -> dict[str, Any]:
    """An idea with its discussion."""
    return idea_payload(idea) | {"comments": [comment_payload(c) for c in idea.comments.all()]}


def _record(idea: Idea, type: str, actor: Any = None) -> None:
    events.record(
        project=idea.project, type=type, actor=actor, payload={"idea": idea_payload(idea)}
    )


def _rows():
    return Idea.objects.select_related("project", "requested_by", "decided_by")


# --- People ask ------------------------------------------------------------------------


def mix_analysis_done(project_id: int) -> Analysis:
    """The finished analysis of the project's mix that ideas stand on."""
    analysis = Analysis.objects.filter(
        project_id=project_id, target=MIX_TARGET, status=JobStatus.DONE
    ).first()
    if analysis is not None and not (analysis.report or {}).get("structure"):
        services.mix_reanalyse(analysis.project)
        raise Conflict(
            "The mix was analysed by an older engine, without its chords and sections: it "
            "is being analysed again. Ask again when that is done.",
            code="mix_reanalysing",
        )
    if analysis is None:
        raise Conflict(
            "The mix has not been analysed yet: ideas stand on its key, tempo, chords and "
            "sections. Wait for the mix analysis to finish.",
            code="no_mix_analysis",
        )
    return analysis


def _options(kind: Any, options: Any) -> dict[str, Any]:
    if kind not in engine_ideas.KINDS:
        raise Invalid(f"kind must be one of {', '.join(engine_ideas.KINDS)}.", code="invalid_kind")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise Invalid("options must be an object.", code="invalid_options")
    try:
        return engine_ideas.check_options(kind, options)
    except ValueError as error:
        raise Invalid(str(error), code="invalid_options") from None


def _seed(value: Any) -> int:
    if value is None:
        return secrets.randbelow(SEED_MAX + 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise Invalid(f"seed must be a whole number from 0 to {SEED_MAX}.", code="invalid_seed")
    return value


def _section(analysis: Analysis, value: Any) -> tuple[int | None, str]:
    """The section index asked for (None: a new section) and its label."""
    if value is None:
        return None, "new section"
    sections = analysis.report["structure"].get("sections") or []
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(sections):
        raise Invalid(
            f"section must be the number of one of the song's {len(sections)} sections "
            "(0 for the first), or null for a new one.",
            code="invalid_section",
        )
    return value, str(sections[value].get("label", ""))[:40]


def idea_request(
    *,
    user: AbstractBaseUser,
    project_id: int,
    kind: Any,
    section: Any = None,
    options: Any = None,
    seed: Any = None,
    parent: Idea | None = None,
) -> Idea:
    """Ask the engine for an idea of ``kind`` for one section of the song (commenters and
    above: an idea changes nothing until an editor keeps it)."""
    membership_require(user=user, project_id=project_id, role=Role.COMMENTER)
    options = _options(kind, options)
    seed = _seed(seed)
    analysis = mix_analysis_done(project_id)
    section, label = _section(analysis, section)
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project_id)
        idea = Idea.objects.create(
            project=project,
            kind=kind,
            section=section,
            section_label=label,
            options=options,
            seed=seed,
            based_on=analysis.input_key,
            parent=parent,
            requested_by=user,
        )
        _record(idea, "idea.requested", user)
        transaction.on_commit(jobs_wake)
    return idea


def idea_regenerate(
    *, user: AbstractBaseUser, project_id: int, idea_id: Any, seed: Any = None
) -> Idea:
    """A variation: the same request with another seed (or the one given)."""
    membership_require(user=user, project_id=project_id, role=Role.COMMENTER)
    original = _idea_in(project_id, idea_id)
    return idea_request(
        user=user,
        project_id=project_id,
        kind=original.kind,
        section=original.section,
        options=original.options,
        seed=seed,
        parent=original,
    )


def _idea_in(project_id: int, idea_id: Any, *, lock: bool = False) -> Idea:
    if not fits_id(idea_id):
        raise Invalid("idea must be an idea's id.", code="invalid_idea")
    rows = _rows().select_for_update(of=("self",)) if lock else _rows()
    idea = rows.filter(pk=idea_id, project_id=project_id).first()
    if idea is None:
        raise NotFound("No such idea in this project.", code="no_such_idea")
    return idea


def idea_get(*, user: AbstractBaseUser, project_id: int, idea_id: Any) -> Idea:
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    return _idea_in(project_id, idea_id)


def idea_list(*, user: AbstractBaseUser, project_id: int) -> list[Idea]:
    membership_require(user=user, project_id=project_id, role=Role.VIEWER)
    return list(_rows().filter(project_id=project_id))


def idea_decide(*, user: AbstractBaseUser, project_id: int, idea_id: Any, decision: Any) -> Idea:
    """Keep or discard a generated idea (editors and owners); records who and when."""
    membership_require(user=user, project_id=project_id, role=Role.EDITOR)
    if decision not in ("keep", "discard"):
        raise Invalid("decision must be keep or discard.", code="invalid_decision")
    with transaction.atomic():
        idea = _idea_in(project_id, idea_id, lock=True)
        if idea.status != JobStatus.DONE:
            raise Conflict("Only an idea that is ready can be kept or discarded.", code="not_ready")
        if idea.decision != IdeaDecision.OPEN:
            raise Conflict(f"This idea is already {idea.decision}.", code="already_decided")
        idea.decision = IdeaDecision.KEPT if decision == "keep" else IdeaDecision.DISCARDED
        idea.decided_by, idea.decided_at = user, timezone.now()
        idea.save()
        _record(idea, "idea.decided", user)
    return idea


def ideas_kept(project: Project) -> list[dict[str, Any]]:
    """The kept ideas, as a version's provenance manifest lists them."""
    kept = _rows().filter(project=project, decision=IdeaDecision.KEPT)
    return [
        {
            "idea_id": idea.pk,
            "kind": idea.kind,
            "title": idea.title,
            "section_label": idea.section_label,
            "seed": idea.seed,
            "author": "engine (AI-generated)",
            "requested_by": idea.requested_by.get_username() if idea.requested_by else None,
            "kept_by": idea.decided_by.get_username() if idea.decided_by else None,
            "kept_at": idea.decided_at.isoformat() if idea.decided_at else None,
        }
        for idea in kept
    ]


# --- The idea job ----------------------------------------------------------------------


def _tell(idea: Idea, what: str) -> None:
    _record(idea, f"idea.{what}")


def idea_claim(*, worker: str) -> Idea | None:
    """Take the oldest queued idea; one tried MAX_ATTEMPTS times fails instead."""
    return jobrows.claim(_rows(), worker=worker, tell=_tell)


def idea_progress(*, idea: Idea, progress: float) -> None:
    jobrows.progress(Idea.objects, idea.pk, progress)
    events.notify(idea.project_id, {"kind": "idea.progress", "id": idea.pk, "progress": progress})


def idea_finish(*, idea: Idea, content: dict[str, Any], files: dict[str, Any]) -> bool:
    done = jobrows.finish(
        _rows(),
        idea.pk,
        tell=_tell,
        content=content,
        files=files,
        title=str(content.get("title", ""))[:200],
        reasoning=str(content.get("reasoning", "")),
    )
    return done is not None


def idea_fail(*, idea: Idea, error: str) -> None:
    jobrows.fail(_rows(), idea.pk, error, tell=_tell)


def idea_midi(idea: Idea) -> tuple[bytes, str]:
    """The idea as a Standard MIDI File, and a file name that says what it is."""
    if idea.status != JobStatus.DONE or not idea.content:
        raise Conflict("This idea is not written yet.", code="not_ready")
    data = to_midi(EngineIdea.from_dict(_engine_fields(idea.content)))
    name = f"{idea.project.name} - {idea.title or idea.kind} (AI idea {idea.pk}, seed {idea.seed})"
    return data, name.replace("/", "-")[:150] + ".mid"


def _engine_fields(content: dict[str, Any]) -> dict[str, Any]:
    """The stored content without what the audition added."""
    return {k: v for k, v in content.items() if k != "audition"}
