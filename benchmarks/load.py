"""Load on loopback: a thousand sockets on one project over two servers, and big uploads.

Run from the repository root, with PostgreSQL (127.0.0.1:5432, user postgres, trust auth)
and Redis (127.0.0.1:6379) up::

    .venv/bin/python benchmarks/load.py            # full run: 1,000 sockets, 20 x 50 MB
    .venv/bin/python benchmarks/load.py --quick    # smoke run: 200 sockets, 4 uploads
    .venv/bin/python benchmarks/load.py --skip-uploads --clients 500 --posters 1

This is a benchmark, not a test: it prints figures, checks them against the targets
(an event on every socket within 100 ms at the 99th percentile; each server's memory
flat during the uploads) and exits 0 once it has measured (1 only when a server cannot
start or dies).

What runs: a fresh PostgreSQL database (``--database``, default ``studio_load``, dropped
first and at the end), migrated with ``manage.py migrate``; Redis database ``--redis-db``
(default 9, flushed before and after) as the channel layer (``REDIS_URL``: the studio's
``RedisPubSubChannelLayer``); two ``python -m studio.serve`` processes on free ports with
``STUDIO_WORKERS=0``, media and upload folders in a temporary directory. People, sessions,
the API token and the projects are made with the services in this process on the same
database. Every file descriptor limit (here and in the servers) is raised to the hard limit.

The sockets: a minimal RFC 6455 client on ``asyncio.Protocol`` (in this file: the
``websockets`` package is not installed, and autobahn's asyncio client cannot run in a
process whose Django settings import Daphne). Each sends the session cookie of one of
eight people (alice and seven commenters) and an allowed Origin, sends ``resume`` after
``hello`` and is live once that is acknowledged. Socket i talks to server i mod 2. Frames
are parsed without ``json.loads`` for events and presence (the seq and the send stamp are
read with ``bytes.find``). During a burst the sockets that do not post only record what
arrives, as (arrival time, bytes), and their frames are parsed once the room has been
quiet for 0.3 s: parsing 100,000 frames a second in Python took a whole core, and this
one client process then fell behind and delayed the very arrivals it measures.

One measurement ("run"): a project, N sockets connected 50 at a time and live, a pause
until the presence traffic of the connections has died down, then ``--posters`` of the
sockets (default 20: twenty people each posting 5 comments a second; a socket's requests
are answered one after another, so with 2 posters each one's own queue is measured too)
post ``comment.post`` on a fixed schedule (open loop,
``--rate`` per second in all, for ``--burst-s`` s); each comment's body carries its send
time (``time.monotonic()``, the one clock of this machine). For every event and socket:
latency = arrival (stamped when the bytes reach the client) minus send time. Reported:
per delivery and per event "to all" (the slowest socket) median / p99 / max; deliveries
received out of (events x sockets); duplicates, out-of-order arrivals and missing events
checked against the project's ``seq`` range in the database; the post's own round trip
(``comment.post`` to its ``ack``); presence frames received during the burst; CPU seconds
of each server and of the client process during the burst.

Baseline, measured in the same run on the same idle servers before the big run: the same
burst with 10 sockets on one server (the ratio shows the cost of scale), and the socket
round trip (``ping``/``pong`` through Daphne) of one idle socket.

Uploads: ``--uploads`` distinct WAV stems of ``--upload-mb`` MiB (stereo 16-bit 44.1 kHz
tone and noise; each differs in its first sample so that none is a duplicate), streamed
from memory as multipart ``file`` to ``POST /api/projects/<id>/stems`` with alice's Bearer
token, all at once, alternating between the servers. Each server's VmRSS is sampled every
50 ms: before (the last sample before the first byte), peak, after (2 s after the last
response); throughput = bytes sent / wall time.

``--profile DIR`` records each server with py-spy (``.venv/bin/pip install py-spy``)
during the burst into collapsed-stack files, for investigation.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import http.client
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a clone: import the studio beside it
    sys.path.insert(0, str(ROOT))

from tests.harness import free_port, manage, serve_command, stop  # noqa: E402

PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_BASE = "redis://127.0.0.1:6379"
TARGET_P99_S = 0.100
RSS_GROWTH_LIMIT = 0.25  # of the bytes a server received: "flat" means less than this
SERVER_START_TIMEOUT_S = 60.0
CONNECT_AT_ONCE = 50
CONNECT_ATTEMPTS = 10
CONNECT_TIMEOUT_S = 60.0
QUIET_FRAMES_PER_S = 200  # presence traffic below this counts as settled
SETTLE_TIMEOUT_S = 300.0
DRAIN_TIMEOUT_S = 300.0
QUIET_S = 0.3  # no bytes on any socket for this long: parse what was recorded
RSS_INTERVAL_S = 0.05
PEOPLE = 8
BASELINE_CLIENTS = 10
PING_COUNT = 50
SAMPLE_RATE = 44100
PASSWORD = "load-bench-password-1234"
MARK = b"bench#"


@dataclass(frozen=True)
class Sizes:
    clients: int
    burst_s: float
    uploads: int


FULL = Sizes(clients=1000, burst_s=5.0, uploads=20)
QUICK = Sizes(clients=200, burst_s=2.0, uploads=4)


# Processes, files and limits ------------------------------------------------------------


def raise_open_files() -> int:
    """Raise this process's soft limit of open files to the hard limit; returns it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_s() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy (all but idle and iowait, with steal),
    and of those, stolen: time this virtual machine was ready to run and the host ran
    another."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - values[3] - values[4]) / tick, values[7] / tick


