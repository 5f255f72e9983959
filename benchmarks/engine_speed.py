"""How fast the analysis engine is, and how much memory it takes: ratios measured in one run.

Run from the repository root (after ``bin/venv dev``)::

    .venv/bin/pip install pyloudnorm        # once: a benchmark-only comparison
    .venv/bin/python benchmarks/engine_speed.py            # full run, 3 to 4 minutes
    .venv/bin/python benchmarks/engine_speed.py --quick    # smoke run, well under a minute

This is a benchmark, not a test: it prints figures and checks them against targets, but
it always exits 0 once it has measured (2 if pyloudnorm is missing). Every timing is the
best of 3, after a warm-up run that compiles the numba kernels librosa uses.

1. One 3-minute stereo 44.1 kHz stem (a synthesised song, all its parts mixed, 24-bit WAV)
   on one core (the process is pinned to the first core; NUMBA_NUM_THREADS and
   OMP_NUM_THREADS are 1 throughout):

   - ours: ``analyze_file(path, verify=False)`` (the job path: a stored stem was checked on
     upload) and ``analyze_file(path)`` (the CLI path, which decodes the file once more to
     check it);
   - (a) the straightforward pipeline a librosa user writes: ``librosa.load`` (22,050 Hz
     mono), ``librosa.beat.beat_track``, the mean of ``librosa.feature.chroma_stft``
     correlated with the 24 Krumhansl-Schmuckler key profiles, and
     ``pyloudnorm.Meter(rate).integrated_loudness`` on the samples from ``soundfile.read``;
   - (b) the floor: ``soundfile.read`` of the whole file plus one ``librosa.stft`` (n_fft
     2048, hop 512) of its mono mix-down at the native rate.

   Targets: ours at least 10x faster than (a), and at most 3x (b). When one is missed, the
   top functions of ours by cumulative time (cProfile) are printed too. Each row shows the
   system CPU time and page faults of its runs; ours is timed once more in a fresh process
   with glibc's malloc thresholds raised (GLIBC_TUNABLES), a diagnostic of what the
   allocator's mmap churn costs. Every row also says when other processes used the CPU
   meanwhile (``--wait-idle`` waits for a quiet machine first).
2. A project of 16 such stems (4 songs in different keys and tempi, 4 parts each), analysed
   as the embedded job runner does: every stem, then the mix of all 16 (``analyze_mix``),
   with ``ProcessPoolExecutor(2)`` (the runner's engine pool), unpinned; also with 1 thread
   and with 2 threads, so that what the GIL costs shows. Target: under 10 s with 2 workers.
3. Memory: the peak RSS (VmHWM) of a fresh process that only imports the engine, and of
   fresh processes that analyse a 3-minute and a 60-minute stem (16-bit WAV, written block
   by block and deleted afterwards), with the wall time of the 60-minute analysis.

``--quick`` shrinks everything (30 s stems, 4 stems, a 5-minute long file) for a smoke run;
its figures are not the README's.
"""

from __future__ import annotations

import os

