"""The life of a job kept on its own row: queued, running, then done or failed.

Renders and ideas are such rows (``status``, ``progress``, ``attempts``, ``error``,
``worker``, ``started_at``, ``finished_at``, ``created_at``). A worker claims the oldest
queued row under a row lock that other workers skip; a row whose worker stopped is queued
again by ``projects.workers``; one tried ``MAX_ATTEMPTS`` times fails instead of looping.
Each module says what a change means to people through ``tell(row, what)``, which logs an
event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from .models import JobStatus
from .services import MAX_ATTEMPTS

Tell = Callable[[Any, str], None]


def claim(rows: QuerySet, *, worker: str, tell: Tell) -> Any:
    """Take the oldest queued row of ``rows`` for ``worker`` (None when there is none);
    ``tell(row, "started")`` or, for a row out of attempts, ``tell(row, "failed")``."""
    with transaction.atomic():
        row = (
            rows.select_for_update(skip_locked=True, of=("self",))
            .filter(status=JobStatus.QUEUED)
            .order_by("created_at", "pk")
            .first()
        )
        if row is None:
            return None
        if row.attempts >= MAX_ATTEMPTS:
            fail_row(
                row, f"Gave up after {MAX_ATTEMPTS} attempts: the worker stopped each time.", tell
            )
            return None
        row.status, row.progress = JobStatus.RUNNING, 0.0
        row.attempts += 1
        row.worker = worker[:80]
        row.started_at = timezone.now()
        row.save()
        tell(row, "started")
    return row


def running(rows: QuerySet, pk: int) -> Any:
    """The row ``pk`` locked, if it is still running (else None: it was cancelled,
    re-queued or finished meanwhile). Call inside ``transaction.atomic()``."""
    return rows.select_for_update(of=("self",)).filter(pk=pk, status=JobStatus.RUNNING).first()


def finish(rows: QuerySet, pk: int, *, tell: Tell, **fields: Any) -> Any:
    """Mark a running row done with ``fields`` set; None if it was no longer running."""
    with transaction.atomic():
        row = running(rows, pk)
        if row is None:
            return None
        for name, value in fields.items():
            setattr(row, name, value)
        row.status, row.progress, row.finished_at = JobStatus.DONE, 1.0, timezone.now()
        row.save()
        tell(row, "done")
    return row


def fail(rows: QuerySet, pk: int, error: str, *, tell: Tell) -> None:
    """Mark a running row failed with a reason people will read."""
    with transaction.atomic():
        row = running(rows, pk)
        if row is not None:
            fail_row(row, error, tell)


def fail_row(row: Model, error: str, tell: Tell) -> None:
    row.status = JobStatus.FAILED
    row.error = error[:2000]
    row.finished_at = timezone.now()
    row.save()
    tell(row, "failed")


def progress(rows: QuerySet, pk: int, value: float) -> None:
    """How far a running job is (0 to 1), kept on the row."""
    rows.filter(pk=pk, status=JobStatus.RUNNING).update(progress=value)
