"""Mixing suggestions from the engine's reports, each with its measured effect.

Rules read the stored analysis reports (``AnalysisReport.to_dict()``) of the stems and of the
mix and propose moves: changes to the mix settings of :mod:`studio.processing.mixing`. Every
move is then rendered through pedalboard and measured again with the engine's own analyzers,
and a suggestion is kept only when the measure it claims to improve got better (advice that
no processing can carry out, such as re-recording a clipped passage, has no render and says
so).

Two scopes, so that suggestions come as early as their facts exist:

- :func:`stem_suggestions` needs one stem's report: cleanup (hum, DC, noise, clipping),
  the high-pass, stereo (low end off centre, too wide, too narrow) and dynamics.
- :func:`project_suggestions` needs every stem's report and the mix's: masking between
  pairs of stems, balance by role, tonal balance of the mix (mud, harshness, air) and the
  mix bus against a loudness target.

Both are generators: each suggestion is yielded as soon as it is measured.

A move is a tuple of operations (plain dicts, JSON-ready), applied by :func:`apply_move` at
an *amount* from 0 to 1 that scales it (gains and ratios scale; a cutoff slides on a log
scale from 20 Hz).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.signal

from . import decode
from .frontend import SpectralFrontEnd
from .hygiene import HygieneAnalyzer, HygieneReport
from .loudness import LoudnessMeter, LoudnessReport
from .mixdown import StemSource, mix_format
from .mixing import (
    LOUDNESS_TARGETS,
    MAX_EQ_BANDS,
    BusSettings,
    Compressor,
    EqBand,
    Gate,
    MixSettings,
    StemProcessor,
    StemSettings,
    render_mix_blocks,
)
from .spectrum import NOMINAL_CENTRES_HZ, SpectrumAnalyzer, SpectrumReport
from .spectrum import _compare_with_reference as compare_with_reference
from .stereo import StereoAnalyzer, StereoReport

KINDS = ("masking", "balance", "tonal", "stereo", "dynamics", "loudness", "cleanup")
CENTRES_HZ = np.array(NOMINAL_CENTRES_HZ)
SILENT_POWER = 1e-9  # -90 dBFS: a band item below this is not playing
# How much each role matters when two stems compete (the higher keeps its band).
ROLE_RANK = {
    "vocals": 6, "drums": 5, "bass": 4, "guitar": 3, "keys": 3, "other": 3,
    "percussion": 2, "pad": 1, "fx": 1,
}  # fmt: skip
# Where each role needs to be heard, in Hz: masking is looked for there.
ROLE_FOCUS_HZ: dict[str, tuple[tuple[float, float], ...]] = {
    "vocals": ((1000.0, 5000.0),),
    "drums": ((40.0, 125.0), (2000.0, 6300.0)),
    "bass": ((40.0, 250.0),),
    "guitar": ((630.0, 4000.0),),
    "keys": ((250.0, 4000.0),),
    "other": ((315.0, 4000.0),),
    "percussion": ((2500.0, 8000.0),),
    "pad": ((200.0, 2000.0),),
    "fx": (),
}
# Loudness of each role relative to the others in a balanced pop or rock mix, in LU: a rule
# of thumb (lead vocal on top, drums and bass close behind, pads and effects underneath).
ROLE_LEVEL_LU = {
    "vocals": 0.0, "drums": -3.0, "bass": -3.0, "guitar": -5.0, "keys": -6.0, "other": -6.0,
    "percussion": -9.0, "pad": -10.0, "fx": -12.0,
}  # fmt: skip
# Energy under a part's lowest notes counts as rumble within 35 dB of its strongest band:
# the spectrum's skirt under a pure tone already reaches about 45 dB down.
HIGHPASS_JUNK_DB = 35.0
NO_LOW_END_ROLES = ("vocals", "guitar", "keys", "pad", "percussion", "fx", "other")
MASKING_SHOWN_DB = -3.0  # a masker within 3 dB of its target (or louder) hides it
MASKING_SHARE = 0.5  # ... for at least half the time the target plays
MASKING_FOCUS_DB = 15.0  # a band counts for a stem within 15 dB of its strongest octave
BALANCE_SHOWN_LU = 5.0
PREVIEW_S = 15.0


# What a suggestion is --------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """The figure a suggestion claims to improve, before and after its move.

    ``after`` is None for advice without a render; ``lower_is_better`` says the direction.
    """

    name: str
    label: str
    unit: str
    before: float
    after: float | None
    lower_is_better: bool = True

    def improvement(self) -> float:
        """How much better ``after`` is than ``before``, in the measure's unit (0 if none)."""
        if self.after is None:
            return 0.0
        change = self.before - self.after
        return change if self.lower_is_better else -change

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "before": round(self.before, 2),
            "after": None if self.after is None else round(self.after, 2),
            "lower_is_better": self.lower_is_better,
        }


@dataclass(frozen=True)
class Suggestion:
    """One proposed move, ready to show: what, on which stems, why, and its measured effect."""

    kind: str
    code: str
    title: str
    reason: str
    stems: tuple[str, ...]
    move: tuple[dict[str, Any], ...]
    confidence: float
    measure: Measure
    key: str
    detail: dict[str, Any] = field(default_factory=dict)
    preview: dict[str, Any] | None = None

    @property
    def fingerprint(self) -> str:
        """Stable across re-analyses of the same problem: code, stems and where it is."""
        text = json.dumps([self.code, sorted(self.stems), self.key])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "code": self.code,
            "title": self.title,
            "reason": self.reason,
            "stems": list(self.stems),
            "move": list(self.move),
            "confidence": round(self.confidence, 3),
            "measure": self.measure.to_dict(),
            "detail": self.detail,
            "preview": self.preview,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class StemInput:
    """A stem as the rules see it: its key (the studio's stem id), name, file, stored report
    (``AnalysisReport.to_dict()``) and current settings."""

    key: str
    name: str
    path: str
    report: dict[str, Any]
    settings: StemSettings = StemSettings()

    @property
    def role(self) -> str:
        role = self.report.get("role") or {}
        return role.get("role") or "other"

    def series_power(self) -> np.ndarray:
        """Band power over time, shaped (bands, items), linear (0 where silent)."""
        return _levels_to_power(self.report["spectrum"]["band_levels_over_time_db"])


# Applying a move ---------------------------------------------------------------------------


def apply_move(
    mix: MixSettings, move: Sequence[dict[str, Any]], *, amount: float = 1.0, source: str = ""
) -> MixSettings:
    """The mix settings with ``move`` applied at ``amount`` (0 to 1); EQ bands added are
    tagged ``source``. Raises ValueError for an operation it does not know or an amount out
    of range."""
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be from 0 to 1, found {amount}")
    for op in move:
        if not isinstance(op, dict) or "op" not in op:
            raise ValueError(f"a move operation is an object with an 'op', found {op!r}")
        if op["op"] not in ("bus", "advice") and "stem" not in op:
            raise ValueError(f"the {op['op']!r} operation names no stem")
        if op["op"] == "bus":
            mix = replace(mix, bus=_bus_op(mix.bus, op, amount))
        elif op["op"] != "advice":
            stem = _stem_op(mix.stem(op["stem"]), op, amount, source)
            mix = mix.with_stem(op["stem"], stem)
    return mix


