"""The JSON API for scripts, with token authentication and an OpenAPI document.

Served under /api/: the document at /api/openapi.json and a browsable version at
/api/docs. Send ``Authorization: Bearer <token>``; tokens are made on the account
page. Every endpoint calls the same service functions as the pages and the socket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Body, Field, File, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.files import UploadedFile
from ninja.responses import Status
from ninja.security import HttpBearer

from . import events, ideas, selectors, services, suggestions, versions
from .errors import Invalid, ServiceError
from .models import ApiToken, Role
from .services import MAX_ROW_ID
from .uploads import raise_if_oversized
from .views import idea_midi_response, stem_file_response, version_file_response

# An id in a path: a larger number than the database holds is refused as invalid (422)
# before any query, where it would fail as a server error.
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        row = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=ApiToken.hash_key(token), user__is_active=True)
            .first()
        )
        if row is None:
            return None
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
        request.user = row.user
        return row.user


api = NinjaAPI(
    title="Studio API",
    version="1",
    description="Projects, members, stems and the event log of the collaborative studio.",
    auth=TokenAuth(),
    urls_namespace="api",
)


class Error(Schema):
    code: str
    message: str
    detail: list[dict[str, Any]] | None = None


class ErrorOut(Schema):
    error: Error


def error_response(
    request: HttpRequest, status: int, code: str, message: str, **extra: Any
) -> HttpResponse:
    body = {"error": {"code": code, "message": message, **extra}}
    return api.create_response(request, body, status=status)


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return error_response(
        request,
        401,
        "unauthorized",
        "Send 'Authorization: Bearer <token>' with a token from the API tokens page.",
    )


@api.exception_handler(ValidationError)
def invalid_request(request: HttpRequest, error: ValidationError) -> HttpResponse:
    problems = [
        f"{'.'.join(str(part) for part in e['loc'][1:]) or 'body'}: {e['msg']}"
        for e in error.errors
    ]
    return error_response(request, 422, "invalid_request", "; ".join(problems), detail=error.errors)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    """django-ninja's own refusals, in the API's error shape rather than its ``detail``."""
    if error.__cause__ is not None and error.status_code == 400:
        # Raised by ninja when it cannot parse the body (the cause says why).
        return error_response(
            request,
            400,
            "bad_body",
            "The request body cannot be read: send a JSON object with "
            "'Content-Type: application/json' (or a multipart form for uploads).",
        )
    return error_response(request, error.status_code, "http_error", str(error))


@api.exception_handler(ServiceError)
def service_error(request: HttpRequest, error: ServiceError) -> HttpResponse:
    return error_response(request, error.status, error.code, error.message)


# --- Schemas -------------------------------------------------------------------------


class ProjectIn(Schema):
    name: str


class ProjectOut(Schema):
    id: int
    name: str
    owner: str
    role: str
    last_seq: int
    created_at: datetime
    updated_at: datetime


class MemberIn(Schema):
    who: str
    role: str


class RoleIn(Schema):
    role: str


class MemberOut(Schema):
    user_id: int
    username: str
    role: str


class StemOut(Schema):
    id: int
    name: str
    original_name: str
    format: str
    subtype: str
    sample_rate: int
    channels: int
    duration_s: float
    size_bytes: int
    checksum: str
    position: int
    uploaded_by: str | None
    uploaded_at: str


class StemPatch(Schema):
    name: str


class OrderIn(Schema):
    order: list[int]


class Actor(Schema):
    id: int
    username: str


class EventOut(Schema):
    seq: int
    type: str
    at: str
    actor: Actor | None
    payload: dict[str, Any]
    summary: str


class CommentIn(Schema):
    body: str
    stem_id: int | None = None
    at_s: float | None = None
    suggestion_id: int | None = None
    parent_id: int | None = None
    version_id: int | None = None
    end_s: float | None = None
    idea_id: int | None = None


class CommentOut(Schema):
    id: int
    author: str | None
    stem_id: int | None
    suggestion_id: int | None
    idea_id: int | None
    parent_id: int | None
    version_id: int | None
    end_s: float | None
    at_s: float | None
    body: str
    created_at: str


class SuggestionStem(Schema):
    id: int
    name: str


class PreviewOut(Schema):
    possible: bool
    status: str | None
    amount: int
    error: str
    version: str
    info: dict[str, Any] | None


class SuggestionOut(Schema):
    id: int
    scope: str
    kind: str
    code: str
    title: str
    reason: str
    stems: list[SuggestionStem]
    move: list[dict[str, Any]]
    measure: dict[str, Any]
    detail: dict[str, Any]
    confidence: float
    status: str
    amount: int
    decided_by: str | None
    decided_at: str | None
    created_at: str
    author: str
    preview: PreviewOut
    comments: list[CommentOut]


class IdeaIn(Schema):
    kind: str
    section: int | None = None
    options: dict[str, Any] | None = None
    seed: int | None = None


class SeedIn(Schema):
    seed: int | None = None


class IdeaDecisionIn(Schema):
    decision: str


class IdeaAudioOut(Schema):
    available: list[str]
    version: str
    info: dict[str, Any] | None


class IdeaOut(Schema):
    id: int
    kind: str
    kind_name: str
    section: int | None
    section_label: str
    options: dict[str, Any]
    seed: int
    based_on: str = Field(description="The input_key of the mix analysis it was written from")
    parent_id: int | None
    requested_by: str | None
    author: str
    status: str
    progress: float
    attempts: int
    error: str
    title: str
    reasoning: str
    content: dict[str, Any] | None
    audio: IdeaAudioOut
    decision: str
    decided_by: str | None
    decided_at: str | None
    created_at: str
    comments: list[CommentOut]


class DecisionIn(Schema):
    decision: str
    amount: int = 100


class AmountIn(Schema):
    amount: int = 100


class VersionIn(Schema):
    name: str
    notes: str = ""
    formats: list[str] | None = None


class VersionOut(Schema):
    id: int
    number: int
    label: str
    name: str
    notes: str
    formats: list[str]
    status: str
    progress: float
    attempts: int
    error: str
    created_by: str | None
    created_at: str
    finished_at: str | None
    available: list[str]
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    duration_s: float | None
    clipped_samples: int | None
    ai_moves: int


# Settings are checked by the mixing engine's own from_dict (clear messages naming the
# field), so the API takes them as a free-form JSON object.
SettingsIn = Annotated[dict[str, Any], Body()]


class MixOut(Schema):
    revision: int
    stems: dict[str, dict[str, Any]]
    bus: dict[str, Any]
    default_stem: dict[str, Any]
    last_change: str | None
    can_undo: bool


ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
}


def project_out(project: Any, role: str) -> dict[str, Any]:
    return {
        "id": project.pk,
        "name": project.name,
        "owner": project.owner.get_username(),
        "role": role,
        "last_seq": project.last_seq,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }


def member_of(request: HttpRequest, project_id: int, role: str = Role.VIEWER) -> Any:
    return services.membership_require(user=request.user, project_id=project_id, role=role)


# --- Projects ------------------------------------------------------------------------


@api.get("/projects", response={200: list[ProjectOut], **ERRORS}, tags=["projects"])
def list_projects(request: HttpRequest) -> list[dict[str, Any]]:
    rows = selectors.project_list_for(user=request.user).prefetch_related("memberships")
    roles = dict(request.user.memberships.values_list("project_id", "role"))
    return [project_out(p, roles[p.pk]) for p in rows]


@api.post("/projects", response={201: ProjectOut, **ERRORS}, tags=["projects"])
def create_project(request: HttpRequest, body: ProjectIn) -> Status[Any]:
    project = services.project_create(user=request.user, name=body.name)
    return Status(201, project_out(project, Role.OWNER))


@api.get("/projects/{project_id}", response={200: ProjectOut, **ERRORS}, tags=["projects"])
def get_project(request: HttpRequest, project_id: RowId) -> dict[str, Any]:
    membership = member_of(request, project_id)
    return project_out(membership.project, membership.role)


@api.patch("/projects/{project_id}", response={200: ProjectOut, **ERRORS}, tags=["projects"])
def rename_project(request: HttpRequest, project_id: RowId, body: ProjectIn) -> dict[str, Any]:
    project = services.project_rename(user=request.user, project_id=project_id, name=body.name)
    return project_out(project, member_of(request, project_id).role)


@api.delete("/projects/{project_id}", response={204: None, **ERRORS}, tags=["projects"])
def delete_project(request: HttpRequest, project_id: RowId) -> Status[Any]:
    services.project_delete(user=request.user, project_id=project_id)
    return Status(204, None)


# --- Members -------------------------------------------------------------------------


@api.get(
    "/projects/{project_id}/members", response={200: list[MemberOut], **ERRORS}, tags=["members"]
)
def list_members(request: HttpRequest, project_id: RowId) -> list[dict[str, Any]]:
    member_of(request, project_id)
    return [services.member_payload(m) for m in selectors.project_members(project_id=project_id)]


@api.post("/projects/{project_id}/members", response={201: MemberOut, **ERRORS}, tags=["members"])
def invite_member(request: HttpRequest, project_id: RowId, body: MemberIn) -> Status[Any]:
    membership = services.member_invite(
        user=request.user, project_id=project_id, who=body.who, role=body.role
    )
    return Status(201, services.member_payload(membership))


@api.patch(
    "/projects/{project_id}/members/{user_id}",
    response={200: MemberOut, **ERRORS},
    tags=["members"],
)
def change_role(request: HttpRequest, project_id: RowId, user_id: RowId, body: RoleIn) -> Any:
    membership = services.member_change_role(
        user=request.user, project_id=project_id, member_user_id=user_id, role=body.role
    )
    return services.member_payload(membership)


@api.delete(
    "/projects/{project_id}/members/{user_id}", response={204: None, **ERRORS}, tags=["members"]
)
def remove_member(request: HttpRequest, project_id: RowId, user_id: RowId) -> Status[Any]:
    services.member_remove(user=request.user, project_id=project_id, member_user_id=user_id)
    return Status(204, None)


# --- Stems ---------------------------------------------------------------------------


@api.get("/projects/{project_id}/stems", response={200: list[StemOut], **ERRORS}, tags=["stems"])
def list_stems(request: HttpRequest, project_id: RowId) -> list[dict[str, Any]]:
    member_of(request, project_id)
    return [services.stem_payload(s) for s in selectors.project_stems(project_id=project_id)]


@api.post("/projects/{project_id}/stems", response={201: StemOut, **ERRORS}, tags=["stems"])
def upload_stem(
    request: HttpRequest, project_id: RowId, file: File[UploadedFile | None] = None
) -> Status[Any]:
    """Upload one audio file (multipart field ``file``): WAV, FLAC, AIFF, OGG Vorbis or MP3."""
    member_of(request, project_id, Role.EDITOR)
    raise_if_oversized(request)
    if file is None:
        raise Invalid("Send the audio file in the multipart field 'file'.", code="no_file")
    stem = services.stem_upload(
        user=request.user,
        project_id=project_id,
        upload=services.Upload(
            path=services.temporary_path_of(file),
            original_name=file.name,
            size_bytes=file.size,
            checksum=getattr(file, "sha256", None),
        ),
    )
    return Status(201, services.stem_payload(stem))


# Registered before the /stems/{stem_id} routes: that pattern would also match "order".
@api.put("/projects/{project_id}/stems/order", response={200: OrderIn, **ERRORS}, tags=["stems"])
def order_stems(request: HttpRequest, project_id: RowId, body: OrderIn) -> dict[str, Any]:
    order = services.stem_reorder(user=request.user, project_id=project_id, order=body.order)
    return {"order": order}


@api.get(
    "/projects/{project_id}/stems/{stem_id}", response={200: StemOut, **ERRORS}, tags=["stems"]
)
def get_stem(request: HttpRequest, project_id: RowId, stem_id: RowId) -> dict[str, Any]:
    stem = services.stem_get(user=request.user, project_id=project_id, stem_id=stem_id)
    return services.stem_payload(stem)


@api.patch(
    "/projects/{project_id}/stems/{stem_id}", response={200: StemOut, **ERRORS}, tags=["stems"]
)
def rename_stem(
    request: HttpRequest, project_id: RowId, stem_id: RowId, body: StemPatch
) -> dict[str, Any]:
    stem = services.stem_rename(
        user=request.user, project_id=project_id, stem_id=stem_id, name=body.name
    )
    return services.stem_payload(stem)


@api.delete(
    "/projects/{project_id}/stems/{stem_id}", response={204: None, **ERRORS}, tags=["stems"]
)
def delete_stem(request: HttpRequest, project_id: RowId, stem_id: RowId) -> Status[Any]:
    services.stem_delete(user=request.user, project_id=project_id, stem_id=stem_id)
    return Status(204, None)


@api.get(
    "/projects/{project_id}/stems/{stem_id}/download",
    response={200: None, **ERRORS},
    tags=["stems"],
)
def download_stem(request: HttpRequest, project_id: RowId, stem_id: RowId) -> HttpResponse:
    """The original file, byte for byte, under its original name."""
    stem = services.stem_get(user=request.user, project_id=project_id, stem_id=stem_id)
    return stem_file_response(request, stem)


# --- Analyses ------------------------------------------------------------------------


class AnalysisOut(Schema):
    id: int
    target: str
    stem_id: int | None
    label: str
    status: str
    progress: float
    attempts: int
    error: str
    summary: dict[str, Any] | None
    finished_at: str | None
    input_key: str = Field(description="What it is of: changes when the stems it reads change")


class AnalysisDetailOut(Schema):
    analysis: AnalysisOut
    report: dict[str, Any] | None
    masking: dict[str, Any] | None


@api.get(
    "/projects/{project_id}/analyses",
    response={200: list[AnalysisOut], **ERRORS},
    tags=["analyses"],
)
def list_analyses(request: HttpRequest, project_id: RowId) -> list[dict[str, Any]]:
    """Every stem's analysis and the mix's: status, progress and headline figures."""
    member_of(request, project_id)
    rows = selectors.project_analyses(project_id=project_id)
    return [services.analysis_payload(a) for a in rows]


@api.get(
    "/projects/{project_id}/analyses/{analysis_id}",
    response={200: AnalysisDetailOut, **ERRORS},
    tags=["analyses"],
)
def get_analysis(request: HttpRequest, project_id: RowId, analysis_id: RowId) -> dict[str, Any]:
    """One analysis with its whole report (loudness, rhythm, key, spectrum, stereo, ...)."""
    analysis = services.analysis_get(
        user=request.user, project_id=project_id, analysis_id=analysis_id
    )
    return {
        "analysis": services.analysis_payload(analysis),
        "report": analysis.report,
        "masking": analysis.masking,
    }


# --- Comments and events -------------------------------------------------------------


@api.get(
    "/projects/{project_id}/comments", response={200: list[CommentOut], **ERRORS}, tags=["comments"]
)
def list_comments(request: HttpRequest, project_id: RowId) -> list[dict[str, Any]]:
    member_of(request, project_id)
    return [services.comment_payload(c) for c in selectors.project_comments(project_id=project_id)]


@api.post(
    "/projects/{project_id}/comments", response={201: CommentOut, **ERRORS}, tags=["comments"]
)
def post_comment(request: HttpRequest, project_id: RowId, body: CommentIn) -> Status[Any]:
    comment = services.comment_post(
        user=request.user,
        project_id=project_id,
        body=body.body,
        stem_id=body.stem_id,
        at_s=body.at_s,
        suggestion_id=body.suggestion_id,
        parent_id=body.parent_id,
        version_id=body.version_id,
        end_s=body.end_s,
        idea_id=body.idea_id,
    )
    return Status(201, services.comment_payload(comment))


# --- Suggestions and the mix -----------------------------------------------------------


@api.get(
    "/projects/{project_id}/suggestions",
    response={200: list[SuggestionOut], **ERRORS},
    tags=["suggestions"],
)
def list_suggestions(request: HttpRequest, project_id: RowId) -> list[dict[str, Any]]:
    """The engine's mixing suggestions (all labelled author "engine"), with their measured
    effect, what people decided, and their discussion."""
    member_of(request, project_id)
    rows = selectors.suggestion_feed(project_id=project_id)
    return [suggestions.suggestion_thread_payload(s) for s in rows]


@api.post(
    "/projects/{project_id}/suggestions/{suggestion_id}/decision",
    response={200: SuggestionOut, **ERRORS},
    tags=["suggestions"],
)
def decide_suggestion(
    request: HttpRequest, project_id: RowId, suggestion_id: RowId, body: DecisionIn
) -> dict[str, Any]:
    """Accept (the move joins the mix settings at ``amount`` percent) or reject; editors."""
    suggestion = suggestions.suggestion_decide(
        user=request.user,
        project_id=project_id,
        suggestion_id=suggestion_id,
        decision=body.decision,
        amount=body.amount,
    )
    return suggestions.suggestion_thread_payload(suggestion)


@api.post(
    "/projects/{project_id}/suggestions/{suggestion_id}/preview",
    response={202: SuggestionOut, **ERRORS},
    tags=["suggestions"],
)
def preview_suggestion(
    request: HttpRequest, project_id: RowId, suggestion_id: RowId, body: AmountIn
) -> Status[Any]:
    """Ask for a loudness-matched preview at ``amount`` percent; a suggestion.preview event
    says when it is ready."""
    suggestion = suggestions.suggestion_preview(
        user=request.user, project_id=project_id, suggestion_id=suggestion_id, amount=body.amount
    )
    return Status(202, suggestions.suggestion_thread_payload(suggestion))


@api.get("/projects/{project_id}/mix", response={200: MixOut, **ERRORS}, tags=["mix"])
def get_mix(request: HttpRequest, project_id: RowId) -> dict[str, Any]:
    """The project's mix settings: per stem and for the bus."""
    return suggestions.mix_payload(member_of(request, project_id).project)


