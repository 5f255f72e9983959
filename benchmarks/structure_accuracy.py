"""Section-boundary accuracy on synthesised songs with known sections: ours against librosa.

Run from the repository root::

    .venv/bin/python benchmarks/structure_accuracy.py          # 48 songs, a few minutes
    .venv/bin/python benchmarks/structure_accuracy.py --quick  # 12 songs

The songs come from :func:`studio.processing.synth.compose_arrangement`, whose sections are
the answers: six layouts of 4-bar phrases (intro, verse, chorus, bridge, breakdown, outro;
consecutive phrases with the same label are one section of 8 or 12 bars), every key in turn,
tempi 70 to 170 BPM, half with drums and half without, rendered in stereo at 22,050 Hz.

Methods, each on the same mix:

- ``ours``: :func:`studio.processing.structure.analyze_structure`, with beats and downbeats
  from our :class:`~studio.processing.rhythm.RhythmAnalyzer` (nothing from the score);
- ``ours, score bars``: the same with the score's beats and downbeats, which separates the
  structure method from the beat tracking;
- ``librosa agglomerative``: the straightforward librosa approach, told the true number of
  sections ``k``: ``librosa.beat.beat_track``, beat-synchronous (median) ``chroma_stft`` and
  20 MFCCs, each standardised, stacked, ``librosa.segment.agglomerative(features, k)``. It
  has no labels of its own: its segments are labelled by clustering their mean features
  (Ward, ``scipy.cluster.hierarchy``) into the true number of distinct labels.

Scores (``mir_eval.segment``): boundary detection precision, recall and F-measure within
0.5 s and 3 s (``trim=True``: the start and the end of the song, which every method gets
right for free, are not counted), and the pairwise frame-clustering F-measure of the labels
(``pairwise``, frames of 0.1 s; primes are dropped, so ``A'`` counts as ``A``). Figures are
means over the songs.

The thresholds of ``ours`` were chosen on a few songs of the same synthesiser (other seeds),
so read these figures as a check of the method on clean, idealised material whose sections
are all multiples of 4 bars, not as an estimate for recordings.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from studio.processing import synth
from studio.processing.frontend import SpectralFrames, SpectralFrontEnd
from studio.processing.rhythm import RhythmAnalyzer
from studio.processing.structure import StructureAnalyzer, analyze_structure

SAMPLE_RATE = 22_050
LAYOUTS = (
    ("intro", "verse", "chorus", "verse", "chorus", "outro"),
    ("intro", "verse", "verse", "chorus", "verse", "chorus", "chorus", "outro"),
    ("intro", "verse", "chorus", "bridge", "chorus", "outro"),
    ("intro", "verse", "chorus", "breakdown", "chorus", "chorus", "outro"),
    ("verse", "chorus", "verse", "chorus", "bridge", "chorus", "chorus", "outro"),
    ("intro", "chorus", "verse", "chorus", "breakdown", "bridge", "chorus", "outro"),
)
TEMPI_BPM = (70, 84, 98, 112, 126, 140, 155, 170)
Segments = tuple[np.ndarray, list[str]]  # intervals (n, 2) in s, and labels


@dataclass(frozen=True)
class Item:
    layout: int
    tonic: int
    mode: str
    tempo_bpm: float
    drums: bool
    seed: int

    @property
    def song(self) -> synth.Song:
        return synth.compose_arrangement(
            LAYOUTS[self.layout],
            tonic=self.tonic,
            mode=self.mode,
            tempo_bpm=self.tempo_bpm,
            seed=self.seed,
        )


def items(count: int) -> list[Item]:
    return [
        Item(
            layout=i % len(LAYOUTS),
            tonic=(7 * i) % 12,
            mode=("major", "minor")[(i // 2) % 2],
            tempo_bpm=float(TEMPI_BPM[(5 * i + i // 8) % len(TEMPI_BPM)]),
            drums=i % 2 == 0,
            seed=500 + i,
        )
        for i in range(count)
    ]


def render(item: Item) -> np.ndarray:
    stems = synth.render_stems(item.song, sample_rate=SAMPLE_RATE, stereo=True)
    if not item.drums:
        del stems["drums"]
    return synth.mix(stems)


def reference(item: Item) -> Segments:
    bounds = item.song.section_bounds_s
    return np.array([[a, b] for _, a, b in bounds]), [label for label, _, _ in bounds]


# --------------------------------------------------------------------------- methods


def ours(signal: np.ndarray, item: Item) -> Segments:
    report = analyze_structure(signal, SAMPLE_RATE)
    return _from_report(report)


def ours_score_bars(signal: np.ndarray, item: Item) -> Segments:
    song = item.song
    report = analyze_structure(
        signal, SAMPLE_RATE, beats_s=song.beat_times_s, downbeats_s=song.downbeat_times_s
    )
    return _from_report(report)


def _from_report(report) -> Segments:
    intervals = np.array([[s.start_s, s.end_s] for s in report.sections]).reshape(-1, 2)
    return intervals, [s.label.rstrip("'") for s in report.sections]


def librosa_agglomerative(signal: np.ndarray, item: Item) -> Segments:
    import librosa
    import scipy.cluster.hierarchy

    y = np.mean(signal, axis=0)
    _, ref_labels = reference(item)
    k, n_labels = len(ref_labels), len(set(ref_labels))
    _, beats = librosa.beat.beat_track(y=y, sr=SAMPLE_RATE)
    chroma = librosa.feature.chroma_stft(y=y, sr=SAMPLE_RATE)
    mfcc = librosa.feature.mfcc(y=y, sr=SAMPLE_RATE, n_mfcc=20)
    features = np.vstack(
        [_standardise(librosa.util.sync(f, beats, aggregate=np.median)) for f in (chroma, mfcc)]
    )
    bounds = librosa.segment.agglomerative(features, min(k, features.shape[1]))
    edges = np.r_[0, beats][bounds] if len(beats) else bounds
    times = librosa.frames_to_time(edges, sr=SAMPLE_RATE)
    times = np.unique(np.r_[0.0, times[1:], signal.shape[1] / SAMPLE_RATE])
    intervals = np.stack([times[:-1], times[1:]], axis=1)
    means = [
        features[:, a:b].mean(axis=1) if b > a else features[:, min(a, features.shape[1] - 1)]
        for a, b in zip(bounds, np.r_[bounds[1:], features.shape[1]], strict=True)
    ]
    if len(means) > 1:
        tree = scipy.cluster.hierarchy.linkage(np.array(means), method="ward")
        labels = scipy.cluster.hierarchy.fcluster(tree, n_labels, criterion="maxclust")
    else:
        labels = np.ones(len(means), dtype=int)
    labels = [str(v) for v in labels][: len(intervals)]
    labels += ["?"] * (len(intervals) - len(labels))
    return intervals, labels


def _standardise(values: np.ndarray) -> np.ndarray:
    spread = values.std(axis=1, keepdims=True)
    return (values - values.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)


# --------------------------------------------------------------------------- scoring


def scores(reference_segments: Segments, estimate: Segments) -> dict[str, float]:
    import mir_eval

    ref_intervals, ref_labels = reference_segments
    est_intervals, est_labels = estimate
    end = ref_intervals[-1, 1]
    keep = est_intervals[:, 0] < end - 1e-3
    est_intervals, est_labels = est_intervals[keep].copy(), list(np.array(est_labels)[keep])
    est_intervals[-1, 1] = end
    out: dict[str, float] = {}
    for window in (0.5, 3.0):
        p, r, f = mir_eval.segment.detection(ref_intervals, est_intervals, window=window, trim=True)
        out.update({f"P@{window:g}": p, f"R@{window:g}": r, f"F@{window:g}": f})
    _, _, out["pairwise F"] = mir_eval.segment.pairwise(
        ref_intervals, ref_labels, est_intervals, est_labels, frame_size=0.1
    )
    return out


# --------------------------------------------------------------------------- report


COLUMNS = ("P@0.5", "R@0.5", "F@0.5", "P@3", "R@3", "F@3", "pairwise F")


def table(
    results: dict[str, list[tuple[Item, dict[str, float]]]], *, drums: bool | None
) -> list[str]:
    header = f"{'method':<26}" + "".join(f"{c:>11}" for c in COLUMNS)
    lines = [header, "-" * len(header)]
    for name, rows in results.items():
        chosen = [s for item, s in rows if drums is None or item.drums == drums]
        cells = [f"{np.mean([s[c] for s in chosen]):>11.3f}" for c in COLUMNS]
        lines.append(f"{name:<26}" + "".join(cells))
    return lines


def ours_timing() -> str:
    """Push and result of the analyzer alone for a 3-minute stereo mix at 44,100 Hz."""
    song = synth.compose_song(tonic=4, mode="minor", tempo_bpm=96.0, n_bars=72, seed=3)
    mix = synth.mix(synth.render_stems(song, sample_rate=44_100, stereo=True))
    runs: list[SpectralFrames] = []
    front = SpectralFrontEnd(sample_rate=44_100, channels=2, sink=runs.append)
    for offset in range(0, mix.shape[1], 65_536):
        front.push(mix[:, offset : offset + 65_536])
    front.finish()
    rhythm = RhythmAnalyzer()
    for run in runs:
        rhythm.push(run)
        _ = run.mid_power  # shared with the spectrum analyzer in the pipeline
    beats = rhythm.result()
    push_s, result_s = [], []
    for _ in range(5):
        analyzer = StructureAnalyzer()
        start = time.perf_counter()
        for run in runs:
            analyzer.push(run)
        push_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        analyzer.result(beats_s=beats.beats_s, downbeats_s=beats.downbeats_s)
        result_s.append(time.perf_counter() - start)
    return (
        f"Timing, a {mix.shape[1] / 44_100:.0f} s stereo mix at 44,100 Hz (median of 5): "
        f"StructureAnalyzer push {np.median(push_s):.3f} s, result {np.median(result_s):.3f} s."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=48, help="number of songs")
    parser.add_argument("--quick", action="store_true", help="12 songs")
    args = parser.parse_args()
    chosen = items(12 if args.quick else args.songs)
    methods: dict[str, Callable[[np.ndarray, Item], Segments]] = {
        "ours": ours,
        "ours, score bars": ours_score_bars,
        "librosa agglomerative": librosa_agglomerative,
    }
    results: dict[str, list[tuple[Item, dict[str, float]]]] = {name: [] for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for number, item in enumerate(chosen):
        signal = render(item)
        for name, method in methods.items():
            if number == 0:
                method(signal, item)  # warm up (numba compiles librosa's kernels on first use)
            start = time.perf_counter()
            estimate = method(signal, item)
            seconds[name] += time.perf_counter() - start
            results[name].append((item, scores(reference(item), estimate)))
        print(f"\r{number + 1}/{len(chosen)} songs", end="", file=sys.stderr, flush=True)
    print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
    n_sections = np.mean([len(item.song.sections) for item in chosen])
    durations = [item.song.duration_s for item in chosen]
    print(
        f"Section boundaries on {len(chosen)} synthesised songs ({min(durations):.0f} to "
        f"{max(durations):.0f} s, {n_sections:.1f} sections on average), means over songs."
    )
    print("Boundary hit rate (mir_eval.segment.detection, trim=True) within 0.5 s and 3 s;")
    print("pairwise label F-measure (mir_eval.segment.pairwise, primes dropped).")
    for title, drums in (("All songs", None), ("With drums", True), ("Without drums", False)):
        print()
        print(f"{title}:")
        print("\n".join(table(results, drums=drums)))
    print()
    for name in methods:
        print(f"  {name:<24}{seconds[name] / len(chosen):.3f} s per song (analysis only)")
    print("librosa agglomerative is told the true number of sections and of distinct labels.")
    print(ours_timing())


if __name__ == "__main__":
    main()
