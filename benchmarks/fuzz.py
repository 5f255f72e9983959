"""The fuzz tests at a bigger budget, printing how many cases of each kind ran.

Run from the repository root::

    .venv/bin/python benchmarks/fuzz.py                 # STUDIO_FUZZ_EXAMPLES=100
    .venv/bin/python benchmarks/fuzz.py --examples 500  # longer still

It runs ``tests/fuzz`` with ``STUDIO_FUZZ_EXAMPLES`` set, which scales every
hypothesis-driven target up from its default (10 means the default budget) and lets
each run draw new inputs instead of the fixed ones CI uses. The same thing by hand::

    STUDIO_FUZZ_EXAMPLES=100 STUDIO_DATA_DIR=/tmp/fuzz .venv/bin/python -m pytest tests/fuzz -q

The counts are the last line pytest prints (``fuzz cases: api …, decoder …, socket …``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=100, help="STUDIO_FUZZ_EXAMPLES (default budget: 10)"
    )
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="studio-fuzz-") as data_dir:
        env = {
            **os.environ,
            "STUDIO_FUZZ_EXAMPLES": str(args.examples),
            "STUDIO_DATA_DIR": data_dir,
        }
        command = [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-p", "no:cacheprovider"]
        return subprocess.run([*command, *args.pytest_args], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
