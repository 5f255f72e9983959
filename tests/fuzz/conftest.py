"""The fuzz tests' report: how many cases of each kind ran."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fuzz.budget import CASES, examples


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    counts = ", ".join(f"{kind} {n:,}" for kind, n in sorted(CASES.items()))
    terminalreporter.write_sep("-", "fuzz cases")
    terminalreporter.write_line(
        f"fuzz cases: {counts}; total {sum(CASES.values()):,} (STUDIO_FUZZ_EXAMPLES={examples()})"
    )


@pytest.fixture(autouse=True)
def quick_passwords(settings: Any) -> None:
    """Cheap password hashes: the personas are made for every test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
