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

from django.core.files.storage import default_storage

from studio.processing.analysis import AnalysisReport, analyze_file, analyze_mix
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


def run_analysis(analysis: Analysis) -> None:
    """Run one claimed analysis to the end: done with a report, or failed with a reason."""
    try:
        report = _analyse(analysis)
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
    services.analysis_finish(analysis=analysis, report=report.to_dict(), summary=report.summary())


def _analyse(analysis: Analysis) -> AnalysisReport:
    progress = ProgressReporter(analysis)
    if analysis.target != MIX_TARGET:
        stem = analysis.stem
        with local_file(stem.file.name) as path:
            return analyze_file(path, name=stem.name, progress=progress, verify=False)
    stems = list(Stem.objects.filter(project_id=analysis.project_id).order_by("pk"))
    with contextlib.ExitStack() as stack:
        paths = [stack.enter_context(local_file(s.file.name)) for s in stems]
        return analyze_mix(paths, progress=progress)
