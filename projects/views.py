"""The pages and form posts of the studio. Each view parses, calls one service, answers."""

from __future__ import annotations

import functools
import json
import mimetypes
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from studio.processing.render import FORMATS

from . import events, ideas, selectors, services, sharing, suggestions, versions
from .errors import Forbidden, Invalid, NotFound, ServiceError
from .forms import SignupForm
from .media import audio_response
from .models import ApiToken, Role
from .uploads import raise_if_oversized


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Redirect to the page the form was on, if it is ours, else to ``fallback``."""
    target = request.POST.get("next") or request.headers.get("Referer") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = fallback
    return HttpResponseRedirect(target)


def door(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn a refused service call into the answer this kind of request expects."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ServiceError as error:
            if wants_json(request):
                body = {"error": {"code": error.code, "message": error.message}}
                return JsonResponse(body, status=error.status)
            if isinstance(error, NotFound) and error.code == "not_found":
                raise Http404(error.message) from None
            if request.method == "POST" and not isinstance(error, Forbidden):
                messages.error(request, error.message)
                return back(request, reverse("project_list"))
            return render(request, "error.html", {"error": error}, status=error.status)

    return wrapped


# --- Accounts ------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return redirect("project_list" if request.user.is_authenticated else "login")


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("project_list")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. Create your first project below.")
        return redirect("project_list")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@door
def tokens(request: HttpRequest) -> HttpResponse:
    new_key = None
    if request.method == "POST":
        _, new_key = services.token_create(user=request.user, name=request.POST.get("name"))
    rows = ApiToken.objects.filter(user=request.user)
    return render(request, "account/tokens.html", {"tokens": rows, "new_key": new_key})


@login_required
@require_POST
@door
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    services.token_revoke(user=request.user, token_id=token_id)
    messages.success(request, "Token revoked; scripts using it can no longer sign in.")
    return redirect("tokens")


# --- Projects ------------------------------------------------------------------------


@login_required
@door
def project_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        project = services.project_create(user=request.user, name=request.POST.get("name"))
        return redirect("project_room", project_id=project.pk)
    rows = selectors.project_list_for(user=request.user)
    return render(request, "projects/list.html", {"projects": rows})


@login_required
@require_GET
@door
def project_room(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = services.membership_require(
        user=request.user, project_id=project_id, role=Role.VIEWER
    )
    project = membership.project  # read first: its last_seq is where the browser resumes
    state = {
        "project": {"id": project.pk, "name": project.name, "last_seq": project.last_seq},
        "me": {"id": request.user.pk, "username": request.user.get_username()},
        "role": membership.role,
        "stems": [services.stem_payload(s) for s in selectors.project_stems(project_id=project_id)],
        "members": [
            services.member_payload(m) for m in selectors.project_members(project_id=project_id)
        ],
        "comments": [
            services.comment_payload(c) for c in selectors.project_comments(project_id=project_id)
        ],
        "activity": [
            events.serialize(e) for e in selectors.project_activity(project_id=project_id)
        ],
        "analyses": [
            services.analysis_payload(a) for a in selectors.project_analyses(project_id=project_id)
        ],
        "suggestions": [
            suggestions.suggestion_thread_payload(s)
            for s in selectors.suggestion_feed(project_id=project_id)
        ],
        "mix": suggestions.mix_payload(project),
        "ideas": [
            ideas.idea_thread_payload(i) for i in selectors.project_ideas(project_id=project_id)
        ],
        "idea_kinds": ideas.kinds_payload(),
        "originality": ideas.ORIGINALITY,
        "versions": [
            versions.version_payload(v) for v in selectors.project_versions(project_id=project_id)
        ],
        "shares": [
            sharing.share_payload(s)
            for s in sharing.share_list(user=request.user, project_id=project_id)
        ],
        "client": selectors.client_feedback(project_id=project_id),
        "max_upload_mb": settings.STUDIO_MAX_UPLOAD_MB,
    }
    context = {
        "project": project,
        "membership": membership,
        "state": state,
        "can_edit": membership.can(Role.EDITOR),
        "can_comment": membership.can(Role.COMMENTER),
        "is_owner": membership.role == Role.OWNER,
        "max_upload_mb": settings.STUDIO_MAX_UPLOAD_MB,
    }
    return render(request, "projects/room.html", context)


@login_required
@require_POST
@door
def project_rename(request: HttpRequest, project_id: int) -> HttpResponse:
    services.project_rename(user=request.user, project_id=project_id, name=request.POST.get("name"))
    messages.success(request, "Project renamed.")
    return back(request, reverse("project_room", args=[project_id]))


@login_required
@require_POST
@door
def project_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = services.membership_require(
        user=request.user, project_id=project_id, role=Role.OWNER
    )
    if request.POST.get("confirm_name", "").strip() != membership.project.name:
        raise Invalid("Type the project's name exactly to confirm deleting it.")
    services.project_delete(user=request.user, project_id=project_id)
    messages.success(request, f"Deleted the project “{membership.project.name}”.")
    return redirect("project_list")


# --- Members -------------------------------------------------------------------------


@login_required
@require_POST
@door
def member_invite(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = services.member_invite(
        user=request.user,
        project_id=project_id,
        who=request.POST.get("who"),
        role=request.POST.get("role"),
    )
    messages.success(request, f"Added {membership.user.username} as {membership.role}.")
    return back(request, reverse("project_room", args=[project_id]))


@login_required
@require_POST
@door
def member_role(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    services.member_change_role(
        user=request.user,
        project_id=project_id,
        member_user_id=user_id,
        role=request.POST.get("role"),
    )
    messages.success(request, "Role changed.")
    return back(request, reverse("project_room", args=[project_id]))


@login_required
@require_POST
@door
def member_remove(request: HttpRequest, project_id: int, user_id: int) -> HttpResponse:
    services.member_remove(user=request.user, project_id=project_id, member_user_id=user_id)
    if user_id == request.user.pk:
        messages.success(request, "You left the project.")
        return redirect("project_list")
    messages.success(request, "Removed from the project.")
    return back(request, reverse("project_room", args=[project_id]))


# --- Stems ---------------------------------------------------------------------------


@login_required
@require_POST
@door
def stem_upload(request: HttpRequest, project_id: int) -> HttpResponse:
    """Add the files of a multipart POST (field ``file``) as stems; answers JSON."""
    services.membership_require(user=request.user, project_id=project_id, role=Role.EDITOR)
    # Reading FILES runs the upload handlers, which note any file dropped at the limit;
    # without it the check below would depend on a middleware having parsed the body.
    files = request.FILES.getlist("file")
    raise_if_oversized(request)
    if not files:
        raise Invalid("Choose an audio file to upload.", code="no_file")
    created = []
    for uploaded in files:
        stem = services.stem_upload(
            user=request.user,
            project_id=project_id,
            upload=services.Upload(
                path=services.temporary_path_of(uploaded),
                original_name=uploaded.name,
                size_bytes=uploaded.size,
                checksum=getattr(uploaded, "sha256", None),
            ),
        )
        created.append(services.stem_payload(stem))
    return JsonResponse({"stems": created}, status=201)


@login_required
@require_POST
@door
def stem_rename(request: HttpRequest, project_id: int, stem_id: int) -> HttpResponse:
    services.stem_rename(
        user=request.user, project_id=project_id, stem_id=stem_id, name=request.POST.get("name")
    )
    if wants_json(request):
        return JsonResponse({"ok": True})
    return back(request, reverse("project_room", args=[project_id]))


@login_required
@require_POST
@door
def stem_move(request: HttpRequest, project_id: int, stem_id: int) -> HttpResponse:
    offset = -1 if request.POST.get("direction") == "up" else 1
    services.stem_move(user=request.user, project_id=project_id, stem_id=stem_id, offset=offset)
    if wants_json(request):
        return JsonResponse({"ok": True})
    return back(request, reverse("project_room", args=[project_id]))


@login_required
@require_POST
@door
def stem_order(request: HttpRequest, project_id: int) -> HttpResponse:
    # Who is asking comes before what they sent: an outsider gets 404 whatever the body.
    services.membership_require(user=request.user, project_id=project_id, role=Role.EDITOR)
    try:
        order = json.loads(request.body or b"null").get("order")
    except (ValueError, AttributeError):
        raise Invalid('Send JSON like {"order": [3, 1, 2]}.', code="invalid_order") from None
    services.stem_reorder(user=request.user, project_id=project_id, order=order)
    return JsonResponse({"order": order})


@login_required
@require_POST
@door
def stem_delete(request: HttpRequest, project_id: int, stem_id: int) -> HttpResponse:
    services.stem_delete(user=request.user, project_id=project_id, stem_id=stem_id)
    if wants_json(request):
        return JsonResponse({"ok": True})
    messages.success(request, "Stem deleted.")
    return back(request, reverse("project_room", args=[project_id]))


def stem_file_response(request: HttpRequest, stem: Any) -> HttpResponse:
    """A stem's original file as a download under its original name."""
    content_type = mimetypes.guess_type(stem.original_name)[0] or "application/octet-stream"
    return audio_response(
        request,
        stem.file.name,
        content_type=content_type,
        filename=stem.original_name,
        download=True,
    )


