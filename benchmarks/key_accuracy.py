"""Key-detection accuracy on synthesised music with known keys: ours against its peers.

Run from the repository root::

    .venv/bin/python benchmarks/key_accuracy.py      # 312 items, about 5 minutes
    .venv/bin/python benchmarks/key_accuracy.py --variants 1 --no-harder --no-gm  # 96 items

The items come from :mod:`studio.processing.synth`, whose scores are the answers. Four main
categories hold every one of the 24 keys ``--variants`` times (default 2) with other seeds,
tempi (70 to 154 BPM) and mono or stereo:

- ``chords``: the keys part alone, 8 bars (:func:`synth.chord_progression_audio`);
- ``melody``: the lead alone, 8 bars (chord tones and scale steps, ending on the tonic);
- ``band``: bass, keys and lead mixed, 16 bars (intro, verse, chorus, outro), no drums;
- ``full``: the same with drums.

Two more groups hold every key ``--extra-variants`` times (default 1), each in a table of
its own:

- harder (``--no-harder`` leaves them out): ``detuned``, a full song whose file declares a
  rate that plays it 25 or 40 cents sharp or flat; ``excerpt``, 7 to 10 bars cut mid-bar from
  the middle of a full song, which need not start or end on the tonic and is often ambiguous
  in itself;
- General MIDI (``--no-gm``; needs ``apt-get install fluidsynth timgm6mb-soundfont``): the
  same kind of songs written as MIDI files and played by fluidsynth with other instruments,
  ``gm band`` (with the General MIDI drum kit), ``gm no drums`` and ``gm melody`` (a sax,
  flute, violin or trumpet alone). It checks that nothing was tuned to the synthesiser's own
  timbres.

The row "KS on the score's notes" runs Krumhansl-Schmuckler on the audible notes of each item
taken from its score, weighted by sounding time: what the pitch content alone says, with no
audio in between.

Every item is written to a temporary 16-bit WAV at 44,100 Hz with
:func:`studio.processing.decode.write`, and every method reads that file:

- ``ours``: :func:`studio.processing.tonality.analyze_tonality` on the decoded file;
- ``librosa stft+KS`` and ``librosa cqt+KS``: the straightforward pipeline,
  ``librosa.load`` at its default rate (22,050 Hz, mono), the mean of
  ``librosa.feature.chroma_stft`` (or ``chroma_cqt``) over time, correlated with the
  Krumhansl-Kessler profiles in all 24 keys (the Krumhansl-Schmuckler algorithm);
- ``essentia KeyExtractor``: Essentia's default key extractor (HPCP, "bgate" profiles), as a
  reference only. Essentia is AGPL-3.0 and is NOT a dependency of the studio; it is used
  here only if it is installed (``.venv/bin/pip install essentia``).

Scores: the MIREX weighted key score, 1 for the right key, 0.5 for a fifth away in the same
mode (dominant or subdominant), 0.3 for the relative major or minor, 0.2 for the parallel
major or minor, else 0; and the share exactly right. ``mir_eval.key.weighted_score`` counts
only the dominant as a fifth; if mir_eval is installed its overall figure is printed too.

The parameters of ``ours`` were chosen on items from the same synthesiser with other seeds
(and on its scores' note content), so read these figures as a check of the method on clean,
idealised material, not as an estimate for recordings.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.processing import synth
from studio.processing.decode import load, write
from studio.processing.frontend import SpectralFrames, SpectralFrontEnd
from studio.processing.tonality import (
    KRUMHANSL_MAJOR,
    KRUMHANSL_MINOR,
    PITCH_CLASS_NAMES,
    TonalityAnalyzer,
    analyze_tonality,
    key_name,
)

SAMPLE_RATE = 44_100
CATEGORIES = ("chords", "melody", "band", "full")
HARDER = ("detuned", "excerpt")
TEMPI_BPM = (70, 82, 94, 106, 118, 130, 142, 154)
DETUNINGS_CENTS = (-40.0, -25.0, 25.0, 40.0)
FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}
# Instrumentations (General MIDI programs, 0-based) for the fluidsynth categories.
GENERAL_MIDI = {
    "gm band": (  # with the General MIDI drum kit
        {"drums": 0, "bass": 33, "keys": 0, "lead": 73},  # finger bass, piano, flute
        {"drums": 0, "bass": 34, "keys": 25, "lead": 65},  # pick bass, steel guitar, alto sax
        {"drums": 0, "bass": 38, "keys": 4, "lead": 81},  # synth bass, e-piano, saw lead
    ),
    "gm no drums": (
        {"bass": 32, "keys": 48, "lead": 40},  # acoustic bass, strings, violin
        {"bass": 33, "keys": 16, "lead": 53},  # finger bass, organ, voice oohs
        {"bass": 43, "keys": 0, "lead": 71},  # contrabass, piano, clarinet
    ),
    "gm melody": ({"lead": 65}, {"lead": 73}, {"lead": 40}, {"lead": 56}),  # sax flute violin tpt
}
SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)
MIDI_TICKS = 480  # per beat
GROUP_TITLES = {
    "chords": "Main categories, the synthesiser's own voices;",
    "detuned": (
        "Harder: 'detuned', a full song played 25 or 40 cents sharp or flat; 'excerpt', 7 to 10\n"
        "bars cut mid-bar from the middle of a full song (it need not end on the tonic);"
    ),
    "gm band": (
        "General MIDI renders of such songs (fluidsynth and TimGM6mb): 'gm band' with drums,\n"
        "'gm no drums', 'gm melody' (sax, flute, violin or trumpet alone), instruments in turn;"
    ),
}


@dataclass(frozen=True)
class Item:
    category: str
    tonic: int
    mode: str
    seed: int
    tempo_bpm: float
    stereo: bool

    @property
    def key(self) -> str:
        return key_name(tonic=self.tonic, mode=self.mode)

    @property
    def cents(self) -> float:
        """How sharp the item's file plays (detuned items only)."""
        if self.category != "detuned":
            return 0.0
        return DETUNINGS_CENTS[self.seed % len(DETUNINGS_CENTS)]

    @property
    def window_s(self) -> tuple[float, float]:
        """Start and end of an excerpt in the 16-bar song, in seconds: 7 to 10 bars from
        somewhere in bars 1 to 4, cut mid-bar (excerpt items only; else the whole song)."""
        if self.category != "excerpt":
            return 0.0, np.inf
        rng = np.random.default_rng(self.seed)
        bar_s = 4 * 60.0 / self.tempo_bpm
        start_bars = rng.integers(1, 4) + rng.random()
        return start_bars * bar_s, (start_bars + rng.integers(7, 10) + rng.random()) * bar_s