def _stem_op(s: StemSettings, op: dict[str, Any], a: float, source: str) -> StemSettings:
    kind = op["op"]
    if kind == "gain":
        return replace(s, gain_db=float(np.clip(s.gain_db + op["gain_db"] * a, -60, 24)))
    if kind == "eq":
        if len(s.eq) >= MAX_EQ_BANDS:
            raise ValueError(f"a stem takes at most {MAX_EQ_BANDS} EQ bands")
        band = EqBand(op["freq_hz"], op["gain_db"] * a, op["q"], source=source or "hand")
        return replace(s, eq=(*s.eq, band))
    if kind == "highpass":
        cutoff = 20.0 * (op["freq_hz"] / 20.0) ** a
        return replace(s, highpass_hz=max(cutoff, s.highpass_hz or 0.0))
    if kind == "mono_below":
        cutoff = 20.0 * (op["freq_hz"] / 20.0) ** a
        return replace(s, mono_below_hz=max(cutoff, s.mono_below_hz or 0.0))
    if kind == "width":
        return replace(s, width=float(np.clip(s.width * op["factor"] ** a, 0.0, 2.0)))
    if kind == "compressor":
        params = {k: v for k, v in op.items() if k not in ("op", "stem")}
        params["ratio"] = 1.0 + (params["ratio"] - 1.0) * a
        return replace(s, compressor=Compressor(**params))
    if kind == "gate":
        params = {k: v for k, v in op.items() if k not in ("op", "stem")}
        params["ratio"] = 1.0 + (params["ratio"] - 1.0) * a
        return replace(s, gate=Gate(**params))
    raise ValueError(f"unknown move operation {kind!r}")


def _bus_op(bus: BusSettings, op: dict[str, Any], a: float) -> BusSettings:
    return replace(
        bus,
        gain_db=float(np.clip(bus.gain_db + op["gain_db"] * a, -60, 30)),
        ceiling_dbtp=op["ceiling_dbtp"] if a > 0 else bus.ceiling_dbtp,
        target=op.get("target", bus.target),
    )


# Measuring a stem through its settings --------------------------------------------------


@dataclass(frozen=True)
class StemMeasurement:
    """What the engine hears of a stem played through given settings (None: not asked)."""

    loudness: LoudnessReport | None
    spectrum: SpectrumReport | None
    stereo: StereoReport | None
    hygiene: HygieneReport | None
    hum_db: float | None
    dc_dbfs: float | None

    def series_power(self) -> np.ndarray:
        if self.spectrum is None:
            raise ValueError("the spectrum was not measured; ask for it in parts")
        return _levels_to_power(self.spectrum.band_levels_over_time_db)


MEASURES = frozenset({"loudness", "spectrum", "stereo", "hygiene", "hum", "dc"})


def measure_stem(
    path: str,
    settings: StemSettings,
    *,
    hum_hz: Sequence[float] = (),
    parts: frozenset[str] = MEASURES,
) -> StemMeasurement:
    """Stream a stem file through ``settings`` and measure the ``parts`` asked for (a rule
    reads one or two, and each costs time): loudness (no true peak), spectrum, stereo,
    hygiene, the hum level at ``hum_hz`` (dB above the local floor, power-summed) and the
    largest DC offset (dBFS)."""
    source = StemSource.from_path(path)
    rate, channels = source.sample_rate, source.channels
    stereo_pair = "stereo" in parts and channels == 2
    loudness = (
        LoudnessMeter(sample_rate=rate, channels=channels, true_peak=False)
        if "loudness" in parts or stereo_pair
        else None
    )
    stereo = (
        StereoAnalyzer(sample_rate=rate, channels=2, loudness_meter=loudness)
        if stereo_pair
        else None
    )
    hygiene = HygieneAnalyzer(sample_rate=rate, channels=channels) if "hygiene" in parts else None
    spectrum = SpectrumAnalyzer() if "spectrum" in parts else None
    front = None
    if spectrum or hygiene:
        front = SpectralFrontEnd(
            sample_rate=rate,
            channels=channels,
            sink=spectrum.push if spectrum else lambda frames: None,
            samples_sink=hygiene.push_analysis_samples if hygiene else None,
        )
    hum = _HumProbe(rate, hum_hz) if "hum" in parts else None
    processor = StemProcessor(settings, sample_rate=rate, out_channels=channels)
    dc_sum = np.zeros(channels)
    frames = 0
    for raw in decode.read_blocks(path):
        block = processor.process(raw)
        for analyzer in (loudness, stereo, hygiene, front, hum):
            if analyzer is not None:
                analyzer.push(block)
        if "dc" in parts:
            dc_sum += block.sum(axis=1, dtype=np.float64)
        frames += block.shape[1]
    if front:
        front.finish()
    dc = float(np.max(np.abs(dc_sum))) / max(frames, 1)
    return StemMeasurement(
        loudness=loudness.result() if loudness else None,
        spectrum=spectrum.result() if spectrum else None,
        stereo=stereo.result() if stereo else None,
        hygiene=hygiene.result() if hygiene else None,
        hum_db=hum.result() if hum else None,
        dc_dbfs=20 * math.log10(dc) if dc > 0 else None,
    )


class _HumProbe:
    """Level of narrow lines at given frequencies: Welch spectra of the mid signal in 1 s
    Hann windows (1 Hz bins), each line's power above the median of the bins 3 to 8 Hz
    either side, summed; in dB relative to full scale."""

    def __init__(self, sample_rate: int, frequencies_hz: Sequence[float]) -> None:
        self.rate, self.frequencies = sample_rate, list(frequencies_hz)
        self.buffer: list[np.ndarray] = []
        self.psd_sum: np.ndarray | None = None
        self.count = 0

    def push(self, block: np.ndarray) -> None:
        if not self.frequencies:
            return
        self.buffer.append(block.mean(axis=0))
        if sum(b.size for b in self.buffer) >= 30 * self.rate:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        mid = np.concatenate(self.buffer)
        self.buffer = []
        if mid.size < self.rate:
            return
        _, psd = scipy.signal.welch(mid, fs=self.rate, nperseg=self.rate, scaling="spectrum")
        self.psd_sum = psd if self.psd_sum is None else self.psd_sum + psd
        self.count += 1

    def result(self) -> float | None:
        if not self.frequencies:
            return None
        self._flush()
        if self.psd_sum is None:
            return None
        psd = self.psd_sum / self.count
        total = 0.0
        for f in self.frequencies:
            k = int(round(f))
            if k + 8 >= psd.size:
                continue
            floor = np.median(np.concatenate([psd[k - 8 : k - 2], psd[k + 3 : k + 9]]))
            total += max(float(psd[k - 1 : k + 2].sum()) - 3 * floor, 0.0)
        return 10 * math.log10(total) if total > 0 else -120.0


