"""The whole analysis of one signal: decode once, resample once, one spectrogram.

``analyze_file`` streams a stem through every feature at once: the loudness meter,
the stereo, hygiene and waveform analyzers read the original-rate blocks; the front
end resamples the mid (and side) signal once and cuts one spectrogram, whose frames
feed rhythm, tonality and the band spectrum. ``analyze_mix`` does the same for the
sum of a project's stems. Memory is bounded by the per-frame features, so an
hour-long stem is analysed in the same memory as a short one, plus its feature
series.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import decode
from .chords import ChordAnalyzer, ChordReport
from .frontend import SpectralFrames, SpectralFrontEnd
from .hygiene import HygieneAnalyzer, HygieneReport
from .loudness import LoudnessMeter, LoudnessReport
from .mixdown import StemSource, mix_blocks, mix_format
from .peaks import PeaksAnalyzer, WaveformPeaks
from .rhythm import RhythmAnalyzer, RhythmReport
from .role import RoleGuess, SpectralShape, guess_role, role_features
from .runtime import tune_allocator
from .spectrum import SpectrumAnalyzer, SpectrumReport
from .stereo import StereoAnalyzer, StereoReport
from .structure import StructureAnalyzer, StructureReport
from .tonality import TonalityAnalyzer, TonalityReport

ENGINE_VERSION = "2"

# Any process that runs the engine streams large blocks: keep their memory for reuse.
tune_allocator()
MAX_PEAKS_STORED = 16384
# Frames decoded at a time from a file. Each block costs every analyzer a fixed overhead (calls,
# small arrays, chunk seams), so four times decode's default of 65,536 takes about a quarter
# off a stem's time, for about 12 MiB more peak memory (a block is 2 MiB of float32 stereo).
# Every figure is the same at any block size.
FILE_BLOCK_FRAMES = 262_144
Progress = Callable[[float], None]


@dataclass(frozen=True)
class AnalysisReport:
    """Everything the engine measured about one signal (a stem or a mix)."""

    name: str
    duration_s: float
    sample_rate: int
    channels: int
    loudness: LoudnessReport
    rhythm: RhythmReport
    tonality: TonalityReport
    spectrum: SpectrumReport
    stereo: StereoReport
    hygiene: HygieneReport
    role: RoleGuess | None
    peaks: WaveformPeaks
    # The song's form, for a mix (or a whole song): sections and chords on the beat grid.
    structure: StructureReport | None = None
    chords: ChordReport | None = None

    def to_dict(self) -> dict[str, Any]:
        song = {}
        if self.structure is not None and self.chords is not None:
            song = {"structure": self.structure.to_dict(), "chords": self.chords.to_dict()}
        return song | {
            "engine_version": ENGINE_VERSION,
            "name": self.name,
            "duration_s": round(self.duration_s, 4),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "loudness": self.loudness.to_dict(),
            "rhythm": self.rhythm.to_dict(),
            "tonality": self.tonality.to_dict(),
            "spectrum": self.spectrum.to_dict(),
            "stereo": self.stereo.to_dict(),
            "hygiene": self.hygiene.to_dict(),
            "role": self.role.to_dict() if self.role else None,
            "peaks": self.peaks.to_dict(level_indices=self.display_levels()),
        }

    def display_levels(self) -> tuple[int, ...]:
        """The waveform levels worth storing for drawing: at most MAX_PEAKS_STORED peaks
        each (a screen is a few thousand pixels wide), so an hour costs what a song does."""
        levels = self.peaks.levels
        kept = tuple(i for i, level in enumerate(levels) if level.n_peaks <= MAX_PEAKS_STORED)
        return kept or (len(levels) - 1,)

    def summary(self) -> dict[str, Any]:
        """The headline figures, flat, as ``manage.py analyze --json`` prints them."""
        loudness, rhythm, tonality, stereo = self.loudness, self.rhythm, self.tonality, self.stereo
        return {
            "duration_s": round(self.duration_s, 4),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "tempo_bpm": rhythm.tempo_bpm,
            "tempo_confidence": rhythm.tempo_confidence,
            "beats_s": list(rhythm.beats_s),
            "downbeats_s": list(rhythm.downbeats_s),
            "key": tonality.key,
            "key_confidence": tonality.key_confidence,
            "key_runner_up": tonality.runner_up,
            "integrated_lufs": _finite(loudness.integrated_lufs),
            "loudness_range_lu": _finite(loudness.loudness_range_lu),
            "sample_peak_dbfs": _finite(loudness.sample_peak_dbfs),
            "true_peak_dbtp": _finite(loudness.true_peak_dbtp),
            "rms_dbfs": _finite(loudness.rms_dbfs),
            "crest_factor_db": _finite(loudness.crest_factor_db),
            "momentary_max_lufs": _finite(loudness.momentary_max_lufs),
            "short_term_max_lufs": _finite(loudness.short_term_max_lufs),
            "stereo_correlation": _finite(stereo.correlation),
            "stereo_width": _finite(stereo.width),
            "mono_fold_loss_lu": _finite(stereo.mono_fold_loss_lu),
            "role": self.role.role if self.role else None,
            "role_confidence": self.role.confidence if self.role else None,
            "issues": [
                {"code": issue["code"], "message": issue["message"]}
                for issue in self.hygiene.to_dict()["issues"]
            ],
        }


def _finite(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), 3)


class _Pipeline:
    """Every analyzer of one signal, fed from one pass over its blocks."""

    def __init__(self, *, sample_rate: int, channels: int, song: bool = False) -> None:
        self.sample_rate, self.channels = sample_rate, channels
        # A song's form (sections, chords) is read from the mix, not from each stem.
        self.structure = StructureAnalyzer() if song else None
        self.chords = ChordAnalyzer() if song else None
        self.loudness = LoudnessMeter(sample_rate=sample_rate, channels=channels)
        # The stereo analyzer shares the loudness meter: it is fed the same blocks.
        self.stereo = StereoAnalyzer(
            sample_rate=sample_rate, channels=channels, loudness_meter=self.loudness
        )
        self.hygiene = HygieneAnalyzer(sample_rate=sample_rate, channels=channels)
        self.peaks = PeaksAnalyzer(sample_rate=sample_rate, channels=channels)
        self.rhythm = RhythmAnalyzer()
        self.tonality = TonalityAnalyzer()
        self.spectrum = SpectrumAnalyzer()
        self.shape = SpectralShape()
        self.front = SpectralFrontEnd(
            sample_rate=sample_rate,
            channels=channels,
            sink=self._frames,
            samples_sink=self.hygiene.push_analysis_samples,
        )
        self.frames = 0

    def _frames(self, frames: SpectralFrames) -> None:
        self.rhythm.push(frames)
        self.tonality.push(frames)
        self.spectrum.push(frames)
        self.shape.push(frames)
        if self.structure is not None and self.chords is not None:
            self.structure.push(frames)
            self.chords.push(frames)

    def push(self, block: np.ndarray) -> None:
        self.loudness.push(block)
        self.stereo.push(block)
        self.hygiene.push(block)
        self.peaks.push(block)
        self.front.push(block)
        self.frames += block.shape[1]

    def report(self, *, name: str, file_name: str | None, is_mix: bool) -> AnalysisReport:
        self.front.finish()
        loudness, spectrum = self.loudness.result(), self.spectrum.result()
        rhythm, tonality = self.rhythm.result(), self.tonality.result()
        stereo, hygiene = self.stereo.result(), self.hygiene.result()
        role = None
        if not is_mix:
            features = role_features(spectrum=spectrum, shape=self.shape.result(), stereo=stereo)
            role = guess_role(features=features, file_name=file_name)
        return AnalysisReport(
            name=name,
            duration_s=self.frames / self.sample_rate,
            sample_rate=self.sample_rate,
            channels=self.channels,
            loudness=loudness,
            rhythm=rhythm,
            tonality=tonality,
            spectrum=spectrum,
            stereo=stereo,
            hygiene=hygiene,
            role=role,
            peaks=self.peaks.result(),
            **self._song(rhythm, tonality),
        )

    def _song(self, rhythm: RhythmReport, tonality: TonalityReport) -> dict[str, Any]:
        """Structure and chords on the beat grid, when this pipeline reads a song's form."""
        if self.structure is None or self.chords is None:
            return {}
        beats, downbeats = rhythm.beats_s, rhythm.downbeats_s
        return {
            "structure": self.structure.result(beats_s=beats, downbeats_s=downbeats),
            "chords": self.chords.result(
                beats_s=beats, downbeats_s=downbeats, tonic=tonality.tonic, mode=tonality.mode
            ),
        }


