"""From the end of a stem's upload to its first suggestion on every connected screen.

Run from the repository root (after ``bin/test`` or ``bin/venv dev``)::

    .venv/bin/python benchmarks/suggestion_latency.py            # full run, about 4 minutes
    .venv/bin/python benchmarks/suggestion_latency.py --quick    # smoke run, about a minute
    .venv/bin/python benchmarks/suggestion_latency.py --workers 1 --clients 2   # one job thread

This is a benchmark, not a test: it prints figures and checks them against the target (the
first suggestion on every screen under 3 s after the upload's response), and exits 0 once it
has measured (1 only when the server cannot be started or dies).

What runs: the real server (``python -m studio.serve``: Daphne, the embedded job workers and
their pool of engine processes) on a free port, on a fresh SQLite database, media and static
folder in a temporary directory (the embedded default; ``DATABASE_URL`` and ``REDIS_URL`` are
not passed on). People, sessions and projects are made with the services (``project_create``,
``member_invite``) in this process, against the same database. Each screen is a websocket
client (a minimal RFC 6455 client on asyncio streams, in this file: no extra package;
autobahn cannot serve, Django's settings put it on Twisted) on
``/ws/projects/<id>/`` with its person's session cookie and an allowed Origin; it sends
``resume`` after the ``hello`` and is live once that is acknowledged. Screens are protocol
clients, not browsers: the time a page takes to draw the card is not included.

The stem: a 3-minute stereo 44.1 kHz 24-bit WAV from the studio's synthesiser (a 72-bar song
at 96 BPM) with one known fault, so that a stem-scope suggestion exists:

- ``hum``: the lead part as ``vocals.wav`` with 50 Hz mains hum (``faults.with_hum``,
  -45 dBFS): its suggestion (cleanup.hum) is *measured*: the engine plays the stem through the
  move twice before it proposes it;
- ``clipped``: the drums as ``drums.wav`` driven 12 dB into the ceiling (``faults.clipped``):
  its suggestion (cleanup.clipping) is advice, the first rule, and needs no measuring.

Each run: a fresh project with N people in it (the owner and N-1 viewers), N screens
connected and live, then the owner uploads the stem (multipart ``file`` to
``/projects/<id>/stems/``, session cookie and CSRF token, ``Accept: application/json``).
t0 is when the upload's response (201) has arrived. For every screen, the time its first
``suggestion.created`` event arrives; the run's latency is that of the slowest screen. The
steps are the arrival times (first screen) of the events on the way: the stem's
``analysis.started`` / ``analysis.done``, the mix's ``analysis.started`` / ``analysis.done``
(the mix of the project's one stem is analysed too, and competes for the cores). After each
run the benchmark waits until every job is done and deletes the project.

Before measuring, untimed warm-up uploads run until the server's engine processes exist
(the pool starts and warms them at boot, each compiling the kernels); the first of
them is printed as the *cold* figure: the first upload after the server starts.

Baseline, measured in the same run on the same file, just before each configuration's runs
(the server idle): the engine alone in a fresh process (after ``warm_up()``, as a pool
process): ``run_in_worker`` (``analyze_file(path, verify=False)``, the job's analysis) and
then the stem's suggestion rules (``run_suggestions``, scope stem) until the first suggestion
is emitted; median of 3. latency / analysis and latency / (analysis + first suggestion) show
what the server's path adds.

Machine noise: before each configuration the benchmark says how many cores other processes
keep busy (``--wait-idle`` waits for a quiet machine first), and every run says when other
processes (not this one, nor the server and its engine processes) used the CPU meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a clone: import the studio beside it
    sys.path.insert(0, str(ROOT))

from tests.harness import free_port, manage, run_python, serve_command, stop  # noqa: E402

SAMPLE_RATE = 44100
TEMPO_BPM = 96.0
TARGET_S = 3.0
REPEATS = 3  # of the baseline
QUIET_CORES = 0.25
SERVER_START_TIMEOUT_S = 60.0
SUGGESTION_TIMEOUT_S = 120.0
IDLE_TIMEOUT_S = 180.0
PASSWORD = "bench-password-1234"
FAULTS = {
    "hum": ("lead", "vocals.wav", "the lead part with 50 Hz hum at -45 dBFS", "cleanup.hum"),
    "clipped": ("drums", "drums.wav", "the drums driven 12 dB into clipping", "cleanup.clipping"),
}


@dataclass(frozen=True)
class Sizes:
    stem_s: float
    runs: int
    clients: tuple[int, ...]


FULL = Sizes(stem_s=180.0, runs=3, clients=(2, 10))
# 40 s, not 30 s: a 31 s file (30 s and the 1 s tail) crashes the hum rule's probe (its last
# 30 s flush empties its buffer, then result() concatenates nothing); see the report.
QUICK = Sizes(stem_s=40.0, runs=1, clients=(2,))


# Helpers ------------------------------------------------------------------------------------


def heading(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def machine_facts() -> dict[str, str]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return {
        "CPU": model,
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_kib / 1024**2:.0f} GiB",
        "Python": platform.python_version(),
    }


def busy_cores(seconds: float = 1.0, exclude: Sequence[int] = ()) -> float:
    """Cores kept busy by other processes meanwhile (``exclude``: pids that are ours)."""
    wall0, busy0, ours0 = cpu_snapshot(exclude)
    time.sleep(seconds)
    wall1, busy1, ours1 = cpu_snapshot(exclude)
    return max(0.0, (busy1 - busy0) - (ours1 - ours0)) / max(wall1 - wall0, 1e-9)


def check_quiet(server_pid: int | None, wait_s: float) -> float:
    """Print how busy the machine is with other work; wait up to ``wait_s`` for it to calm."""
    deadline = time.monotonic() + wait_s

    def ours() -> list[int]:
        return tree_pids(server_pid) if server_pid else []

    busy = busy_cores(exclude=ours())
    while busy > QUIET_CORES and time.monotonic() < deadline:
        time.sleep(4.0)
        busy = busy_cores(exclude=ours())
    warning = " : figures will be slower and noisier" if busy > QUIET_CORES else ""
    print(f"  other processes keep {busy:.2f} of {os.cpu_count()} cores busy{warning}", flush=True)
    return busy


def tree_pids(root: int) -> list[int]:
    """``root`` and every process below it (the server's engine pool, its manager)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
            ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_snapshot(pids: Sequence[int]) -> tuple[float, float, float]:
    """Wall clock, busy CPU seconds of the whole machine, CPU seconds of us and ``pids``."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    busy = (sum(values) - values[3] - values[4]) / tick  # all but idle and iowait
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ours = usage.ru_utime + usage.ru_stime
    for pid in pids:
        if pid == os.getpid():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
            ours += (int(fields[11]) + int(fields[12])) / tick
    return time.perf_counter(), busy, ours


def engine_processes(server_pid: int) -> int:
    """Processes the server spawned for its engine pool (the multiprocessing manager is one
    more spawned process and is not counted)."""
    count = 0
    for pid in tree_pids(server_pid):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if b"spawn_main" in cmdline.read():
                count += 1
    return max(0, count - 1)


# Test material ------------------------------------------------------------------------------


def render_stem(fault: str, seconds: float, out_dir: Path) -> Path:
    """The stem of ``fault`` (FAULTS) as a stereo 44.1 kHz 24-bit WAV of about ``seconds``."""
    from studio.processing import decode, faults, synth

    part, file_name, _what, _code = FAULTS[fault]
    bars = max(4, 4 * round(seconds * TEMPO_BPM / 240.0 / 4))
    song = synth.compose_song(tonic=9, mode="minor", tempo_bpm=TEMPO_BPM, n_bars=bars, seed=1)
    stems = synth.render_stems(song, sample_rate=SAMPLE_RATE)
    if fault == "hum":
        signal = faults.with_hum(stems[part], sample_rate=SAMPLE_RATE, level_dbfs=-45.0)
    else:
        signal = faults.clipped(stems[part], drive_db=12.0)
    folder = out_dir / fault
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    decode.write(str(path), signal, sample_rate=SAMPLE_RATE, format="WAV", subtype="PCM_24")
    return path


# Baseline: the engine alone in a fresh process -----------------------------------------------


def child_baseline(path: str) -> None:
    """In a fresh process: the job's analysis and the stem's suggestion run, REPEATS times
    each after the pool's warm-up; prints one JSON object."""
    start = time.perf_counter()
    from studio.processing.analysis import run_in_worker, warm_up
    from studio.processing.suggest import run_suggestions

    imported = time.perf_counter() - start
    start = time.perf_counter()
    warm_up()
    warmed = time.perf_counter() - start
    name = Path(path).stem
    wall0, busy0, ours0 = cpu_snapshot([])
    analysis, first, whole, codes, errors = [], [], [], [], []
    report: dict[str, Any] = {}
    for _ in range(REPEATS):
        start = time.perf_counter()
        report, _summary = run_in_worker(paths=[path], name=name, is_mix=False)
        analysis.append(time.perf_counter() - start)
    for _ in range(REPEATS):
        found: list[tuple[float, str]] = []
        start = time.perf_counter()

        def emit(candidate: dict[str, Any], start: float = start, found: list = found) -> None:
            found.append((time.perf_counter() - start, candidate["code"]))

        stems = [{"key": "1", "name": name, "path": path, "report": report, "settings": {}}]
        try:
            run_suggestions(scope="stem", stems=stems, mix_report=None, bus={}, emit=emit)
        except Exception as error:  # the job would fail the same way: say so, go on
            errors.append(f"{type(error).__name__}: {error}")
        whole.append(time.perf_counter() - start)
        first.append(found[0][0] if found else float("nan"))
        codes = [code for _t, code in found]
    wall1, busy1, ours1 = cpu_snapshot([])
    others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / max(wall1 - wall0, 1e-9)
    print(
        json.dumps(
            {
                "others": others,
                "import_s": imported,
                "warm_up_s": warmed,
                "analysis_s": analysis,
                "first_suggestion_s": first,
                "suggestions_s": whole,
                "codes": codes,
                "errors": errors[:1],
            }
        )
    )


def print_baseline(b: dict[str, Any], fault: str) -> None:
    def times(key: str) -> str:
        return " / ".join(f"{t:.2f}" for t in b[key])

    others = f"; others used {b['others']:.2f} cores" if b["others"] >= 0.05 else ""
    print(
        f"  engine alone (fresh process; import {b['import_s']:.2f} s, warm-up "
        f"{b['warm_up_s']:.2f} s{others}):\n"
        f"    analysis {times('analysis_s')} s; first suggestion after "
        f"{times('first_suggestion_s')} s of the suggestion run (whole run "
        f"{statistics.median(b['suggestions_s']):.2f} s): {', '.join(b['codes']) or 'none'}",
        flush=True,
    )
    for error in b["errors"]:
        print(f"  NOTE: the stem's suggestion run failed: {error}")
    if FAULTS[fault][3] not in b["codes"]:
        print(f"  NOTE: the engine did not suggest {FAULTS[fault][3]} for this stem")


def baseline(path: Path, env: dict[str, str]) -> dict[str, Any]:
    printed = run_python(
        env, __file__, "--child", "baseline", "--path", str(path), what="the baseline process"
    )
    return json.loads(printed.strip().splitlines()[-1])


# The server ---------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def require_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"the server exited with code {self.process.returncode}; its log:\n"
                + self.log_tail()
            )


