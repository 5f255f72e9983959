"""Chord-recognition accuracy on synthesised music with known chords: ours against a baseline.

Run from the repository root::

    .venv/bin/python benchmarks/chord_accuracy.py           # 96 items, about 2 minutes
    .venv/bin/python benchmarks/chord_accuracy.py --quick   # 32 items

The items come from :mod:`studio.processing.synth`, whose scores are the answers, in four
categories, each over all 12 roots (``--variants`` times, with other seeds, tempi from 72 to
150 BPM and mono or stereo):

- ``song``: a 16-bar song (intro, verse, chorus, outro; major and minor keys; one chord a
  bar, major, minor, dominant 7th and sus4) with drums, bass, keys and lead
  (:func:`synth.compose_song`, :func:`synth.render_stems`);
- ``song, no drums``: the same without the drums;
- ``sevenths``: 8 chords drawn from a key's diatonic triads, sevenths (maj7, m7, 7) and
  suspensions (sus2, sus4), two or four beats each, keys and bass
  (:func:`synth.render_chord_sequence`);
- ``sevenths, drums``: the same with drums.

Methods, both given the signal at 44,100 Hz:

- ``ours``: :func:`studio.processing.chords.analyze_chords`, with the beats of our own
  :class:`~studio.processing.rhythm.RhythmAnalyzer` (no key given);
- ``librosa baseline``: the straightforward pipeline, mono at 22,050 Hz,
  ``librosa.feature.chroma_cqt``, ``librosa.beat.beat_track``, the chroma averaged between
  beats, each beat labelled with the best of 24 major and minor triad templates (cosine), no
  smoothing.

Scores: :func:`mir_eval.chord.evaluate`'s ``root``, ``majmin`` and ``sevenths`` (each the
share of the reference's duration labelled right; chords outside a measure's vocabulary, such
as sus4 for ``majmin``, are left out of it), averaged over items weighted by duration. The
baseline cannot name sevenths or suspensions: its ``sevenths`` column shows what triads alone
get.

The constants of ``ours`` were chosen on items from the same synthesiser with other seeds, so
read these figures as a check of the method on clean, idealised material, not as an estimate
for recordings.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import mir_eval
import numpy as np

from studio.processing import synth
from studio.processing.chords import ChordAnalyzer, analyze_chords, mir_eval_label
from studio.processing.frontend import SpectralFrames, SpectralFrontEnd
from studio.processing.rhythm import RhythmAnalyzer

SAMPLE_RATE = 44_100
CATEGORIES = ("song", "song, no drums", "sevenths", "sevenths, drums")
TEMPI_BPM = (72, 84, 96, 108, 120, 132, 150)
MEASURES = ("root", "majmin", "sevenths")
HARTE = {
    "major": "maj",
    "minor": "min",
    "dominant7": "7",
    "major7": "maj7",
    "minor7": "min7",
    "sus2": "sus2",
    "sus4": "sus4",
}
# Degrees of the major scale and the qualities a progression draws from on each.
DIATONIC = (
    (0, ("major", "major7", "sus2", "sus4")),
    (2, ("minor", "minor7", "sus4")),
    (4, ("minor", "minor7")),
    (5, ("major", "major7", "sus2")),
    (7, ("major", "dominant7", "sus4")),
    (9, ("minor", "minor7")),
)


@dataclass(frozen=True)
class Item:
    category: str
    root: int
    seed: int
    tempo_bpm: float
    stereo: bool


@dataclass(frozen=True)
class Truth:
    intervals_s: np.ndarray
    labels: list[str]

    @property
    def duration_s(self) -> float:
        return float(self.intervals_s[-1, 1] - self.intervals_s[0, 0])


def items(*, variants: int) -> list[Item]:
    out = []
    for variant in range(variants):
        for root in range(12):
            seed = 2_000 + 100 * variant + root
            tempo = TEMPI_BPM[(5 * root + 3 * variant) % len(TEMPI_BPM)]
            stereo = (root + variant) % 2 == 0
            out += [Item(c, root, seed, tempo, stereo) for c in CATEGORIES]
    return out


def harte(chord: synth.Chord) -> str:
    return f"{synth.PITCH_CLASS_NAMES[chord.root]}:{HARTE[chord.quality]}"


def progression(item: Item) -> list[synth.Chord]:
    rng = np.random.default_rng(item.seed)
    chords = []
    for _ in range(8):
        degree, qualities = DIATONIC[int(rng.integers(len(DIATONIC)))]
        quality = qualities[int(rng.integers(len(qualities)))]
        chords.append(synth.chord_of(root=(item.root + degree) % 12, quality=quality))
    return chords


def render(item: Item) -> tuple[np.ndarray, Truth]:
    if item.category.startswith("song"):
        mode = "minor" if item.seed % 2 else "major"
        song = synth.compose_song(
            tonic=item.root, mode=mode, tempo_bpm=item.tempo_bpm, n_bars=16, seed=item.seed
        )
        stems = synth.render_stems(song, sample_rate=SAMPLE_RATE, stereo=item.stereo)
        if item.category == "song, no drums":
            del stems["drums"]
        chords, chord_s = list(song.chords), 4 * song.seconds_per_beat
        signal = synth.mix(stems)
    else:
        chords = progression(item)
        beats_per_chord = 2 if item.seed % 2 else 4
        signal = synth.render_chord_sequence(
            chords,
            tempo_bpm=item.tempo_bpm,
            beats_per_chord=beats_per_chord,
            sample_rate=SAMPLE_RATE,
            stereo=item.stereo,
            drums=item.category == "sevenths, drums",
            seed=item.seed,
        )
        chord_s = beats_per_chord * 60.0 / item.tempo_bpm
    intervals = np.array([[k * chord_s, (k + 1) * chord_s] for k in range(len(chords))])
    return signal, Truth(intervals, [harte(chord) for chord in chords])


# --------------------------------------------------------------------------- methods

Estimate = tuple[np.ndarray, list[str]]


def ours(signal: np.ndarray) -> Estimate:
    report = analyze_chords(signal, SAMPLE_RATE)
    intervals = np.array([[span.start_s, span.end_s] for span in report.chords])
    return intervals, [mir_eval_label(span) for span in report.chords]


def librosa_baseline() -> Callable[[np.ndarray], Estimate]:
    import librosa

    rate = 22_050
    names = synth.PITCH_CLASS_NAMES
    templates = np.zeros((24, 12))
    for root in range(12):
        templates[root, [root, (root + 4) % 12, (root + 7) % 12]] = 1.0
        templates[12 + root, [root, (root + 3) % 12, (root + 7) % 12]] = 1.0
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    labels = [f"{names[r]}:maj" for r in range(12)] + [f"{names[r]}:min" for r in range(12)]

    def estimate(signal: np.ndarray) -> Estimate:
        y = librosa.resample(signal.mean(axis=0), orig_sr=SAMPLE_RATE, target_sr=rate)
        chroma = librosa.feature.chroma_cqt(y=y, sr=rate)
        _tempo, beats = librosa.beat.beat_track(y=y, sr=rate)
        bounds = np.unique(librosa.util.fix_frames(beats, x_min=0, x_max=chroma.shape[1]))
        synced = librosa.util.sync(chroma, bounds, aggregate=np.mean)
        norms = np.linalg.norm(synced, axis=0)
        best = np.argmax(templates @ synced, axis=0)
        times = librosa.frames_to_time(bounds, sr=rate)
        intervals = np.column_stack([times[:-1], times[1:]])
        found = [labels[b] if n > 0 else "N" for b, n in zip(best, norms, strict=True)]
        return intervals, found

    return estimate


# --------------------------------------------------------------------------- scoring


def measures(truth: Truth, estimate: Estimate) -> dict[str, float]:
    intervals, labels = estimate
    intervals, labels = mir_eval.util.adjust_intervals(
        intervals, labels, truth.intervals_s[0, 0], truth.intervals_s[-1, 1], "N", "N"
    )
    keep = intervals[:, 1] > intervals[:, 0]
    intervals, labels = intervals[keep], [label for label, k in zip(labels, keep, strict=True) if k]
    scores = mir_eval.chord.evaluate(truth.intervals_s, truth.labels, intervals, labels)
    return {name: float(scores[name]) for name in MEASURES}


def table(results: dict[str, list[tuple[Item, Truth, dict[str, float]]]]) -> list[str]:
    columns = (*CATEGORIES, "all")
    header = f"{'method':<18}{'measure':<10}" + "".join(f"{c:>17}" for c in columns)
    lines = [header, "-" * len(header)]
    for method, rows in results.items():
        for measure in MEASURES:
            cells = []
            for category in columns:
                chosen = [(t, m) for i, t, m in rows if category in ("all", i.category)]
                weights = np.array([t.duration_s for t, _ in chosen])
                values = np.array([m[measure] for _, m in chosen])
                cells.append(f"{np.average(values, weights=weights):.3f}")
            lines.append(f"{method:<18}{measure:<10}" + "".join(f"{c:>17}" for c in cells))
    return lines


def ours_timing() -> str:
    """Push and result times of a ChordAnalyzer on a 3-minute stereo mix."""
    song = synth.compose_song(tonic=4, mode="minor", tempo_bpm=96.0, n_bars=72, seed=3)
    mix = synth.mix(synth.render_stems(song, sample_rate=SAMPLE_RATE, stereo=True))
    runs: list[SpectralFrames] = []
    front = SpectralFrontEnd(sample_rate=SAMPLE_RATE, channels=2, sink=runs.append)
    for offset in range(0, mix.shape[1], 262_144):
        front.push(mix[:, offset : offset + 262_144])
    front.finish()
    rhythm = RhythmAnalyzer()
    for run in runs:
        rhythm.push(run)
    beats = rhythm.result()
    push_s, result_s = [], []
    for _ in range(5):
        analyzer = ChordAnalyzer()
        start = time.perf_counter()
        for run in runs:
            analyzer.push(run)
        middle = time.perf_counter()
        analyzer.result(beats_s=beats.beats_s, downbeats_s=beats.downbeats_s)
        push_s.append(middle - start)
        result_s.append(time.perf_counter() - middle)
    return (
        f"Timing, a {mix.shape[1] / SAMPLE_RATE:.0f} s stereo mix (median of 5, front end and "
        f"rhythm excluded): ChordAnalyzer.push {np.median(push_s):.3f} s, "
        f"result {np.median(result_s):.4f} s."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", type=int, default=2, help="items per root and category")
    parser.add_argument("--quick", action="store_true", help="fewer items: 8 per category")
    args = parser.parse_args()
    chosen = items(variants=args.variants)
    if args.quick:
        chosen = [item for item in chosen if item.root in (0, 3, 5, 8, 10, 11, 1, 6)]
        chosen = [item for item in chosen if item.seed < 2_100]
    methods: dict[str, Callable[[np.ndarray], Estimate]] = {
        "ours": ours,
        "librosa baseline": librosa_baseline(),
    }
    results: dict[str, list[tuple[Item, Truth, dict[str, float]]]] = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for number, item in enumerate(chosen):
        signal, truth = render(item)
        for name, method in methods.items():
            if number == 0:
                method(signal)  # warm up (numba compiles librosa's kernels on first use)
            start = time.perf_counter()
            estimate = method(signal)
            seconds[name] += time.perf_counter() - start
            results[name].append((item, truth, measures(truth, estimate)))
        print(f"\r{number + 1}/{len(chosen)} items", end="", file=sys.stderr, flush=True)
    print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
    print(f"Chord accuracy on {len(chosen)} synthesised items (mir_eval, weighted by duration).")
    print()
    print("\n".join(table(results)))
    print()
    for name in methods:
        print(f"  {name:<18}{seconds[name] / len(chosen):.3f} s per item (whole pipeline)")
    print(ours_timing())


if __name__ == "__main__":
    main()
