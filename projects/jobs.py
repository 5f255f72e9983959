"""The embedded job runner: worker threads inside the server process.

The state of every job is a row (``Analysis``); this module only carries the work
out. On start it puts back in the queue whatever a stopped process left running and
starts a pool of engine processes (each warms up the compiled kernels once); then
each worker thread claims the oldest queued job, has a pool process analyse it, and
claims the next. Workers sleep until ``wake()`` is called by a
service in this process, or poll every few seconds for jobs queued elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from queue import Empty
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from studio.processing.analysis import warm_up

from . import ideas, services, suggestions, tasks, versions
from .models import Analysis, Idea, JobStatus, MixVersion, Suggestion
from .workers import Heart, process_name, recover

log = logging.getLogger(__name__)
POLL_S = 3.0

_wakeup = threading.Event()
_threads: list[threading.Thread] = []


def wake() -> None:
    """There is work: wake this process's worker threads, or send a message to the queue's
    workers (``STUDIO_JOB_QUEUE``)."""
    if settings.STUDIO_JOB_QUEUE:
        from . import queue

        queue.wake()
    else:
        _wakeup.set()


def anything_queued() -> bool:
    """Whether any job waits for a worker."""
    queued = JobStatus.QUEUED
    return (
        Analysis.objects.filter(status=queued).exists()
        or Analysis.objects.filter(status=JobStatus.DONE, suggest_status=queued).exists()
        or Suggestion.objects.filter(preview_status=queued).exists()
        or MixVersion.objects.filter(status=queued).exists()
        or Idea.objects.filter(status=queued).exists()
    )


class EnginePool:
    """Processes that run the engine, so analyses use every core without sharing the GIL
    with the web server (two threads gave 1.3x on two cores, two processes 1.7x)."""

    def __init__(self, *, workers: int) -> None:
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")
        self.manager = self.context.Manager()
        self.executor = self._executor()

    def _executor(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=self.context, initializer=warm_up
        )
        # The pool starts its processes only when work arrives: start (and warm up) every
        # one now, so that no person's first upload waits for it.
        for started in [executor.submit(os.getpid) for _ in range(self.workers)]:
            started.result()
        return executor

    def call(
        self,
        fn: Callable[..., Any],
        *,
        channel: str | None = None,
        on_message: Callable[[Any], None] = lambda _: None,
        **kwargs: Any,
    ) -> Any:
        """Run ``fn(**kwargs, <channel>=send)`` in an engine process (``fn`` must be
        importable without Django); what it sends arrives at ``on_message`` in this thread
        while it runs (progress, each suggestion)."""
        queue = self.manager.Queue()
        sender = {channel: queue.put} if channel else {}
        future = self.executor.submit(fn, **kwargs, **sender)
        while not future.done():
            with contextlib.suppress(Empty):
                on_message(queue.get(timeout=0.1))
        while True:  # what was sent just before the end
            try:
                on_message(queue.get_nowait())
            except Empty:
                break
        try:
            return future.result()
        except BrokenProcessPool:
            self.executor = self._executor()
            raise RuntimeError("the engine's process stopped (out of memory?); retry it") from None


def run_next(*, worker: str = "inline", engine: EnginePool | None = None) -> bool:
    """Claim and run one queued job. Returns whether there was one.

    The order puts first what someone waits for: a preview, a mix render, an idea, a stem's
    analysis and its
    suggestions (the first suggestions a person sees), then the mix's analysis and its
    suggestions, which need every stem anyway."""
    preview = suggestions.preview_claim(worker=worker)
    if preview is not None:
        tasks.run_preview(preview, engine=engine)
        return True
    version = versions.version_claim(worker=worker)
    if version is not None:
        tasks.run_render(version, engine=engine)
        return True
    idea = ideas.idea_claim(worker=worker)
    if idea is not None:
        tasks.run_idea(idea, engine=engine)
        return True
    for scope in ("stem", "mix"):
        analysis = services.analysis_claim(worker=worker, scope=scope)
        if analysis is not None:
            tasks.run_analysis(analysis, engine=engine)
            return True
        run = suggestions.suggest_claim(worker=worker, scope=scope)
        if run is not None:
            tasks.run_suggestions(run, engine=engine)
            return True
    return False


def run_until_idle(*, worker: str = "inline") -> int:
    """Run queued jobs in this thread until none is left; returns how many ran."""
    count = 0
    while run_next(worker=worker):
        count += 1
    return count


def _work(name: str, engine: EnginePool | None) -> None:
    while True:
        close_old_connections()
        try:
            ran = run_next(worker=name, engine=engine)
        except Exception:
            log.exception("job worker %s hit an error; going on", name)
            ran = False
        if not ran:
            _wakeup.wait(POLL_S)
            _wakeup.clear()


def start(*, workers: int) -> None:
    """Start ``workers`` threads (once per process); none when jobs go through the queue."""
    if _threads or workers <= 0 or settings.STUDIO_JOB_QUEUE:
        return
    recovered = recover()
    if recovered:
        log.info("put %d interrupted jobs back in the queue", recovered)
    Heart(on_recovered=wake).start()
    host = process_name()

    def boot() -> None:
        engine = EnginePool(workers=workers)
        for index in range(workers):
            thread = threading.Thread(
                target=_work,
                args=(f"{host}/{index}", engine),
                name=f"job-worker-{index}",
                daemon=True,
            )
            thread.start()
            _threads.append(thread)

    threading.Thread(target=boot, name="job-boot", daemon=True).start()
