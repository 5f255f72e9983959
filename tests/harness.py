"""Child processes for the tests and the benchmarks: free loopback ports, the studio's own
``manage.py`` and server, and stopping them."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Set
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"


def free_port(avoid: Set[int] = frozenset()) -> int:
    """A loopback TCP port nobody listens on right now, outside ``avoid``."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in avoid:
            return port


def run_python(env: dict[str, str], *arguments: str, what: str) -> str:
    """Run the studio's venv Python on ``arguments`` from the repository root and return
    what it printed; raise RuntimeError naming ``what`` with the end of its error output
    when it fails."""
    done = subprocess.run(
        [str(PYTHON), *arguments], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def manage(env: dict[str, str], *arguments: str) -> None:
    """Run ``manage.py`` with ``arguments`` (RuntimeError when it fails)."""
    run_python(env, "manage.py", *arguments, what=f"manage.py {arguments[0]}")


def serve_command(port: int, *options: str) -> list[str]:
    """The command that runs the studio's server (Daphne) on a loopback port."""
    return [str(PYTHON), "-m", "studio.serve", "-b", "127.0.0.1", "-p", str(port), *options] + [
        "studio.asgi:application"
    ]


def stop(process: subprocess.Popen, *, grace_s: float = 15.0) -> None:
    """Ask a child to stop (SIGTERM); kill it when it has not within ``grace_s`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
