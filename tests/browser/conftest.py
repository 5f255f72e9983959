"""The browser harness: the real server in a subprocess, real Chromium through Playwright.

``live_server_url`` runs Daphne on ``studio.asgi:application`` with the same settings
module, pointed at the test database that pytest-django created, so a test arranges
rows here and a person's browser sees them there. Tests that use it need
``@pytest.mark.django_db(transaction=True)``: their rows must be committed to be seen
by the server process, and they are flushed afterwards.

``log_in("alice")`` opens a fresh browser context (own cookies, own socket) and logs in
through the real form, so two people are two contexts, as in life.

Chromium is Debian's (/usr/bin/chromium). When it is missing the browser tests skip,
and fail under CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, expect, sync_playwright

from projects import services
from projects.models import Project, Role
from studio.processing import decode, faults, synth
from tests.conftest import PASSWORD, in_ci
from tests.harness import ROOT, free_port, manage, serve_command, stop

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SERVER_START_TIMEOUT_S = 60.0
# Long enough for a cold server on a busy 2-core CI machine, short enough to fail fast.
TIMEOUT_MS = 10_000


# --- Reports ---------------------------------------------------------------------------

SERVER_KEY = pytest.StashKey["DaphneServer"]()
LOG_START_KEY = pytest.StashKey[int]()
PAGE_ERRORS_KEY = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach what the server and the pages said to the report of a failed browser test."""
    report = yield
    if report.failed:
        server: DaphneServer | None = item.stash.get(SERVER_KEY, None)
        if server is not None:
            start = item.stash.get(LOG_START_KEY, 0)
            report.sections.append(("daphne log (this test)", server.log(since=start)))
        pages: list[str] = item.stash.get(PAGE_ERRORS_KEY, [])
        if pages:
            report.sections.append(("browser console and page errors", "\n".join(pages)))
    return report


# --- Chromium --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or a skip (a failure under CI) that says how to install it."""
    if not os.access(CHROMIUM, os.X_OK):
        message = (
            f"Chromium is missing at {CHROMIUM}; the browser tests need Debian's package: "
            "apt-get update && apt-get install -y chromium (never `playwright install`)."
        )
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(chromium: Path) -> Iterator[Browser]:
    """One headless Chromium for all the browser tests.

    Package scope, not session: while the sync Playwright is alive, its event loop
    stays marked as running in the main thread between calls, so every async test that
    ran after it in the same session would fail ("Runner.run() cannot be called from a
    running event loop"). Closing it when tests/browser is done keeps the rest of the
    suite unaffected.
    """
    expect.set_options(timeout=TIMEOUT_MS)
    with pytest.MonkeyPatch.context() as patch:
        # For the same reason, Django's guard against the ORM in async code fires in
        # this thread (SynchronousOnlyOperation) for arranging rows, for assertions and
        # for pytest-django's flush after each test. No coroutine is involved: the
        # loop belongs to Playwright and is idle while the test's own code runs.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
            )
            yield launched
            launched.close()


# --- The server ------------------------------------------------------------------------


@dataclass
class DaphneServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    media_dir: Path

    def log(self, *, since: int = 0) -> str:
        with open(self.log_path, "rb") as handle:
            handle.seek(since)
            return handle.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def require_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(
                f"Daphne exited with code {self.process.returncode}. Its log:\n{self.log()}",
                pytrace=False,
            )


