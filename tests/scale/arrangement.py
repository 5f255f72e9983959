"""The whole scaled arrangement on loopback, for tests: nginx in front of two Daphne
processes, Celery job workers, a Redis of its own, PostgreSQL (the test database) and
the S3 server.

Every program is a foreground child of the test process with its own log file, in its
own session (so stopping it stops its children), and is killed by the kernel if the
test process dies first. ``start_arrangement`` either returns everything running or
stops what it started and raises.

nginx balances the two Daphne processes, except for a browser whose
``studio_backend`` cookie is ``a`` or ``b``: that one is pinned to one process, so a
test knows which process serves which person.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.harness import ROOT, free_port, manage, serve_command
from tests.s3server import S3Server, die_with_parent

CELERY = ROOT / ".venv" / "bin" / "celery"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
BACKEND_COOKIE = "studio_backend"
NGINX_PACKAGE = "nginx-light"
INSTALL_TIMEOUT_S = 600.0


class HarnessError(RuntimeError):
    """Something the arrangement needs could not be installed or started."""


# --- One child process -----------------------------------------------------------------


@dataclass
class Child:
    """A long-running program started by the harness, writing to one log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        """Start the program (again, after ``stop``), appending to the same log."""
        with open(self.log_path, "ab") as log:  # a file, not a pipe: a full pipe stalls
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def require_alive(self) -> None:
        if self.process is not None and not self.alive():
            raise HarnessError(
                f"{self.name} exited with code {self.process.returncode}:\n{self.tail()}"
            )

    def stop(self, *, grace_s: float = STOP_GRACE_S, first: int = signal.SIGTERM) -> None:
        """Signal the program's whole session, then kill whatever is left after ``grace_s``."""
        if self.process is None:
            return
        if self.alive():
            _signal_group(self.process.pid, first)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace_s)
        _signal_group(self.process.pid, signal.SIGKILL)  # children that outlived it
        self.process.wait()

    def children(self) -> list[int]:
        """The pids of the program's direct children (a Celery worker's pool)."""
        listed = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in listed.read_text().split()] if listed.exists() else []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, chars: int = 4000) -> str:
        return self.log()[-chars:]


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


# --- Free ports and waiting ------------------------------------------------------------


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(
    condition: Callable[[], bool], *, what: str, child: Child, timeout_s: float = START_TIMEOUT_S
) -> None:
    """Poll a starting program until ``condition`` holds, or raise with its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child.require_alive()
        if condition():
            return
        time.sleep(0.1)  # polling a port or a process that is still starting
    raise HarnessError(f"{what} did not happen within {timeout_s:.0f} s:\n{child.tail()}")


def answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


# --- nginx -----------------------------------------------------------------------------


def ensure_nginx() -> str:
    """The path of nginx, installed from Debian first if it is missing."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found:
        return found
    if os.geteuid() != 0:
        raise HarnessError(f"nginx is missing; install it: apt-get install -y {NGINX_PACKAGE}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", NGINX_PACKAGE]
    for command in (install, ["apt-get", "update"], install):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
        )
        if command == install and done.returncode == 0:
            break
    found = shutil.which("nginx", path="/usr/sbin:/sbin:/usr/bin")
    if not found:
        raise HarnessError(f"could not install {NGINX_PACKAGE}:\n{done.stderr[-3000:]}")
    return found


NGINX_CONF = """\
daemon off;
{user}
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format studio '$remote_addr "$request" $status upstream=$upstream_addr '
                      'backend=$cookie_{cookie}';
    access_log {base}/access.log studio;
    client_body_temp_path {base}/client_body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;

    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    # For tests only: a browser with this cookie is pinned to one Daphne process.
    map $cookie_{cookie} $studio_upstream {{ a daphne_a; b daphne_b; default daphne_all; }}

    upstream daphne_a {{ server 127.0.0.1:{port_a}; }}
    upstream daphne_b {{ server 127.0.0.1:{port_b}; }}
    upstream daphne_all {{ server 127.0.0.1:{port_a}; server 127.0.0.1:{port_b}; }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 2g;
        location / {{
            proxy_pass http://$studio_upstream;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            # The host with its port: Django's CSRF and the socket's Origin check use it.
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_request_buffering off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
"""


