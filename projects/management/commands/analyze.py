"""``manage.py analyze [--json] FILE...``: the engine from the command line, no database.

With --json, one JSON object per line per file. A file that cannot be read is named
on stderr with the reason; the others are still analysed, and the exit status is 1.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from studio.processing.analysis import analyze_file
from studio.processing.errors import AudioError


class Command(BaseCommand):
    help = "Analyse audio files with the studio's engine and print the figures."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="audio files")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def handle(self, *args: Any, files: list[str], json: bool = False, **options: Any) -> None:
        failed = 0
        for path in files:
            try:
                report = analyze_file(path)
            except (AudioError, OSError) as error:
                failed += 1
                self.stderr.write(f"{path}: {error}")
                continue
            summary = {"path": path, **report.summary()}
            self.stdout.write(dumps(summary) if json else describe(summary))
        if failed:
            raise CommandError(
                f"{failed} of {len(files)} files could not be analysed.", returncode=1
            )


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, separators=(",", ":"), allow_nan=False)


def describe(s: dict[str, Any]) -> str:
    """A few readable lines for a person at a terminal."""
    fmt = _figure
    lines = [
        f"{s['path']}: {s['duration_s']:.2f} s, {s['sample_rate']} Hz, {s['channels']} ch",
        f"  loudness {fmt(s['integrated_lufs'], ' LUFS')}, "
        f"range {fmt(s['loudness_range_lu'], ' LU')}, "
        f"true peak {fmt(s['true_peak_dbtp'], ' dBTP')}, crest {fmt(s['crest_factor_db'], ' dB')}",
        f"  tempo {fmt(s['tempo_bpm'], ' BPM')} (confidence {fmt(s['tempo_confidence'])}), "
        f"key {s['key'] or '–'} (confidence {fmt(s['key_confidence'])})",
        f"  stereo correlation {fmt(s['stereo_correlation'])}, width {fmt(s['stereo_width'])}, "
        f"role {s['role'] or '–'}",
    ]
    lines += [f"  ! {issue['message']}" for issue in s["issues"]]
    return "\n".join(lines)


def _figure(value: float | None, unit: str = "") -> str:
    return "–" if value is None else f"{value:g}{unit}"