# Before numpy, scipy, numba and librosa are imported: one thread each, in this process and
# in every process it starts (they inherit the environment).
os.environ["NUMBA_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Collection, Sequence  # noqa: E402
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TextIO  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a clone: import the studio beside it
    sys.path.insert(0, str(ROOT))

COMMAND = ".venv/bin/python benchmarks/engine_speed.py"
SAMPLE_RATE = 44100
REPEATS = 3
PARTS = ("drums", "bass", "keys", "lead")
# Songs of the project: tonic, mode, seed, bars more (+) or fewer (-) than the base length
# (the tempo is set so that every song lasts the same time).
SONGS = ((9, "minor", 1, 0), (0, "major", 2, -1), (4, "minor", 3, 1), (7, "major", 4, 2))
TARGET_VS_LIBROSA = 10.0
TARGET_VS_FLOOR = 3.0
TARGET_PROJECT_S = 10.0
THREADS_HELP = 1.5
QUIET_CORES = 0.25
# glibc's malloc hands blocks over 128 KiB to mmap and gives freed heap tops back to the
# kernel; raising both thresholds keeps the engine's block buffers in the heap (diagnostic).
TUNED_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456"
KRUMHANSL_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KRUMHANSL_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class Sizes:
    stem_s: float
    n_songs: int
    long_s: float

    @property
    def n_stems(self) -> int:
        return self.n_songs * len(PARTS)


FULL = Sizes(stem_s=180.0, n_songs=4, long_s=3600.0)
QUICK = Sizes(stem_s=30.0, n_songs=1, long_s=300.0)


@dataclass
class Results:
    machine: dict[str, str] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    busy: dict[str, float] = field(default_factory=dict)


# Helpers ------------------------------------------------------------------------------------


def heading(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<52} {value:>12}  {note}".rstrip(), flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass(frozen=True)
class Timing:
    """One run: wall time, the cores other processes kept busy meanwhile (on average), and
    this process's system CPU time and minor page faults (all its threads, not its children)."""

    wall: float
    others: float
    sys_s: float
    faults: int

    def note(self) -> str:
        return f"others used {self.others:.2f} cores" if self.others >= 0.05 else ""

    def kernel_note(self) -> str:
        return f"sys {self.sys_s:.2f} s, {self.faults / 1000:.0f}k page faults"


def _cpu_snapshot(pids: Collection[int]) -> tuple[float, float, float, float, int]:
    """Wall clock, busy CPU seconds of the whole machine, CPU seconds of us and ``pids``,
    our system CPU seconds and our minor page faults."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    busy = (sum(values) - values[3] - values[4]) / tick  # all but idle and iowait
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ours = usage.ru_utime + usage.ru_stime
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
            ours += (int(fields[11]) + int(fields[12])) / tick
    return time.perf_counter(), busy, ours, usage.ru_stime, usage.ru_minflt


def timed[T](fn: Callable[[], T], pids: Collection[int] = ()) -> tuple[Timing, T]:
    """Run ``fn`` once: its Timing and its result. ``pids``: worker processes that are ours."""
    wall0, busy0, ours0, sys0, faults0 = _cpu_snapshot(pids)
    result = fn()
    wall1, busy1, ours1, sys1, faults1 = _cpu_snapshot(pids)
    wall = wall1 - wall0
    others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / max(wall, 1e-9)
    timing = Timing(wall=wall, others=others, sys_s=sys1 - sys0, faults=faults1 - faults0)
    return timing, result


def best_of[T](fn: Callable[[], T], pids: Collection[int] = ()) -> tuple[Timing, T]:
    """The fastest of REPEATS runs of ``fn`` (and its result), after one untimed warm-up run."""
    fn()
    return min((timed(fn, pids) for _ in range(REPEATS)), key=lambda run: run[0].wall)


def set_affinity(cpus: set[int]) -> None:
    """Pin every thread of this process (sched_setaffinity(0) moves only the calling one)."""
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread may have ended meanwhile
            os.sched_setaffinity(int(task), cpus)
    os.sched_setaffinity(0, cpus)


def proc_status_mib(key: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def busy_cores(seconds: float = 1.0) -> float:
    """Cores kept busy by other processes (this one idles meanwhile), from /proc/stat."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]  # idle and iowait
        return sum(values[:8]) - idle, sum(values[:8])

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (os.cpu_count() or 1) * (busy1 - busy0) / max(total1 - total0, 1)


def check_quiet(results: Results, when: str, wait_s: float = 0.0) -> None:
    """Print how busy the machine is with other work; wait up to ``wait_s`` for it to calm."""
    deadline = time.monotonic() + wait_s
    busy = busy_cores()
    while busy > QUIET_CORES and time.monotonic() < deadline:
        time.sleep(4.0)
        busy = busy_cores()
    results.busy[when] = busy
    warning = " : figures will be slower and noisier" if busy > QUIET_CORES else ""
    print(f"  other processes keep {busy:.2f} of {os.cpu_count()} cores busy{warning}")


def machine_facts() -> dict[str, str]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024**2
    facts = {
        "CPU": model,
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_gib:.0f} GiB",
        "Python": platform.python_version(),
    }
    for package in ("numpy", "scipy", "librosa", "numba", "soxr", "soundfile", "pyloudnorm"):
        try:
            facts[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            facts[package] = "not installed"
    try:
        import threadpoolctl

        blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            facts["BLAS"] = f"{blas[0].get('internal_api')} {blas[0].get('architecture', '')}"
    except ImportError:
        pass
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        facts["OPENBLAS_CORETYPE"] = f"{coretype} (set by the machine, left as it is)"
    return facts


def trace_warnings(results: Results) -> None:
    """Print each warning as usual, and note where in the studio or librosa it came from."""
    show = warnings.showwarning

    def traced(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        frames = [
            short_name(frame.filename, frame.lineno or 0, frame.name)
            for frame in traceback.extract_stack()[:-1]
            if any(part in frame.filename for part in ("/studio/", "/librosa/", "/benchmarks/"))
        ]
        origin = " <- ".join(reversed(frames[-4:]))
        results.notes.append(f"{category.__name__}: {message} ({origin})")
        show(message, category, filename, lineno, file, line)

    warnings.showwarning = traced


# Test material ------------------------------------------------------------------------------


def render_song_files(index: int, seconds: float, out_dir: str, with_mix: bool) -> list[str]:
    """Render song ``index`` (SONGS) to about ``seconds`` s: one 24-bit WAV per part, and the
    mix of all parts when ``with_mix``. Returns the paths, parts first, then the mix."""
    from studio.processing import decode, synth

    tonic, mode, seed, delta = SONGS[index]
    base_bars = 4 * max(1, round(seconds * 96.0 / 240.0 / 4))
    bars = max(4, base_bars + 4 * delta)
    tempo = bars * 240.0 / seconds
    song = synth.compose_song(tonic=tonic, mode=mode, tempo_bpm=tempo, n_bars=bars, seed=seed)
    stems = synth.render_stems(song, sample_rate=SAMPLE_RATE)
    paths = []
    for part in PARTS:
        path = os.path.join(out_dir, f"song{index}-{part}.wav")
        decode.write(path, stems[part], sample_rate=SAMPLE_RATE, format="WAV", subtype="PCM_24")
        paths.append(path)
    if with_mix:
        path = os.path.join(out_dir, f"song{index}-mix.wav")
        mixed = synth.mix(stems)
        decode.write(path, mixed, sample_rate=SAMPLE_RATE, format="WAV", subtype="PCM_24")
        paths.append(path)
    return paths


def write_long_file(source: str, target: str, seconds: float) -> None:
    """A 16-bit stereo WAV of ``seconds`` s: ``source`` repeated, written block by block."""
    import soundfile as sf

    wanted = round(seconds * SAMPLE_RATE)
    written = 0
    with sf.SoundFile(target, "w", SAMPLE_RATE, 2, subtype="PCM_16", format="WAV") as out:
        while written < wanted:
            for block in sf.blocks(source, blocksize=65536, dtype="float32", always_2d=True):
                block = block[: wanted - written]
                out.write(block)
                written += len(block)
                if written >= wanted:
                    break


def warm_up() -> None:
    """Compile the engine's kernels once, as the job runner does when it starts."""
    from studio.processing.analysis import analyze_signal

    t = np.arange(SAMPLE_RATE * 3) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (t % 0.5 < 0.1)).astype(np.float32)
    analyze_signal(np.stack([tone, tone]), sample_rate=SAMPLE_RATE, name="warm-up")


# Part 1: one stem on one core ---------------------------------------------------------------


type Answers = tuple[float, str, float]


def librosa_pipeline(path: str) -> tuple[Answers, dict[str, float]]:
    """(a): tempo, key and integrated loudness as a librosa user writes them; with the time
    each step took."""
    import librosa
    import pyloudnorm
    import soundfile as sf

    steps: dict[str, float] = {}
    start = time.perf_counter()
    y, sr = librosa.load(path)
    steps["librosa.load (22,050 Hz mono)"] = time.perf_counter() - start
    start = time.perf_counter()
    tempo, _beats = librosa.beat.beat_track(y=y, sr=sr)
    steps["librosa.beat.beat_track"] = time.perf_counter() - start
    start = time.perf_counter()
    chroma = librosa.feature.chroma_stft(y=y, sr=sr).mean(axis=1)
    key = krumhansl_key(chroma)
    steps["chroma_stft + Krumhansl-Schmuckler key"] = time.perf_counter() - start
    start = time.perf_counter()
    samples, rate = sf.read(path)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(samples)
    steps["soundfile.read + pyloudnorm integrated"] = time.perf_counter() - start
    return (float(np.atleast_1d(tempo)[0]), key, float(lufs)), steps


def krumhansl_key(chroma: np.ndarray) -> str:
    best, name = -np.inf, ""
    for mode, profile in (("major", KRUMHANSL_MAJOR), ("minor", KRUMHANSL_MINOR)):
        for tonic in range(12):
            score = np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]
            if score > best:
                best, name = score, f"{NOTE_NAMES[tonic]} {mode}"
    return name


