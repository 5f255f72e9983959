"""The embedded job runner: worker threads inside the server process.

The state of every job is a row (``Analysis``); this module only carries the work
out. On start it puts back in the queue whatever a stopped process left running,
warms up the engine's compiled kernels, then each worker claims the oldest queued
job, runs it and claims the next. Workers sleep until ``wake()`` is called by a
service in this process, or poll every few seconds for jobs queued elsewhere.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.db import close_old_connections

from . import services, tasks

log = logging.getLogger(__name__)
POLL_S = 3.0

_wakeup = threading.Event()
_threads: list[threading.Thread] = []


def wake() -> None:
    _wakeup.set()


def run_next(*, worker: str = "inline") -> bool:
    """Claim and run one queued job in this thread. Returns whether there was one."""
    analysis = services.analysis_claim(worker=worker)
    if analysis is None:
        return False
    tasks.run_analysis(analysis)
    return True


def run_until_idle(*, worker: str = "inline") -> int:
    """Run queued jobs in this thread until none is left; returns how many ran."""
    count = 0
    while run_next(worker=worker):
        count += 1
    return count


def _work(name: str) -> None:
    while True:
        close_old_connections()
        try:
            ran = run_next(worker=name)
        except Exception:
            log.exception("job worker %s hit an error; going on", name)
            ran = False
        if not ran:
            _wakeup.wait(POLL_S)
            _wakeup.clear()


def warm_up() -> None:
    """Compile the engine's kernels once, so the first real job is not slow."""
    import numpy as np

    from studio.processing.analysis import _run

    t = np.arange(22050 * 3) / 22050
    signal = (0.3 * np.sin(2 * np.pi * 220 * t) * (t % 0.5 < 0.1)).astype(np.float32)
    block = np.stack([signal, signal])
    _run(
        [block],
        sample_rate=22050,
        channels=2,
        total_frames=block.shape[1],
        name="warm-up",
        file_name="warm-up.wav",
        progress=None,
    )


def start(*, workers: int) -> None:
    """Start ``workers`` threads (once per process)."""
    if _threads or workers <= 0:
        return
    recovered = services.analysis_recover()
    if recovered:
        log.info("put %d interrupted analyses back in the queue", recovered)
    host = f"{socket.gethostname()}:{os.getpid()}"

    def boot() -> None:
        try:
            warm_up()
        except Exception:
            log.exception("engine warm-up failed; jobs will compile on first use")
        for index in range(workers):
            thread = threading.Thread(
                target=_work, args=(f"{host}/{index}",), name=f"job-worker-{index}", daemon=True
            )
            thread.start()
            _threads.append(thread)

    threading.Thread(target=boot, name="job-boot", daemon=True).start()