# Stem-scope rules -------------------------------------------------------------------------


def stem_suggestions(stem: StemInput) -> Iterator[Suggestion]:
    """Suggestions about one stem on its own, each measured, in order of how much they
    matter (cleanup first)."""
    cache: dict[str, StemMeasurement] = {}

    def measured(
        settings: StemSettings, part: str, hum_hz: tuple[float, ...] = ()
    ) -> StemMeasurement:
        """The stem through ``settings``, measured for one ``part`` (cached)."""
        key = json.dumps([settings.to_dict(), part, hum_hz])
        if key not in cache:
            cache[key] = measure_stem(stem.path, settings, hum_hz=hum_hz, parts=frozenset({part}))
        return cache[key]

    for rule in STEM_RULES:
        for candidate in rule(stem, measured):
            if candidate.measure.after is None or candidate.measure.improvement() >= 1.0:
                yield candidate


Measured = Callable[..., StemMeasurement]


def _after(stem: StemInput, move: tuple[dict[str, Any], ...]) -> StemSettings:
    mix = apply_move(MixSettings(stems={stem.key: stem.settings}), move, source="candidate")
    return mix.stem(stem.key)


def _hum_rule(stem: StemInput, measured: Measured) -> Iterator[Suggestion]:
    hum = stem.report["hygiene"].get("hum")
    if not hum:
        return
    base_hz = hum["frequency_hz"]
    lines = tuple(float(base_hz * n) for n in hum["harmonics_found"][:8])
    move = tuple(
        {"op": "eq", "stem": stem.key, "freq_hz": f, "gain_db": -24.0, "q": 40.0} for f in lines
    )
    before = measured(stem.settings, "hum", lines).hum_db
    after = measured(_after(stem, move), "hum", lines).hum_db
    if before is None or after is None:
        return
    harmonics = ", ".join(f"{f:g}" for f in lines)
    yield Suggestion(
        kind="cleanup",
        code="cleanup.hum",
        title=f"Remove {base_hz} Hz mains hum from {stem.name}",
        reason=(
            f"{stem.name} carries a steady hum at {base_hz} Hz and its harmonics ({harmonics} Hz):"
            " electrical interference from mains power picked up by a cable or an amplifier. "
            "It muddies the low end and is audible in quiet passages. Very narrow cuts at "
            "exactly those frequencies (notches, Q 40) remove the hum while leaving the music "
            "around them alone."
        ),
        stems=(stem.key,),
        move=move,
        confidence=float(np.clip((hum["level_db"] + 90) / 30, 0.4, 0.95)),
        measure=Measure("hum_db", f"hum in {stem.name}", "dBFS", before, after),
        key=str(base_hz),
        detail={"frequencies_hz": list(lines)},
        preview={"scope": "stem", "stem": stem.key, "start_s": _quiet_start(stem)},
    )


def _dc_rule(stem: StemInput, measured: Measured) -> Iterator[Suggestion]:
    offsets = [abs(v) for v in stem.report["hygiene"]["dc_offset"]]
    if max(offsets, default=0.0) < 10 ** (-50 / 20) or (stem.settings.highpass_hz or 0) >= 20:
        return
    move = ({"op": "highpass", "stem": stem.key, "freq_hz": 20.0},)
    before = measured(stem.settings, "dc").dc_dbfs
    after = measured(_after(stem, move), "dc").dc_dbfs
    if before is None:
        return
    yield Suggestion(
        kind="cleanup",
        code="cleanup.dc",
        title=f"Remove the DC offset of {stem.name}",
        reason=(
            f"The waveform of {stem.name} is shifted off zero by {before:.0f} dBFS (a DC offset,"
            " usually from a converter or a faulty preamp). You cannot hear it, but it eats "
            "headroom, makes edits click and pushes compressors around. A 20 Hz high-pass "
            "removes it without touching anything audible."
        ),
        stems=(stem.key,),
        move=move,
        confidence=0.9,
        measure=Measure("dc_dbfs", f"DC offset of {stem.name}", "dBFS", before, after or -120.0),
        key="dc",
        preview=None,
    )


def _noise_rule(stem: StemInput, measured: Measured) -> Iterator[Suggestion]:
    hygiene, loudness = stem.report["hygiene"], stem.report["loudness"]
    floor, integrated = hygiene.get("noise_floor_db"), loudness.get("integrated_lufs")
    if floor is None or integrated is None or floor < -66 or floor > integrated - 12:
        return
    short = [v for v in loudness["short_term_lufs"] if v is not None]
    if not short or np.mean(np.array(short) < integrated - 15) < 0.1:
        return  # no pauses: a gate would have nothing to do
    threshold = float(np.clip(floor + 10, -80, integrated - 10))
    move = (
        {
            "op": "gate",
            "stem": stem.key,
            "threshold_db": round(threshold, 1),
            "ratio": 6.0,
            "attack_ms": 2.0,
            "release_ms": 150.0,
        },
    )
    before = measured(stem.settings, "hygiene").hygiene.noise_floor_db
    after = measured(_after(stem, move), "hygiene").hygiene.noise_floor_db
    if before is None:
        return
    yield Suggestion(
        kind="cleanup",
        code="cleanup.noise",
        title=f"Lower the background noise between phrases of {stem.name}",
        reason=(
            f"Between the phrases of {stem.name} there is a noise floor at {before:.0f} dBFS "
            "(hiss, room or amplifier noise). In the mix it adds up with every other track and "
            f"clouds quiet moments. A gate (downward expander) below {threshold:.0f} dBFS turns "
            "the track down when nobody plays and leaves the performance untouched."
        ),
        stems=(stem.key,),
        move=move,
        confidence=0.6,
        measure=Measure(
            "noise_floor_db", f"noise floor of {stem.name}", "dBFS", before, after or -120.0
        ),
        key="noise",
        preview={"scope": "stem", "stem": stem.key, "start_s": _quiet_start(stem)},
    )


def _clipping_rule(stem: StemInput, measured: Measured) -> Iterator[Suggestion]:
    hygiene = stem.report["hygiene"]
    runs = hygiene.get("clipped_runs") or []
    if not runs:
        return
    # The report has a run per channel; a passage clipped on both is one passage.
    passages = sorted({(round(r["start_s"], 2), round(r["end_s"], 2)) for r in runs})
    times = [list(p) for p in passages[:50]]
    places = ", ".join(_clock(start) for start, _ in times[:6])
    yield Suggestion(
        kind="cleanup",
        code="cleanup.clipping",
        title=f"Re-record the clipped passages of {stem.name}",
        reason=(
            f"{stem.name} hits the digital ceiling {len(passages)} times (at "
            f"{places}{' and more' if len(passages) > 6 else ''}): the tops of the waveform are cut"
            " off, which sounds like crackle or harsh distortion. No mixing move can bring the "
            "missing peaks back; record those passages again with the input gain a few dB lower."
        ),
        stems=(stem.key,),
        move=({"op": "advice", "stem": stem.key, "times_s": times},),
        confidence=0.95,
        measure=Measure(
            "clipped_samples",
            f"clipped samples in {stem.name}",
            "samples",
            float(hygiene["clipped_samples"]),
            None,
        ),
        key="clipping",
        detail={"times_s": times},
    )


