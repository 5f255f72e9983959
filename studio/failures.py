"""What a request gets when something behind the studio fails rather than the request.

Django turns an exception no door handled into ``handler500``. When the cause is the
database being unavailable for a moment (a restart, a fail-over, a dropped network),
the answer is a 503 that says so and invites a retry, as JSON for scripts and pages that
ask for it and as a page otherwise; any other failure keeps the plain 500 page. Django
opens a fresh connection for the next request, so the studio recovers by itself.
"""

from __future__ import annotations

import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader

UNAVAILABLE = (
    "The studio's database is unavailable for a moment. Nothing you sent was changed; "
    "try again in a few seconds."
)


def database_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` means the database could not be reached (not a bad query)."""
    return isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DatabaseError) and "connection" in str(error).lower()
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500: a clear 503 when the database is down, else the 500 page."""
    error = sys.exc_info()[1]
    # Pages are rendered without the request's context: that would reach for the database.
    if not database_unavailable(error):
        return HttpResponseServerError(loader.get_template("500.html").render())
    wants_json = request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        body = {"error": {"code": "unavailable", "message": UNAVAILABLE}}
        response: HttpResponse = JsonResponse(body, status=503)
    else:
        page = loader.get_template("unavailable.html").render({"message": UNAVAILABLE})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = "5"
    return response
