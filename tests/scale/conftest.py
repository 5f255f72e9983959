"""The scaled set-up on loopback: separate job workers (Celery on Redis), sharing the
test database and the files with the test process.

These tests need PostgreSQL and Redis, so they run in the services pass of ``bin/test``
and skip in the embedded pass, saying why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings

from projects.models import WorkerBeat
from tests.browser.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
QUEUE_DB = 11  # the Redis database the job queue uses in these tests
START_TIMEOUT_S = 60.0


def services_present() -> str | None:
    """Why the scaled set-up cannot run here, or None when it can."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        return "the scaled set-up runs on PostgreSQL and Redis (the services pass of bin/test)"
    if not os.environ.get("REDIS_URL"):
        return "the scaled set-up needs REDIS_URL (the services pass of bin/test)"
    return None


@pytest.fixture
def queue_url(settings) -> Iterator[str]:
    """An empty Redis database for the job queue, used by this process and the workers."""
    reason = services_present()
    if reason:
        pytest.skip(reason)
    parts = urlsplit(os.environ["REDIS_URL"])
    url = urlunsplit((parts.scheme, parts.netloc, f"/{QUEUE_DB}", "", ""))
    redis.Redis.from_url(url).flushdb()
    from studio.celery import app

    app.conf.broker_url = url
    settings.STUDIO_JOB_QUEUE = url
    yield url
    app.pool.force_close_all()
    redis.Redis.from_url(url).flushdb()


@dataclass
class Worker:
    """A Celery worker process (and its pool process) started by a test."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        """Kill the whole worker at once, as a machine that dies would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def start_worker(queue_url, media_dir, tmp_path) -> Iterator[Callable[[str], Worker]]:
    """Start Celery worker processes on the test database and this test's files."""
    started: list[Worker] = []

    def start(name: str) -> Worker:
        log_path = tmp_path / f"worker-{name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "studio.settings",
            "DATABASE_URL": database_url(),
            "STUDIO_JOB_QUEUE": queue_url,
            "STUDIO_MEDIA_DIR": str(media_dir),
            "STUDIO_DATA_DIR": str(django_settings.DATA_DIR),
            "STUDIO_WORKER_BEAT_S": "0.5",
            "STUDIO_JOB_LEASE_S": "5",
        }
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "celery"), "-A", "studio", "worker", "-Q", "studio"]
                + ["--concurrency", "1", "--hostname", f"{name}@%h", "--loglevel", "INFO"]
                + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name=name, process=process, log_path=log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str, logs=()) -> None:
    """Poll ``condition`` (a database or process state) until it holds, or fail saying
    what did not happen, with the workers' logs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    told = "\n\n".join(f"--- {w.name} ---\n{w.log()}" for w in logs)
    pytest.fail(f"{what} did not happen within {timeout_s:.0f} s.\n{told}", pytrace=False)


def beating(count: int) -> Callable[[], bool]:
    return lambda: WorkerBeat.objects.count() >= count


# The whole arrangement (nginx, two Daphnes, workers, Redis, S3): tests/scale/fixtures.py.
from tests.scale.fixtures import arranged, arrangement, person, scale_browser  # noqa: E402, F401