@login_required
@require_GET
@door
def stem_download(request: HttpRequest, project_id: int, stem_id: int) -> HttpResponse:
    stem = services.stem_get(user=request.user, project_id=project_id, stem_id=stem_id)
    return stem_file_response(request, stem)


# --- Comments ------------------------------------------------------------------------


@login_required
@require_POST
@door
def comment_post(request: HttpRequest, project_id: int) -> HttpResponse:
    comment = services.comment_post(
        user=request.user,
        project_id=project_id,
        body=request.POST.get("body"),
        stem_id=_form_id(request, "stem_id"),
        suggestion_id=_form_id(request, "suggestion_id"),
        parent_id=_form_id(request, "parent_id"),
    )
    if wants_json(request):
        return JsonResponse({"comment": services.comment_payload(comment)}, status=201)
    return back(request, reverse("project_room", args=[project_id]))


def _form_id(request: HttpRequest, name: str) -> Any:
    """A posted id as an int (the service refuses anything else with a clear error)."""
    value = request.POST.get(name) or None
    return int(value) if value and value.isdigit() else value


def json_body(request: HttpRequest) -> dict[str, Any]:
    """A JSON object posted as the body, or form fields as a dict."""
    if request.content_type != "application/json":
        return {key: request.POST.get(key) for key in request.POST}
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Invalid("The body is not valid JSON.", code="bad_json") from None
    if not isinstance(body, dict):
        raise Invalid("The body must be a JSON object.", code="bad_json")
    return body