def server_env(base: Path, workers: int | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="studio.settings",
        STUDIO_DATA_DIR=str(base / "data"),
        STUDIO_MEDIA_DIR=str(base / "media"),
        STUDIO_STATIC_ROOT=str(base / "static"),
        STUDIO_UPLOAD_TEMP_DIR=str(base / "uploads"),
        STUDIO_DEMO="false",
        PYTHONUNBUFFERED="1",
    )
    if workers is not None:
        env["STUDIO_WORKERS"] = str(workers)
    for folder in ("data", "media", "uploads"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    return env


def prepare_database(env: dict[str, str]) -> None:
    for command in ("migrate", "collectstatic"):
        manage(env, command, "--noinput", "--verbosity", "0")


def start_server(env: dict[str, str], base: Path) -> Server:
    port = free_port()
    log_path = base / "server.log"
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would stall Daphne
        process = subprocess.Popen(
            serve_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(url=f"http://127.0.0.1:{port}", port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        server.require_alive()
        try:
            with urllib.request.urlopen(f"{server.url}/login/", timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)  # polling a port that is not open yet
    stop(server.process)
    raise RuntimeError(f"the server did not answer in time; its log:\n{server.log_tail()}")


# People and projects (Django in this process, on the server's database) ----------------------


@dataclass
class Person:
    username: str
    user: Any
    session: str


def make_people(count: int) -> list[Person]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    model = get_user_model()
    people = []
    for index in range(count):
        username = f"bench{index}"
        user = model.objects.filter(username=username).first() or model.objects.create_user(
            username, f"{username}@example.org", PASSWORD
        )
        client = Client()
        client.force_login(user)
        people.append(Person(username, user, client.cookies["sessionid"].value))
    return people


def make_project(people: Sequence[Person], label: str) -> int:
    from projects import services
    from projects.models import Role

    owner = people[0]
    project = services.project_create(user=owner.user, name=label)
    for person in people[1:]:
        services.member_invite(
            user=owner.user, project_id=project.pk, who=person.username, role=Role.VIEWER.value
        )
    return project.pk


def delete_project(people: Sequence[Person], project_id: int) -> None:
    from projects import services

    services.project_delete(user=people[0].user, project_id=project_id)


def jobs_busy() -> int:
    """Jobs queued or running anywhere (analyses, suggestion runs, previews)."""
    from django.db.models import Q

    from projects.models import Analysis, JobStatus, Suggestion

    active = [JobStatus.QUEUED, JobStatus.RUNNING]
    return (
        Analysis.objects.filter(Q(status__in=active) | Q(suggest_status__in=active)).count()
        + Suggestion.objects.filter(preview_status__in=active).count()
    )


def wait_jobs_idle(server: Server, timeout_s: float = IDLE_TIMEOUT_S) -> float:
    """Wait until no job is queued or running; returns how long it took."""
    start = time.perf_counter()
    while jobs_busy():
        server.require_alive()
        if time.perf_counter() - start > timeout_s:
            raise RuntimeError(f"jobs still busy after {timeout_s:.0f} s:\n{server.log_tail()}")
        time.sleep(0.05)
    return time.perf_counter() - start


# Screens (websocket clients) ----------------------------------------------------------------


@dataclass
class Screen:
    index: int
    events: list[tuple[float, float, dict[str, Any]]] = field(default_factory=list)
    first_suggestion: float | None = None
    first_event: dict[str, Any] | None = None
    first_wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    protocol: Any = None
    reader: Any = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    def receive(self, message: dict[str, Any], now: float, wall: float) -> None:
        kind = message.get("type")
        if kind == "hello":
            resume = {"type": "resume", "after": message["last_seq"], "id": 1}
            self.protocol.send(json.dumps(resume))
        elif kind == "ack" and message.get("ref") == 1:
            self.ready.set()
        elif kind == "event":
            event = message["event"]
            self.events.append((now, wall, event))
            if event["type"] == "suggestion.created" and self.first_suggestion is None:
                self.first_suggestion, self.first_event, self.first_wall = now, event, wall
                self.got.set()
        elif kind == "error":
            self.errors.append(f"{message.get('code')}: {message.get('message')}")


class Socket:
    """A minimal websocket client (RFC 6455) on asyncio streams: text messages in and out.

    Django's settings import Daphne, which puts txaio (autobahn) on Twisted for the whole
    process, so autobahn's asyncio client cannot run here; the protocol's client side is
    small enough to write out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int, path: str, headers: dict[str, str]) -> Socket:
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode()
        if " 101 " not in status + " ":
            raise RuntimeError(f"the socket was refused: {status}")
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        )
        if accept not in head:
            raise RuntimeError("the socket's handshake did not match")
        return cls(reader, writer)

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    async def receive(self) -> str | None:
        """The next text message, or None when the socket closes."""
        parts: list[bytes] = []
        while True:
            first, second = await self.reader.readexactly(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            mask = await self.reader.readexactly(4) if second & 0x80 else b""
            payload = await self.reader.readexactly(size)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                return None
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1):
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._send_frame(0x8, struct.pack("!H", 1000))
            await self.writer.drain()
            self.writer.close()


async def connect(server: Server, project_id: int, person: Person, screen: Screen) -> None:
    """Open a screen's socket and keep reading it (a task) until it closes."""
    socket_ = await Socket.open(
        "127.0.0.1",
        server.port,
        f"/ws/projects/{project_id}/",
        {"Origin": server.url, "Cookie": f"sessionid={person.session}"},
    )
    screen.protocol = socket_

    async def read() -> None:
        try:
            while (text := await socket_.receive()) is not None:
                now, wall = time.perf_counter(), time.time()
                screen.receive(json.loads(text), now, wall)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if not screen.got.is_set():
            screen.errors.append("the socket closed before a suggestion came")

    screen.reader = asyncio.create_task(read())
    await asyncio.wait_for(screen.ready.wait(), timeout=30)


# One run ------------------------------------------------------------------------------------


@dataclass
class Run:
    upload_s: float
    latency: float | None  # slowest screen
    fastest: float | None
    steps: dict[str, float]
    first: dict[str, Any] | None
    delivery_lag: float | None  # slowest screen: arrival minus the event row's time
    others: float
    idle_after_s: float
    errors: list[str]


def upload_request(server: Server, project_id: int, person: Person, path: Path) -> Callable:
    """A blocking upload by ``person`` (room page first, for the CSRF cookie), which returns
    the time its response arrived."""
    import requests

    session = requests.Session()
    session.cookies.set("sessionid", person.session, domain="127.0.0.1")
    room = f"{server.url}/projects/{project_id}/"
    page = session.get(room, timeout=30)
    page.raise_for_status()
    token = session.cookies.get("csrftoken")
    if not token:
        raise RuntimeError("the room page set no csrftoken cookie")

    def upload() -> tuple[float, float]:
        with open(path, "rb") as handle:
            start = time.perf_counter()
            response = session.post(
                f"{room}stems/",
                files={"file": (path.name, handle, "audio/wav")},
                headers={"Accept": "application/json", "X-CSRFToken": token, "Referer": room},
                timeout=300,
            )
            t0 = time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
        return start, t0

    return upload


async def run_once(
    server: Server, people: Sequence[Person], project_id: int, path: Path
) -> tuple[Run, list[Screen]]:
    screens = [Screen(i) for i in range(len(people))]
    await asyncio.gather(
        *(connect(server, project_id, p, s) for p, s in zip(people, screens, strict=True))
    )
    upload = await asyncio.to_thread(upload_request, server, project_id, people[0], path)
    ours = tree_pids(server.process.pid)
    wall0, busy0, ours0 = cpu_snapshot(ours)
    sent, t0 = await asyncio.to_thread(upload)
    errors: list[str] = []
    try:
        await asyncio.wait_for(
            asyncio.gather(*(s.got.wait() for s in screens)), timeout=SUGGESTION_TIMEOUT_S
        )
    except TimeoutError:
        errors.append(f"no suggestion on every screen within {SUGGESTION_TIMEOUT_S:.0f} s")
    wall1, busy1, ours1 = cpu_snapshot(ours)
    window = max(wall1 - wall0, 1e-9)  # the upload and the wait for every screen
    others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / window
    # Keep the screens open until every job is done, to see the mix's steps too.
    idle_start = time.perf_counter()
    await asyncio.to_thread(wait_jobs_idle, server)
    await asyncio.sleep(0.2)  # the last broadcasts
    idle_after = time.perf_counter() - idle_start
    for screen in screens:
        if screen.protocol is not None:
            await screen.protocol.close()
        if screen.reader is not None:
            screen.reader.cancel()
        errors += [f"screen {screen.index}: {e}" for e in screen.errors]

    arrived = [s.first_suggestion for s in screens]
    latency = None if None in arrived else max(arrived) - t0  # type: ignore[operator]
    fastest = min((a for a in arrived if a is not None), default=None)
    lags = [
        s.first_wall - datetime.fromisoformat(s.first_event["at"]).timestamp()
        for s in screens
        if s.first_event is not None
    ]
    return (
        Run(
            upload_s=t0 - sent,
            latency=latency,
            fastest=None if fastest is None else fastest - t0,
            steps=steps_of(screens[0], t0),
            first=screens[0].first_event,
            delivery_lag=max(lags, default=None),
            others=others,
            idle_after_s=idle_after,
            errors=errors,
        ),
        screens,
    )


STEP_NAMES = (
    ("stem started", "analysis.started", "stem"),
    ("stem done", "analysis.done", "stem"),
    ("mix started", "analysis.started", "mix"),
    ("mix done", "analysis.done", "mix"),
)


def steps_of(screen: Screen, t0: float) -> dict[str, float]:
    """When the first screen heard each step (seconds after t0; negative: before it)."""
    steps: dict[str, float] = {}
    for now, _wall, event in screen.events:
        payload = event["payload"]
        target = (payload.get("analysis") or {}).get("target", "")
        for name, kind, which in STEP_NAMES:
            matches = target == "mix" if which == "mix" else target.startswith("stem:")
            if event["type"] == kind and matches and name not in steps:
                steps[name] = now - t0
        if event["type"] == "suggestion.created" and "first suggestion" not in steps:
            steps["first suggestion"] = now - t0
    return steps


# Reporting ----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


RUN_HEADER = (
    f"  {'run':<7} {'upload':>7} {'stem':>6} {'stem':>6} {'mix':>6} {'first':>6} "
    f"{'slowest':>8} {'socket':>7} {'mix':>6}  first suggestion"
)
RUN_HEADER_2 = (
    f"  {'':<7} {'s':>7} {'start':>6} {'done':>6} {'start':>6} {'sugg.':>6} "
    f"{'screen':>8} {'lag':>7} {'done':>6}"
)


def print_run(label: str, run: Run) -> None:
    s = run.steps
    first = run.first["payload"]["suggestion"] if run.first else None
    what = f"{first['code']} ({first['scope']})" if first else "none"
    notes = []
    if run.others >= 0.05:
        notes.append(f"others used {run.others:.2f} cores")
    notes += run.errors
    print(
        f"  {label:<7} {run.upload_s:7.2f} {fmt(s.get('stem started')):>6} "
        f"{fmt(s.get('stem done')):>6} {fmt(s.get('mix started')):>6} "
        f"{fmt(s.get('first suggestion')):>6} {fmt(run.latency):>8} "
        f"{fmt(run.delivery_lag, 3):>7} {fmt(s.get('mix done')):>6}  {what}"
        + (f"  [{'; '.join(notes)}]" if notes else ""),
        flush=True,
    )


@dataclass
class Summary:
    fault: str
    clients: int
    runs: list[Run]
    base: dict[str, Any]

    def latencies(self) -> list[float]:
        return [r.latency for r in self.runs if r.latency is not None]

    def step_median(self, name: str) -> float | None:
        values = [r.steps[name] for r in self.runs if name in r.steps]
        return statistics.median(values) if values else None


def print_summary(summaries: list[Summary], stem_s: float, cold: Run | None) -> None:
    heading("Summary: seconds from the upload's response to the first suggestion")
    print(
        f"  {'stem':<8} {'screens':>7} {'runs':>4} {'median':>7} {'max':>6} {'target':>8} "
        f"{'engine':>7} {'+first':>7} {'x engine':>8} {'x +first':>8}"
    )
    for summary in summaries:
        values = summary.latencies()
        analysis = statistics.median(summary.base["analysis_s"])
        floor = analysis + statistics.median(summary.base["first_suggestion_s"])
        if not values:
            print(
                f"  {summary.fault:<8} {summary.clients:>7} {len(summary.runs):>4}  no suggestion"
            )
            continue
        median, worst = statistics.median(values), max(values)
        ok = worst < TARGET_S and len(values) == len(summary.runs)
        print(
            f"  {summary.fault:<8} {summary.clients:>7} {len(values):>4} {median:7.2f} "
            f"{worst:6.2f} {verdict(ok):>8} {analysis:7.2f} {floor:7.2f} "
            f"{median / analysis:7.1f}x {median / floor:7.1f}x"
        )
    print(
        "\n  engine: the analysis alone in a fresh warmed-up process (median of 3); +first: "
        "that plus\n  the stem's suggestion rules up to their first suggestion; x: the "
        "median latency over them."
    )
    print("\n  Median steps (s after the upload's response, as the first screen heard them):")
    names = ("stem started", "stem done", "mix started", "first suggestion", "mix done")
    print(f"  {'stem':<8} {'screens':>7} " + " ".join(f"{n:>16}" for n in names))
    for summary in summaries:
        cells = " ".join(f"{fmt(summary.step_median(n)):>16}" for n in names)
        print(f"  {summary.fault:<8} {summary.clients:>7} {cells}")

    heading("README-ready")
    minutes = f"{stem_s / 60:.0f}-minute" if stem_s >= 60 else f"{stem_s:.0f} s"
    print(
        "| what | median | max | compared |\n|---|---:|---:|---|",
    )
    for summary in summaries:
        values = summary.latencies()
        if not values:
            continue
        fault, what = summary.fault, FAULTS[summary.fault][2]
        analysis = statistics.median(summary.base["analysis_s"])
        median, worst = statistics.median(values), max(values)
        print(
            f"| first suggestion on every one of {summary.clients} screens after a {minutes} "
            f"stem's upload ({fault}: {what}) | {median:.2f} s | {worst:.2f} s | target under "
            f"{TARGET_S:.0f} s: {verdict(worst < TARGET_S)}; the engine's analysis alone "
            f"{analysis:.2f} s ({median / analysis:.1f}x) |"
        )
    if cold is not None and cold.latency is not None:
        print(
            f"| the same, first upload after the server starts (cold engine processes) "
            f"| {cold.latency:.2f} s | | one run |"
        )


# Main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 40 s stem, 1 run, 2 screens")
    parser.add_argument("--runs", type=int, help="runs per configuration (default 3)")
    parser.add_argument(
        "--clients", help="comma-separated numbers of screens (default 2,10; --quick: 2)"
    )
    parser.add_argument(
        "--fault", choices=(*FAULTS, "both"), default="both", help="which stem (default both)"
    )
    parser.add_argument(
        "--workers", type=int, help="STUDIO_WORKERS for the server (default: the studio's, 2)"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each configuration, wait up to this long for other processes to go quiet",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", choices=("baseline",), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_baseline(args.path)
        return 0

    sizes = QUICK if args.quick else FULL
    runs = args.runs or sizes.runs
    clients = tuple(int(c) for c in args.clients.split(",")) if args.clients else sizes.clients
    faults = tuple(FAULTS) if args.fault == "both" else (args.fault,)
    began = time.perf_counter()
    heading("Machine")
    for key, value in machine_facts().items():
        print(f"  {key:<10} {value}")
    print(
        f"  server     STUDIO_WORKERS={args.workers if args.workers is not None else '(default)'}"
        ", SQLite, in-memory channel layer, local media folder"
    )

    tmp = tempfile.mkdtemp(prefix="suggestion-latency-")
    base = Path(tmp)
    server: Server | None = None
    try:
        heading("Material")
        files, bases = {}, {}
        env = server_env(base, args.workers)
        for fault in faults:
            start = time.perf_counter()
            files[fault] = render_stem(fault, sizes.stem_s, base / "stems")
            size_mb = files[fault].stat().st_size / 1e6
            print(
                f"  {fault:<8} {files[fault].name}: {FAULTS[fault][2]} ({size_mb:.1f} MB, "
                f"rendered in {time.perf_counter() - start:.1f} s)",
                flush=True,
            )

        heading("Server")
        prepare_database(env)
        os.environ.update(env)
        import django

        django.setup()
        people = make_people(max(clients))
        server = start_server(env, base)
        print(f"  {server.url} (pid {server.process.pid}), log {server.log_path}")

        heading("Warm-up (untimed uploads until the engine processes exist)")
        print(RUN_HEADER)
        print(RUN_HEADER_2)
        cold: Run | None = None
        wanted = args.workers if args.workers is not None else 2
        for attempt in range(3):
            project_id = make_project(people[:2], f"warm-up {attempt}")
            run, _ = asyncio.run(run_once(server, people[:2], project_id, files[faults[0]]))
            print_run(f"warm {attempt + 1}", run)
            cold = cold or run
            delete_project(people, project_id)
            alive = engine_processes(server.process.pid)
            print(f"          engine processes alive: {alive} of {wanted}", flush=True)
            if alive >= wanted and attempt >= 1:
                break

        summaries: list[Summary] = []
        for count in clients:
            for fault in faults:
                heading(f"{fault}: {files[fault].name}, {count} screens, {runs} runs")
                check_quiet(server.process.pid, args.wait_idle)
                wait_jobs_idle(server)
                bases[fault] = baseline(files[fault], env)
                print_baseline(bases[fault], fault)
                print(RUN_HEADER)
                print(RUN_HEADER_2)
                summary = Summary(fault, count, [], bases[fault])
                for index in range(runs):
                    wait_jobs_idle(server)
                    project_id = make_project(people[:count], f"{fault} {count} {index}")
                    run, _ = asyncio.run(run_once(server, people[:count], project_id, files[fault]))
                    print_run(f"run {index + 1}", run)
                    summary.runs.append(run)
                    delete_project(people, project_id)
                summaries.append(summary)
        print(
            "\n  Columns: upload: the POST's duration; stem/mix start/done: when the first "
            "screen heard\n  analysis.started/done; first sugg.: the first screen's first "
            "suggestion.created; slowest\n  screen: the run's latency; socket lag: on the "
            "slowest screen, arrival minus the event row's\n  time (commit, broadcast, send)."
        )
        print_summary(summaries, sizes.stem_s, cold)
    except RuntimeError as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            stop(server.process)
        if args.keep:
            print(f"\n(kept {tmp})")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n(total run time {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
