"""The job queue for separate worker processes: Celery, with Redis as the broker.

With ``STUDIO_JOB_QUEUE`` set (a broker URL such as ``redis://127.0.0.1:6379/5``), the
web processes run no jobs: a person's request that queues work (an upload, a render, an
idea) sends a ``studio.work`` message after its transaction commits, and any number of
worker processes, on any machines that share the database, the broker and the storage,
take the messages and run the queued jobs (``projects.jobs.run_until_idle``). The state
of every job stays on its row; a message only says "there is work".

A worker killed in the middle of a job loses nothing: its message is acknowledged only
when the work is done (``acks_late``, ``reject_on_worker_lost``), and the job's row goes
back in the queue as soon as another worker sees that its process stopped beating
(``projects.workers``). Start a worker with
``DJANGO_SETTINGS_MODULE=studio.settings .venv/bin/celery -A studio worker -Q studio``.
"""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["projects"], related_name="queue")


@signals.worker_process_init.connect
def _start_heart(**_: object) -> None:
    """Each worker process beats, recovers the jobs of stopped workers, and has the
    engine's compiled kernels warm before its first job."""
    from projects import queue

    queue.worker_ready()
