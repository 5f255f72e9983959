"""How much the fuzz tests try, and the tally of the cases they ran.

The default budget keeps ``tests/fuzz`` well under a minute and a half. Set
``STUDIO_FUZZ_EXAMPLES`` to multiply it (``benchmarks/fuzz.py`` does): each test's
example count scales from its default, and the runs are no longer derandomised, so
every big run explores new inputs.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

DEFAULT_EXAMPLES = 10

# Cases run in this process, by kind ("api", "socket", "decoder"); printed at the end.
CASES: Counter[str] = Counter()


def examples() -> int:
    """Examples per hypothesis-driven target: STUDIO_FUZZ_EXAMPLES, or the default."""
    raw = os.environ.get("STUDIO_FUZZ_EXAMPLES", "")
    if not raw:
        return DEFAULT_EXAMPLES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"STUDIO_FUZZ_EXAMPLES must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"STUDIO_FUZZ_EXAMPLES must be at least 1, got {value}")
    return value


def scaled(default: int) -> int:
    """``default`` examples in the default run, scaled up with STUDIO_FUZZ_EXAMPLES."""
    return max(1, default * examples() // DEFAULT_EXAMPLES)


def big_run() -> bool:
    return bool(os.environ.get("STUDIO_FUZZ_EXAMPLES"))


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for one fuzz target: no deadline, no example database, and
    derandomised in the default run so CI sees the same cases every time."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=not big_run(),
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


def record(kind: str, n: int = 1) -> None:
    CASES[kind] += n