def _highpass_rule(stem: StemInput, measured: Measured) -> Iterator[Suggestion]:
    if stem.role not in NO_LOW_END_ROLES:
        return
    levels = _levels(stem.report["spectrum"]["band_levels_db"])
    if np.all(np.isnan(levels)):
        return
    top = np.nanmax(levels)
    # A part's own content starts at the lowest band from 63 Hz up within 30 dB of its
    # strongest; anything below that (rumble, however loud) is what the filter removes.
    useful = np.flatnonzero((np.nan_to_num(levels, nan=-200) >= top - 30) & (CENTRES_HZ >= 63))
    if not useful.size:
        return
    start = int(useful[0])
    cutoff = round(float(CENTRES_HZ[start]) / 1.6)
    below = cutoff > CENTRES_HZ
    if cutoff < 40 or (stem.settings.highpass_hz or 0) >= cutoff:
        return
    if np.nansum(10 ** (levels[below] / 10)) < 10 ** ((top - HIGHPASS_JUNK_DB) / 10):
        return  # nothing down there but the skirt of the part's own notes
    move = ({"op": "highpass", "stem": stem.key, "freq_hz": float(cutoff)},)
    before = _band_sum_db(measured(stem.settings, "spectrum").spectrum, below)
    after = _band_sum_db(measured(_after(stem, move), "spectrum").spectrum, below)
    yield Suggestion(
        kind="tonal",
        code="tonal.highpass",
        title=f"High-pass {stem.name} at {cutoff} Hz",
        reason=(
            f"{stem.name} ({stem.role}) has nothing musical below about {CENTRES_HZ[start]:g} Hz,"
            f" yet there is energy down there ({before:.0f} dBFS): rumble, handling noise or "
            "spill. It adds nothing you can hear on its own but takes headroom and clouds the "
            f"kick and bass. A high-pass filter at {cutoff} Hz (12 dB per octave) clears it."
        ),
        stems=(stem.key,),
        move=move,
        confidence=0.75,
        measure=Measure(
            "low_end_db", f"energy below {cutoff} Hz in {stem.name}", "dBFS", before, after
        ),
        key="highpass",
        preview={"scope": "stem", "stem": stem.key, "start_s": 0.0},
    )


def _stereo_rules(stem: StemInput, measured: Measured) -> Iterator[Suggestion]:
    width = stem.report["spectrum"].get("width_per_band")
    stereo = stem.report["stereo"]
    if not width or stereo.get("width") is None:
        return
    yield from _low_end_rule(stem, measured, width)
    yield from _width_rule(stem, measured, stereo)


def _low_end_rule(stem: StemInput, measured: Measured, width: list) -> Iterator[Suggestion]:
    low = CENTRES_HZ <= 125
    levels = _levels(stem.report["spectrum"]["band_levels_db"])
    low_width = np.array([np.nan if w is None else w for w in width])[low]
    if np.all(np.isnan(low_width)) or np.nanmax(levels[low], initial=-200) < np.nanmax(levels) - 20:
        return
    if np.nanmean(low_width) < 0.1 or stem.settings.mono_below_hz:
        return
    move = ({"op": "mono_below", "stem": stem.key, "freq_hz": 120.0},)
    before = _low_width(measured(stem.settings, "spectrum").spectrum)
    after = _low_width(measured(_after(stem, move), "spectrum").spectrum)
    yield Suggestion(
        kind="stereo",
        code="stereo.low_end",
        title=f"Centre the low end of {stem.name}",
        reason=(
            f"Below 125 Hz {stem.name} differs between left and right (side energy "
            f"{_ratio_db(before):.0f} dB against the centre). Low notes carry most of a mix's "
            "energy; off centre they sound vague, lose punch on a mono speaker or in a club and "
            "can make a vinyl cut skip. Making everything below 120 Hz mono keeps the width "
            "above it."
        ),
        stems=(stem.key,),
        move=move,
        confidence=0.7,
        measure=Measure(
            "low_width_db",
            f"side energy below 125 Hz in {stem.name}",
            "dB",
            _ratio_db(before),
            _ratio_db(after),
        ),
        key="low_end",
        preview={"scope": "stem", "stem": stem.key, "start_s": 0.0},
    )


def _width_rule(stem: StemInput, measured: Measured, stereo: dict) -> Iterator[Suggestion]:
    loss, width = stereo.get("mono_fold_loss_lu"), stereo["width"]
    if loss is not None and (loss > 3.0 or (stereo.get("correlation") or 0) < -0.1):
        move = ({"op": "width", "stem": stem.key, "factor": 0.5},)
        before = measured(stem.settings, "stereo").stereo.mono_fold_loss_lu
        after = measured(_after(stem, move), "stereo").stereo.mono_fold_loss_lu
        yield Suggestion(
            kind="stereo",
            code="stereo.too_wide",
            title=f"Narrow {stem.name}: it collapses in mono",
            reason=(
                f"Left and right of {stem.name} partly cancel each other: folded to mono (a "
                f"phone, a club, a radio) it loses {before:.1f} LU. Halving the side signal "
                "keeps a sense of width and makes it hold up in mono."
            ),
            stems=(stem.key,),
            move=move,
            confidence=0.7,
            measure=Measure("mono_loss_lu", f"loss in mono of {stem.name}", "LU", before, after),
            key="too_wide",
            preview={"scope": "stem", "stem": stem.key, "start_s": 0.0, "mono_check": True},
        )
    elif stem.role in ("pad", "keys", "fx") and 0.005 < width < 0.05:
        move = ({"op": "width", "stem": stem.key, "factor": 2.0},)
        before = measured(stem.settings, "stereo").stereo.width
        after = measured(_after(stem, move), "stereo").stereo.width
        yield Suggestion(
            kind="stereo",
            code="stereo.too_narrow",
            title=f"Widen {stem.name}",
            reason=(
                f"{stem.name} is a stereo {stem.role} part that sits almost in the middle (side "
                f"energy {_ratio_db(before):.0f} dB under the centre), where the vocal, kick and "
                "bass already live. Doubling its side signal spreads it out and leaves the "
                "centre to the lead parts."
            ),
            stems=(stem.key,),
            move=move,
            confidence=0.5,
            measure=Measure(
                "width_gap_db",
                f"how far {stem.name} is from a wide part (side -12 dB)",
                "dB",
                abs(_ratio_db(before) + 12),
                abs(_ratio_db(after) + 12),
            ),
            key="too_narrow",
            preview={"scope": "stem", "stem": stem.key, "start_s": 0.0},
        )