def _run(
    blocks: Iterable[np.ndarray],
    *,
    sample_rate: int,
    channels: int,
    total_frames: int,
    name: str,
    file_name: str | None,
    progress: Progress | None,
    is_mix: bool = False,
) -> AnalysisReport:
    pipeline = _Pipeline(sample_rate=sample_rate, channels=channels, song=is_mix)
    reported = 0.0
    for block in blocks:
        pipeline.push(block)
        done = min(pipeline.frames / max(total_frames, 1), 1.0)
        if progress and done - reported >= 0.05:
            progress(0.95 * done)
            reported = done
    report = pipeline.report(name=name, file_name=file_name, is_mix=is_mix)
    if progress:
        progress(1.0)
    return report


def analyze_file(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    progress: Progress | None = None,
    verify: bool = True,
) -> AnalysisReport:
    """Analyse one audio file, streaming it once.

    Parameters
    ----------
    path : path-like
        A file ``decode.probe`` accepts.
    name : str, optional
        The stem's display name (also the role hint); the file name by default.
    progress : callable, optional
        Called with the fraction done, 0 to 1, about every 5%.
    verify : bool
        Check the whole file with ``decode.probe`` first (raising its AudioError with a
        clear reason). A stem the studio stored was checked on upload: pass False.
    """
    info = decode.probe(path) if verify else StemSource.from_path(path)
    label = name or Path(path).name
    return _run(
        decode.read_blocks(path, block_frames=FILE_BLOCK_FRAMES),
        sample_rate=info.sample_rate,
        channels=info.channels,
        total_frames=info.frames,
        name=label,
        file_name=label,
        progress=progress,
    )


