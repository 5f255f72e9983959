"""Background work: analyse a stem, analyse a project's mix.

A door like the views: it fetches the input, runs the engine and hands the result
(or the reason it failed) to a service. Failures are data: a stem that cannot be
analysed ends in a failed state with a reason people see.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage

from studio.processing.analysis import run_in_worker
from studio.processing.errors import AudioError

from . import services
from .models import MIX_TARGET, Analysis, Stem

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.5


@contextlib.contextmanager
def local_file(name: str) -> Iterator[Path]:
    """A local path to a stored file: the file itself on disk storage, else a streamed copy."""
    try:
        yield Path(default_storage.path(name))
        return
    except NotImplementedError:
        pass
    suffix = Path(name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy, default_storage.open(name) as src:
        shutil.copyfileobj(src, copy, length=1 << 20)
        copy.flush()
        yield Path(copy.name)


class ProgressReporter:
    """Passes progress on at most every PROGRESS_EVERY_S seconds."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S and fraction < 1.0:
            self.last = now
            services.analysis_progress(analysis=self.analysis, progress=fraction)


def run_analysis(analysis: Analysis, *, engine: Any = None) -> None:
    """Run one claimed analysis to the end: done with a report, or failed with a reason.

    ``engine`` is an optional ``jobs.EnginePool``: the audio work then runs in one of its
    processes (no GIL shared with the web server), else in this thread.
    """
    try:
        report, summary = _analyse(analysis, engine)
    except AudioError as error:
        services.analysis_fail(analysis=analysis, error=str(error))
        return
    except Exception as error:  # the engine's bug must not stop the other jobs
        log.exception("analysis %s failed", analysis.pk)
        services.analysis_fail(
            analysis=analysis,
            error=f"The engine could not analyse this ({type(error).__name__}: {error}).",
        )
        return
    services.analysis_finish(analysis=analysis, report=report, summary=summary)


def _analyse(analysis: Analysis, engine: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    progress = ProgressReporter(analysis)
    is_mix = analysis.target == MIX_TARGET
    if is_mix:
        names = list(
            Stem.objects.filter(project_id=analysis.project_id)
            .order_by("pk")
            .values_list("file", flat=True)
        )
    else:
        names = [analysis.stem.file.name]
    name = None if is_mix else analysis.stem.name
    with contextlib.ExitStack() as stack:
        paths = [str(stack.enter_context(local_file(n))) for n in names]
        if engine is not None:
            return engine.run(paths=paths, name=name, is_mix=is_mix, progress=progress)
        return run_in_worker(paths=paths, name=name, is_mix=is_mix, progress=progress)
