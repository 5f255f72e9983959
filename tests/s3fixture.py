"""pytest plugin: `s3_server`, one real S3 server (Ceph radosgw) for the whole session.

When Ceph cannot be installed or started, tests that use it are skipped on a
developer's machine and fail in CI (CI=true), always with the reason.

Register it once (`pytest_plugins = ["tests.s3fixture"]` in tests/conftest.py). A test
module that imports `s3_server` instead gets its own copy of the fixture from pytest;
the copies share one server through `shared`, so the session still starts one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.s3server import S3Server, ensure_installed, start


@dataclass
class Shared:
    """The session's one server (or why there is none) and how many fixtures hold it."""

    server: S3Server | None = None
    error: RuntimeError | None = None
    users: int = 0


shared = Shared()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true"}


def unavailable(error: RuntimeError) -> None:
    """Fail in CI, skip elsewhere; both say why."""
    if in_ci():
        pytest.fail(f"S3 server unavailable: {error}", pytrace=False)
    pytest.skip(f"S3 server unavailable: {error}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A running radosgw with one user and one empty bucket; stopped at session end."""
    if shared.server is None and shared.error is None:
        try:
            ensure_installed()
            shared.server = start(tmp_path_factory.mktemp("s3server"))
        except RuntimeError as error:
            shared.error = error
    if shared.server is None:
        unavailable(shared.error)
    shared.users += 1
    try:
        yield shared.server
    finally:
        shared.users -= 1
        if shared.users == 0:
            shared.server.stop()
            shared.server = None