def _dynamics_rule(stem: StemInput, measured: Measured) -> Iterator[Suggestion]:
    if stem.role not in ("vocals", "bass") or stem.settings.compressor:
        return
    loudness = stem.report["loudness"]
    spread = _short_term_spread(loudness)
    limit = 6.0 if stem.role == "vocals" else 5.0
    if spread is None or spread <= limit or loudness.get("rms_dbfs") is None:
        return
    attack, release = (5.0, 100.0) if stem.role == "vocals" else (20.0, 200.0)
    base = measured(stem.settings, "loudness")
    threshold = float(np.clip(loudness["rms_dbfs"] + 3, -50, -6))
    op = {
        "op": "compressor",
        "stem": stem.key,
        "threshold_db": round(threshold, 1),
        "ratio": 3.0 if stem.role == "vocals" else 4.0,
        "attack_ms": attack,
        "release_ms": release,
        "makeup_db": 0.0,
    }
    squeezed = measured(_after(stem, (op,)), "loudness")
    makeup = (base.loudness.integrated_lufs or 0) - (squeezed.loudness.integrated_lufs or 0)
    op["makeup_db"] = round(float(np.clip(makeup, 0, 24)), 1)
    after = _short_term_spread(measured(_after(stem, (op,)), "loudness").loudness.to_dict())
    before = _short_term_spread(base.loudness.to_dict())
    if before is None or after is None:
        return
    yield Suggestion(
        kind="dynamics",
        code="dynamics.compress",
        title=f"Compress {stem.name} to even out its level",
        reason=(
            f"The loudness of {stem.name} swings by {before:.1f} LU between its quiet and loud "
            f"moments (10th to 90th percentile of short-term loudness). In a mix the quiet "
            f"{stem.role} lines get lost and the loud ones jump out. A compressor "
            f"({op['ratio']:g}:1 above {threshold:.0f} dBFS, {attack:g} ms attack, {release:g} "
            f"ms release, {op['makeup_db']:g} dB make-up) keeps it steady."
        ),
        stems=(stem.key,),
        move=(op,),
        confidence=float(np.clip((before - limit) / 6 + 0.4, 0.4, 0.9)),
        measure=Measure(
            "loudness_spread_lu", f"loudness swing of {stem.name}", "LU", before, after
        ),
        key="compress",
        preview={"scope": "stem", "stem": stem.key, "start_s": 0.0},
    )


STEM_RULES = (
    _clipping_rule,
    _hum_rule,
    _dc_rule,
    _noise_rule,
    _highpass_rule,
    _stereo_rules,
    _dynamics_rule,
)


# Project-scope rules ----------------------------------------------------------------------


@dataclass
class ProjectContext:
    """Everything project rules read, with measurements of re-rendered stems cached."""

    stems: list[StemInput]
    mix_report: dict[str, Any]
    bus: BusSettings = BusSettings()
    target: str = "streaming"
    _measured: dict[str, StemMeasurement] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stems = [s for s in self.stems if not s.settings.mute]

    def measurement(self, stem: StemInput, settings: StemSettings) -> StemMeasurement:
        key = json.dumps([stem.key, settings.to_dict()])
        if key not in self._measured:
            parts = frozenset({"spectrum", "loudness"})
            self._measured[key] = measure_stem(stem.path, settings, parts=parts)
        return self._measured[key]

    def series(self, stem: StemInput, settings: StemSettings | None = None) -> np.ndarray:
        """Band power over time of ``stem`` through ``settings`` (its own by default)."""
        settings = stem.settings if settings is None else settings
        if settings == StemSettings():
            return stem.series_power()
        return self.measurement(stem, settings).series_power()

    def loudness_lufs(self, stem: StemInput, settings: StemSettings | None = None) -> float | None:
        """Integrated loudness of ``stem`` through ``settings`` (its own by default), LUFS."""
        settings = stem.settings if settings is None else settings
        if settings == StemSettings():
            return stem.report["loudness"].get("integrated_lufs")
        return self.measurement(stem, settings).loudness.integrated_lufs


def project_suggestions(context: ProjectContext) -> Iterator[Suggestion]:
    """Suggestions about the stems together and the mix bus, each measured."""
    for rule in (_masking_rule, _balance_rule, _tonal_rule, _loudness_rule):
        for candidate in rule(context):
            if candidate.measure.improvement() >= 1.0:
                yield candidate


def _masking_rule(context: ProjectContext) -> Iterator[Suggestion]:
    """One cut per masking stem, where it hides a more important stem most: cuts on one
    stem for several targets would stack up and hollow it out."""
    for masker in context.stems:
        worst = None
        for target in context.stems:
            if ROLE_RANK.get(target.role, 3) <= ROLE_RANK.get(masker.role, 3):
                continue
            found = _worst_masking(context, target, masker)
            if found is not None and (worst is None or found[1] > worst[1][1]):
                worst = (target, found)
        if worst is not None:
            yield from _masking_candidate(context, worst[0], masker, *worst[1])


def _worst_masking(
    context: ProjectContext, target: StemInput, masker: StemInput
) -> tuple[int, float, float] | None:
    """The band (index of the octave's middle band), masking (dB) and share of shared time
    where ``masker`` hides ``target`` most within the target's focus, or None."""
    t_power, m_power = context.series(target), context.series(masker)
    octaves = np.convolve(t_power.mean(axis=1), np.ones(3), mode="same")
    worst: tuple[int, float, float] | None = None
    for low, high in ROLE_FOCUS_HZ.get(target.role, ()):
        for middle in np.flatnonzero((low <= CENTRES_HZ) & (high >= CENTRES_HZ)):
            if middle == 0 or middle == len(CENTRES_HZ) - 1:
                continue
            if octaves[middle] < octaves.max() * 10 ** (-MASKING_FOCUS_DB / 10):
                continue  # the target has little of its own there: nothing to uncover
            stats = masking_db(t_power, m_power, slice(middle - 1, middle + 2))
            if stats is None:
                continue
            value, share = stats
            if (
                value >= MASKING_SHOWN_DB
                and share >= MASKING_SHARE
                and (worst is None or value > worst[1])
            ):
                worst = (int(middle), value, share)
    return worst


def masking_db(target: np.ndarray, masker: np.ndarray, bands: slice) -> tuple[float, float] | None:
    """How much ``masker`` covers ``target`` in ``bands``: the mean, over the times both
    play there, of the masker's power over the target's, in dB (0: as loud; above 0: louder),
    and the share of the target's playing time that both play. None when they never meet.

    Both are band power over time shaped (bands, items) on the same time grid."""
    n = min(target.shape[1], masker.shape[1])
    t = target[bands, :n].sum(axis=0)
    m = masker[bands, :n].sum(axis=0)
    playing = t > max(float(t.max(initial=0)) * 1e-3, SILENT_POWER)
    both = playing & (m > SILENT_POWER)
    if both.sum() < 4:
        return None
    ratio_db = np.clip(10 * np.log10(m[both] / t[both]), -40, 40)
    return float(ratio_db.mean()), float(both.sum() / playing.sum())