def _int_field(value: Any, default: int) -> Any:
    if value is None or value == "":
        return default
    return int(value) if isinstance(value, str) and value.isdigit() else value


# --- Suggestions and the mix ----------------------------------------------------------


@login_required
@require_POST
@door
def suggestion_decide(request: HttpRequest, project_id: int, suggestion_id: int) -> HttpResponse:
    body = json_body(request)
    suggestion = suggestions.suggestion_decide(
        user=request.user,
        project_id=project_id,
        suggestion_id=suggestion_id,
        decision=body.get("decision"),
        amount=_int_field(body.get("amount"), 100),
    )
    if wants_json(request):
        return JsonResponse({"suggestion": suggestions.suggestion_payload(suggestion)})
    return back(request, reverse("project_room", args=[project_id]))


@login_required
@require_POST
@door
def suggestion_preview(request: HttpRequest, project_id: int, suggestion_id: int) -> HttpResponse:
    body = json_body(request)
    suggestion = suggestions.suggestion_preview(
        user=request.user,
        project_id=project_id,
        suggestion_id=suggestion_id,
        amount=_int_field(body.get("amount"), 100),
    )
    return JsonResponse({"suggestion": suggestions.suggestion_payload(suggestion)}, status=202)


@login_required
@require_GET
@door
def suggestion_preview_file(
    request: HttpRequest, project_id: int, suggestion_id: int, which: str
) -> HttpResponse:
    """One side of a rendered preview (``before`` or ``after``), for members only."""
    suggestion = suggestions.suggestion_get(
        user=request.user, project_id=project_id, suggestion_id=suggestion_id
    )
    files = suggestion.preview_files or {}
    if which not in ("before", "after") or not files.get(which):
        raise NotFound("This preview is not rendered.", code="no_preview")
    return audio_response(request, files[which], content_type="audio/flac")


@login_required
@require_GET
@door
def mix_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    membership = services.membership_require(
        user=request.user, project_id=project_id, role=Role.VIEWER
    )
    return JsonResponse({"mix": suggestions.mix_payload(membership.project)})


@login_required
@require_POST
@door
def mix_stem(request: HttpRequest, project_id: int, stem_id: int) -> HttpResponse:
    return _mix_changed(
        request,
        suggestions.mix_update(
            user=request.user, project_id=project_id, stem_id=stem_id, settings=json_body(request)
        ),
    )


@login_required
@require_POST
@door
def mix_bus(request: HttpRequest, project_id: int) -> HttpResponse:
    return _mix_changed(
        request,
        suggestions.mix_update(
            user=request.user, project_id=project_id, settings=json_body(request)
        ),
    )


