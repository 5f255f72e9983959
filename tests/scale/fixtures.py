"""Fixtures for tests of the whole arrangement (``tests/scale/arrangement.py``); imported by
``tests/scale/conftest.py`` so that one arrangement serves all the tests of a module.

A test module sets ``ARRANGEMENT_WORKERS`` (default 0) to have that many Celery workers,
loads the S3 server with ``pytest_plugins = ["tests.s3fixture"]``, and marks its tests
``django_db(transaction=True)``: the processes see only committed rows, which are
flushed after each test once the workers are idle.

Without PostgreSQL and Redis (the embedded pass) these tests skip. With ``CI=true``, a
missing nginx, Chromium or S3 server fails them; elsewhere they skip, saying why.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from projects.models import WorkerBeat
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    TIMEOUT_MS,
    database_url,
    off_the_loop,
    wait_for_idle_jobs,
)
from tests.conftest import PASSWORD, in_ci
from tests.scale.arrangement import (
    BACKEND_COOKIE,
    Arrangement,
    HarnessError,
    ensure_nginx,
    running_arrangement,
)


def unavailable(reason: str) -> None:
    """Fail under CI, skip elsewhere; both say why."""
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def services_missing() -> str | None:
    from tests.scale.conftest import services_present

    return services_present()


@pytest.fixture(scope="module")
def arrangement(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Arrangement]:
    """nginx, two Daphnes, ``ARRANGEMENT_WORKERS`` Celery workers, a Redis of its own, the
    test database and the S3 server, for the tests of one module."""
    reason = services_missing()
    if reason:
        pytest.skip(reason)
    try:
        ensure_nginx()  # before the S3 server starts: fail fast
    except HarnessError as error:
        unavailable(str(error))
    s3 = request.getfixturevalue("s3_server")
    workers = getattr(request.module, "ARRANGEMENT_WORKERS", 0)
    base = tmp_path_factory.mktemp("arrangement")
    with contextlib.ExitStack() as stack:
        try:
            arranged = stack.enter_context(
                running_arrangement(
                    base,
                    database_url=database_url(),
                    data_dir=django_settings.DATA_DIR,
                    s3=s3,
                    workers=workers,
                )
            )
        except HarnessError as error:
            unavailable(f"the arrangement could not start: {error}")
        yield arranged
        beats = {f"{socket.gethostname()}:{pid}" for pid in arranged.worker_pids()}
    # A beat after the last flush would make later tests count a worker that is gone.
    with django_db_blocker.unblock():
        WorkerBeat.objects.filter(name__in=beats).delete()


@pytest.fixture
def arranged(arrangement: Arrangement, request: pytest.FixtureRequest) -> Iterator[Arrangement]:
    """The module's arrangement for one test; its logs are printed if the test fails."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        pytest.fail("Tests of the arrangement need django_db(transaction=True).", pytrace=False)
    for child in arrangement.children:
        child.require_alive()
    failed = request.session.testsfailed
    yield arrangement
    # The workers finish what the test started before the database is emptied, or the
    # TRUNCATE and their queries deadlock each other.
    off_the_loop(wait_for_idle_jobs)
    if request.session.testsfailed > failed:
        print(arrangement.report())


@pytest.fixture(scope="module")
def scale_browser(arrangement: Arrangement) -> Iterator[Browser]:
    """One headless Chromium for the module (closed with it: see tests/browser/conftest.py
    ``browser`` for why sync Playwright must not outlive the tests that use it)."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    expect.set_options(timeout=TIMEOUT_MS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield launched
            launched.close()


@pytest.fixture
def person(scale_browser: Browser, arranged: Arrangement) -> Iterator[Callable[..., Page]]:
    """``page = person("alice", backend="a")``: a fresh browser context, logged in through
    nginx, pinned to Daphne ``a`` or ``b`` (or balanced with ``backend=None``)."""
    contexts = []
    uncaught: list[str] = []

    def open_as(username: str, *, backend: str | None) -> Page:
        context = scale_browser.new_context(base_url=arranged.url, viewport=DESKTOP)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        if backend:
            cookie = {"name": BACKEND_COOKIE, "value": backend, "url": arranged.url}
            context.add_cookies([cookie])
        page = context.new_page()
        page.on("pageerror", lambda error, who=username: _caught(uncaught, who, error))
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in", exact=True).click()
        expect(page).to_have_url(re.compile(r"/projects/$"))
        return page

    yield open_as
    for context in contexts:
        context.close()
    assert not uncaught, "Uncaught script errors in the pages:\n" + "\n".join(uncaught)


def _caught(uncaught: list[str], who: str, error: Error) -> None:
    uncaught.append(f"[{who}] {error}")