@api.put(
    "/projects/{project_id}/mix/stems/{stem_id}", response={200: MixOut, **ERRORS}, tags=["mix"]
)
def set_stem_mix(
    request: HttpRequest, project_id: RowId, stem_id: RowId, body: SettingsIn
) -> dict[str, Any]:
    """Replace one stem's settings (gain_db, pan, mute, width, mono_below_hz, highpass_hz,
    eq, compressor, gate); editors."""
    change = suggestions.mix_update(
        user=request.user, project_id=project_id, stem_id=stem_id, settings=body
    )
    return suggestions.mix_payload(change.project)


@api.put("/projects/{project_id}/mix/bus", response={200: MixOut, **ERRORS}, tags=["mix"])
def set_bus_mix(request: HttpRequest, project_id: RowId, body: SettingsIn) -> dict[str, Any]:
    """Replace the bus settings (gain_db, ceiling_dbtp, release_ms, target); editors."""
    change = suggestions.mix_update(user=request.user, project_id=project_id, settings=body)
    return suggestions.mix_payload(change.project)


@api.post("/projects/{project_id}/mix/undo", response={200: MixOut, **ERRORS}, tags=["mix"])
def undo_mix(request: HttpRequest, project_id: RowId) -> dict[str, Any]:
    """Undo the newest change of the mix settings; editors."""
    change = suggestions.mix_undo(user=request.user, project_id=project_id)
    return suggestions.mix_payload(change.project)


