"""Quality of the mixing suggestions, on multitracks with deliberate faults and known answers.

Run from the repository root::

    .venv/bin/python benchmarks/suggestion_quality.py            # 8 songs, 56 multitracks
    .venv/bin/python benchmarks/suggestion_quality.py --quick    # 2 songs, a smoke run

Options: ``--list`` prints every suggestion with its match, ``--json PATH`` writes the raw
results, ``--jobs N`` sets how many songs are processed at once (2 by default).

This is a benchmark, not a test: it prints figures and always exits 0 once it has measured.

Material. Songs from :mod:`studio.processing.synth` (``compose_song``: different keys, modes,
tempi, seeds, 8 to 16 bars), each rendered to four stereo parts at 44,100 Hz: drums, bass,
keys and the lead, written as ``drums.wav``, ``bass.wav``, ``keys.wav`` and ``vocals.wav``
(24-bit WAV; the names fit the role guesser's file-name hint). From every song come seven
multitracks, the faults made with :mod:`studio.processing.faults`; which stem a fault hits
rotates from song to song (over the 8 songs of the full run, every part gets every fault
twice):

- ``clean``: the four parts as rendered (a control);
- ``clean+gtr``: the four parts and a fair guitar, ``guitar.wav`` (the keys part through
  ``pedalboard.Distortion(drive_db=40)``, RMS 6 dB under the vocal): the control of
  ``masking``;
- ``loud``: one stem +9 dB (``faults.louder``; when its peak would pass -1 dBFS every stem
  of that multitrack is lowered by the same amount, so nothing clips and the balance is
  the fault's);
- ``masking``: the four parts and ``faults.masking_guitar(keys, like=vocals)`` (distorted,
  a wide +18 dB boost at 2.5 kHz, as loud as the vocal) as a fifth stem, the guitar;
- ``hum``: 50 Hz mains hum with 4 harmonics, fundamental -45 dBFS (``faults.with_hum``),
  on one stem;
- ``clipped``: one stem driven 12 dB past full scale (its peak brought to 0 dBFS, then
  ``faults.clipped`` with a 12 dB drive; the rendered parts peak from -15 to -1.5 dBFS, so
  a plain 12 dB drive leaves some of them unclipped). Its fader starts at the gain that
  gives it back its clean integrated loudness, as an engineer would set it, so that the
  distortion is the only fault (not a level too);
- ``dc``: a DC offset of 0.02 (-34 dBFS, ``faults.with_dc``) on one stem.

Every stem is analysed (``analyze_file(path, verify=False)``), the mix too (``analyze_mix``),
and the suggestions are those of the studio: ``stem_suggestions`` for every stem, then
``project_suggestions`` with the streaming target.

Matching rule. A suggestion *finds* an injected fault when its code and stems match it:

- +9 dB on stem S: ``balance.gain`` on S with a negative gain;
- masking guitar: ``masking.eq`` whose stems include the guitar and the vocals and whose
  move cuts the guitar, or boosts the vocals, with a centre from 1 to 5 kHz;
- hum on S: ``cleanup.hum`` on S; clipped S: ``cleanup.clipping`` on S; DC on S:
  ``cleanup.dc`` on S.

Recall = faults found / faults injected. A suggestion that finds no injected fault *points at
no injected fault*; the rate is those over all suggestions on the faulty multitracks,
``loudness.target`` left out (reaching a delivery loudness is a step of every mix, not a
fault; its count is shown apart). Some suggestions act on a symptom the injected fault
causes without being the fix named above; they are counted as *related*, still in the strict
rate, and the rate without them is shown too. Related: on the masking guitar a negative
``balance.gain`` or ``tonal.harsh`` (the guitar is 6 dB louder than the fair one and its
boost is at 2.5 kHz); on a +9 dB stem a ``masking.eq`` that cuts it or a ``tonal.*`` EQ on
it; on a stem with hum ``tonal.highpass`` or ``cleanup.noise`` (the hum sits under the
cutoff and fills the pauses); on a stem with DC ``tonal.highpass``; on a clipped stem
``cleanup.dc`` (clipping an asymmetric waveform leaves a DC offset). The clean controls show
the baseline: suggestions per clean multitrack, by code.

Balance distance. The balance of a multitrack under mix settings is, for every stem, its
loudness contribution: the integrated loudness (BS.1770, ``loudness.measure``) of the stem
rendered through its settings (``mixing.process_stem``) minus that of the whole mix
rendered through the same settings (``mixing.render_mix_blocks``, neutral bus), in LU. A
uniform gain on every stem does not change it; changing the mix bus does not change it
(bus moves, the loudness target's gain and limiter, are thus left out of it). The balance
distance of a multitrack is the RMS over its stems of (its balance - the balance of its
control as rendered, default settings), in LU: 0 is the original balance. It is reported
for the faulty multitrack as is (*before*), after accepting all its suggestions (every
move at amount 1, in the order given, applied to the starting ``MixSettings`` with
``suggest.apply_move``; advice has no move), and for the controls after accepting all their
suggestions (before is 0 there: a good mix should stay near 0). For ``masking`` the
masking of the vocals by the guitar from 1 to 5 kHz (``suggest.masking_db`` on the band
power series of the stems through their settings: the mean, over the times both play, of
the guitar's power over the vocal's, dB) is shown too, before and after, with the fair
guitar's as the reference. The claim tested: accepting all suggestions brings the mix
closer to the original balance (distance after < before), as a share of the faulty
multitracks and of those whose fault moves the balance (``loud``, ``masking``: hum, DC and
the fader-matched clipping leave it near 0, so there the figure is only how far the
suggestions move it). To tell the fixes from the rest, the distance is also shown after
accepting only the suggestions that find an injected fault, and, per code, the change of
the distance when only that code's suggestions are accepted.

The synthesiser's parts are clean, steady and idealised, and their own balance is part of
what the controls measure (the balance rule's levels by role are a rule of thumb, not the
synthesiser's): read the figures as a check of the rules on known faults, not as an
estimate for real recordings. Times on a 2-core machine: ``--quick`` about 1 minute, the
full run about 3.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pedalboard  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a clone: import the studio beside it
    sys.path.insert(0, str(ROOT))

from studio.processing import decode, faults, suggest, synth  # noqa: E402
from studio.processing.analysis import analyze_file, analyze_mix  # noqa: E402
from studio.processing.loudness import LoudnessMeter, db_to_gain, measure  # noqa: E402
from studio.processing.mixdown import StemSource  # noqa: E402
from studio.processing.mixing import (  # noqa: E402
    BusSettings,
    MixSettings,
    StemSettings,
    process_stem,
    render_mix_blocks,
)

COMMAND = ".venv/bin/python benchmarks/suggestion_quality.py"
RATE = 44_100
PARTS = ("drums", "bass", "keys", "lead")
FILE_NAMES = {
    "drums": "drums",
    "bass": "bass",
    "keys": "keys",
    "lead": "vocals",
    "guitar": "guitar",
}
# Songs: tonic, mode, tempo (BPM), bars, seed.
SONGS = (
    (9, "minor", 96.0, 8, 11),
    (0, "major", 120.0, 12, 12),
    (4, "minor", 108.0, 16, 13),
    (7, "major", 132.0, 12, 14),
    (2, "minor", 88.0, 8, 15),
    (5, "major", 140.0, 16, 16),
    (11, "minor", 100.0, 12, 17),
    (3, "major", 76.0, 8, 18),
)
QUICK_SONGS = ((9, "minor", 96.0, 8, 11), (0, "major", 120.0, 8, 12))
CASES = ("clean", "clean+gtr", "loud", "masking", "hum", "clipped", "dc")
FAULT_CASES = ("loud", "masking", "hum", "clipped", "dc")
BALANCE_FAULTS = ("loud", "masking")  # the others leave the balance as it was
CONTROL_OF = {"masking": "clean+gtr", "clean+gtr": "clean+gtr"}  # the others: "clean"
LOUD_DB, HUM_DBFS, CLIP_DRIVE_DB, DC_OFFSET = 9.0, -45.0, 12.0, 0.02
FAIR_GUITAR_UNDER_VOCAL_DB = 6.0
PEAK_LIMIT = db_to_gain(-1.0)
VOCAL_BANDS = slice(
    int(np.flatnonzero(suggest.CENTRES_HZ >= 1000)[0]),
    int(np.flatnonzero(suggest.CENTRES_HZ <= 5000)[-1]) + 1,
)
DELIVERY = "loudness.target"


# Multitracks --------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str  # loud, masking, hum, clipped, dc
    stem: str  # the stem key it hits (the guitar for masking)

    def label(self) -> str:
        return f"{self.kind}:{self.stem}"


@dataclass
class Multitrack:
    song: int
    case: str
    signals: dict[str, np.ndarray]  # stem key -> float32 (2, n)
    start: dict[str, StemSettings] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)


def fair_guitar(keys: np.ndarray, vocals: np.ndarray) -> np.ndarray:
    """The keys through plain distortion (no boost), RMS 6 dB under the vocal."""
    board = pedalboard.Pedalboard([pedalboard.Distortion(drive_db=40.0)])
    dirty = board.process(keys, RATE)
    scale = np.sqrt(np.mean(vocals**2) / max(float(np.mean(dirty**2)), 1e-20))
    return (dirty * scale * db_to_gain(-FAIR_GUITAR_UNDER_VOCAL_DB)).astype(np.float32)


def integrated(signal: np.ndarray) -> float:
    value = measure(signal, sample_rate=RATE).integrated_lufs
    return float("nan") if value is None else float(value)


def multitracks(number: int, spec: tuple) -> list[Multitrack]:
    tonic, mode, tempo, bars, seed = spec
    song = synth.compose_song(tonic=tonic, mode=mode, tempo_bpm=tempo, n_bars=bars, seed=seed)
    stems = synth.render_stems(song, sample_rate=RATE)
    loud, hum, clip, dc = (PARTS[(number + k) % len(PARTS)] for k in range(4))
    out = [
        Multitrack(number, "clean", dict(stems)),
        Multitrack(
            number, "clean+gtr", stems | {"guitar": fair_guitar(stems["keys"], stems["lead"])}
        ),
    ]
    louder = stems | {loud: faults.louder(stems[loud], gain_db=LOUD_DB)}
    peak = max(float(np.max(np.abs(s))) for s in louder.values())
    if peak > PEAK_LIMIT:  # one gain for all: the balance stays the fault's, nothing clips
        louder = {
            k: (s * np.float32(PEAK_LIMIT / peak)).astype(np.float32) for k, s in louder.items()
        }
    out.append(Multitrack(number, "loud", louder, faults=[Fault("loud", loud)]))
    guitar = faults.masking_guitar(stems["keys"], sample_rate=RATE, like=stems["lead"])
    out.append(
        Multitrack(
            number, "masking", stems | {"guitar": guitar}, faults=[Fault("masking", "guitar")]
        )
    )
    hummed = faults.with_hum(stems[hum], sample_rate=RATE, level_dbfs=HUM_DBFS)
    out.append(Multitrack(number, "hum", stems | {hum: hummed}, faults=[Fault("hum", hum)]))
    # Peak at full scale first, so that the drive is past the ceiling for every part.
    peak_db = 20 * np.log10(float(np.max(np.abs(stems[clip]))))
    at_ceiling = faults.louder(stems[clip], gain_db=-peak_db)
    clipped = faults.clipped(at_ceiling, drive_db=CLIP_DRIVE_DB)
    fader = StemSettings(gain_db=round(integrated(stems[clip]) - integrated(clipped), 2))
    out.append(
        Multitrack(
            number, "clipped", stems | {clip: clipped}, {clip: fader}, [Fault("clipped", clip)]
        )
    )
    shifted = faults.with_dc(stems[dc], offset=DC_OFFSET)
    out.append(Multitrack(number, "dc", stems | {dc: shifted}, faults=[Fault("dc", dc)]))
    return out


# Running the studio's rules, with caches ------------------------------------------------------


class Engine:
    """Writes each distinct stem once, analyses it once and runs its stem rules once per
    settings (identical stems recur across a song's multitracks)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: dict[tuple[str, str], str] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.stem_found: dict[str, list[suggest.Suggestion]] = {}
        self.seconds = Counter()

    def path(self, key: str, signal: np.ndarray) -> str:
        digest = hashlib.sha1(signal.tobytes()).hexdigest()[:16]
        if (key, digest) not in self.paths:
            path = self.folder / digest / f"{FILE_NAMES[key]}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            decode.write(path, signal, sample_rate=RATE, format="WAV", subtype="PCM_24")
            self.paths[(key, digest)] = str(path)
        return self.paths[(key, digest)]

    def stem_input(self, key: str, signal: np.ndarray, settings: StemSettings) -> suggest.StemInput:
        path = self.path(key, signal)
        if path not in self.reports:
            start = time.perf_counter()
            self.reports[path] = analyze_file(path, verify=False).to_dict()
            self.seconds["analysis"] += time.perf_counter() - start
        name = FILE_NAMES[key].title()
        return suggest.StemInput(key, name, path, self.reports[path], settings)

    def stem_suggestions(self, stem: suggest.StemInput) -> list[suggest.Suggestion]:
        cache = json.dumps([stem.path, stem.key, stem.settings.to_dict()])
        if cache not in self.stem_found:
            start = time.perf_counter()
            self.stem_found[cache] = list(suggest.stem_suggestions(stem))
            self.seconds["stem rules"] += time.perf_counter() - start
        return self.stem_found[cache]

    def run(self, track: Multitrack) -> tuple[suggest.ProjectContext, list[suggest.Suggestion]]:
        inputs = [
            self.stem_input(k, s, track.start.get(k, StemSettings()))
            for k, s in track.signals.items()
        ]
        found = [s for stem in inputs for s in self.stem_suggestions(stem)]
        start = time.perf_counter()
        mix_report = analyze_mix([s.path for s in inputs]).to_dict()
        self.seconds["analysis"] += time.perf_counter() - start
        context = suggest.ProjectContext(
            stems=inputs, mix_report=mix_report, bus=BusSettings(), target="streaming"
        )
        start = time.perf_counter()
        found += list(suggest.project_suggestions(context))
        self.seconds["project rules"] += time.perf_counter() - start
        return context, found


# Matching -------------------------------------------------------------------------------------


def eq_ops(s: suggest.Suggestion, stem: str) -> list[dict[str, Any]]:
    return [op for op in s.move if op["op"] == "eq" and op.get("stem") == stem]


def finds(s: suggest.Suggestion, fault: Fault) -> bool:
    """Whether ``s`` is the fix of ``fault`` (the matching rule of the module docstring)."""
    if fault.kind == "loud":
        return (
            s.code == "balance.gain"
            and s.stems == (fault.stem,)
            and any(op["op"] == "gain" and op["gain_db"] < 0 for op in s.move)
        )
    if fault.kind == "masking":
        if s.code != "masking.eq" or not {"guitar", "lead"} <= set(s.stems):
            return False
        cut = any(op["gain_db"] < 0 and 1000 <= op["freq_hz"] <= 5000 for op in eq_ops(s, "guitar"))
        lift = any(op["gain_db"] > 0 and 1000 <= op["freq_hz"] <= 5000 for op in eq_ops(s, "lead"))
        return cut or lift
    code = {"hum": "cleanup.hum", "clipped": "cleanup.clipping", "dc": "cleanup.dc"}[fault.kind]
    return s.code == code and s.stems == (fault.stem,)


def related(s: suggest.Suggestion, fault: Fault) -> bool:
    """Whether ``s`` acts on a symptom that ``fault`` causes (see the module docstring)."""
    on_it = fault.stem in s.stems
    if fault.kind == "masking":
        lowers = any(op["op"] == "gain" and op["gain_db"] < 0 for op in s.move)
        return on_it and (
            (s.code == "balance.gain" and lowers)
            or (s.code == "tonal.harsh" and s.stems == ("guitar",))
        )
    if fault.kind == "loud":
        cuts = any(op["gain_db"] < 0 for op in eq_ops(s, fault.stem))
        return (s.code == "masking.eq" and cuts) or (
            s.code.startswith("tonal.") and s.stems == (fault.stem,)
        )
    if fault.kind == "hum":
        return s.code in ("tonal.highpass", "cleanup.noise") and s.stems == (fault.stem,)
    if fault.kind == "dc":
        return s.code == "tonal.highpass" and s.stems == (fault.stem,)
    if fault.kind == "clipped":
        return s.code == "cleanup.dc" and s.stems == (fault.stem,)
    return False


# Balance --------------------------------------------------------------------------------------


STEM_LEVELS: dict[str, float] = {}  # (path, settings) -> integrated loudness, per process


def stem_level(path: str, settings: StemSettings) -> float:
    """Integrated loudness of a stem file through ``settings``, in LUFS."""
    key = json.dumps([path, settings.to_dict()])
    if key not in STEM_LEVELS:
        signal, rate = decode.load(path)
        level = measure(process_stem(signal, sample_rate=rate, settings=settings), sample_rate=rate)
        STEM_LEVELS[key] = float(level.integrated_lufs)
    return STEM_LEVELS[key]


def balance(context: suggest.ProjectContext, mix: MixSettings) -> dict[str, float]:
    """Each stem's loudness through its settings minus the mix's (neutral bus), in LU."""
    settings = [mix.stem(s.key) for s in context.stems]
    sources = [StemSource.from_path(s.path) for s in context.stems]
    meter = LoudnessMeter(sample_rate=RATE, channels=2)
    for block in render_mix_blocks(sources, settings, bus=BusSettings()):
        if block.shape[1]:
            meter.push(block)
    whole = float(meter.result().integrated_lufs)
    return {
        stem.key: stem_level(stem.path, stem_settings) - whole
        for stem, stem_settings in zip(context.stems, settings, strict=True)
    }


def distance(levels: dict[str, float], reference: dict[str, float]) -> float:
    return float(np.sqrt(np.mean([(levels[k] - reference[k]) ** 2 for k in reference])))


def accept_all(start: MixSettings, found: list[suggest.Suggestion]) -> tuple[MixSettings, int]:
    mix, failed = start, 0
    for number, s in enumerate(found):
        try:
            mix = suggest.apply_move(mix, s.move, amount=1.0, source=f"suggestion:{number}")
        except ValueError:
            failed += 1
    return mix, failed


def vocal_masking(context: suggest.ProjectContext, mix: MixSettings) -> float | None:
    stems = {s.key: s for s in context.stems}
    if "guitar" not in stems:
        return None
    vocals = context.series(stems["lead"], mix.stem("lead"))
    guitar = context.series(stems["guitar"], mix.stem("guitar"))
    result = suggest.masking_db(vocals, guitar, VOCAL_BANDS)
    return None if result is None else result[0]


# One song -------------------------------------------------------------------------------------


def brief(s: suggest.Suggestion) -> dict[str, Any]:
    return {"code": s.code, "stems": list(s.stems), "title": s.title, "move": list(s.move)}


def run_song(number: int, spec: tuple, folder: str) -> dict[str, Any]:
    """Every multitrack of one song: suggestions, matches, balance distances (plain data)."""
    start_s = time.perf_counter()
    engine = Engine(Path(folder) / f"song{number}")
    tracks = multitracks(number, spec)
    references: dict[str, dict[str, float]] = {}
    rows = []
    for track in tracks:
        context, found = engine.run(track)
        begin = MixSettings(stems={s.key: s.settings for s in context.stems})
        t0 = time.perf_counter()
        before = balance(context, begin)
        if track.case in ("clean", "clean+gtr"):
            references[track.case] = balance(context, MixSettings())
        reference = references[CONTROL_OF.get(track.case, "clean")]
        after_mix, failed = accept_all(begin, found)
        after = balance(context, after_mix)
        masking = (vocal_masking(context, begin), vocal_masking(context, after_mix))
        fixes = [s for s in found if any(finds(s, f) for f in track.faults)]
        after_fixes = distance(balance(context, accept_all(begin, fixes)[0]), reference)
        by_code = {}  # the distance when only one code's suggestions are accepted
        for code in sorted({s.code for s in found} - {DELIVERY}):
            chosen = [s for s in found if s.code == code]
            by_code[code] = distance(balance(context, accept_all(begin, chosen)[0]), reference)
        engine.seconds["balance"] += time.perf_counter() - t0
        items = []
        for s in found:
            hit = [f.label() for f in track.faults if finds(s, f)]
            near = [f.label() for f in track.faults if related(s, f)]
            items.append(brief(s) | {"finds": hit, "related": near})
        rows.append(
            {
                "song": number,
                "case": track.case,
                "faults": [f.label() for f in track.faults],
                "found": {f.label(): any(finds(s, f) for s in found) for f in track.faults},
                "suggestions": items,
                "roles": {s.key: s.role for s in context.stems},
                "distance_before": distance(before, reference),
                "distance_after": distance(after, reference),
                "distance_after_fixes": after_fixes,
                "distance_by_code": by_code,
                "masking_before": masking[0],
                "masking_after": masking[1],
                "failed_moves": failed,
                "balance_before": before,
                "balance_after": after,
            }
        )
    return {
        "song": number,
        "spec": spec,
        "rows": rows,
        "seconds": dict(engine.seconds),
        "wall_s": time.perf_counter() - start_s,
        "duration_s": tracks[0].signals["drums"].shape[1] / RATE,
    }


# Report ---------------------------------------------------------------------------------------


def pct(a: float, b: float) -> str:
    return f"{a / b:.0%} ({a:g}/{b:g})" if b else "n/a"


def summarise(results: list[dict[str, Any]], wall_s: float, quick: bool) -> None:
    rows = [r for res in results for r in res["rows"]]
    faulty = [r for r in rows if r["faults"]]
    clean = [r for r in rows if not r["faults"]]
    n_songs = len(results)
    audio_s = sum(res["duration_s"] for res in results)
    print(
        f"Suggestion quality on {len(rows)} multitracks from {n_songs} synthesised songs "
        f"({audio_s:.0f} s of audio per multitrack set; {len(faulty)} faulty, {len(clean)} "
        "controls).\n"
    )
    print(
        "Songs: "
        + "; ".join(
            f"#{res['song']} {synth.key_name(tonic=res['spec'][0], mode=res['spec'][1])} "
            f"{res['spec'][2]:g} BPM {res['spec'][3]} bars"
            for res in results
        )
    )
    wrong_roles = [
        f"song {r['song']} {r['case']}: {k} heard as {v}"
        for r in rows
        for k, v in r["roles"].items()
        if v != {"lead": "vocals"}.get(k, k)
    ]
    print(
        "Roles guessed: "
        + ("all as named" if not wrong_roles else "; ".join(sorted(set(wrong_roles))))
    )

    # Recall.
    print("\n== Recall: injected faults found ==")
    print(f"  {'fault':<10}{'found':>16}   missed")
    by_kind: dict[str, list[tuple[str, bool, int]]] = defaultdict(list)
    for r in faulty:
        for label, ok in r["found"].items():
            by_kind[label.split(":")[0]].append((label, ok, r["song"]))
    total_found = total = 0
    for kind in FAULT_CASES:
        items = by_kind[kind]
        ok = sum(i[1] for i in items)
        total_found, total = total_found + ok, total + len(items)
        missed = ", ".join(f"song {s} {lab.split(':')[1]}" for lab, hit, s in items if not hit)
        print(f"  {kind:<10}{pct(ok, len(items)):>16}   {missed or '-'}")
    print(f"  {'all':<10}{pct(total_found, total):>16}")

    # Precision side.
    def tally(group):
        counts: dict[str, Counter] = defaultdict(Counter)
        for r in group:
            for s in r["suggestions"]:
                c = counts[s["code"]]
                c["all"] += 1
                if s["code"] == DELIVERY:
                    continue
                c["finds"] += bool(s["finds"])
                c["related"] += bool(s["related"]) and not s["finds"]
                c["none"] += not s["finds"] and not s["related"]
        return counts

    f_counts, c_counts = tally(faulty), tally(clean)
    print("\n== Suggestions by code (loudness.target apart) ==")
    print(
        f"  {'code':<20}{'faulty: all':>12}{'finds':>7}{'related':>9}{'no fault':>10}"
        f"{'controls: all':>15}{'per ctrl':>10}"
    )
    for code in sorted(set(f_counts) | set(c_counts)):
        f, c = f_counts[code], c_counts[code]
        if code == DELIVERY:
            print(
                f"  {code:<20}{f['all']:>12}{'':>7}{'':>9}{'':>10}{c['all']:>15}"
                f"{c['all'] / len(clean):>10.2f}   (delivery step, not counted)"
            )
            continue
        print(
            f"  {code:<20}{f['all']:>12}{f['finds']:>7}{f['related']:>9}{f['none']:>10}"
            f"{c['all']:>15}{c['all'] / len(clean):>10.2f}"
        )
    counted = [s for r in faulty for s in r["suggestions"] if s["code"] != DELIVERY]
    none_strict = sum(not s["finds"] for s in counted)
    none_lenient = sum(not s["finds"] and not s["related"] for s in counted)
    ctrl_counted = [s for r in clean for s in r["suggestions"] if s["code"] != DELIVERY]
    print(
        f"  points at no injected fault (faulty multitracks): {pct(none_strict, len(counted))}; "
        f"related ones counted as pointing at it: {pct(none_lenient, len(counted))}"
    )
    print(
        f"  suggestions per multitrack: faulty {len(counted) / len(faulty):.2f}, "
        f"controls {len(ctrl_counted) / len(clean):.2f} (all of which point at no injected fault)"
    )

    # Balance.
    print("\n== Balance distance to the control, LU (RMS over stems of relative loudness) ==")
    header = f"{'case':<11}{'n':>3}{'before':>9}{'after all':>11}{'closer':>14}"
    print(f"  {header}{'after fixes only':>18}")
    improved_all = n_all = 0
    for case in (*FAULT_CASES, "clean", "clean+gtr"):
        group = [r for r in rows if r["case"] == case]
        if not group:
            continue
        b = np.mean([r["distance_before"] for r in group])
        a = np.mean([r["distance_after"] for r in group])
        closer = sum(r["distance_after"] < r["distance_before"] for r in group)
        share = pct(closer, len(group)) if case in FAULT_CASES else "-"
        if case in FAULT_CASES:
            improved_all, n_all = improved_all + closer, n_all + len(group)
        x = np.mean([r["distance_after_fixes"] for r in group])
        fixes = f"{x:.2f}" if case in FAULT_CASES else "-"
        print(f"  {case:<11}{len(group):>3}{b:>9.2f}{a:>11.2f}{share:>14}{fixes:>18}")
    fb = np.mean([r["distance_before"] for r in faulty])
    fa = np.mean([r["distance_after"] for r in faulty])
    ca = np.mean([r["distance_after"] for r in clean])
    fx = np.mean([r["distance_after_fixes"] for r in faulty])
    print(
        f"  {'all faulty':<11}{len(faulty):>3}{fb:>9.2f}{fa:>11.2f}{pct(improved_all, n_all):>14}"
        f"{fx:>18.2f}"
    )
    moving = [r for r in faulty if r["case"] in BALANCE_FAULTS]
    closer_moving = sum(r["distance_after"] < r["distance_before"] for r in moving)
    print(
        f"  closer among the faults that move the balance ({', '.join(BALANCE_FAULTS)}): "
        f"{pct(closer_moving, len(moving))}; the others leave it where it was (before near 0),"
    )
    print("  so for them the figure is how far accepting the suggestions moves it.")
    print("  after fixes only: accepting only the suggestions that find an injected fault.")
    print("\n  Change of the distance when only one code's suggestions are accepted, LU (mean")
    print("  over the multitracks where the code occurs; + is further from the original):")
    print(f"  {'code':<20}{'faulty':>16}{'controls':>16}")
    codes = sorted({c for r in rows for c in r["distance_by_code"]})
    for code in codes:
        cells = []
        for group in (faulty, clean):
            d = [
                r["distance_by_code"][code] - r["distance_before"]
                for r in group
                if code in r["distance_by_code"]
            ]
            cells.append(f"{np.mean(d):+.2f} (n={len(d)})" if d else "-")
        print(f"  {code:<20}{cells[0]:>16}{cells[1]:>16}")
    failed = sum(r["failed_moves"] for r in rows)
    if failed:
        print(f"  moves that could not be applied (ValueError): {failed}")

    print("\n== Masking of the vocal by the guitar, 1-5 kHz, dB (masking_db) ==")
    print(f"  {'song':<6}{'fair guitar':>12}{'faulty':>9}{'after all':>11}")
    fair = {r["song"]: r["masking_before"] for r in rows if r["case"] == "clean+gtr"}
    masked = [r for r in rows if r["case"] == "masking"]
    for r in masked:
        print(
            f"  {r['song']:<6}{fmt(fair.get(r['song'])):>12}{fmt(r['masking_before']):>9}"
            f"{fmt(r['masking_after']):>11}"
        )
    m_fair = np.mean([v for v in fair.values() if v is not None])
    m_before = np.mean([r["masking_before"] for r in masked if r["masking_before"] is not None])
    m_after = np.mean([r["masking_after"] for r in masked if r["masking_after"] is not None])
    print(f"  {'mean':<6}{m_fair:>12.1f}{m_before:>9.1f}{m_after:>11.1f}")

    # Timing.
    seconds: Counter = Counter()
    for res in results:
        seconds.update(res["seconds"])
    print(
        "\nTime: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
        + f" (CPU-side, summed over workers); wall {wall_s:.0f} s."
    )

    # README block.
    print("\n---- README ----\n")
    cmd = COMMAND + (" --quick" if quick else "")
    print(
        f"Suggestion quality, {len(faulty)} faulty multitracks and {len(clean)} controls from "
        f"{n_songs} synthesised songs (`{cmd}`, {wall_s / 60:.1f} min on this machine):\n"
    )
    moving_label = " and ".join(BALANCE_FAULTS)
    table = [
        *(
            (f"recall, {kind}", pct(sum(i[1] for i in by_kind[kind]), len(by_kind[kind])))
            for kind in FAULT_CASES
        ),
        ("recall, all faults", pct(total_found, total)),
        (
            "suggestions pointing at no injected fault (faulty mixes)",
            pct(none_strict, len(counted)),
        ),
        (
            "the same, symptoms of an injected fault counted as pointing at it",
            pct(none_lenient, len(counted)),
        ),
        ("suggestions per clean control (baseline)", f"{len(ctrl_counted) / len(clean):.2f}"),
        ("balance distance, faulty before / after accepting all (LU)", f"{fb:.2f} / {fa:.2f}"),
        ("faulty multitracks brought closer to the original balance", pct(improved_all, n_all)),
        (
            f"the same, among the faults that move the balance ({moving_label})",
            pct(closer_moving, len(moving)),
        ),
        ("balance distance, faulty after accepting only the fault-finding ones (LU)", f"{fx:.2f}"),
        ("balance distance of the controls after accepting all (LU)", f"{ca:.2f}"),
        (
            "vocal masked by the guitar, 1-5 kHz: fair / faulty / after (dB)",
            f"{m_fair:.1f} / {m_before:.1f} / {m_after:.1f}",
        ),
    ]
    print("| measure | value |")
    print("|---|---|")
    for label, value in table:
        print(f"| {label} | {value} |")
    print(
        "\nBalance distance: RMS over stems of the change, against the unfaulted control, of "
        "each stem's integrated loudness minus the mix's (LU); loudness.target (a delivery "
        "step) is not counted as a suggestion. Definitions in the script's docstring."
    )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def list_suggestions(results: list[dict[str, Any]]) -> None:
    print("\n== Every suggestion ==")
    for res in results:
        for r in res["rows"]:
            print(
                f"song {r['song']} {r['case']} faults={r['faults']} "
                f"dist {r['distance_before']:.2f} -> {r['distance_after']:.2f}"
            )
            for s in r["suggestions"]:
                mark = "FIND" if s["finds"] else "rel " if s["related"] else "    "
                print(f"   {mark} {s['code']:<18} {','.join(s['stems']):<14} {s['title']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 short songs, a smoke run")
    parser.add_argument("--jobs", type=int, default=2, help="songs processed at once")
    parser.add_argument("--list", action="store_true", help="print every suggestion")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args()
    specs = QUICK_SONGS if args.quick else SONGS
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="suggestion-quality-") as folder:
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as pool:
                futures = [pool.submit(run_song, n, spec, folder) for n, spec in enumerate(specs)]
                results = []
                for future in futures:
                    results.append(future.result())
                    print(
                        f"\rsong {len(results)}/{len(specs)} done",
                        end="",
                        file=sys.stderr,
                        flush=True,
                    )
        else:
            results = []
            for n, spec in enumerate(specs):
                results.append(run_song(n, spec, folder))
                print(f"\rsong {n + 1}/{len(specs)} done", end="", file=sys.stderr, flush=True)
    print("\r", end="", file=sys.stderr)
    wall_s = time.perf_counter() - start
    if args.list:
        list_suggestions(results)
        print()
    summarise(results, wall_s, args.quick)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