def database_url() -> str:
    """The URL of the test database pytest-django created, for the server process."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if connection.is_in_memory_db() or not os.path.isabs(name):
            pytest.fail(
                f"The SQLite test database {name!r} is not a file another process can open; "
                'set DATABASES["default"]["TEST"]["NAME"] to an absolute path.',
                pytrace=False,
            )
        return f"sqlite:///{name}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        user = quote(db.get("USER") or "", safe="")
        password = quote(db.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{credentials}{host}:{port}/{quote(str(db['NAME']), safe='')}"
    pytest.fail(f"The browser harness does not know the database engine {db['ENGINE']}.")


def wait_until_serving(server: DaphneServer) -> None:
    """Poll the login page until Daphne answers it with 200, or fail with its log."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    problem = "no answer"
    while time.monotonic() < deadline:
        server.require_alive()
        try:
            with urllib.request.urlopen(f"{server.url}/login/", timeout=2) as response:
                if response.status == 200:
                    return
                problem = f"status {response.status}"
        except urllib.error.HTTPError as error:
            problem = f"status {error.code}"
        except OSError as error:
            problem = str(error)
        time.sleep(0.1)  # polling a port that is not open yet, not waiting for a page
    server.process.terminate()
    pytest.fail(
        f"Daphne did not serve {server.url}/login/ within {SERVER_START_TIMEOUT_S:.0f} s "
        f"({problem}). Its log:\n{server.log()}",
        pytrace=False,
    )