def _masking_candidate(
    context: ProjectContext, target: StemInput, masker: StemInput, middle: int, value, share
) -> Iterator[Suggestion]:
    bands = slice(middle - 1, middle + 2)
    freq = float(CENTRES_HZ[middle])
    cut = -float(np.clip(value + 8.0, 3.0, 8.0))
    move: tuple[dict[str, Any], ...] = (
        {"op": "eq", "stem": masker.key, "freq_hz": freq, "gain_db": round(cut, 1), "q": 1.4},
    )
    if value > 0 and target.role in ("vocals", "drums"):
        boost = {"op": "eq", "stem": target.key, "freq_hz": freq, "gain_db": 2.0, "q": 1.4}
        move = (*move, boost)
    move = _keep_levels(context, move)
    mix = apply_move(
        MixSettings(stems={s.key: s.settings for s in context.stems}), move, source="candidate"
    )
    after = masking_db(
        context.series(target, mix.stem(target.key)),
        context.series(masker, mix.stem(masker.key)),
        bands,
    )
    if after is None:
        return
    low, high = CENTRES_HZ[middle - 1] / 1.12, CENTRES_HZ[middle + 1] * 1.12
    span = f"{_hz(low)} to {_hz(high)}"
    complementary = any(op["op"] == "eq" and op["gain_db"] > 0 for op in move)
    level_kept = any(op["op"] == "gain" for op in move)
    yield Suggestion(
        kind="masking",
        code="masking.eq",
        title=f"Make room for {target.name}: cut {masker.name} at {_hz(freq)}",
        reason=(
            f"From {span}, {masker.name} ({masker.role}) plays "
            f"{'louder than' if value > 0 else 'nearly as loud as'} {target.name} "
            f"({target.role}) for {share:.0%} of the time {target.name} plays (on average "
            f"{value:+.1f} dB). That range is where {_focus_words(target.role)}, so "
            f"{target.name} gets covered up and people push its fader, which only starts a "
            f"loudness race. A {abs(cut):.1f} dB cut on {masker.name} at {_hz(freq)} (Q 1.4, "
            "about an octave wide) clears the space"
            + (
                f" and a 2 dB lift on {target.name} there completes the swap"
                if complementary
                else ""
            )
            + f"; the {masker.role} keeps its character elsewhere"
            + (
                ", and a gain change gives each part back its loudness, so the balance "
                "stays where it was."
                if level_kept
                else "."
            )
        ),
        stems=(target.key, masker.key),
        move=move,
        confidence=float(np.clip(0.45 + (value + 6) / 20 + share / 4, 0.4, 0.95)),
        measure=Measure(
            "masking_db",
            f"masking of {target.name} by {masker.name} at {span}",
            "dB",
            value,
            after[0],
        ),
        key=f"{middle}",
        detail={"band_hz": [round(low), round(high)], "centre_hz": freq},
        preview={"scope": "mix", "start_s": _loudest_start(target)},
    )


def _keep_levels(
    context: ProjectContext, move: tuple[dict[str, Any], ...]
) -> tuple[dict[str, Any], ...]:
    """``move`` plus, for each stem its EQ changes, the gain that gives the stem back its
    integrated loudness: an EQ move should change where a part sits in the spectrum, not
    how loud it is against the others (the balance is a separate decision)."""
    mix = MixSettings(stems={s.key: s.settings for s in context.stems})
    moved = apply_move(mix, move, source="candidate")
    gains = []
    for stem in context.stems:
        if not any(op.get("stem") == stem.key for op in move):
            continue
        before = context.loudness_lufs(stem)
        after = context.loudness_lufs(stem, moved.stem(stem.key))
        if before is None or after is None or abs(before - after) < 0.3:
            continue
        gain = round(float(np.clip(before - after, -6.0, 6.0)), 1)
        gains.append({"op": "gain", "stem": stem.key, "gain_db": gain})
    return (*move, *gains)


def _balance_rule(context: ProjectContext) -> Iterator[Suggestion]:
    stems = [s for s in context.stems if s.report["loudness"].get("integrated_lufs") is not None]
    if len(stems) < 2:
        return
    deviation = {s.key: _role_deviation(s) for s in stems}
    anchor = max(stems, key=lambda s: ROLE_RANK.get(s.role, 3)) if len(stems) == 2 else None
    for stem in stems:
        if stem is anchor:
            continue
        # Against the others only: a stem far off must not drag its own reference along.
        others = [d for key, d in deviation.items() if key != stem.key]
        off = deviation[stem.key] - float(np.median(others))
        if abs(off) < BALANCE_SHOWN_LU:
            continue
        gain = round(float(np.clip(-off, -18, 18)), 1)
        after = abs(off + gain)  # a gain shifts integrated loudness by exactly its dB
        louder = off > 0
        yield Suggestion(
            kind="balance",
            code="balance.gain",
            title=f"{'Lower' if louder else 'Raise'} {stem.name} by {abs(gain):.1f} dB",
            reason=(
                f"{stem.name} ({stem.role}) sits {abs(off):.1f} LU "
                f"{'louder' if louder else 'quieter'} than a {stem.role} part usually does "
                "next to the others here (by the usual balance of a pop or rock mix: lead vocal "
                "on top, drums and bass close behind, pads and effects underneath). "
                + (
                    "It draws attention from the parts that carry the song."
                    if louder
                    else "It is hard to hear what it adds."
                )
                + f" Moving its fader by {gain:+.1f} dB brings it into line; the balance is "
                "yours to judge, this is a starting point."
            ),
            stems=(stem.key,),
            move=({"op": "gain", "stem": stem.key, "gain_db": gain},),
            confidence=float(np.clip(0.35 + abs(off) / 20, 0.4, 0.85)),
            measure=Measure(
                "balance_lu", f"{stem.name} against its role's usual level", "LU", abs(off), after
            ),
            key="gain",
            preview={"scope": "mix", "start_s": _loudest_start(stem)},
        )


def _role_deviation(stem: StemInput) -> float:
    level = stem.report["loudness"]["integrated_lufs"] + stem.settings.gain_db
    return level - ROLE_LEVEL_LU.get(stem.role, -6.0)


TONAL_FIXABLE_DB = 15.0
TONAL_RANGES = (
    # code, range in Hz, sign (+1: too much is the fault, -1: too little), threshold dB, words
    ("tonal.mud", (200.0, 500.0), 1, 3.0, "mud"),
    ("tonal.harsh", (2000.0, 5000.0), 1, 3.0, "harshness"),
    ("tonal.air", (8000.0, 10000.0), -1, 6.0, "air"),
)