def items(*, variants: int, categories: tuple[str, ...]) -> list[Item]:
    out = []
    for variant in range(variants):
        for index, (mode, tonic) in enumerate(
            (m, t) for m in ("major", "minor") for t in range(12)
        ):
            seed = 1_000 + 100 * variant + index
            tempo = TEMPI_BPM[(5 * tonic + 3 * variant + (mode == "minor")) % len(TEMPI_BPM)]
            stereo = (tonic + variant) % 2 == 0
            out += [Item(c, tonic, mode, seed, tempo, stereo) for c in categories]
    return out


def song_of(item: Item) -> synth.Song:
    n_bars = 8 if item.category in ("chords", "melody", "gm melody") else 16
    return synth.compose_song(
        tonic=item.tonic, mode=item.mode, tempo_bpm=item.tempo_bpm, n_bars=n_bars, seed=item.seed
    )


def render(item: Item) -> np.ndarray:
    if item.category == "chords":
        return synth.chord_progression_audio(
            tonic=item.tonic,
            mode=item.mode,
            tempo_bpm=item.tempo_bpm,
            n_bars=8,
            sample_rate=SAMPLE_RATE,
            seed=item.seed,
            stereo=item.stereo,
        )
    stems = synth.render_stems(song_of(item), sample_rate=SAMPLE_RATE, stereo=item.stereo)
    if item.category == "melody":
        return stems["lead"]
    if item.category == "band":
        del stems["drums"]
    start_s, end_s = item.window_s
    mix = synth.mix(stems)
    return mix[:, round(start_s * SAMPLE_RATE) : round(min(end_s * SAMPLE_RATE, mix.shape[1]))]