def analyze_mix(
    paths: Sequence[str | os.PathLike[str]],
    *,
    gains: Sequence[float] | None = None,
    progress: Progress | None = None,
) -> AnalysisReport:
    """Analyse the sum of several stems (the project's mix), streaming them together."""
    sources = [StemSource.from_path(p) for p in paths]
    sample_rate, channels, total = mix_format(sources)
    return _run(
        mix_blocks(sources, gains=gains),
        sample_rate=sample_rate,
        channels=channels,
        total_frames=total,
        name="Mix",
        file_name=None,
        progress=progress,
        is_mix=True,
    )


def analyze_signal(
    signal: np.ndarray,
    *,
    sample_rate: int,
    name: str = "signal",
    file_name: str | None = None,
    song: bool = False,
) -> AnalysisReport:
    """Analyse an in-memory float32 signal shaped (channels, n) or (n,); with ``song``, also
    its structure and chords, as for a mix."""
    block = np.atleast_2d(np.asarray(signal, dtype=np.float32))
    return _run(
        [block],
        sample_rate=sample_rate,
        channels=block.shape[0],
        total_frames=block.shape[1],
        name=name,
        file_name=file_name,
        progress=None,
        is_mix=song,
    )


def run_in_worker(
    *, paths: Sequence[str], name: str | None, is_mix: bool, progress: Progress | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Analyse a stem (one path) or a mix and return plain data: the report and its summary
    as dicts, ready to cross a process boundary or to be stored."""
    if is_mix:
        report = analyze_mix(paths, progress=progress)
    else:
        report = analyze_file(paths[0], name=name, progress=progress, verify=False)
    return report.to_dict(), report.summary()


def warm_up() -> None:
    """Compile the engine's kernels once per process, so the first real job is not slow."""
    t = np.arange(44100 * 4) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (t % 0.5 < 0.1)).astype(np.float32)
    analyze_signal(np.stack([tone, tone]), sample_rate=44100, file_name="warm-up.wav")