@api.get("/projects/{project_id}/events", response={200: list[EventOut], **ERRORS}, tags=["events"])
def list_events(
    request: HttpRequest, project_id: RowId, after: int = 0, limit: int = 500
) -> list[dict[str, Any]]:
    """The project's event log after sequence number ``after``, oldest first."""
    if not 0 <= after <= MAX_ROW_ID or not 1 <= limit <= 1000:
        raise Invalid("after must be 0 or more and limit between 1 and 1000.")
    rows = selectors.event_feed(
        user=request.user, project_id=project_id, after_seq=after, limit=limit
    )
    return [events.serialize(row) for row in rows]


# --- Mix versions ------------------------------------------------------------------------


@api.get(
    "/projects/{project_id}/versions", response={200: list[VersionOut], **ERRORS}, tags=["versions"]
)
def list_versions(request: HttpRequest, project_id: RowId) -> list[dict[str, Any]]:
    """Every rendered (or rendering) version of the project's mix, oldest first."""
    member_of(request, project_id)
    rows = selectors.project_versions(project_id=project_id)
    return [versions.version_payload(v) for v in rows]


@api.post(
    "/projects/{project_id}/versions", response={201: VersionOut, **ERRORS}, tags=["versions"]
)
def create_version(request: HttpRequest, project_id: RowId, body: VersionIn) -> Status[Any]:
    """Snapshot the mix as the next version and queue its render (editors); formats from
    wav, flac and mp3 (all three by default). version.* events follow its progress."""
    version = versions.version_create(
        user=request.user,
        project_id=project_id,
        name=body.name,
        notes=body.notes,
        formats=body.formats,
    )
    return Status(201, versions.version_payload(version))