# Package-scoped: the server's job threads share the test database, so it must be gone
# before other packages' tests queue jobs it would take (tests/projects, tests/scale).
@pytest.fixture(scope="package")
def daphne_server(
    chromium: Path, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DaphneServer]:
    """The studio's Daphne (``python -m studio.serve``) on a free port, on the test database."""
    base = tmp_path_factory.mktemp("daphne")
    static_root, media_dir, log_path = base / "static", base / "media", base / "daphne.log"
    media_dir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="studio.settings",
        DATABASE_URL=database_url(),
        STUDIO_DATA_DIR=str(django_settings.DATA_DIR),
        STUDIO_MEDIA_DIR=str(media_dir),
        STUDIO_STATIC_ROOT=str(static_root),
        PYTHONUNBUFFERED="1",
    )
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    # The server runs with DEBUG off, as in production: pages need the static manifest.
    try:
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)

    port = free_port()
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would stall Daphne
        process = subprocess.Popen(
            serve_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = DaphneServer(
        url=f"http://127.0.0.1:{port}",
        process=process,
        log_path=log_path,
        media_dir=media_dir,
    )
    try:
        wait_until_serving(server)
        yield server
    finally:
        crashed = process.poll() is not None
        stop(process, grace_s=10)
        if crashed:
            print(f"Daphne had exited with code {process.returncode}. Its log:\n{server.log()}")
        shutil.rmtree(static_root, ignore_errors=True)


@pytest.fixture
def live_server_url(daphne_server: DaphneServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of the real server; its log is attached to the report on failure."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        pytest.fail(
            "A test that uses live_server_url needs @pytest.mark.django_db(transaction=True): "
            "the server process only sees committed rows.",
            pytrace=False,
        )
    daphne_server.require_alive()
    request.node.stash[SERVER_KEY] = daphne_server
    request.node.stash[LOG_START_KEY] = daphne_server.log_size()
    yield daphne_server.url
    # The server's job workers go on with what the test started (a mix analysis, a
    # suggestion run, a render); the database is emptied only once they are done, or
    # emptying it (TRUNCATE) and their queries deadlock each other on PostgreSQL.
    off_the_loop(wait_for_idle_jobs)


def busy_jobs() -> int:
    """How many jobs of the server are queued or running."""
    from projects.models import Analysis, Idea, MixVersion, Suggestion

    active = ("queued", "running")
    return (
        Analysis.objects.filter(status__in=active).count()
        + Analysis.objects.filter(suggest_status__in=active).count()
        + MixVersion.objects.filter(status__in=active).count()
        + Suggestion.objects.filter(preview_status__in=active).count()
        + Idea.objects.filter(status__in=active).count()
    )


def wait_for_idle_jobs(timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while busy_jobs() and time.monotonic() < deadline:
        time.sleep(0.25)
    time.sleep(0.5)  # a job that just finished may still be committing its last event


@pytest.fixture
def server_media(daphne_server: DaphneServer) -> Path:
    """The folder where the server process stores the stems (shared by the session)."""
    return daphne_server.media_dir


# --- People in browsers ----------------------------------------------------------------


@pytest.fixture
def new_page(
    browser: Browser, live_server_url: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Page]]:
    """``page = new_page(who="visitor")``: a page in a fresh context, nobody logged in.

    Keyword arguments go to ``browser.new_context`` (e.g. ``viewport=PHONE``). The
    script errors and console errors of every page are kept and shown with a failure;
    an uncaught script error fails the test.
    """
    contexts = []
    problems: list[str] = request.node.stash.setdefault(PAGE_ERRORS_KEY, [])
    uncaught: list[str] = []

    def open_page(*, who: str = "visitor", **options: Any) -> Page:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=live_server_url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()

        def on_error(error: Error) -> None:
            uncaught.append(f"[{who}] {error}")
            problems.append(f"[{who}] uncaught: {error}")

        def on_console(message: ConsoleMessage) -> None:
            if message.type in {"error", "warning"}:
                problems.append(f"[{who}] console.{message.type}: {message.text}")

        page.on("pageerror", on_error)
        page.on("console", on_console)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not uncaught, "Uncaught script errors in the pages:\n" + "\n".join(uncaught)


@pytest.fixture
def log_in(new_page: Callable[..., Page]) -> Callable[..., Page]:
    """``page = log_in("alice")``: a fresh context for that person, logged in by the form."""

    def open_as(username: str, *, password: str = PASSWORD, **options: Any) -> Page:
        page = new_page(who=username, **options)
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in", exact=True).click()
        expect(page).to_have_url(re.compile(r"/projects/$"))
        return page

    return open_as


def open_room(page: Page, project_id: int) -> Page:
    """Open a project's room and wait until its socket is live."""
    page.goto(f"/projects/{project_id}/")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    return page


# --- Arranging rows --------------------------------------------------------------------


def off_the_loop(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call a service from a plain thread and return its result.

    Services broadcast their events with ``async_to_sync``, which refuses to run in a
    thread whose event loop is running, and Playwright's loop is marked as running in
    the main thread. The rows are committed either way; this only keeps the broadcast
    working (it matters with Redis, where the server's pages hear it).
    """

    def call() -> Any:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()  # this thread's connections; they would block a drop

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def wav(audio_file: Callable[..., Path]) -> Callable[..., Path]:
    """A real 24-bit WAV for a person to upload: ``wav("kick.wav", frequency_hz=60)``.

    The shared ``audio_file`` fixture, seeded by frequency so different tones differ.
    """

    def write(name: str, *, frequency_hz: float = 440.0, **options: Any) -> Path:
        options.setdefault("subtype", "PCM_24")
        return audio_file(name, frequency_hz=frequency_hz, seed=int(frequency_hz), **options)

    return write


@pytest.fixture
def night_drive(alice: Any, bob: Any, carol: Any) -> Project:
    """alice's project "Night Drive": bob may only view it, carol may comment."""

    def arrange() -> Project:
        project = services.project_create(user=alice, name="Night Drive")
        for person, role in ((bob, Role.VIEWER), (carol, Role.COMMENTER)):
            services.member_invite(
                user=alice, project_id=project.pk, who=person.username, role=role
            )
        return project

    return off_the_loop(arrange)


@pytest.fixture
def fighting(tmp_path: Path) -> list[Path]:
    """A vocal and a bright guitar boosted at 2.5 kHz that covers it."""
    song = synth.compose_song(tonic=9, mode="minor", tempo_bpm=96.0, n_bars=8, seed=3)
    stems = synth.render_stems(song, sample_rate=44100)
    guitar = faults.masking_guitar(stems["keys"], sample_rate=44100, like=stems["lead"])
    paths = [tmp_path / "vocals.wav", tmp_path / "guitar.wav"]
    decode.write(paths[0], stems["lead"], sample_rate=44100, format="WAV", subtype="PCM_24")
    decode.write(paths[1], guitar, sample_rate=44100, format="WAV", subtype="PCM_24")
    return paths
