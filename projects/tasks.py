"""Background work: analyse a stem or the mix, suggest moves, render a preview or a
version, write an arrangement idea.

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils.text import slugify

from studio.processing.analysis import run_in_worker
from studio.processing.audition import audition_idea, context_from_reports
from studio.processing.errors import AudioError
from studio.processing.mixing import MixSettings
from studio.processing.preview import render_preview
from studio.processing.render import FORMATS, render_mix
from studio.processing.suggest import PREVIEW_S, apply_move
from studio.processing.suggest import run_suggestions as run_suggestions_in_worker

from . import ideas, services, suggestions, versions
from .models import MIX_TARGET, Analysis, Idea, JobStatus, MixVersion, Stem, Suggestion

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
        kwargs = {"paths": paths, "name": name, "is_mix": is_mix}
        return _engine_call(engine, run_in_worker, "progress", progress, kwargs)


def _engine_call(
    engine: Any,
    fn: Callable[..., Any],
    channel: str | None,
    on_message: Any,
    kwargs: dict[str, Any],
) -> Any:
    """``fn`` in one of the engine's processes when there is a pool, else in this thread;
    ``channel`` names its callback argument (None: it takes none)."""
    if engine is not None:
        return engine.call(fn, channel=channel, on_message=on_message, **kwargs)
    return fn(**kwargs, **({channel: on_message} if channel else {}))


def run_suggestions(analysis: Analysis, *, engine: Any = None) -> None:
    """Run the suggestion rules after an analysis: each measured suggestion is published
    the moment it exists; at the end, those not found again are superseded."""
    try:
        with contextlib.ExitStack() as stack:
            kwargs = _suggestion_inputs(analysis, stack)
            if kwargs is None:
                suggestions.suggest_finish(analysis=analysis, fingerprints=[], masking=None)
                return

            def publish(candidate: dict[str, Any]) -> None:
                suggestions.suggestion_publish(analysis=analysis, candidate=candidate)

            result = _engine_call(engine, run_suggestions_in_worker, "emit", publish, kwargs)
    except Exception as error:
        log.exception("suggestions for analysis %s failed", analysis.pk)
        suggestions.suggest_fail(analysis=analysis, error=f"{type(error).__name__}: {error}")
        return
    suggestions.suggest_finish(
        analysis=analysis, fingerprints=result["fingerprints"], masking=result["masking"]
    )


def _suggestion_inputs(analysis: Analysis, stack: contextlib.ExitStack) -> dict[str, Any] | None:
    """The plain data a suggestion run reads, with local paths kept open by ``stack``;
    None when there is nothing to run on (no analysed stems)."""
    mix = analysis.project.mix_settings or {}
    settings = mix.get("stems") or {}
    rows = Analysis.objects.filter(
        project_id=analysis.project_id, status=JobStatus.DONE, stem__isnull=False
    ).select_related("stem")
    if analysis.target != MIX_TARGET:
        rows = rows.filter(pk=analysis.pk)
    stems = [
        {
            "key": str(row.stem_id),
            "name": row.stem.name,
            "path": str(stack.enter_context(local_file(row.stem.file.name))),
            "report": row.report,
            "settings": settings.get(str(row.stem_id)) or {},
        }
        for row in rows.order_by("stem__position", "pk")
    ]
    if not stems:
        return None
    return {
        "scope": "mix" if analysis.target == MIX_TARGET else "stem",
        "stems": stems,
        "mix_report": analysis.report if analysis.target == MIX_TARGET else None,
        "bus": mix.get("bus") or {},
    }


def run_preview(suggestion: Suggestion, *, engine: Any = None) -> None:
    """Render a suggestion's preview (the excerpt without and with its move, matched in
    loudness), store both files and say so."""
    amount = suggestion.preview_amount
    try:
        files = _render_preview(suggestion, amount, engine)
    except Exception as error:
        log.exception("preview of suggestion %s failed", suggestion.pk)
        suggestions.preview_finish(
            suggestion=suggestion,
            amount=amount,
            files=None,
            error=f"{type(error).__name__}: {error}",
        )
        return
    if not suggestions.preview_finish(suggestion=suggestion, amount=amount, files=files):
        services.delete_files([files["before"], files["after"]])


def _render_preview(suggestion: Suggestion, amount: int, engine: Any) -> dict[str, Any]:
    spec = suggestion.preview_spec or {}
    mix = MixSettings.from_dict(suggestion.project.mix_settings)
    moved = apply_move(mix, suggestion.move, amount=amount / 100, source="preview")
    stems = list(Stem.objects.filter(project_id=suggestion.project_id).order_by("position", "pk"))
    if spec.get("scope") == "stem":
        stems = [s for s in stems if str(s.pk) == str(spec.get("stem"))]
        bus_before = bus_after = {}
    else:
        stems = [s for s in stems if not mix.stem(str(s.pk)).mute]
        bus_before, bus_after = mix.bus.to_dict(), moved.bus.to_dict()
    if not stems:
        raise RuntimeError("the stems this preview needs are gone")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        kwargs = {
            "paths": [str(stack.enter_context(local_file(s.file.name))) for s in stems],
            "before": [mix.stem(str(s.pk)).to_dict() for s in stems],
            "after": [moved.stem(str(s.pk)).to_dict() for s in stems],
            "bus_before": bus_before,
            "bus_after": bus_after,
            "start_s": float(spec.get("start_s") or 0.0),
            "duration_s": PREVIEW_S,
            "out_before": str(tmp / "before.flac"),
            "out_after": str(tmp / "after.flac"),
        }
        info = _engine_call(engine, render_preview, None, None, kwargs)
        stamp = f"{suggestion.pk}-{amount}-{int(time.time() * 1000)}"
        names = {}
        for which in ("before", "after"):
            with open(tmp / f"{which}.flac", "rb") as handle:
                names[which] = default_storage.save(
                    f"previews/{suggestion.project_id}/{stamp}-{which}.flac", File(handle)
                )
    return names | {"info": info}


class _VersionProgress:
    """Passes a render's progress on at most every PROGRESS_EVERY_S seconds."""

    def __init__(self, version: MixVersion) -> None:
        self.version, self.last = version, 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S and fraction < 1.0:
            self.last = now
            versions.version_progress(version=self.version, progress=fraction)