def floor_pipeline(path: str) -> None:
    """(b): decode the whole file and one STFT of its mono mix-down at the native rate."""
    import librosa
    import soundfile as sf

    samples, _rate = sf.read(path, dtype="float32", always_2d=True)
    librosa.stft(samples.mean(axis=1), n_fft=2048, hop_length=512)


def profile_lines(fn: Callable[[], object], top: int = 15) -> tuple[list[str], list[str]]:
    """Run ``fn`` under cProfile: a table of the top functions by cumulative time and then by
    own time, and the hot spots (by own time) in one line each."""
    profile = cProfile.Profile()
    profile.runcall(fn)
    entries = list(pstats.Stats(profile).stats.items())  # type: ignore[attr-defined]
    lines = [
        f"  cProfile of ours, top {top} by cumulative time (profiling adds overhead):",
        f"  {'cumul s':>8} {'own s':>8} {'calls':>7}  function",
    ]
    by_cumulative = sorted(entries, key=lambda item: item[1][3], reverse=True)[:top]
    by_own = sorted(entries, key=lambda item: item[1][2], reverse=True)[: top // 2]
    for (file, line, func), (_cc, calls, own, cumul, _callers) in by_cumulative:
        lines.append(f"  {cumul:8.3f} {own:8.3f} {calls:7d}  {short_name(file, line, func)}")
    lines += ["", f"  ... and the top {top // 2} by own time:"]
    hot = []
    for (file, line, func), (_cc, calls, own, cumul, _callers) in by_own:
        name = short_name(file, line, func)
        hot.append(f"{name}: {own:.2f} s own")
        lines.append(f"  {cumul:8.3f} {own:8.3f} {calls:7d}  {name}")
    return lines, hot


def short_name(file: str, line: int, func: str) -> str:
    if file == "~":
        return func
    path = file
    for prefix in (str(ROOT) + os.sep, "site-packages" + os.sep):
        if prefix in path:
            path = path.split(prefix, 1)[1]
    return f"{path}:{line}({func})"


def part_one(stem: str, stem_s: float, results: Results, wait_s: float) -> None:
    from studio.processing.analysis import analyze_file

    first_core = min(os.sched_getaffinity(0))
    set_affinity({first_core})
    heading(f"1. One {stem_s / 60:g}-minute stem on one core (core {first_core})")
    check_quiet(results, "part 1", wait_s)
    size_mb = os.path.getsize(stem) / 1e6
    row("file", f"{size_mb:.1f} MB", f"{stem_s:.0f} s stereo, {SAMPLE_RATE} Hz, 24-bit WAV")

    # Ours first, while this process's heap has seen nothing but the engine: the allocation
    # history changes glibc's mmap threshold, and with it the engine's page faults.
    report = analyze_file(stem, verify=False)
    duration = report.duration_s
    ours, _ = best_of(lambda: analyze_file(stem, verify=False))
    ours_verify, _ = best_of(lambda: analyze_file(stem))
    profile, hot = profile_lines(lambda: analyze_file(stem, verify=False))
    librosa_t, (answers, steps) = best_of(lambda: librosa_pipeline(stem))
    floor_t, _ = best_of(lambda: floor_pipeline(stem))
    tuned = run_child("tuned", stem, env={"GLIBC_TUNABLES": TUNED_MALLOC})

    def timing_row(label: str, timing: Timing) -> None:
        notes = (f"{duration / timing.wall:.0f}x real time", timing.kernel_note(), timing.note())
        row(label, f"{timing.wall:.3f} s", "; ".join(filter(None, notes)))

    print(f"  {'':<52} {'best of 3':>12}")
    timing_row("ours: analyze_file(path, verify=False)  [job path]", ours)
    timing_row("ours: analyze_file(path)  [CLI path, with verify]", ours_verify)
    timing_row("(a) librosa + pyloudnorm pipeline", librosa_t)
    for step, seconds in steps.items():
        row(f"      {step}", f"{seconds:.3f} s")
    timing_row("(b) floor: soundfile.read + one librosa.stft", floor_t)
    row(
        "ours, job path, malloc tuned  [fresh process]",
        f"{tuned['wall_s']:.3f} s",
        f"{duration / tuned['wall_s']:.0f}x real time; sys {tuned['sys_s']:.2f} s, "
        f"{tuned['faults'] / 1000:.0f}k page faults; GLIBC_TUNABLES={TUNED_MALLOC}",
    )
    rhythm, tonality, loudness = report.rhythm, report.tonality, report.loudness
    print(
        f"  answers: ours {rhythm.tempo_bpm:.1f} BPM, {tonality.key}, "
        f"{loudness.integrated_lufs:.2f} LUFS; (a) {answers[0]:.1f} BPM, {answers[1]}, "
        f"{answers[2]:.2f} LUFS"
    )

    vs_librosa, vs_floor = librosa_t.wall / ours.wall, ours.wall / floor_t.wall
    ok_librosa, ok_floor = vs_librosa >= TARGET_VS_LIBROSA, vs_floor <= TARGET_VS_FLOOR
    print()
    row(
        "(a) / ours  (how much faster ours is)",
        f"{vs_librosa:.2f}x",
        f"target >= {TARGET_VS_LIBROSA:.0f}x: {verdict(ok_librosa)}",
    )
    row(
        "ours / (b)  (how far ours is from the floor)",
        f"{vs_floor:.2f}x",
        f"target <= {TARGET_VS_FLOOR:.0f}x: {verdict(ok_floor)}",
    )
    row(
        "the same two with malloc tuned",
        f"{librosa_t.wall / tuned['wall_s']:.2f}x",
        f"and {tuned['wall_s'] / floor_t.wall:.2f}x",
    )
    row(
        "(a) / (b)  (the most (a) / ours can be)",
        f"{librosa_t.wall / floor_t.wall:.2f}x",
    )
    results.busy["part 1 runs"] = max(t.others for t in (ours, ours_verify, librosa_t, floor_t))
    results.figures.update(
        duration=duration,
        ours=ours.wall,
        ours_verify=ours_verify.wall,
        ours_tuned=tuned["wall_s"],
        librosa=librosa_t.wall,
        floor=floor_t.wall,
        vs_librosa=vs_librosa,
        vs_floor=vs_floor,
    )
    if not (ok_librosa and ok_floor):
        print("\n  A target is missed: where the time of ours goes (profiled right after its runs)")
        print("\n".join(profile))
        results.notes.append("Hot spots of one stem (own time under cProfile): " + "; ".join(hot))


# Part 2: a project with the job runner's workers -------------------------------------------


def analyze_stem_task(path: str) -> float:
    from studio.processing.analysis import analyze_file

    return analyze_file(path, verify=False).duration_s


def analyze_mix_task(paths: Sequence[str]) -> float:
    from studio.processing.analysis import analyze_mix

    return analyze_mix(paths).duration_s


def worker_pid(_: int) -> int:
    time.sleep(0.2)
    return os.getpid()


def run_project(executor: Executor, stems: Sequence[str]) -> float:
    """All stems on the executor, then the mix (the runner claims a mix only once its stems
    are done). Returns the time the mix took."""
    list(executor.map(analyze_stem_task, stems))
    start = time.perf_counter()
    executor.submit(analyze_mix_task, list(stems)).result()
    return time.perf_counter() - start


def time_project(
    executor: Executor, stems: Sequence[str], pids: Collection[int] = ()
) -> tuple[Timing, float]:
    """The fastest of REPEATS whole-project runs (and its mix time), after a warm-up analysis
    in each worker."""
    list(executor.map(analyze_stem_task, stems[:2]))
    runs = [timed(lambda: run_project(executor, stems), pids) for _ in range(REPEATS)]
    return min(runs, key=lambda run: run[0].wall)


def part_two(stems: Sequence[str], sizes: Sizes, results: Results, wait_s: float) -> None:
    set_affinity(set(range(os.cpu_count() or 1)))
    heading(
        f"2. A project: {len(stems)} stems of {sizes.stem_s / 60:g} min, then their mix "
        f"(unpinned, {len(os.sched_getaffinity(0))} cores)"
    )
    check_quiet(results, "part 2", wait_s)
    print(f"  {'':<52} {'best of 3':>12}")
    with ThreadPoolExecutor(max_workers=1) as pool:
        one, one_mix = time_project(pool, stems)
    project_row("1 worker thread", one, one_mix, "")
    with ThreadPoolExecutor(max_workers=2) as pool:
        two, two_mix = time_project(pool, stems)
    project_row("ThreadPoolExecutor(max_workers=2)", two, two_mix, "")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context, initializer=warm_up) as pool:
        pids = set(pool.map(worker_pid, range(2)))
        procs, procs_mix = time_project(pool, stems, pids)
    target = f"target < {TARGET_PROJECT_S:.0f} s: {verdict(procs.wall < TARGET_PROJECT_S)}"
    if sizes is not FULL:
        target += " (the target is for the full run)"
    project_row(
        f"ProcessPoolExecutor(2)  [{len(pids)} processes, as the runner]", procs, procs_mix, target
    )

    def speedup(timing: Timing, mix_s: float) -> tuple[float, float]:
        return one.wall / timing.wall, (one.wall - one_mix) / (timing.wall - mix_s)

    threads, threads_stems = speedup(two, two_mix)
    processes, processes_stems = speedup(procs, procs_mix)
    row("speed-up of 2 threads over 1", f"{threads:.2f}x", f"stems alone {threads_stems:.2f}x")
    row(
        "speed-up of 2 processes over 1 thread",
        f"{processes:.2f}x",
        f"stems alone {processes_stems:.2f}x",
    )
    print(
        f"  the mix runs alone, once its stems are done: {one_mix:.1f} s of every run is not "
        "shared between the workers"
    )
    busy = results.busy["part 2 runs"] = max(one.others, two.others, procs.others)
    if busy >= QUIET_CORES:
        print(
            f"  other processes used up to {busy:.2f} cores meanwhile: run again on a quiet "
            "machine before drawing conclusions"
        )
    elif threads_stems >= 0.9 * processes_stems:
        print(f"  threads help ({threads_stems:.2f}x on the stems) about as much as processes")
    else:
        print(
            f"  threads help less than processes ({threads_stems:.2f}x against "
            f"{processes_stems:.2f}x on the stems): the GIL (and one shared address space) "
            "holds the threads back"
        )
    results.figures.update(
        project_1=one.wall,
        project_2=two.wall,
        project_procs=procs.wall,
        project_speedup=threads,
        project_mix=one_mix,
    )