def nginx_child(base: Path, *, port: int, port_a: int, port_b: int) -> Child:
    """nginx in the foreground with its own prefix, config, pid and logs under ``base``."""
    base.mkdir(parents=True, exist_ok=True)
    # Workers of a root master run as nobody, who cannot write in a private temp folder.
    user = "user root;" if os.geteuid() == 0 else ""
    config = base / "nginx.conf"
    config.write_text(
        NGINX_CONF.format(
            base=base, user=user, cookie=BACKEND_COOKIE, port=port, port_a=port_a, port_b=port_b
        )
    )
    command = [ensure_nginx(), "-p", str(base), "-c", str(config), "-e", str(base / "error.log")]
    return Child("nginx", command, dict(os.environ), base / "nginx.out")


# --- Redis -----------------------------------------------------------------------------


def redis_child(base: Path, *, port: int) -> Child:
    """A Redis of the test's own (never the shared one), kept in memory only."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise HarnessError("redis-server is missing; install it: apt-get install -y redis-server")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(base)]
    return Child("redis", command, dict(os.environ), base / f"redis-{port}.log")


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


# --- The arrangement -------------------------------------------------------------------


@dataclass
class Daphne:
    """One Daphne process (``python -m studio.serve``) and its access log."""

    child: Child
    port: int
    access_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_serving(self) -> None:
        wait_until(
            lambda: answers_200(f"{self.url}/login/"),
            what=f"{self.child.name} serving",
            child=self.child,
        )

    def stop(self, *, grace_s: float = 3.0) -> None:
        """Stop the process: SIGTERM, then SIGKILL after ``grace_s``."""
        self.child.stop(grace_s=grace_s)

    def start(self) -> None:
        """Start a new process on the same port and wait until it serves."""
        self.child.start()
        self.wait_serving()

    def access(self) -> str:
        return self.access_log.read_text(errors="replace") if self.access_log.exists() else ""


@dataclass
class Arrangement:
    """Everything running: ``url`` is nginx, the only door a browser uses."""

    base: Path
    env: dict[str, str]
    redis_url: str
    queue_url: str
    nginx: Child
    redis: Child
    daphnes: dict[str, Daphne]
    workers: list[Child]
    s3: S3Server
    port: int
    children: list[Child] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def nginx_access(self) -> str:
        path = self.base / "nginx" / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def worker_pids(self) -> set[int]:
        """The processes that run jobs: each Celery worker's pool processes."""
        return {pid for worker in self.workers for pid in worker.children()}

    def restart_redis(self, *, down: Callable[[], None]) -> None:
        """Stop Redis, call ``down`` while it is stopped, and start it on the same port."""
        self.redis.stop()
        down()
        self.redis.start()
        wait_until(lambda: redis_answers(self.redis_url), what="Redis back", child=self.redis)

    def report(self) -> str:
        """The tails of every log, for a failed test."""
        return "\n\n".join(f"--- {c.name} ---\n{c.tail(3000)}" for c in self.children)

    def stop(self) -> None:
        """Stop every program: all are asked at once, then each is waited for (or killed)."""
        for child in self.children:
            if child.alive():
                _signal_group(child.pid, signal.SIGTERM)
        for child in reversed(self.children):
            child.stop()