def status_kib(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` memory line (``VmRSS``, ``VmHWM``) in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


# Database, Redis and servers ------------------------------------------------------------


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def server_env(base: Path, database: str, redis_url: str) -> dict[str, str]:
    """The environment of the servers (and of this process's Django)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="studio.settings",
        DATABASE_URL=f"{POSTGRES_URL}/{database}",
        REDIS_URL=redis_url,
        SECRET_KEY="load-benchmark-" + "k" * 40,
        STUDIO_DATA_DIR=str(base / "data"),
        STUDIO_MEDIA_DIR=str(base / "media"),
        STUDIO_STATIC_ROOT=str(base / "static"),
        STUDIO_UPLOAD_TEMP_DIR=str(base / "uploads"),
        STUDIO_WORKERS="0",
        STUDIO_DEMO="false",
        STUDIO_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    for folder in ("data", "media", "uploads"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    return env


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def require_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-40:]
            raise RuntimeError(
                f"server {self.name} exited with code {self.process.returncode}:\n"
                + "\n".join(tail)
            )


def start_server(name: str, env: dict[str, str], base: Path) -> Server:
    port = free_port()
    log_path = base / f"server-{name}.log"
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would stall Daphne
        process = subprocess.Popen(
            serve_command(port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_open_files,  # noqa: PLW1509 (only sets a limit)
        )
    return Server(name, port, process, log_path)


def wait_serving(server: Server) -> None:
    """Poll the API until the server answers (401 without a token)."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        server.require_alive()
        try:
            urllib.request.urlopen(f"{server.url}/api/projects", timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)  # polling a port that is not open yet
    raise RuntimeError(f"server {server.name} did not answer within {SERVER_START_TIMEOUT_S} s")


# People and projects (Django in this process, on the servers' database) -----------------


@dataclass
class Cast:
    sessions: list[str]  # session cookie of alice, then of the commenters
    users: list[Any]
    token: str  # alice's API token


def make_cast() -> Cast:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from projects import services

    model = get_user_model()
    users, sessions = [], []
    for index in range(PEOPLE):
        name = "alice" if index == 0 else f"member{index}"
        user = model.objects.create_user(name, f"{name}@example.org", PASSWORD)
        client = Client()
        client.force_login(user)
        users.append(user)
        sessions.append(client.cookies["sessionid"].value)
    _token, key = services.token_create(user=users[0], name="load benchmark")
    return Cast(sessions, users, key)


def make_project(cast: Cast, name: str) -> int:
    from projects import services
    from projects.models import Role

    project = services.project_create(user=cast.users[0], name=name)
    for user in cast.users[1:]:
        services.member_invite(
            user=cast.users[0], project_id=project.pk, who=user.username, role=Role.COMMENTER
        )
    return project.pk


def last_seq(project_id: int) -> int:
    from projects.models import Project

    return Project.objects.values_list("last_seq", flat=True).get(pk=project_id)


def in_thread(function: Callable[..., Any], /, *args: Any) -> Any:
    """Call ``function`` (database work, from a worker thread of the event loop), then
    close the thread's connections so that none is left open."""
    from django.db import connections

    try:
        return function(*args)
    finally:
        connections.close_all()


# The socket client ----------------------------------------------------------------------


@dataclass
class Stats:
    """What one socket received: events as (seq, arrival s, send stamp s), and counts."""

    events: list[tuple[int, float, float]] = field(default_factory=list)
    presence: int = 0
    other: int = 0
    errors: list[str] = field(default_factory=list)
    acks: dict[int, float] = field(default_factory=dict)  # request id -> arrival s


class Ws(asyncio.Protocol):
    """A websocket client on one TCP connection: handshake, unmasked server frames in,
    masked text frames out, pings answered. ``ready`` resolves once ``resume`` is acked."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str]) -> None:
        self.request = self._handshake(host, port, path, headers)
        self.buffer = bytearray()
        self.open = False
        self.stats = Stats()
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters: dict[int, asyncio.Future[float]] = {}
        self.recording = False  # keep (arrival, bytes) now, parse frames later
        self.recorded: list[tuple[float, bytes]] = []

    def _handshake(self, host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before ready: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.recording and self.open:
            self.recorded.append((now, data))
            return
        self.buffer += data
        if not self.open and not self._accept_handshake():
            return
        self._read_frames(now)

    def parse_recorded(self) -> None:
        """Read the frames of the bytes kept while recording, each stamped with the
        arrival of the bytes that completed it."""
        recorded, self.recorded = self.recorded, []
        for now, data in recorded:
            self.buffer += data
            self._read_frames(now)

    def _accept_handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        accept = base64.b64encode(
            hashlib.sha1((self.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        )
        if b" 101 " not in head.split(b"\r\n", 1)[0] + b" " or accept not in head:
            self.ready.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
            return False
        self.open = True
        return True

    def _read_frames(self, now: float) -> None:
        buf, pos, end = self.buffer, 0, len(self.buffer)
        while end - pos >= 2:
            first, size, head = buf[pos], buf[pos + 1] & 0x7F, 2
            if size == 126:
                if end - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
            if end - pos < head + size:
                break
            self._frame(first, bytes(buf[pos + head : pos + head + size]), now)
            pos += head + size
        del buf[:pos]

    def _frame(self, first: int, payload: bytes, now: float) -> None:
        opcode = first & 0x0F
        if opcode == 0x1 and first & 0x80:
            self._text(payload, now)
        elif opcode == 0x9:
            self._send_frame(0xA, payload)
        elif opcode == 0x8:
            self.open = False
        else:
            self.stats.errors.append(f"unexpected frame opcode {opcode} fin {first >> 7}")

    def _text(self, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type": "event"'):
            start = payload.index(b'"seq": ') + 7
            seq = int(payload[start : payload.index(b",", start)])
            mark = payload.find(MARK)
            stamp = float("nan")
            if mark >= 0:
                stamp = float(payload[payload.index(b"@", mark) + 1 : payload.index(b'"', mark)])
            self.stats.events.append((seq, now, stamp))
        elif payload.startswith(b'{"type": "presence'):
            self.stats.presence += 1
        else:
            self._control(json.loads(payload), now)

    def _control(self, message: dict[str, Any], now: float) -> None:
        kind = message.get("type")
        if kind == "hello":
            self.send({"type": "resume", "after": message["last_seq"], "id": 0})
        elif kind in ("ack", "pong") and isinstance(message.get("ref"), int):
            ref = message["ref"]
            self.stats.acks[ref] = now
            if ref == 0 and not self.ready.done():
                self.ready.set_result(None)
            waiter = self.waiters.pop(ref, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)
        elif kind == "error":
            self.stats.errors.append(f"{message.get('code')}: {message.get('message')}")
        else:
            self.stats.other += 1

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(header + mask + masked)

    def send(self, message: dict[str, Any]) -> None:
        self._send_frame(0x1, json.dumps(message).encode())

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send_frame(0x8, struct.pack("!H", 1000))
            self.transport.close()


async def open_socket(server: Server, project_id: int, session: str) -> Ws:
    loop = asyncio.get_running_loop()
    headers = {"Origin": server.url, "Cookie": f"sessionid={session}"}
    path = f"/ws/projects/{project_id}/"
    _transport, ws = await loop.create_connection(
        lambda: Ws("127.0.0.1", server.port, path, headers), "127.0.0.1", server.port
    )
    try:
        await asyncio.wait_for(ws.ready, timeout=CONNECT_TIMEOUT_S)
    except BaseException:
        ws.close()
        raise
    return ws


async def connect_all(
    servers: Sequence[Server], project_id: int, cast: Cast, count: int
) -> tuple[list[Ws], int]:
    """``count`` live sockets, socket i on server i mod len(servers), 50 handshakes at once.

    A socket the server drops before it is live is opened again after a second, as the
    room's page does (up to CONNECT_ATTEMPTS times); returns (sockets, such retries)."""
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    retries = 0
    began = time.monotonic()
    done = 0

    async def one(index: int) -> Ws:
        nonlocal retries, done
        server = servers[index % len(servers)]
        session = cast.sessions[index % len(cast.sessions)]
        for attempt in range(CONNECT_ATTEMPTS):
            async with gate:
                try:
                    ws = await open_socket(server, project_id, session)
                    break
                except (ConnectionError, TimeoutError, OSError):
                    if attempt == CONNECT_ATTEMPTS - 1:
                        raise
                    retries += 1
            await asyncio.sleep(1.0)
        done += 1
        if done % 250 == 0:
            print(f"    {done} live after {time.monotonic() - began:.1f} s", flush=True)
        return ws

    return list(await asyncio.gather(*(one(i) for i in range(count)))), retries


async def settle(sockets: Sequence[Ws]) -> tuple[float, int]:
    """Wait until the presence frames of the arrivals have died down (a steady room sends
    each browser its roster every ROSTER_EVERY heartbeats, no frame per person).

    Returns (seconds waited, presence frames received meanwhile)."""
    from projects.presence import HEARTBEAT_S, ROSTER_EVERY

    roster_per_s = len(sockets) / (HEARTBEAT_S * ROSTER_EVERY)
    quiet = max(QUIET_FRAMES_PER_S, 1.5 * roster_per_s)
    start, before = time.monotonic(), sum(s.stats.presence for s in sockets)
    last = before
    while time.monotonic() - start < SETTLE_TIMEOUT_S:
        await asyncio.sleep(1.0)
        now = sum(s.stats.presence for s in sockets)
        rate, last = now - last, now
        if rate < quiet:
            break
    return time.monotonic() - start, last - before


def database_counters(name: str) -> dict[str, int]:
    """PostgreSQL's counters of the database: sessions opened, transactions committed."""
    import psycopg

    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT sessions, xact_commit, tup_returned FROM pg_stat_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return dict(zip(("db sessions", "db commits", "db rows read"), row or (0, 0, 0), strict=True))


# One burst ------------------------------------------------------------------------------


@dataclass
class Burst:
    clients: int
    servers: int
    posters: int
    connect_s: float
    settle_s: float
    settle_presence: int
    posted: int
    post_rtt: list[float]
    post_errors: list[str]
    expected: list[int]
    delivery: list[float]  # every (event, socket) latency, s
    to_all: list[float]  # per event, the slowest socket's latency, s
    received: int
    missing: int
    duplicates: int
    out_of_order: int
    burst_presence: int
    drain_s: float
    cpu: dict[str, float]
    wall_s: float
    connect_cpu: dict[str, float]
    connect_wall_s: float
    db: dict[str, int]
    rss_mib: list[float]  # each server's VmRSS with every socket connected
    retries: int  # sockets dropped by a server before they were live, opened again
    errors: list[str]


async def post_schedule(
    posters: Sequence[Ws], rate: float, burst_s: float
) -> tuple[int, list[float], list[str]]:
    """Post ``rate`` comments a second for ``burst_s`` s, round robin over ``posters``,
    open loop; returns (posted, ack round trips s, errors)."""
    total = max(1, round(rate * burst_s))
    start = time.monotonic() + 0.05
    waits: list[asyncio.Future[float]] = []
    sent_at: list[float] = []
    loop = asyncio.get_running_loop()
    for k in range(total):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        ws = posters[k % len(posters)]
        future: asyncio.Future[float] = loop.create_future()
        ws.waiters[k + 1] = future
        now = time.monotonic()
        body = f"{MARK.decode()}{k}@{now:.6f}"
        ws.send({"type": "comment.post", "id": k + 1, "body": body})
        waits.append(future)
        sent_at.append(now)
    done, pending = await asyncio.wait(waits, timeout=DRAIN_TIMEOUT_S)
    rtts = [f.result() - t for f, t in zip(waits, sent_at, strict=True) if f in done]
    errors = [e for ws in posters for e in ws.stats.errors]
    if pending:
        errors.append(f"{len(pending)} posts were never acknowledged")
    return total, rtts, errors


async def drain(sockets: Sequence[Ws], final_seq: int) -> None:
    """Wait until every socket has the event ``final_seq``, or until no socket has
    received anything for 15 s. Recorded bytes are parsed only once no socket has
    received any for ``QUIET_S``, so that parsing does not delay the last arrivals."""
    start = time.monotonic()
    progress, count = start, -1
    while time.monotonic() - start < DRAIN_TIMEOUT_S:
        last = max((s.recorded[-1][0] for s in sockets if s.recorded), default=None)
        if last is not None and time.monotonic() - last >= QUIET_S:
            for s in sockets:
                s.parse_recorded()
        if all(s.stats.events and s.stats.events[-1][0] >= final_seq for s in sockets):
            break
        received = sum(len(s.stats.events) + len(s.recorded) for s in sockets)
        if received != count:
            progress, count = time.monotonic(), received
        elif time.monotonic() - progress > 15.0:
            break
        await asyncio.sleep(0.05)


def check_order(
    events: Sequence[tuple[int, float, float]], expected: Sequence[int]
) -> tuple[int, int, int]:
    """(duplicates, out-of-order arrivals, missing) of one socket against ``expected``."""
    lo, seen, dup, disorder, top = expected[0] if expected else 1, set(), 0, 0, 0
    for seq, _at, _stamp in events:
        if seq < lo:
            continue
        if seq in seen:
            dup += 1
        elif seq < top:
            disorder += 1
        seen.add(seq)
        top = max(top, seq)
    return dup, disorder, sum(1 for s in expected if s not in seen)


def latencies(sockets: Sequence[Ws], expected: Sequence[int]) -> tuple[list[float], list[float]]:
    """Every delivery's latency, and per event the slowest socket's, in s."""
    wanted = set(expected)
    every: list[float] = []
    slowest: dict[int, float] = {}
    for ws in sockets:
        for seq, at, stamp in ws.stats.events:
            if seq in wanted and stamp == stamp:  # not NaN: the body carried its stamp
                lag = at - stamp
                every.append(lag)
                slowest[seq] = max(slowest.get(seq, 0.0), lag)
    return every, list(slowest.values())


def cpu_snapshot(servers: Sequence[Server]) -> dict[str, float]:
    """CPU seconds so far of each server, this client, Redis, and the whole machine."""
    snap = {f"server {s.name}": cpu_s(s.pid) for s in servers}
    snap["client"] = self_cpu_s()
    snap["redis"] = sum(cpu_s(pid) for pid in pids_named("redis-server"))
    snap["machine"], snap["stolen"] = machine_cpu_s()
    return snap


def pids_named(name: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip() == name:
                    found.append(int(entry))
    return found


def cores(cpu: dict[str, float], wall_s: float) -> str:
    """Cores each part kept busy, and the rest of the machine (PostgreSQL, other work)."""
    parts = {k: v for k, v in cpu.items() if k not in ("machine", "stolen")}
    rest = max(0.0, cpu["machine"] - cpu["stolen"] - sum(parts.values()))
    text = ", ".join(f"{k} {v / wall_s:.2f}" for k, v in parts.items())
    return (
        f"{text}, rest (PostgreSQL, other processes) {rest / wall_s:.2f}, "
        f"stolen by the host {cpu['stolen'] / wall_s:.2f} of {os.cpu_count()}"
    )


async def measure_burst(
    servers: Sequence[Server],
    cast: Cast,
    *,
    clients: int,
    posters: int,
    rate: float,
    burst_s: float,
    label: str,
    profile: Path | None,
    database: str,
) -> Burst:
    project_id = await asyncio.to_thread(in_thread, make_project, cast, label)
    began, cpu_connect = time.monotonic(), cpu_snapshot(servers)
    sockets, retries = await connect_all(servers, project_id, cast, clients)
    connect_s = time.monotonic() - began
    settle_s, settle_presence = await settle(sockets)
    connect_cpu = {k: v - cpu_connect[k] for k, v in cpu_snapshot(servers).items()}
    connect_wall = time.monotonic() - began
    rss_mib = [status_kib(server.pid, "VmRSS") / 1024 for server in servers]
    # Posters: the first sockets (alice and the commenters), spread over the servers.
    chosen = sockets[: max(1, posters)]
    first_seq = await asyncio.to_thread(in_thread, last_seq, project_id) + 1
    presence0 = sum(s.stats.presence for s in sockets)
    db0 = await asyncio.to_thread(database_counters, database)
    cpu0, wall0 = cpu_snapshot(servers), time.monotonic()
    spies = start_profiles(servers, profile, label, burst_s) if profile else []
    for ws in sockets[len(chosen) :]:
        ws.recording = True
    gc.disable()  # this process's own collections would pause the arrivals it stamps
    try:
        posted, rtts, post_errors = await post_schedule(chosen, rate, burst_s)
        final_seq = await asyncio.to_thread(in_thread, last_seq, project_id)
        drained_from = time.monotonic()
        await drain(sockets, final_seq)
    finally:
        gc.enable()
    for ws in sockets:
        ws.recording = False
        ws.parse_recorded()
    last_arrival = max((at for ws in sockets for _, at, _ in ws.stats.events[-1:]), default=0.0)
    drain_s = max(0.0, last_arrival - drained_from)
    wall = time.monotonic() - wall0
    cpu1 = cpu_snapshot(servers)
    await asyncio.sleep(1.5)  # PostgreSQL publishes its counters about every second
    db1 = await asyncio.to_thread(database_counters, database)
    burst_presence = sum(s.stats.presence for s in sockets) - presence0
    stop_profiles(spies)
    expected = list(range(first_seq, final_seq + 1))
    every, to_all = latencies(sockets, expected)
    dup = disorder = missing = 0
    for ws in sockets:
        d, o, m = check_order(ws.stats.events, expected)
        dup, disorder, missing = dup + d, disorder + o, missing + m
    errors = sorted({e for ws in sockets for e in ws.stats.errors})
    for ws in sockets:
        ws.close()
    await asyncio.sleep(0.5)
    return Burst(
        clients=clients,
        servers=len(servers),
        posters=len(chosen),
        connect_s=connect_s,
        settle_s=settle_s,
        settle_presence=settle_presence,
        posted=posted,
        post_rtt=rtts,
        post_errors=post_errors,
        expected=expected,
        delivery=every,
        to_all=to_all,
        received=len(every),
        missing=missing,
        duplicates=dup,
        out_of_order=disorder,
        burst_presence=burst_presence,
        drain_s=drain_s,
        cpu={k: cpu1[k] - cpu0[k] for k in cpu0},
        wall_s=wall,
        connect_cpu=connect_cpu,
        connect_wall_s=connect_wall,
        db={k: db1[k] - db0[k] for k in db0},
        rss_mib=rss_mib,
        retries=retries,
        errors=errors[:5],
    )


async def ping_rtt(server: Server, cast: Cast, project_id: int) -> list[float]:
    """Round trips (s) of ``ping`` -> ``pong`` through Daphne on one idle socket."""
    ws = await open_socket(server, project_id, cast.sessions[0])
    loop = asyncio.get_running_loop()
    rtts = []
    for ref in range(1, PING_COUNT + 1):
        future: asyncio.Future[float] = loop.create_future()
        ws.waiters[ref] = future
        start = time.monotonic()
        ws.send({"type": "ping", "id": ref})
        rtts.append(await asyncio.wait_for(future, timeout=10) - start)
    ws.close()
    return rtts


# Profiling (optional) ------------------------------------------------------------------


def start_profiles(
    servers: Sequence[Server], folder: Path, label: str, burst_s: float
) -> list[subprocess.Popen[bytes]]:
    if not PY_SPY.exists():
        print(f"  (no py-spy at {PY_SPY}: not profiling)")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    spies = []
    for server in servers:
        out = folder / f"{label.replace(' ', '-')}-server-{server.name}.txt"
        command = [str(PY_SPY), "record", "--pid", str(server.pid), "--format", "raw"]
        command += ["--duration", str(int(burst_s + 6)), "--rate", "200", "--output", str(out)]
        spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    return spies


def stop_profiles(spies: Sequence[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.terminate()
            spy.wait()


# Uploads --------------------------------------------------------------------------------


def wav_bytes(size_mib: float) -> bytes:
    """A stereo 16-bit 44.1 kHz WAV of about ``size_mib`` MiB: a 220 Hz tone with noise."""
    import numpy as np

    frames = (int(size_mib * 2**20) - 44) // 4
    t = np.arange(frames, dtype=np.float32) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t)
    noise = np.random.default_rng(7).standard_normal((frames, 2), dtype=np.float32) * 0.02
    pcm = np.clip((tone[:, None] + noise) * 32767, -32768, 32767).astype("<i2")
    data = pcm.tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 2, SAMPLE_RATE, SAMPLE_RATE * 4, 4, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def post_stem(server: Server, project_id: int, token: str, wav: bytes, index: int) -> float:
    """Stream one upload from memory (its first sample set to ``index``: a distinct
    file); returns the seconds it took. Raises on an answer other than 201."""
    boundary = f"load-bench-{index}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="stem-{index:02d}.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    first = wav[:44] + struct.pack("<hh", index, -index)
    body = memoryview(wav)[48:]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    start = time.monotonic()
    conn.putrequest("POST", f"/api/projects/{project_id}/stems")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + len(wav) + len(tail)))
    conn.endheaders()
    conn.send(head + first)
    for offset in range(0, len(body), 2**20):
        conn.send(body[offset : offset + 2**20])
    conn.send(tail)
    response = conn.getresponse()
    text = response.read()[:300]
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"upload {index} answered {response.status}: {text!r}")
    return time.monotonic() - start


class RssSampler(threading.Thread):
    """Samples each server's VmRSS (KiB) every 50 ms into ``samples`` as (t, [kib...])."""

    def __init__(self, servers: Sequence[Server]) -> None:
        super().__init__(daemon=True)
        self.pids = [s.pid for s in servers]
        self.samples: list[tuple[float, list[int]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                kib = [status_kib(pid, "VmRSS") for pid in self.pids]
                self.samples.append((time.monotonic(), kib))
            self.halt.wait(RSS_INTERVAL_S)

    def window(self, start: float, end: float) -> list[list[int]]:
        return [kib for t, kib in self.samples if start <= t <= end]

    def before(self, when: float) -> list[int]:
        earlier = [kib for t, kib in self.samples if t < when]
        return earlier[-1]


@dataclass
class Uploads:
    count: int
    size_mib: float
    wall_s: float
    durations: list[float]
    errors: list[str]
    before_mib: list[float]
    peak_mib: list[float]
    after_mib: list[float]
    hwm_mib: list[float]
    per_server_mib: list[float]  # bytes each server received


def measure_uploads(
    servers: Sequence[Server], cast: Cast, *, count: int, size_mib: float
) -> Uploads:
    project_id = make_project(cast, "uploads")
    wav = wav_bytes(size_mib)
    sampler = RssSampler(servers)
    sampler.start()
    time.sleep(1.0)
    durations, errors = [], []
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [
            pool.submit(post_stem, servers[i % len(servers)], project_id, cast.token, wav, i)
            for i in range(count)
        ]
        for future in futures:
            try:
                durations.append(future.result())
            except Exception as error:  # reported, not fatal: the memory is still measured
                errors.append(str(error))
    end = time.monotonic()
    time.sleep(2.0)
    sampler.halt.set()
    sampler.join()
    during = sampler.window(start, end + 2.0)
    mib = 1024.0
    shares = [sum(1 for i in range(count) if i % len(servers) == n) for n in range(len(servers))]
    return Uploads(
        count=count,
        size_mib=len(wav) / 2**20,
        wall_s=end - start,
        durations=durations,
        errors=errors[:5],
        before_mib=[k / mib for k in sampler.before(start)],
        peak_mib=[max(row[n] for row in during) / mib for n in range(len(servers))],
        after_mib=[k / mib for k in sampler.samples[-1][1]],
        hwm_mib=[status_kib(s.pid, "VmHWM") / mib for s in servers],
        per_server_mib=[share * len(wav) / 2**20 for share in shares],
    )


# Reporting ------------------------------------------------------------------------------


def heading(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def ms(values: Sequence[float]) -> str:
    """median / p99 / max of seconds, in ms."""
    if not values:
        return "-"
    return (
        f"{statistics.median(values) * 1e3:7.1f} {quantile(values, 0.99) * 1e3:7.1f} "
        f"{max(values) * 1e3:7.1f}"
    )


def print_burst(label: str, b: Burst) -> None:
    deliveries = len(b.expected) * b.clients
    exact = b.missing == 0 and b.duplicates == 0 and b.out_of_order == 0
    print(f"  {label}: {b.clients} sockets on {b.servers} server(s), {b.posters} posters")
    print(
        f"    connect {b.connect_s:.1f} s ({b.retries} dropped before live and retried); "
        f"settle {b.settle_s:.1f} s "
        f"({b.settle_presence:,} presence frames)"
    )
    print(f"    cores busy while connecting: {cores(b.connect_cpu, b.connect_wall_s)}")
    rss = ", ".join(f"{m:.0f}" for m in b.rss_mib)
    print(f"    servers' VmRSS with every socket connected: {rss} MiB")
    print(
        f"    posted {b.posted} ({len(b.expected)} events logged); post->ack ms "
        f"median/p99/max {ms(b.post_rtt)}"
    )
    print(f"    post->ack ms, median of each tenth of the burst: {tenths(b.post_rtt)}")
    print(f"    latency ms (median    p99     max): every delivery {ms(b.delivery)}")
    print(f"                                        event to all   {ms(b.to_all)}")
    print(
        f"    received {b.received:,} of {deliveries:,} (events x sockets); missing {b.missing}, "
        f"duplicates {b.duplicates}, out of order {b.out_of_order}: "
        f"{'exactly once, in order' if exact else 'NOT exactly once in order'}"
    )
    print(
        f"    burst + drain {b.wall_s:.1f} s (drain after the last ack {b.drain_s:.2f} s); "
        f"presence frames meanwhile {b.burst_presence:,}"
    )
    print(f"    cores busy meanwhile: {cores(b.cpu, b.wall_s)}")
    print(f"    PostgreSQL meanwhile: {', '.join(f'{k} {v:,}' for k, v in b.db.items())}")
    for error in b.post_errors[:3] + b.errors:
        print(f"    NOTE: {error}")


def tenths(values: Sequence[float]) -> str:
    """The median of each tenth of ``values`` (in the order taken), in ms."""
    size = max(1, len(values) // 10)
    parts = [values[i : i + size] for i in range(0, len(values), size)][:10]
    return " ".join(f"{statistics.median(part) * 1000:.0f}" for part in parts if part)


def print_uploads(u: Uploads, servers: Sequence[Server]) -> None:
    total = u.count * u.size_mib
    ok = len(u.durations)
    print(
        f"  {u.count} uploads of {u.size_mib:.1f} MiB at once: {ok} answered 201 in "
        f"{u.wall_s:.1f} s; throughput {ok * u.size_mib / u.wall_s:.0f} MiB/s in all "
        f"({total:.0f} MiB); one upload median {statistics.median(u.durations or [0]):.1f} s"
    )
    print(
        f"  {'server':<8} {'received':>9} {'before':>8} {'peak':>8} {'after':>8} "
        f"{'VmHWM':>8} {'growth':>8}  flat?"
    )
    for n, server in enumerate(servers):
        growth = u.peak_mib[n] - u.before_mib[n]
        flat = growth < RSS_GROWTH_LIMIT * u.per_server_mib[n]
        print(
            f"  {server.name:<8} {u.per_server_mib[n]:7.0f} MiB {u.before_mib[n]:6.0f} MiB "
            f"{u.peak_mib[n]:6.0f} MiB {u.after_mib[n]:6.0f} MiB {u.hwm_mib[n]:6.0f} MiB "
            f"{growth:+6.0f} MiB  {'flat' if flat else 'NOT flat'}"
        )
    for error in u.errors:
        print(f"  NOTE: {error}")


def print_summary(big: Burst, base: Burst, pings: list[float]) -> None:
    heading("Summary")
    p99, base_p99 = quantile(big.to_all, 0.99), quantile(base.to_all, 0.99)
    exact = big.missing == 0 and big.duplicates == 0 and big.out_of_order == 0
    print(f"  {'':<34} {'median':>8} {'p99':>8} {'max':>8}   (ms)")
    for name, values in (
        (f"event to all {big.clients} sockets, 2 servers", big.to_all),
        (f"event to all {base.clients} sockets, 1 server", base.to_all),
        ("ping round trip, 1 idle socket", pings),
    ):
        print(f"  {name:<34} {ms(values)}")
    print(
        f"  p99 {p99 * 1e3:.1f} ms: target under {TARGET_P99_S * 1e3:.0f} ms "
        f"{'met' if p99 < TARGET_P99_S else 'MISSED'}; x{p99 / base_p99:.1f} the baseline's p99"
    )
    print(f"  every socket got every event exactly once and in order: {'yes' if exact else 'NO'}")


# Main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 sockets, 2 s, 4 uploads")
    parser.add_argument("--clients", type=int, help="sockets on the project (default 1000)")
    parser.add_argument("--burst-s", type=float, help="seconds of posting (default 5)")
    parser.add_argument("--rate", type=float, default=100.0, help="comments a second")
    parser.add_argument("--posters", type=int, default=20, help="sockets that post (default 20)")
    parser.add_argument("--uploads", type=int, help="concurrent uploads (default 20)")
    parser.add_argument("--upload-mb", type=float, default=50.0, help="MiB per upload")
    parser.add_argument("--skip-uploads", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--database", default="studio_load", help="PostgreSQL database name")
    parser.add_argument("--redis-db", type=int, default=9, help="Redis database number")
    parser.add_argument("--profile", type=Path, help="py-spy the servers during the burst")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


async def run_load(
    servers: Sequence[Server], cast: Cast, args: argparse.Namespace, sizes: Sizes
) -> None:
    clients, burst_s = args.clients or sizes.clients, args.burst_s or sizes.burst_s
    heading(f"Baseline: {BASELINE_CLIENTS} sockets on one server, ping round trip")
    base_project = await asyncio.to_thread(in_thread, make_project, cast, "ping")
    pings = await ping_rtt(servers[0], cast, base_project)
    print(f"  ping -> pong ms median/p99/max {ms(pings)}")
    base = await measure_burst(
        servers[:1], cast, clients=BASELINE_CLIENTS, posters=args.posters, rate=args.rate,
        burst_s=burst_s, label="baseline", profile=None, database=args.database,
    )  # fmt: skip
    print_burst("baseline", base)
    heading(f"Load: {clients} sockets on two servers, {args.rate:.0f} comments/s for {burst_s} s")
    big = await measure_burst(
        servers, cast, clients=clients, posters=args.posters, rate=args.rate,
        burst_s=burst_s, label="load", profile=args.profile, database=args.database,
    )  # fmt: skip
    print_burst("load", big)
    for server in servers:
        server.require_alive()
    print_summary(big, base, pings)


def wait_servers_quiet(servers: Sequence[Server], timeout_s: float = 120.0) -> float:
    """Wait until the servers use under 5% of a core (the disconnections' presence
    traffic is done); returns seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        before = sum(cpu_s(s.pid) for s in servers)
        time.sleep(1.0)
        if sum(cpu_s(s.pid) for s in servers) - before < 0.05:
            break
    return time.monotonic() - start


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    limit = raise_open_files()
    heading("Machine")
    print(f"  {os.cpu_count()} cores; open files limit {limit}; Python {sys.version.split()[0]}")
    redis_url = f"{REDIS_BASE}/{args.redis_db}"
    base = Path(tempfile.mkdtemp(prefix="studio-load-"))
    servers: list[Server] = []
    began = time.monotonic()
    try:
        env = server_env(base, args.database, redis_url)
        recreate_database(args.database)
        flush_redis(redis_url)
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        os.environ.update(env)
        import django

        django.setup()
        cast = make_cast()
        servers = [start_server(name, env, base) for name in ("A", "B")]
        for server in servers:
            wait_serving(server)
        print(
            f"  servers {', '.join(f'{s.name} {s.url} pid {s.pid}' for s in servers)}; "
            f"database {args.database}; {redis_url}"
        )
        if not args.skip_load:
            asyncio.run(run_load(servers, cast, args, sizes))
            print(f"  (servers quiet again after {wait_servers_quiet(servers):.1f} s)")
        if not args.skip_uploads:
            count = args.uploads or sizes.uploads
            heading(f"Uploads: {count} x {args.upload_mb:.0f} MiB WAV at once over two servers")
            uploads = measure_uploads(servers, cast, count=count, size_mib=args.upload_mb)
            print_uploads(uploads, servers)
        for server in servers:
            server.require_alive()
    except RuntimeError as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        return 1
    finally:
        cleanup(servers, args, redis_url, base)
    print(f"\n(total run time {time.monotonic() - began:.0f} s)")
    return 0


def cleanup(
    servers: Sequence[Server], args: argparse.Namespace, redis_url: str, base: Path
) -> None:
    """Stop the servers, drop the database, flush the Redis database, remove the folder."""
    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()
    for server in servers:
        stop(server.process)
    drop_database(args.database)
    flush_redis(redis_url)
    if args.keep:
        print(f"\n(kept {base})")
    else:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