def project_row(label: str, timing: Timing, mix_s: float, extra: str) -> None:
    notes = (f"stems {timing.wall - mix_s:.2f} s + mix {mix_s:.2f} s", extra, timing.note())
    row(label, f"{timing.wall:.2f} s", "; ".join(filter(None, notes)))


# Part 3: memory ----------------------------------------------------------------------------


def child_main(mode: str, path: str | None) -> None:
    """In a fresh process: import the engine (and analyse ``path``), print figures as JSON."""
    start = time.perf_counter()
    from studio.processing.analysis import analyze_file

    out: dict[str, float] = {
        "import_s": time.perf_counter() - start,
        "rss_import": proc_status_mib("VmRSS"),
    }
    if mode == "tuned" and path:
        set_affinity({min(os.sched_getaffinity(0))})
        analyze_file(path, verify=False)
        timing, _ = best_of(lambda: analyze_file(path, verify=False))
        out.update(wall_s=timing.wall, sys_s=timing.sys_s, faults=timing.faults)
    if mode == "analyze" and path:
        warm_up()
        out["rss_warm"] = proc_status_mib("VmRSS")
        start = time.perf_counter()
        report = analyze_file(path, verify=False)
        out["wall_s"] = time.perf_counter() - start
        out["duration_s"] = report.duration_s
    out["hwm"] = proc_status_mib("VmHWM")
    print(json.dumps(out))