@api.get(
    "/projects/{project_id}/versions/{version_id}/manifest",
    response={200: dict[str, Any], **ERRORS},
    tags=["versions"],
)
def version_manifest(request: HttpRequest, project_id: RowId, version_id: RowId) -> dict[str, Any]:
    """What made the version: stems by SHA-256, settings, and where each came from."""
    return versions.version_get(
        user=request.user, project_id=project_id, version_id=version_id
    ).manifest


@api.get(
    "/projects/{project_id}/versions/{version_id}/files/{fmt}",
    response={200: None, **ERRORS},
    tags=["versions"],
)
def download_version(request: HttpRequest, project_id: RowId, version_id: RowId, fmt: str) -> Any:
    """The rendered file in one format (wav, flac or mp3)."""
    version = versions.version_get(user=request.user, project_id=project_id, version_id=version_id)
    return version_file_response(request, version, fmt, download=True)


# --- Arrangement ideas -----------------------------------------------------------------


@api.get("/projects/{project_id}/ideas", response={200: list[IdeaOut], **ERRORS}, tags=["ideas"])
def list_ideas(request: HttpRequest, project_id: RowId) -> list[dict[str, Any]]:
    """The arrangement ideas the engine wrote on request (all labelled author "engine",
    AI-generated), with what people decided and their discussion."""
    member_of(request, project_id)
    return [ideas.idea_thread_payload(i) for i in selectors.project_ideas(project_id=project_id)]