def run_render(version: MixVersion, *, engine: Any = None) -> None:
    """Render a version from its manifest into its formats, store the files, and say so."""
    try:
        files, result = _render(version, engine)
    except Exception as error:
        log.exception("render of version %s failed", version.pk)
        versions.version_fail(version=version, error=_render_error(error))
        return
    if not versions.version_finish(version=version, files=files, result=result):
        services.delete_files(list(files.values()))


def _render_error(error: Exception) -> str:
    if isinstance(error, (AudioError, LookupError)):
        return str(error)
    return f"The engine could not render this mix ({type(error).__name__}: {error})."


def _render(version: MixVersion, engine: Any) -> tuple[dict[str, str], dict[str, Any]]:
    entries = version.manifest["stems"]
    present = {s.pk: s for s in Stem.objects.filter(project_id=version.project_id)}
    missing = [e["name"] for e in entries if e["id"] not in present]
    if missing:
        raise LookupError(
            f"The stem{'s' if len(missing) > 1 else ''} {', '.join(missing)} of this version "
            "were deleted before it was rendered."
        )
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        outputs = {f: str(tmp / f"mix.{FORMATS[f][2]}") for f in version.formats}
        kwargs = {
            "paths": [str(stack.enter_context(local_file(e["file"]))) for e in entries],
            "settings": [e["settings"] for e in entries],
            "bus": version.manifest["bus"],
            "outputs": outputs,
        }
        result = _engine_call(engine, render_mix, "progress", _VersionProgress(version), kwargs)
        base = f"mixes/{version.project_id}/v{version.number}-{slugify(version.name) or 'mix'}"
        files = {}
        for fmt, path in outputs.items():
            with open(path, "rb") as handle:
                files[fmt] = default_storage.save(f"{base}.{FORMATS[fmt][2]}", File(handle))
    return files, result


def run_idea(idea: Idea, *, engine: Any = None) -> None:
    """Write an idea from the song's analysis, render it over the song, store both files."""
    try:
        content, files = _make_idea(idea, engine)
    except Exception as error:
        log.exception("idea %s failed", idea.pk)
        ideas.idea_fail(idea=idea, error=_idea_error(error))
        return
    if not ideas.idea_finish(idea=idea, content=content, files=files):
        services.delete_files([files["with_song"], files["alone"]])


def _idea_error(error: Exception) -> str:
    if isinstance(error, (AudioError, LookupError, ValueError)):
        return f"The engine could not write this idea: {error}."
    return f"The engine could not write this idea ({type(error).__name__}: {error})."


def _make_idea(idea: Idea, engine: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    mix_analysis = ideas.mix_analysis_done(idea.project_id)
    mix = MixSettings.from_dict(idea.project.mix_settings)
    rows = list(
        Analysis.objects.filter(project_id=idea.project_id, stem__isnull=False)
        .select_related("stem")
        .order_by("stem__position", "pk")
    )
    stems = [r.stem for r in rows if not mix.stem(str(r.stem_id)).mute]
    if not stems:
        raise LookupError("the project has no stems to play the idea against")
    reports = [(r.stem.name, r.report if r.status == JobStatus.DONE else None) for r in rows]
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        kwargs = {
            "paths": [str(stack.enter_context(local_file(s.file.name))) for s in stems],
            "settings": [mix.stem(str(s.pk)).to_dict() for s in stems],
            "bus": mix.bus.to_dict(),
            "stem_names": [s.name for s in stems],
            "kind": idea.kind,
            "context": context_from_reports(mix_analysis.report, reports).to_dict(),
            "section": idea.section,
            "seed": idea.seed,
            "options": idea.options,
            "out_with_song": str(tmp / "with_song.flac"),
            "out_alone": str(tmp / "alone.flac"),
        }
        content = _engine_call(engine, audition_idea, None, None, kwargs)
        files: dict[str, Any] = {"info": content["audition"]}
        for which in ("with_song", "alone"):
            with open(tmp / f"{which}.flac", "rb") as handle:
                files[which] = default_storage.save(
                    f"ideas/{idea.project_id}/{idea.pk}-{idea.seed}-{which}.flac", File(handle)
                )
    return content, files