def run_child(
    mode: str, path: str | None = None, env: dict[str, str] | None = None
) -> dict[str, float]:
    """Run this script's ``--child`` mode in a fresh process and return what it printed."""
    command = [sys.executable, os.path.abspath(__file__), "--child", mode]
    if path:
        command += ["--path", path]
    environment = {**os.environ, **(env or {})}
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=ROOT, env=environment
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"child {mode} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def part_three(stem: str, sizes: Sizes, tmp: str, results: Results, wait_s: float) -> None:
    heading("3. Memory: peak RSS (VmHWM) of fresh processes, unpinned")
    check_quiet(results, "part 3", wait_s)
    long_path = os.path.join(tmp, "long.wav")
    start = time.perf_counter()
    write_long_file(stem, long_path, sizes.long_s)
    written = time.perf_counter() - start
    long_mb = os.path.getsize(long_path) / 1e6
    print(
        f"  long file: {sizes.long_s / 60:g} min, 16-bit WAV, {long_mb:.0f} MB "
        f"(written block by block in {written:.1f} s)"
    )
    try:
        base = run_child("import")
        short = run_child("analyze", stem)
        long = run_child("analyze", long_path)
    finally:
        os.remove(long_path)
    short_label = f"{sizes.stem_s / 60:g}-minute stem"
    long_label = f"{sizes.long_s / 60:g}-minute stem"
    print(f"  {'':<52} {'peak RSS':>12}")
    row(
        "process that only imports the engine",
        f"{base['hwm']:.0f} MiB",
        f"import {base['import_s']:.1f} s",
    )
    for label, child in ((short_label, short), (long_label, long)):
        row(
            f"analyse a {label}",
            f"{child['hwm']:.0f} MiB",
            f"+{child['hwm'] - base['hwm']:.0f} MiB over imports; "
            f"{child['rss_warm']:.0f} MiB after warm-up; {child['wall_s']:.1f} s",
        )
    growth = long["hwm"] - short["hwm"]
    row(f"{long_label} minus {short_label}", f"{growth:+.0f} MiB")
    row(
        f"wall time of the {long_label} (after warm-up)",
        f"{long['wall_s']:.1f} s",
        f"{long['duration_s'] / long['wall_s']:.0f}x real time",
    )
    results.figures.update(
        rss_base=base["hwm"],
        rss_short=short["hwm"],
        rss_long=long["hwm"],
        long_wall=long["wall_s"],
    )