@login_required
@require_POST
@door
def mix_undo(request: HttpRequest, project_id: int) -> HttpResponse:
    return _mix_changed(request, suggestions.mix_undo(user=request.user, project_id=project_id))


def _mix_changed(request: HttpRequest, change: Any) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"mix": suggestions.mix_payload(change.project)})
    return back(request, reverse("project_room", args=[change.project_id]))


# --- Mix versions ---------------------------------------------------------------------


@login_required
@require_POST
@door
def version_create(request: HttpRequest, project_id: int) -> HttpResponse:
    body = json_body(request)
    formats = body.get("formats")
    if isinstance(formats, str):  # a form's comma-separated list
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    version = versions.version_create(
        user=request.user,
        project_id=project_id,
        name=body.get("name"),
        notes=body.get("notes") or "",
        formats=formats,
    )
    if wants_json(request):
        return JsonResponse({"version": versions.version_payload(version)}, status=201)
    return back(request, reverse("project_room", args=[project_id]))


@login_required
@require_GET
@door
def version_detail(request: HttpRequest, project_id: int, version_id: int) -> HttpResponse:
    """A version with its waveform peaks, for the room's player."""
    version = versions.version_get(user=request.user, project_id=project_id, version_id=version_id)
    result = version.result or {}
    return JsonResponse(
        {"version": versions.version_payload(version), "peaks": result.get("peaks")}
    )


@login_required
@require_POST
@door
def version_retry(request: HttpRequest, project_id: int, version_id: int) -> HttpResponse:
    version = versions.version_retry(
        user=request.user, project_id=project_id, version_id=version_id
    )
    return JsonResponse({"version": versions.version_payload(version)})


def version_file_response(
    request: HttpRequest, version: Any, fmt: str, *, download: bool
) -> HttpResponse:
    """One rendered file of a version, from storage (never a storage URL), seekable."""
    name = (version.files or {}).get(fmt)
    if not name:
        raise NotFound(f"This version has no {fmt.upper()} file.", code="no_such_file")
    extension = FORMATS[fmt][2]
    filename = f"{version.project.name} v{version.number} {version.name}.{extension}"
    return audio_response(
        request, name, content_type=AUDIO_TYPES[fmt], filename=filename, download=download
    )


AUDIO_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}


def listening_format(version: Any) -> str:
    """What a browser plays: the smallest format rendered."""
    for fmt in ("mp3", "flac", "wav"):
        if fmt in (version.files or {}):
            return fmt
    raise NotFound("This version is not rendered yet.", code="not_rendered")


@login_required
@require_GET
@door
def version_download(
    request: HttpRequest, project_id: int, version_id: int, fmt: str
) -> HttpResponse:
    version = versions.version_get(user=request.user, project_id=project_id, version_id=version_id)
    return version_file_response(request, version, fmt, download=True)


@login_required
@require_GET
@door
def version_listen(request: HttpRequest, project_id: int, version_id: int) -> HttpResponse:
    version = versions.version_get(user=request.user, project_id=project_id, version_id=version_id)
    return version_file_response(request, version, listening_format(version), download=False)


@login_required
@require_GET
@door
def version_manifest(request: HttpRequest, project_id: int, version_id: int) -> HttpResponse:
    """The provenance manifest: a readable page, or JSON (?format=json downloads it)."""
    version = versions.version_get(user=request.user, project_id=project_id, version_id=version_id)
    if request.GET.get("format") == "json" or wants_json(request):
        response = JsonResponse(version.manifest, json_dumps_params={"indent": 2})
        if request.GET.get("format") == "json":
            name = f"{version.project.name} v{version.number} manifest.json"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return render(
        request,
        "projects/manifest.html",
        {"project": version.project, "version": version, "manifest": version.manifest},
    )


# --- Share links (the team's side) -------------------------------------------------------


@login_required
@require_POST
@door
def share_create(request: HttpRequest, project_id: int) -> HttpResponse:
    """Make a link; its address is in this answer only (the studio keeps a hash)."""
    body = json_body(request)
    share, token = sharing.share_create(
        user=request.user,
        project_id=project_id,
        label=body.get("label"),
        version_ids=body.get("version_ids"),
        password=body.get("password") or "",
        expires_at=body.get("expires_at"),
        allow_download=bool(body.get("allow_download")),
    )
    url = request.build_absolute_uri(reverse("share_page", args=[token]))
    return JsonResponse({"share": sharing.share_payload(share), "url": url}, status=201)


