"""The doors of a share link: the client's page and its posts, no account needed.

Everything here is reached through ``/s/<token>/``: the token opens the link (a hash lookup),
the session remembers a password that was right and the name the client gave, and every
file is streamed through these checks (never a storage URL).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from . import sharing
from .errors import Invalid, NotFound, ServiceError, TooManyAttempts
from .views import json_body, listening_format, version_file_response


def client_door(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refusals as JSON for the page's script, as a page for a browser that navigated."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, token, *args, **kwargs)
        except ServiceError as error:
            if "application/json" in request.headers.get("Accept", ""):
                body = {"error": {"code": error.code, "message": error.message}}
                return JsonResponse(body, status=error.status)
            return render(request, "share/closed.html", {"error": error}, status=error.status)

    return wrapped


def _session_key(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key or ""


@require_GET
@ensure_csrf_cookie
@client_door
def share_page(request: HttpRequest, token: str) -> HttpResponse:
    share = sharing.share_open(token)
    if not sharing.share_unlocked(share, request.session):
        return render(request, "share/password.html", {"share": share, "token": token})
    _session_key(request)  # the session carries the name and counts listens
    feed = sharing.client_feed(share)
    feed["me"] = request.session.get(f"share-name:{share.pk}", "")
    feed["token"] = token
    return render(request, "share/page.html", {"share": share, "state": feed})


@require_GET
@client_door
def share_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The page's state again (after the team added a version to the link)."""
    share = sharing.share_require(token, request.session)
    return JsonResponse(sharing.client_feed(share))


@require_POST
@client_door
def share_unlock(request: HttpRequest, token: str) -> HttpResponse:
    share = sharing.share_open(token)
    try:
        sharing.share_unlock(share, request.session, request.POST.get("password"))
    except (Invalid, TooManyAttempts) as error:
        context = {"share": share, "token": token, "error": error.message}
        return render(request, "share/password.html", context, status=error.status)
    return redirect("share_page", token=token)


@require_POST
@client_door
def share_name(request: HttpRequest, token: str) -> HttpResponse:
    share = sharing.share_require(token, request.session)
    name = sharing.client_name(request.session, share, json_body(request).get("name"))
    return JsonResponse({"name": name})


def _version_id(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


@require_GET
@client_door
def share_listen(request: HttpRequest, token: str, version_id: int) -> HttpResponse:
    share = sharing.share_require(token, request.session)
    version = sharing.client_version(share, version_id)
    sharing.client_listened(
        share=share,
        version=version,
        session_key=_session_key(request),
        name=request.session.get(f"share-name:{share.pk}", ""),
    )
    return version_file_response(request, version, listening_format(version), download=False)


@require_GET
@client_door
def share_download(request: HttpRequest, token: str, version_id: int, fmt: str) -> HttpResponse:
    share = sharing.share_require(token, request.session)
    if not share.allow_download:
        raise NotFound("Downloads are not allowed on this link.", code="no_download")
    version = sharing.client_version(share, version_id)
    return version_file_response(request, version, fmt, download=True)


@require_GET
@client_door
def share_peaks(request: HttpRequest, token: str, version_id: int) -> HttpResponse:
    share = sharing.share_require(token, request.session)
    version = sharing.client_version(share, version_id)
    return JsonResponse({"peaks": (version.result or {}).get("peaks")})


@require_POST
@client_door
def share_comment(request: HttpRequest, token: str) -> HttpResponse:
    share = sharing.share_require(token, request.session)
    body = json_body(request)
    comment = sharing.client_comment(
        share=share,
        name=sharing.client_name(request.session, share),
        version_id=_version_id(body.get("version_id")),
        body=body.get("body"),
        at_s=body.get("at_s"),
        end_s=body.get("end_s"),
        parent_id=body.get("parent_id"),
    )
    return JsonResponse({"comment": sharing.client_comment_payload(comment)}, status=201)


@require_POST
@client_door
def share_decide(request: HttpRequest, token: str) -> HttpResponse:
    share = sharing.share_require(token, request.session)
    body = json_body(request)
    decision = sharing.client_decide(
        share=share,
        name=sharing.client_name(request.session, share),
        version_id=_version_id(body.get("version_id")),
        decision=body.get("decision"),
        note=body.get("note") or "",
    )
    return JsonResponse({"decision": sharing.decision_payload(decision)}, status=201)