def write_item(path: Path, item: Item) -> None:
    """Write the item; a detuned one declares a rate that plays it ``item.cents`` sharp."""
    if item.category in GENERAL_MIDI:
        render_general_midi(item, path)
        return
    declared = round(SAMPLE_RATE * 2.0 ** (item.cents / 1200.0))
    write(path, render(item), sample_rate=declared)


# --------------------------------------------------------------------------- General MIDI


def soundfont() -> Path | None:
    """A General MIDI soundfont that fluidsynth can play, if both are installed."""
    if shutil.which("fluidsynth") is None:
        return None
    return next((p for p in SOUNDFONTS if p.exists()), None)


def midi_file(song: synth.Song, programs: dict[str, int]) -> bytes:
    """A Standard MIDI File (format 1) of some parts of a song; drums on channel 10."""

    def number(value: int) -> bytes:  # variable-length quantity
        out = [value & 0x7F]
        while value := value >> 7:
            out.append(0x80 | (value & 0x7F))
        return bytes(reversed(out))

    def track(events: list[tuple[int, int, bytes]]) -> bytes:
        data, now = b"", 0
        for tick, _order, message in sorted(events):
            data += number(tick - now) + message
            now = tick
        data += b"\x00\xff\x2f\x00"
        return b"MTrk" + len(data).to_bytes(4, "big") + data

    tempo = round(60_000_000 / song.tempo_bpm).to_bytes(3, "big")
    tracks = [track([(0, 0, b"\xff\x51\x03" + tempo)])]
    for channel, (part, program) in enumerate(programs.items()):
        channel = 9 if part == "drums" else channel
        events = [] if part == "drums" else [(0, 0, bytes([0xC0 | channel, program]))]
        for note in song.parts[part]:
            velocity = max(1, min(127, round(110 * note.velocity)))
            on, off = round(note.start_beat * MIDI_TICKS), round(note.end_beat * MIDI_TICKS)
            events += [
                (on, 2, bytes([0x90 | channel, note.midi, velocity])),
                (off, 1, bytes([0x80 | channel, note.midi, 0])),
            ]
        tracks.append(track(events))
    header = b"MThd" + (6).to_bytes(4, "big")
    header += b"".join(v.to_bytes(2, "big") for v in (1, len(tracks), MIDI_TICKS))
    return header + b"".join(tracks)


def render_general_midi(item: Item, path: Path) -> None:
    """Render the item's song through fluidsynth with one of the category's instrumentations."""
    font = soundfont()
    assert font is not None, "fluidsynth or its soundfont vanished"
    presets = GENERAL_MIDI[item.category]
    programs = presets[item.seed % len(presets)]
    midi_path = path.with_suffix(".mid")
    midi_path.write_bytes(midi_file(song_of(item), programs))
    subprocess.run(
        ["fluidsynth", "-ni", "-g", "0.6", "-r", str(SAMPLE_RATE), "-F", str(path)]
        + [str(font), str(midi_path)],
        check=True,
        capture_output=True,
    )


# --------------------------------------------------------------------------- scoring


def parse_key(name: str) -> tuple[int, str]:
    tonic, mode = name.split()
    return PITCH_CLASS_NAMES.index(FLATS.get(tonic, tonic)), mode


def mirex_score(reference: str, estimate: str | None) -> float:
    """MIREX weighted key score, with fifths up or down (dominant or subdominant)."""
    if estimate is None:
        return 0.0
    (ref_tonic, ref_mode), (est_tonic, est_mode) = parse_key(reference), parse_key(estimate)
    interval = (est_tonic - ref_tonic) % 12
    if ref_mode == est_mode:
        return 1.0 if interval == 0 else 0.5 if interval in (5, 7) else 0.0
    if (ref_mode, interval) in (("major", 9), ("minor", 3)):
        return 0.3
    return 0.2 if interval == 0 else 0.0


def error_kind(reference: str, estimate: str | None) -> str:
    score = mirex_score(reference, estimate)
    return {1.0: "right", 0.5: "fifth", 0.3: "relative", 0.2: "parallel"}.get(score, "other")