@login_required
@require_POST
@door
def share_revoke(request: HttpRequest, project_id: int, share_id: int) -> HttpResponse:
    share = sharing.share_revoke(user=request.user, project_id=project_id, share_id=share_id)
    return JsonResponse({"share": sharing.share_payload(share)})


@login_required
@require_POST
@door
def share_add_versions(request: HttpRequest, project_id: int, share_id: int) -> HttpResponse:
    share = sharing.share_add_versions(
        user=request.user,
        project_id=project_id,
        share_id=share_id,
        version_ids=json_body(request).get("version_ids"),
    )
    return JsonResponse({"share": sharing.share_payload(share)})


@login_required
@require_POST
@door
def client_reply(request: HttpRequest, project_id: int, comment_id: int) -> HttpResponse:
    comment = sharing.team_reply(
        user=request.user,
        project_id=project_id,
        comment_id=comment_id,
        body=json_body(request).get("body"),
    )
    return JsonResponse({"comment": sharing.client_comment_payload(comment)}, status=201)


# --- Analyses ------------------------------------------------------------------------


@login_required
@require_GET
@door
def analysis_detail(request: HttpRequest, project_id: int, analysis_id: int) -> HttpResponse:
    """The whole report of one analysis, as JSON for the room's plots."""
    analysis = services.analysis_get(
        user=request.user, project_id=project_id, analysis_id=analysis_id
    )
    return JsonResponse(
        {
            "analysis": services.analysis_payload(analysis),
            "report": analysis.report,
            "masking": analysis.masking,
        }
    )


@login_required
@require_POST
@door
def analysis_retry(request: HttpRequest, project_id: int, analysis_id: int) -> HttpResponse:
    analysis = services.analysis_retry(
        user=request.user, project_id=project_id, analysis_id=analysis_id
    )
    if wants_json(request):
        return JsonResponse({"analysis": services.analysis_payload(analysis)})
    return back(request, reverse("project_room", args=[project_id]))


# --- Arrangement ideas -----------------------------------------------------------------


@login_required
@require_POST
@door
def idea_request(request: HttpRequest, project_id: int) -> HttpResponse:
    body = json_body(request)
    idea = ideas.idea_request(
        user=request.user,
        project_id=project_id,
        kind=body.get("kind"),
        section=body.get("section"),
        options=body.get("options"),
        seed=body.get("seed"),
    )
    return JsonResponse({"idea": ideas.idea_payload(idea)}, status=201)


@login_required
@require_POST
@door
def idea_regenerate(request: HttpRequest, project_id: int, idea_id: int) -> HttpResponse:
    body = json_body(request)
    idea = ideas.idea_regenerate(
        user=request.user, project_id=project_id, idea_id=idea_id, seed=body.get("seed")
    )
    return JsonResponse({"idea": ideas.idea_payload(idea)}, status=201)


@login_required
@require_POST
@door
def idea_decide(request: HttpRequest, project_id: int, idea_id: int) -> HttpResponse:
    body = json_body(request)
    idea = ideas.idea_decide(
        user=request.user, project_id=project_id, idea_id=idea_id, decision=body.get("decision")
    )
    return JsonResponse({"idea": ideas.idea_payload(idea)})


@login_required
@require_GET
@door
def idea_audio(request: HttpRequest, project_id: int, idea_id: int, which: str) -> HttpResponse:
    """The idea over the song (``with_song``) or alone (``alone``), for members only."""
    idea = ideas.idea_get(user=request.user, project_id=project_id, idea_id=idea_id)
    return idea_audio_response(request, idea, which)


def idea_audio_response(request: HttpRequest, idea: Any, which: str) -> HttpResponse:
    if which not in ("with_song", "alone") or not idea.files.get(which):
        raise NotFound("This idea has no such audio yet.", code="no_idea_audio")
    return audio_response(request, idea.files[which], content_type="audio/flac")


@login_required
@require_GET
@door
def idea_midi(request: HttpRequest, project_id: int, idea_id: int) -> HttpResponse:
    idea = ideas.idea_get(user=request.user, project_id=project_id, idea_id=idea_id)
    return idea_midi_response(idea)


def idea_midi_response(idea: Any) -> HttpResponse:
    """The idea as a Standard MIDI File at the song's tempo, named for the DAW it opens in."""
    data, filename = ideas.idea_midi(idea)
    response = HttpResponse(data, content_type="audio/midi")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