def _tonal_rule(context: ProjectContext) -> Iterator[Suggestion]:
    if len(context.stems) < 1:
        return
    for code, (low, high), sign, threshold, word in TONAL_RANGES:
        in_range = (low <= CENTRES_HZ) & (high >= CENTRES_HZ)
        before = _mix_deviation(context, {}, in_range)
        if before is None or sign * before < threshold or abs(before) > TONAL_FIXABLE_DB:
            continue  # far off the curve is the material's nature, not a fault EQ fixes
        stem = _main_contributor(context, in_range, boost=sign < 0)
        if stem is None:
            continue
        worst = _worst_band(context, stem, in_range, sign)
        gain = -sign * float(np.clip(abs(before), 2.0, 6.0))
        move = (
            {"op": "eq", "stem": stem.key, "freq_hz": worst, "gain_db": round(gain, 1), "q": 1.0},
        )
        mix = apply_move(
            MixSettings(stems={s.key: s.settings for s in context.stems}), move, source="c"
        )
        after = _mix_deviation(context, {stem.key: mix.stem(stem.key)}, in_range)
        if after is None:
            continue
        yield _tonal_suggestion(code, word, (low, high), sign, stem, move, before, after)


def _tonal_suggestion(code, word, span, sign, stem, move, before, after) -> Suggestion:
    low, high = span
    op = move[0]
    why = {
        "mud": "a build-up there makes a mix sound boxy and blurred, and hides the low end's "
        "definition",
        "harshness": "the ear is most sensitive there, so too much of it tires listeners and "
        "sounds shrill on small speakers",
        "air": "the top octave gives a mix its openness and sparkle; without it the mix sounds "
        "dull next to others",
    }[word]
    return Suggestion(
        kind="tonal",
        code=code,
        title=f"{'Cut' if sign > 0 else 'Add'} {word} on {stem.name} at {_hz(op['freq_hz'])}",
        reason=(
            f"Against a balanced reference curve (pink, rolled off at 40 Hz and 12 kHz) the mix "
            f"has {abs(before):.1f} dB {'too much' if sign > 0 else 'too little'} from "
            f"{_hz(low)} to {_hz(high)}: {word}. {why[0].upper()}{why[1:]}. {stem.name} "
            f"{'puts the most energy there' if sign > 0 else 'has the most to give there'}, so a"
            f" {op['gain_db']:+.1f} dB EQ band at {_hz(op['freq_hz'])} (Q 1) on it moves the mix "
            "toward the curve."
        ),
        stems=(stem.key,),
        move=move,
        confidence=float(np.clip(0.35 + abs(before) / 15, 0.4, 0.8)),
        measure=Measure(
            "tonal_gap_db",
            f"{word} of the mix, {_hz(low)} to {_hz(high)}, against the reference",
            "dB",
            abs(before),
            abs(after),
        ),
        key=code,
        detail={"band_hz": [low, high]},
        preview={"scope": "mix", "start_s": _loudest_start(stem)},
    )


def _mix_deviation(
    context: ProjectContext, changed: dict[str, StemSettings], in_range: np.ndarray
) -> float | None:
    """The mix's mean deviation from the reference curve in ``in_range`` (dB), the mix's band
    power taken as the sum of its stems' (each through its settings, ``changed`` ones
    re-rendered): stems are independent sources, so their powers add."""
    total = np.zeros(len(CENTRES_HZ))
    for stem in context.stems:
        series = context.series(stem, changed.get(stem.key))
        total += series.mean(axis=1)
    with np.errstate(divide="ignore"):
        levels = np.where(total > 0, 10 * np.log10(total), np.nan)
    _, deviation = compare_with_reference(levels)
    values = deviation[in_range]
    if np.isnan(values).any():
        return None
    return float(values.mean())


def _main_contributor(
    context: ProjectContext, in_range: np.ndarray, *, boost: bool
) -> StemInput | None:
    candidates = context.stems
    if boost:  # add air to a part with something up there, never the bass
        candidates = [s for s in candidates if s.role not in ("bass", "drums")] or candidates
    scored = [(float(context.series(s)[in_range].mean(axis=1).sum()), s) for s in candidates]
    scored = [item for item in scored if item[0] > SILENT_POWER]
    return max(scored, key=lambda item: item[0])[1] if scored else None