def score_notes_key(item: Item) -> str:
    """Krumhansl-Schmuckler on the score: the audible notes weighted by their sounding time."""
    song = song_of(item)
    parts = {"chords": ("keys",), "melody": ("lead",), "gm melody": ("lead",)}.get(
        item.category, ("bass", "keys", "lead")
    )
    start_s, end_s = item.window_s
    histogram = np.zeros(12)
    for part in parts:
        for note in song.parts[part]:
            onset_s = song.beat_time_s(beat=note.start_beat)
            offset_s = song.beat_time_s(beat=note.end_beat)
            histogram[note.midi % 12] += max(0.0, min(offset_s, end_s) - max(onset_s, start_s))
    return krumhansl_schmuckler(histogram)


# --------------------------------------------------------------------------- methods


def ours(path: Path) -> str | None:
    signal, sample_rate = load(path)
    return analyze_tonality(signal, sample_rate=sample_rate).key


def krumhansl_schmuckler(chroma_mean: np.ndarray) -> str:
    best, best_r = "", -np.inf
    for mode, profile in (("major", KRUMHANSL_MAJOR), ("minor", KRUMHANSL_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(chroma_mean, np.roll(profile, tonic))[0, 1]
            if r > best_r:
                best, best_r = key_name(tonic=tonic, mode=mode), r
    return best


def librosa_method(kind: str) -> Callable[[Path], str | None]:
    import librosa

    feature = librosa.feature.chroma_stft if kind == "stft" else librosa.feature.chroma_cqt

    def estimate(path: Path) -> str | None:
        y, sr = librosa.load(path)
        chroma = feature(y=y, sr=sr).mean(axis=1)
        return krumhansl_schmuckler(chroma) if np.ptp(chroma) > 0 else None

    return estimate


def essentia_method() -> Callable[[Path], str | None] | str:
    """Essentia's KeyExtractor, or the reason it cannot run."""
    try:
        with _quiet_stdout():  # essentia's C++ logger prints at import
            import essentia
            import essentia.standard as es
    except ImportError as exc:
        return f"not installed ({exc}); try .venv/bin/pip install essentia"
    essentia.log.infoActive = False
    essentia.log.warningActive = False
    extractor = es.KeyExtractor()

    def estimate(path: Path) -> str | None:
        audio = es.MonoLoader(filename=str(path), sampleRate=SAMPLE_RATE)()
        key, scale, _strength = extractor(audio)
        return f"{FLATS.get(key, key)} {scale}"

    return estimate


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1, which C++ code writes to directly."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


# --------------------------------------------------------------------------- report


def table(
    results: dict[str, list[tuple[Item, str | None]]],
    *,
    categories: tuple[str, ...],
    overall: bool = True,
) -> list[str]:
    columns = (*categories, "all") if overall else categories
    header = f"{'method':<26}" + "".join(f"{c:>17}" for c in columns)
    lines = [header, "-" * len(header)]
    for method, all_rows in results.items():
        rows = [(i, e) for i, e in all_rows if i.category in categories]
        if not rows:
            continue
        cells = []
        for category in columns:
            chosen = [(i, e) for i, e in rows if category in ("all", i.category)]
            scores = np.array([mirex_score(i.key, e) for i, e in chosen])
            exact = 100.0 * np.mean(scores == 1.0)
            cells.append(f"{scores.mean():.3f} ({exact:5.1f}%)")
        lines.append(f"{method:<26}" + "".join(f"{c:>17}" for c in cells))
    return lines


def mir_eval_line(
    results: dict[str, list[tuple[Item, str | None]]], *, categories: tuple[str, ...]
) -> str:
    """Overall ``mir_eval.key.weighted_score`` per method, as a cross-check."""
    try:
        import mir_eval
    except ImportError:
        return "mir_eval not installed: its weighted score is not printed."
    figures = []
    for name, rows in results.items():
        chosen = [(i, e) for i, e in rows if i.category in categories]
        scores = [mir_eval.key.weighted_score(i.key, e or "X") for i, e in chosen]
        figures.append(f"{name} {np.mean(scores):.3f}")
    return (
        "mir_eval.key.weighted_score (counts a fifth only upwards), the same "
        f"{len(chosen)} items: {', '.join(figures)}."
    )


def ours_timing() -> list[str]:
    """The analyzer's share for a 3-minute stereo mix: front end and analyzer timed apart."""
    song = synth.compose_song(tonic=4, mode="minor", tempo_bpm=96.0, n_bars=72, seed=3)
    mix = synth.mix(synth.render_stems(song, sample_rate=SAMPLE_RATE, stereo=True))
    runs: list[SpectralFrames] = []
    front_s, analyzer_s = [], []
    for _ in range(5):
        runs.clear()
        front = SpectralFrontEnd(sample_rate=SAMPLE_RATE, channels=2, sink=runs.append)
        start = time.perf_counter()
        for offset in range(0, mix.shape[1], 65_536):
            front.push(mix[:, offset : offset + 65_536])
        front.finish()
        front_s.append(time.perf_counter() - start)
        analyzer = TonalityAnalyzer()
        start = time.perf_counter()
        for run in runs:
            analyzer.push(run)
        analyzer.result()
        analyzer_s.append(time.perf_counter() - start)
    return [
        f"Timing, a {mix.shape[1] / SAMPLE_RATE:.0f} s stereo mix at 44,100 Hz "
        f"(median of 5): shared front end {np.median(front_s):.3f} s, "
        f"TonalityAnalyzer (push + result) {np.median(analyzer_s):.3f} s."
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--variants", type=int, default=2, help="items per key in each main category"
    )
    parser.add_argument(
        "--extra-variants", type=int, default=1, help="items per key in the other categories"
    )
    parser.add_argument("--no-harder", action="store_true", help="skip 'detuned' and 'excerpt'")
    parser.add_argument("--no-gm", action="store_true", help="skip the General MIDI renders")
    args = parser.parse_args()
    notes = []
    groups = [CATEGORIES]
    if not args.no_harder:
        groups.append(HARDER)
    if not args.no_gm:
        if soundfont() is None:
            notes.append(
                "General MIDI categories skipped: fluidsynth or a GM soundfont is missing "
                "(apt-get install fluidsynth timgm6mb-soundfont)."
            )
        else:
            groups.append(tuple(GENERAL_MIDI))
    chosen = items(variants=args.variants, categories=CATEGORIES) + items(
        variants=args.extra_variants, categories=tuple(c for g in groups[1:] for c in g)
    )
    methods: dict[str, Callable[[Path], str | None]] = {
        "ours": ours,
        "librosa stft+KS": librosa_method("stft"),
        "librosa cqt+KS": librosa_method("cqt"),
    }
    reference = essentia_method()
    if isinstance(reference, str):
        notes.append(f"essentia KeyExtractor: {reference}; left out.")
    else:
        methods["essentia KeyExtractor"] = reference
    results: dict[str, list[tuple[Item, str | None]]] = {name: [] for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "item.wav"
        for number, item in enumerate(chosen):
            write_item(path, item)
            for name, method in methods.items():
                if number == 0:
                    method(path)  # warm up (numba compiles librosa's kernels on first use)
                start = time.perf_counter()
                results[name].append((item, method(path)))
                seconds[name] += time.perf_counter() - start
            print(f"\r{number + 1}/{len(chosen)} items", end="", file=sys.stderr, flush=True)
    print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
    results["KS on the score's notes"] = [(i, score_notes_key(i)) for i in chosen]
    print(f"Key accuracy on {len(chosen)} synthesised items, all 24 keys in every category.")
    print("Each cell: MIREX weighted score (share exactly right).")
    for group in groups:
        n_items = sum(i.category in group for i in chosen)
        print()
        print(f"{GROUP_TITLES[group[0]]} {n_items} items.")
        print("\n".join(table(results, categories=group, overall=group == CATEGORIES)))
    print()
    print(f"Misses in the {len(CATEGORIES)} main categories, and time per item (all items):")
    for name in methods:
        kinds = [error_kind(i.key, e) for i, e in results[name] if i.category in CATEGORIES]
        counts = ", ".join(f"{k} {kinds.count(k)}" for k in ("fifth", "relative", "parallel"))
        print(f"  {name:<24}{counts}, other {kinds.count('other')}; ", end="")
        print(f"{seconds[name] / len(chosen):.3f} s per item")
    notes.append(mir_eval_line(results, categories=CATEGORIES))
    print()
    print("\n".join([*notes, *ours_timing()]))


if __name__ == "__main__":
    main()
