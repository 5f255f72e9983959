"""Upload handling: stream each file to a temporary file, hash it, and stop at the limit.

A stem never sits whole in memory: Django hands the request body to this handler in
chunks, which go straight to disk while a SHA-256 of the bytes is kept. A file that
grows past STUDIO_MAX_UPLOAD_MB is dropped at once (the rest of it is read and
thrown away) and the view reports it by name.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler

from .errors import TooLarge


class StemUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.digest: Any = None
        self.received = 0
        self.oversized: list[str] = []

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.digest = hashlib.sha256()
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.STUDIO_MAX_UPLOAD_MB * 1024 * 1024:
            self.oversized.append(self.file_name)
            self.file.close()
            raise SkipFile()
        self.digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> Any:
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self.digest.hexdigest()
        return uploaded


def raise_if_oversized(request: Any) -> None:
    """Refuse the request, by file name, when a file in it was dropped at the size limit."""
    names: list[str] = []
    for handler in getattr(request, "upload_handlers", []):
        names.extend(getattr(handler, "oversized", []))
    if names:
        raise TooLarge(
            f"“{names[0]}” is over the upload limit of {settings.STUDIO_MAX_UPLOAD_MB} MB."
        )
