"""Audio files streamed from storage to a browser, with byte ranges.

A browser seeks in an <audio> element by asking for the bytes from that point on
(``Range: bytes=N-``); a file answered whole every time cannot be sought, so a player
jumps back to the start. Every file the studio plays goes through here, after the
door's checks. On local storage the bytes go through the studio; on S3 the checked
door answers with a redirect to a signed URL for that one object, which the storage
server refuses after ``STUDIO_SIGNED_URL_SECONDS``, so no lasting or guessable storage
address is ever handed out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header

CHUNK_BYTES = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def audio_response(
    request: HttpRequest,
    name: str,
    *,
    content_type: str,
    filename: str | None = None,
    download: bool = False,
) -> HttpResponse:
    """The stored file ``name``: a redirect to a short-lived signed URL where the storage
    signs them (S3), else whole (200), the one byte range asked for (206), or 416 for a
    range outside it."""
    signed = signed_url(name, content_type=content_type, filename=filename, download=download)
    if signed:
        response = HttpResponseRedirect(signed)
        response["Cache-Control"] = "no-store"
        return response
    size = default_storage.size(name)
    wanted = _byte_range(request.headers.get("Range", ""), size)
    if wanted is None:
        handle = default_storage.open(name, "rb")
        response: HttpResponse = FileResponse(
            handle, as_attachment=download, filename=filename or "", content_type=content_type
        )
    elif wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        start, end = wanted
        response = StreamingHttpResponse(
            _read(name, start, end), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def signed_url(
    name: str, *, content_type: str, filename: str | None = None, download: bool = False
) -> str | None:
    """A URL for ``name`` that the storage server itself honours for
    ``STUDIO_SIGNED_URL_SECONDS`` (s), with the type and file name the browser should see;
    None for storage that does not sign URLs (local files, streamed by :func:`audio_response`)."""
    if not getattr(default_storage, "querystring_auth", False):
        return None
    parameters = {"ResponseContentType": content_type}
    disposition = content_disposition_header(download, filename or "")
    if disposition:
        parameters["ResponseContentDisposition"] = disposition
    return default_storage.url(
        name, parameters=parameters, expire=settings.STUDIO_SIGNED_URL_SECONDS
    )


def _byte_range(header: str, size: int) -> Any:
    """(first, last) byte of a single ``bytes=`` range, "unsatisfiable", or None to send
    the whole file (no header, or one we do not serve, such as several ranges)."""
    match = _RANGE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        return (max(size - length, 0), size - 1) if length else "unsatisfiable"
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end


def _read(name: str, start: int, end: int) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        handle.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = handle.read(min(CHUNK_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
