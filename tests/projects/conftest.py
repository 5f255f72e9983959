"""Fixtures for the tests of the collaborative domain."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def quick_passwords(settings) -> None:
    """Cheap password hashes: the personas are made for every test.

    Not for the browser tests, whose server process checks passwords with the real
    hashers.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