@api.post("/projects/{project_id}/ideas", response={202: IdeaOut, **ERRORS}, tags=["ideas"])
def request_idea(request: HttpRequest, project_id: RowId, body: IdeaIn) -> Status[Any]:
    """Ask for an idea: ``kind`` is chords, reharmonise, drums, bass, melody or moves;
    ``section`` the index of one of the mix's sections (null: a new one); an idea.done
    event says when it is written and rendered. The same seed gives the same idea."""
    idea = ideas.idea_request(
        user=request.user,
        project_id=project_id,
        kind=body.kind,
        section=body.section,
        options=body.options,
        seed=body.seed,
    )
    return Status(202, ideas.idea_thread_payload(idea))


@api.post(
    "/projects/{project_id}/ideas/{idea_id}/variation",
    response={202: IdeaOut, **ERRORS},
    tags=["ideas"],
)
def vary_idea(request: HttpRequest, project_id: RowId, idea_id: RowId, body: SeedIn) -> Status[Any]:
    """The same request again with another seed (or the seed given)."""
    idea = ideas.idea_regenerate(
        user=request.user, project_id=project_id, idea_id=idea_id, seed=body.seed
    )
    return Status(202, ideas.idea_thread_payload(idea))


@api.post(
    "/projects/{project_id}/ideas/{idea_id}/decision",
    response={200: IdeaOut, **ERRORS},
    tags=["ideas"],
)
def decide_idea(
    request: HttpRequest, project_id: RowId, idea_id: RowId, body: IdeaDecisionIn
) -> dict[str, Any]:
    """Keep or discard a written idea; editors."""
    idea = ideas.idea_decide(
        user=request.user, project_id=project_id, idea_id=idea_id, decision=body.decision
    )
    return ideas.idea_thread_payload(idea)


@api.get(
    "/projects/{project_id}/ideas/{idea_id}/midi", response={200: None, **ERRORS}, tags=["ideas"]
)
def idea_midi(request: HttpRequest, project_id: RowId, idea_id: RowId) -> Any:
    """The idea as a Standard MIDI File (type 1, 480 ticks per beat) at the song's tempo."""
    idea = ideas.idea_get(user=request.user, project_id=project_id, idea_id=idea_id)
    return idea_midi_response(idea)