def _worst_band(context: ProjectContext, stem: StemInput, in_range: np.ndarray, sign) -> float:
    power = context.series(stem).mean(axis=1)
    indices = np.flatnonzero(in_range)
    pick = indices[np.argmax(power[indices])] if sign > 0 else indices[len(indices) // 2]
    return float(CENTRES_HZ[pick])


def _loudness_rule(context: ProjectContext) -> Iterator[Suggestion]:
    if not context.stems:
        return
    target_lufs, ceiling = LOUDNESS_TARGETS[context.target]
    before = _render_loudness(context, context.bus)
    if before.integrated_lufs is None or before.true_peak_dbtp is None:
        return
    gap = abs(before.integrated_lufs - target_lufs)
    over = max(before.true_peak_dbtp - ceiling, 0.0)
    if gap < 1.0 and over < 0.1:
        return
    gain, after = 0.0, before
    for _ in range(3):  # the limiter takes some loudness back: aim again from what it gave
        gain += target_lufs - (after.integrated_lufs or target_lufs)
        bus = replace(context.bus, gain_db=context.bus.gain_db + gain, ceiling_dbtp=ceiling)
        after = _render_loudness(context, bus)
        if abs((after.integrated_lufs or 0) - target_lufs) < 0.3:
            break
    op = {
        "op": "bus",
        "gain_db": round(gain, 1),
        "ceiling_dbtp": ceiling,
        "target": context.target,
    }
    name = context.target
    yield Suggestion(
        kind="loudness",
        code="loudness.target",
        title=f"Reach {name} loudness: {target_lufs:g} LUFS, peaks under {ceiling:g} dBTP",
        reason=(
            f"The mix measures {before.integrated_lufs:.1f} LUFS with true peaks at "
            f"{before.true_peak_dbtp:.1f} dBTP. For {name} the usual target is {target_lufs:g} "
            f"LUFS with peaks under {ceiling:g} dBTP: "
            + (
                "services turn louder mixes down anyway, so extra loudness only costs dynamics, "
                if name == "streaming"
                else ""
            )
            + f"and peaks above the ceiling distort after encoding. {gain:+.1f} dB on the mix "
            f"bus into a true-peak limiter at {ceiling:g} dBTP gets there "
            f"({after.integrated_lufs:.1f} LUFS, {after.true_peak_dbtp:.1f} dBTP after)."
        ),
        stems=(),
        move=(op,),
        confidence=0.85,
        measure=Measure(
            "target_gap_lu",
            f"distance from the {name} target ({target_lufs:g} LUFS)",
            "LU",
            gap + over,
            abs((after.integrated_lufs or 0) - target_lufs)
            + max((after.true_peak_dbtp or 0) - ceiling, 0.0),
        ),
        key=name,
        detail={
            "target_lufs": target_lufs,
            "ceiling_dbtp": ceiling,
            "true_peak_after_dbtp": after.true_peak_dbtp,
            "integrated_after_lufs": after.integrated_lufs,
        },
        preview={"scope": "mix", "start_s": _loudest_start(None, context.mix_report)},
    )


def _render_loudness(context: ProjectContext, bus: BusSettings) -> LoudnessReport:
    """Render the mix (stems through their settings, then ``bus``) and meter it."""
    sources = [StemSource.from_path(s.path) for s in context.stems]
    sample_rate, channels, _ = mix_format(sources)
    meter = LoudnessMeter(sample_rate=sample_rate, channels=channels)
    for block in render_mix_blocks(sources, [s.settings for s in context.stems], bus=bus):
        if block.shape[1]:
            meter.push(block)
    return meter.result()


# Masking picture ------------------------------------------------------------------------


def masking_map(context: ProjectContext, *, columns: int = 120) -> dict[str, Any]:
    """For each stem, how much the other stems together cover it, per band over time, in dB
    (masker power over the stem's, clipped to -24..12; None where the stem is silent),
    pooled to at most ``columns`` time steps by the worst value in each."""
    series = {s.key: context.series(s) for s in context.stems}
    if not series:
        return {"stems": [], "band_centres_hz": list(NOMINAL_CENTRES_HZ), "time_hop_s": 0}
    n = min(p.shape[1] for p in series.values())
    total = sum(p[:, :n] for p in series.values())
    step = max(1, math.ceil(n / columns))
    hop_s = context.mix_report["spectrum"]["time_hop_s"] * step
    rows = []
    for stem in context.stems:
        own = series[stem.key][:, :n]
        others = total - own
        playing = own > np.maximum(own.max(axis=1, keepdims=True) * 1e-3, SILENT_POWER)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.clip(10 * np.log10(np.maximum(others, 1e-12) / own), -24, 12)
        ratio = np.where(playing, ratio, np.nan)
        pooled = _pool_max(ratio, step)
        rows.append(
            {
                "stem": stem.key,
                "name": stem.name,
                "role": stem.role,
                "db": [[None if np.isnan(v) else round(float(v)) for v in b] for b in pooled],
            }
        )
    return {"stems": rows, "band_centres_hz": list(NOMINAL_CENTRES_HZ), "time_hop_s": hop_s}


def _pool_max(values: np.ndarray, step: int) -> np.ndarray:
    n = values.shape[1] // step * step
    if n == 0:
        return values
    shaped = values[:, :n].reshape(values.shape[0], -1, step)
    with np.errstate(all="ignore"):
        all_nan = np.all(np.isnan(shaped), axis=2)
        pooled = np.nanmax(np.where(np.isnan(shaped), -np.inf, shaped), axis=2)
    return np.where(all_nan, np.nan, pooled)


# Small helpers ----------------------------------------------------------------------------


def _band_mask(low_hz: float, high_hz: float) -> np.ndarray:
    """Which bands have their centre from ``low_hz`` to ``high_hz``."""
    centres = CENTRES_HZ
    return (centres >= low_hz) & (centres <= high_hz)


def _levels(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _levels_to_power(rows: Sequence[Sequence[float | None]]) -> np.ndarray:
    levels = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
    if levels.ndim != 2:
        return np.zeros((len(CENTRES_HZ), 0))
    return np.nan_to_num(10.0 ** (levels / 10.0), nan=0.0)


def _band_sum_db(spectrum: SpectrumReport, bands: np.ndarray) -> float:
    power = np.nansum(10 ** (_levels(spectrum.band_levels_db)[bands] / 10))
    return 10 * math.log10(power) if power > 0 else -120.0


def _low_width(spectrum: SpectrumReport) -> float:
    if spectrum.width_per_band is None:
        return 0.0
    width = _levels(spectrum.width_per_band)[CENTRES_HZ <= 125]
    return float(np.nanmean(width)) if not np.all(np.isnan(width)) else 0.0


def _ratio_db(ratio: float | None) -> float:
    return 10 * math.log10(ratio) if ratio and ratio > 1e-6 else -60.0


def _short_term_spread(loudness: dict[str, Any]) -> float | None:
    """Spread of short-term loudness while the part plays (10th to 90th percentile), in LU."""
    values = np.array([v for v in loudness["short_term_lufs"] if v is not None], dtype=float)
    integrated = loudness.get("integrated_lufs")
    if integrated is None or values.size < 10:
        return None
    values = values[values > integrated - 20]  # the part's pauses are not its dynamics
    if values.size < 10:
        return None
    return float(np.percentile(values, 90) - np.percentile(values, 10))


def _loudest_start(stem: StemInput | None, report: dict[str, Any] | None = None) -> float:
    """Start of the PREVIEW_S window where the short-term loudness peaks, in s."""
    loudness = (stem.report if stem else report or {}).get("loudness") or {}
    values = loudness.get("short_term_lufs") or []
    if not values:
        return 0.0
    filled = np.array([-200.0 if v is None else v for v in values])
    peak_s = float(np.argmax(filled)) * loudness.get("hop_s", 0.1)
    return max(0.0, round(peak_s - PREVIEW_S / 2, 1))


def _quiet_start(stem: StemInput) -> float:
    """Start of a PREVIEW_S window holding the part's pauses (where noise and hum show)."""
    loudness = stem.report.get("loudness") or {}
    values = loudness.get("short_term_lufs") or []
    if not values:
        return 0.0
    filled = np.array([200.0 if v is None else v for v in values])
    quiet_s = float(np.argmin(filled)) * loudness.get("hop_s", 0.1)
    return max(0.0, round(quiet_s - PREVIEW_S / 2, 1))


def _hz(value: float) -> str:
    return f"{value / 1000:.1f} kHz" if value >= 1000 else f"{value:.0f} Hz"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _focus_words(role: str) -> str:
    return {
        "vocals": "the words and presence of a voice live",
        "drums": "the thump of the kick and the snap of the drums live",
        "bass": "the body of the bass lives",
        "guitar": "a guitar's bite lives",
        "keys": "the body of a keyboard part lives",
        "percussion": "the click of percussion lives",
        "pad": "a pad's warmth lives",
    }.get(role, "this part is heard")


# The worker's door ----------------------------------------------------------------------


def run_suggestions(
    *,
    scope: str,
    stems: Sequence[dict[str, Any]],
    mix_report: dict[str, Any] | None,
    bus: dict[str, Any],
    emit: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Run the rules of a scope (``"stem"`` or ``"mix"``) on plain data and ``emit`` each
    suggestion as a dict the moment it is measured; returns the fingerprints found and, for
    the mix, the masking map. ``stems``: dicts with key, name, path, report and settings."""
    inputs = [
        StemInput(
            key=str(s["key"]),
            name=s["name"],
            path=s["path"],
            report=s["report"],
            settings=StemSettings.from_dict(s.get("settings") or {}),
        )
        for s in stems
    ]
    bus_settings = BusSettings.from_dict(bus or {})
    context = None
    if scope == "mix":
        context = ProjectContext(
            stems=inputs,
            mix_report=mix_report or {},
            bus=bus_settings,
            target=bus_settings.target or "streaming",
        )
        found = project_suggestions(context)
    else:
        found = stem_suggestions(inputs[0])
    fingerprints = []
    for suggestion in found:
        emit(suggestion.to_dict())
        fingerprints.append(suggestion.fingerprint)
    masking = masking_map(context) if context is not None else None
    return {"fingerprints": fingerprints, "masking": masking}
