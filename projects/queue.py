"""Jobs through the queue (``STUDIO_JOB_QUEUE``): the message that says there is work,
and what a worker process does with it. See ``studio/celery.py``."""

from __future__ import annotations

import logging
import threading

from celery import shared_task

from studio.processing.analysis import warm_up

from . import jobs, workers

log = logging.getLogger(__name__)


_working = threading.Event()  # set while this worker process runs jobs


@shared_task(name="studio.work", ignore_result=True)
def work() -> int:
    """Run queued jobs in this worker process until none is left; returns how many ran."""
    _working.set()
    try:
        return jobs.run_until_idle(worker=f"{workers.process_name()}/0")
    finally:
        _working.clear()


def wake() -> None:
    """Tell the workers there is work (a message; any worker takes it)."""
    try:
        work.delay()
    except Exception:  # the broker is down: the workers' hearts find the work later
        log.exception("could not send a work message to the job queue")


def worker_ready() -> None:
    warm_up()
    workers.Heart(on_recovered=wake, on_beat=wake_if_waiting).start()


def wake_if_waiting() -> None:
    """A job can wait with no message for it (the broker lost it, or it was queued again
    by recovery elsewhere): an idle worker sends one. A busy one does not, or a long render
    would pile a message per beat onto the queue."""
    if not _working.is_set() and jobs.anything_queued():
        wake()
