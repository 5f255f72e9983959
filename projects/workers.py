"""Which processes run jobs, and what becomes of the jobs of one that stopped.

Every process that runs jobs beats: it writes the time into its ``WorkerBeat`` row every
``STUDIO_WORKER_BEAT_S``. A running job names the process that runs it (``host:pid/n``
in ``worker``, ``suggest_worker`` or ``preview_worker``). A running job whose process
has not beaten for ``STUDIO_JOB_LEASE_S``, or is known to be gone (on this host, with
no such process), goes back in the queue with its attempt counted, and people see it
queued again; after ``MAX_ATTEMPTS`` it fails with the reason. This works for any number
of processes on any machines that share the database, whether they are servers with
worker threads or queue workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from . import events
from .models import Analysis, Idea, JobStatus, MixVersion, Suggestion, WorkerBeat

log = logging.getLogger(__name__)


def process_name() -> str:
    """This process as job rows name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(name: str) -> None:
    """Say that process ``name`` is alive now."""
    WorkerBeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


def _process_gone(process: str, alive: set[str]) -> bool:
    """Whether the process named in a job row stopped: it is not on this host any more,
    or (on any host) it has not beaten within the lease."""
    host, _, pid = process.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _pid_running(int(pid)):
        return True
    return process not in alive


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Each kind of job: its rows, the status and worker fields, how to put one back.
def _requeue_analysis(row: Analysis) -> None:
    from .services import analysis_payload

    row.status, row.progress = JobStatus.QUEUED, 0.0
    row.save(update_fields=["status", "progress"])
    events.record(
        project=row.project,
        type="analysis.queued",
        actor=None,
        payload={"analysis": analysis_payload(row)},
    )


def _requeue_suggest(row: Analysis) -> None:
    row.suggest_status = JobStatus.QUEUED
    row.save(update_fields=["suggest_status"])


def _requeue_preview(row: Suggestion) -> None:
    row.preview_status = JobStatus.QUEUED
    row.save(update_fields=["preview_status"])


def _requeue_version(row: MixVersion) -> None:
    from .versions import version_payload

    row.status, row.progress = JobStatus.QUEUED, 0.0
    row.save(update_fields=["status", "progress"])
    payload = {"version": version_payload(row)}
    events.record(project=row.project, type="version.queued", actor=None, payload=payload)


def _requeue_idea(row: Idea) -> None:
    from .ideas import idea_payload

    row.status, row.progress = JobStatus.QUEUED, 0.0
    row.save(update_fields=["status", "progress"])
    payload = {"idea": idea_payload(row)}
    events.record(project=row.project, type="idea.queued", actor=None, payload=payload)


KINDS: tuple[tuple[Any, str, str, Callable[[Any], None]], ...] = (
    (Analysis, "status", "worker", _requeue_analysis),
    (Analysis, "suggest_status", "suggest_worker", _requeue_suggest),
    (Suggestion, "preview_status", "preview_worker", _requeue_preview),
    (MixVersion, "status", "worker", _requeue_version),
    (Idea, "status", "worker", _requeue_idea),
)


def recover(*, lease_s: float | None = None) -> int:
    """Put back in the queue every running job whose process is gone; returns how many."""
    lease = settings.STUDIO_JOB_LEASE_S if lease_s is None else lease_s
    since = timezone.now() - timedelta(seconds=lease)
    alive = set(WorkerBeat.objects.filter(seen_at__gte=since).values_list("name", flat=True))
    count = 0
    for model, status, worker, requeue in KINDS:
        running = model.objects.filter(**{status: JobStatus.RUNNING})
        for pk, name in running.values_list("pk", worker):
            if _process_gone(name.split("/")[0], alive):
                count += _requeue_one(model, pk, status, worker, name, requeue)
    WorkerBeat.objects.filter(seen_at__lt=since - timedelta(days=1)).delete()
    return count


def _requeue_one(model: Any, pk: int, status: str, worker: str, name: str, requeue: Any) -> int:
    with transaction.atomic():
        row = (
            model.objects.select_for_update(of=("self",))
            .select_related("project")
            .filter(pk=pk, **{status: JobStatus.RUNNING, worker: name})
            .first()
        )
        if row is None:
            return 0  # it finished or moved on meanwhile
        log.warning("%s %s: its worker %r stopped; queued again", model.__name__, pk, name)
        requeue(row)
    return 1


class Heart:
    """A thread that beats for this process, puts the jobs of stopped processes back in
    the queue (then calls ``on_recovered``) and calls ``on_beat`` after each beat."""

    def __init__(
        self, *, on_recovered: Callable[[], None], on_beat: Callable[[], None] | None = None
    ) -> None:
        self.name = process_name()
        self.on_recovered = on_recovered
        self.on_beat = on_beat
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="job-heart", daemon=True)

    def start(self) -> Heart:
        beat(self.name)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(settings.STUDIO_WORKER_BEAT_S):
            try:
                close_old_connections()
                beat(self.name)
                if recover():
                    self.on_recovered()
                if self.on_beat:
                    self.on_beat()
            except Exception:  # a missed beat is logged; the next one tries again
                log.exception("worker beat failed")