# The README ---------------------------------------------------------------------------------


def faster(ratio: float) -> str:
    if ratio >= 1.0:
        return f"ours is {ratio:.1f}x faster"
    return f"ours is {1.0 / ratio:.1f}x slower"


def markdown(results: Results, sizes: Sizes, quick: bool) -> None:
    f, m = results.figures, results.machine
    heading("Markdown for the README" + (" (quick run: NOT for the README)" if quick else ""))
    stem, long = f"{sizes.stem_s / 60:g}-min", f"{sizes.long_s / 60:g}-min"
    command = COMMAND + (" --quick" if quick else "")
    lines = [
        "### Engine speed and memory",
        "",
        f"Measured with `{command}` (from the repository root, after `bin/venv dev` and",
        "`.venv/bin/pip install pyloudnorm`) on "
        f"{time.strftime('%Y-%m-%d')}: {m['CPU']}, {m['nproc']} cores, Python {m['Python']}, "
        f"numpy {m['numpy']}, librosa {m['librosa']}. Synthesised songs, stereo 44.1 kHz WAV; "
        "each time is the best of 3 after a warm-up.",
        "",
        "| What | Time | Compared |",
        "| --- | ---: | --- |",
        f"| One {stem} stem on one core: `analyze_file(path, verify=False)` (job path) "
        f"| {f['ours']:.2f} s | {f['duration'] / f['ours']:.0f}x real time |",
        f"| The same, `analyze_file(path)` (CLI path, checks the file first) "
        f"| {f['ours_verify']:.2f} s | |",
        "| The job path with glibc's malloc thresholds raised (*) "
        f"| {f['ours_tuned']:.2f} s | {f['ours'] / f['ours_tuned']:.2f}x faster |",
        "| (a) librosa `load` + `beat_track` + `chroma_stft` key + pyloudnorm loudness "
        f"| {f['librosa']:.2f} s | {faster(f['vs_librosa'])} "
        f"(target: {TARGET_VS_LIBROSA:.0f}x faster) |",
        f"| (b) floor: `soundfile.read` + one `librosa.stft` | {f['floor']:.2f} s "
        f"| ours takes {f['vs_floor']:.1f}x the floor (target: at most "
        f"{TARGET_VS_FLOOR:.0f}x) |",
        f"| A project, {sizes.n_stems} {stem} stems then their mix, 1 worker thread "
        f"| {f['project_1']:.1f} s | the mix alone: {f['project_mix']:.1f} s |",
        f"| The same, 2 worker threads | {f['project_2']:.1f} s "
        f"| {f['project_speedup']:.2f}x over 1 thread |",
        f"| The same, 2 worker processes (as the job runner's engine pool) "
        f"| {f['project_procs']:.1f} s "
        f"| {f['project_1'] / f['project_procs']:.2f}x over 1 thread (target: under "
        f"{TARGET_PROJECT_S:.0f} s) |",
        f"| One {long} stem (a fresh process) | {f['long_wall']:.1f} s "
        f"| {sizes.long_s / f['long_wall']:.0f}x real time |",
        "",
        f"(*) `GLIBC_TUNABLES={TUNED_MALLOC}`, a diagnostic: with glibc's defaults the engine's",
        "block buffers go to mmap and back, and the page faults cost that much time.",
        "",
        f"Peak memory (RSS) of a fresh process: {f['rss_base']:.0f} MiB after importing the "
        f"engine, {f['rss_short']:.0f} MiB after analysing a {stem} stem and "
        f"{f['rss_long']:.0f} MiB after a {long} one.",
    ]
    busiest = max(results.busy.values(), default=0.0)
    if busiest > QUIET_CORES:
        lines.insert(
            4,
            f"Other processes kept up to {busiest:.1f} cores busy during the run, so these "
            "times are pessimistic.",
        )
    print("\n".join(lines))