def studio_env(
    *,
    database_url: str,
    redis_url: str,
    queue_url: str,
    s3: S3Server,
    data_dir: Path,
    static_root: Path,
) -> dict[str, str]:
    """The environment of every studio process of the arrangement."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL", "REDIS_URL"}
        and not key.startswith(("S3_", "PYTEST_"))
    }
    return {
        **inherited,
        **s3.settings(),
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STUDIO_JOB_QUEUE": queue_url,
        "STUDIO_WORKERS": "0",
        "STUDIO_DATA_DIR": str(data_dir),
        "STUDIO_STATIC_ROOT": str(static_root),
        "STUDIO_DEMO": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STUDIO_WORKER_BEAT_S": "0.5",
        "STUDIO_JOB_LEASE_S": "5",
        "PYTHONUNBUFFERED": "1",
    }


def collectstatic(env: dict[str, str]) -> None:
    """The Daphnes run with DEBUG off, as in production: pages need the static manifest."""
    try:
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    except RuntimeError as error:
        raise HarnessError(str(error)) from error


def daphne(name: str, base: Path, env: dict[str, str]) -> Daphne:
    port = free_port()
    access_log = base / f"daphne-{name}.access.log"
    command = serve_command(port, "--access-log", str(access_log))
    child = Child(f"daphne-{name}", command, env, base / f"daphne-{name}.log")
    return Daphne(child=child, port=port, access_log=access_log)


def celery_worker(name: str, base: Path, env: dict[str, str]) -> Child:
    command = [str(CELERY), "-A", "studio", "worker", "-Q", "studio", "--concurrency", "1"]
    command += ["--hostname", f"{name}@%h", "--loglevel", "INFO"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return Child(f"worker-{name}", command, env, base / f"worker-{name}.log")


@contextlib.contextmanager
def running_arrangement(
    base: Path, *, database_url: str, data_dir: Path, s3: S3Server, workers: int
) -> Iterator[Arrangement]:
    """Start everything, yield it, and stop everything afterwards, whatever happened."""
    arrangement = _build(base, database_url=database_url, data_dir=data_dir, s3=s3, workers=workers)
    try:
        _start(arrangement)
        yield arrangement
    finally:
        arrangement.stop()


def _build(
    base: Path, *, database_url: str, data_dir: Path, s3: S3Server, workers: int
) -> Arrangement:
    redis_port = free_port()
    redis_url, queue_url = (f"redis://127.0.0.1:{redis_port}/{db}" for db in (0, 1))
    env = studio_env(
        database_url=database_url,
        redis_url=redis_url,
        queue_url=queue_url,
        s3=s3,
        data_dir=data_dir,
        static_root=base / "static",
    )
    daphnes = {name: daphne(name, base, env) for name in ("a", "b")}
    port = free_port()
    nginx = nginx_child(
        base / "nginx", port=port, port_a=daphnes["a"].port, port_b=daphnes["b"].port
    )
    return Arrangement(
        base=base,
        env=env,
        redis_url=redis_url,
        queue_url=queue_url,
        nginx=nginx,
        redis=redis_child(base, port=redis_port),
        daphnes=daphnes,
        workers=[celery_worker(f"w{index + 1}", base, env) for index in range(workers)],
        s3=s3,
        port=port,
    )


def _start(arrangement: Arrangement) -> None:
    """Start every program (the slow ones side by side), then wait until each serves."""
    started = arrangement.children
    started.append(arrangement.redis.start())
    wait_until(
        lambda: redis_answers(arrangement.redis_url),
        what="Redis answering",
        child=arrangement.redis,
    )
    collectstatic(arrangement.env)
    for program in [d.child for d in arrangement.daphnes.values()] + arrangement.workers:
        started.append(program.start())
    started.append(arrangement.nginx.start())
    wait_until(lambda: listening(arrangement.port), what="nginx listening", child=arrangement.nginx)
    for server in arrangement.daphnes.values():
        server.wait_serving()
    for worker in arrangement.workers:
        wait_until(
            lambda w=worker: bool(w.children()) and "ready." in w.log(),
            what=f"{worker.name} ready",
            child=worker,
        )


# --- Reading the logs ------------------------------------------------------------------


def requests_in(access_log: str, method: str, path: str) -> list[str]:
    """Daphne access-log lines of one method on one path (``WSCONNECT`` for a socket)."""
    pattern = re.compile(rf'"{re.escape(method)} {re.escape(path)}[ "]')
    return [line for line in access_log.splitlines() if pattern.search(line)]
