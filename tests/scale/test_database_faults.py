"""The database unavailable for a moment: requests fail cleanly (503, a clear message,
nothing changed) and the studio recovers by itself when the database is back.

A real Daphne process reaches PostgreSQL through a proxy the test cuts and restores."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore

from projects import services
from projects.models import Comment
from tests.browser.conftest import database_url
from tests.faultproxy import FaultProxy
from tests.harness import ROOT, free_port, manage, serve_command, stop
from tests.scale.conftest import services_present

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def proxied_server(tmp_path: Path) -> Iterator[tuple[str, FaultProxy]]:
    """A Daphne on the test database, reached through a proxy the test can cut."""
    reason = services_present()
    if reason:
        pytest.skip(reason)
    target = urlsplit(database_url())
    proxy = FaultProxy(target.hostname or "127.0.0.1", target.port or 5432)
    url = target._replace(netloc=f"{target.username}@127.0.0.1:{proxy.port}").geturl()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "DATABASE_URL": url,
        "STUDIO_WORKERS": "0",
        "STUDIO_DATA_DIR": str(django_settings.DATA_DIR),
        "STUDIO_MEDIA_DIR": str(tmp_path / "media"),
        "STUDIO_STATIC_ROOT": str(tmp_path / "static"),
    }
    # Pages need the static manifest: the server runs with DEBUG off, as in production.
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    log = open(tmp_path / "daphne.log", "wb")  # noqa: SIM115 (closed at teardown)
    process = subprocess.Popen(
        serve_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_serving(base, process, tmp_path / "daphne.log")
        yield base, proxy
    finally:
        stop(process, grace_s=10)
        log.close()
        proxy.close()


def _wait_serving(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Daphne exited:\n{log.read_text()}", pytrace=False)
        try:
            urllib.request.urlopen(f"{base}/api/openapi.json", timeout=2).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"Daphne did not start:\n{log.read_text()}", pytrace=False)


def call(url: str, *, method: str = "GET", body: dict | None = None, **headers: str):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def test_requests_fail_cleanly_while_the_database_is_away_and_recover(
    proxied_server, project, alice
):
    base, proxy = proxied_server
    _, key = services.token_create(user=alice, name="script")
    token = {"Authorization": f"Bearer {key}"}
    session = SessionStore()
    session["_auth_user_id"] = str(alice.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = alice.get_session_auth_hash()
    session.create()
    cookie = {"Cookie": f"sessionid={session.session_key}"}
    assert call(f"{base}/api/projects", **token)[0] == 200

    proxy.cut()
    status, headers, body = call(f"{base}/api/projects", **token)
    assert status == 503 and headers.get("Retry-After") == "5"
    assert json.loads(body)["error"]["code"] == "unavailable"
    comment = {"body": "Lost in the outage?"}
    status, _, body = call(
        f"{base}/api/projects/{project.pk}/comments", method="POST", body=comment, **token
    )
    assert status == 503 and b"try again" in body
    status, _, page = call(f"{base}/projects/", **cookie)
    assert status == 503 and b"database is unavailable for a moment" in page

    proxy.restore()
    assert call(f"{base}/api/projects", **token)[0] == 200
    assert call(f"{base}/projects/", **cookie)[0] == 200
    assert not Comment.objects.exists()  # the refused comment changed nothing
    status, _, _ = call(
        f"{base}/api/projects/{project.pk}/comments", method="POST", body=comment, **token
    )
    assert status == 201 and Comment.objects.count() == 1