# Main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each part, wait up to this long for other processes to go quiet",
    )
    parser.add_argument("--child", choices=("import", "analyze", "tuned"), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.path)
        return 0
    if importlib.util.find_spec("pyloudnorm") is None:
        print(
            "pyloudnorm is not installed; this benchmark compares the engine with it.\n"
            "Install it (a benchmark-only tool, not a dependency of the studio) and run again:\n"
            "    .venv/bin/pip install pyloudnorm",
            file=sys.stderr,
        )
        return 2

    sizes = QUICK if args.quick else FULL
    results = Results(machine=machine_facts())
    trace_warnings(results)
    began = time.perf_counter()
    heading("Machine")
    for key, value in results.machine.items():
        row(key, "", value)
    row("threads", "", "NUMBA_NUM_THREADS=1, OMP_NUM_THREADS=1 (set before the imports)")

    with tempfile.TemporaryDirectory(prefix="engine-speed-") as tmp:
        start = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
            rendered = list(
                pool.map(
                    render_song_files,
                    range(sizes.n_songs),
                    [sizes.stem_s] * sizes.n_songs,
                    [tmp] * sizes.n_songs,
                    [i == 0 for i in range(sizes.n_songs)],
                )
            )
        stems = [path for paths in rendered for path in paths if not path.endswith("-mix.wav")]
        stem = rendered[0][-1]
        print(
            f"\n  rendered {sizes.n_songs} songs ({len(stems)} stems and one mix) in "
            f"{time.perf_counter() - start:.1f} s"
        )
        part_one(stem, sizes.stem_s, results, args.wait_idle)
        part_two(stems, sizes, results, args.wait_idle)
        part_three(stem, sizes, tmp, results, args.wait_idle)
    markdown(results, sizes, args.quick)
    if results.notes:
        print()
        for note in results.notes:
            print(note)
    print(f"\n(total run time {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
