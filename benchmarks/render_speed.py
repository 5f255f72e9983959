"""How fast a mix version renders: 16 three-minute stems to a 24-bit WAV, against baselines.

Run from the repository root (after ``bin/venv dev``)::

    .venv/bin/python benchmarks/render_speed.py            # 16 stems of 3 minutes
    .venv/bin/python benchmarks/render_speed.py --quick    # 4 stems of 30 s, a smoke run

This is a benchmark, not a test: it prints figures and always exits 0 once it has measured.
Each time is the best of 3 after one untimed run, unpinned (the render is one process; it
uses one core for the stems and soundfile's own threads for nothing), on this machine.

Material: 4 synthesised songs of 4 parts each (``synth``), 3-minute stereo 44.1 kHz 24-bit
WAV files. The mix settings are a working engineer's: an EQ band on every stem, a
high-pass on half of them, a compressor on a quarter, a bus gain into the true-peak limiter
(``mixing.render_mix_blocks`` through ``render.render_mix``, as the studio's render job).

Rows:

- ours: ``render_mix`` to one 24-bit WAV, with the loudness meter (BS.1770 integrated and
  true peak) and the waveform peaks measured on the way, as a version is rendered;
- the same to WAV, FLAC and MP3 at once (the studio's default formats);
- baseline (a): reading every stem (soundfile, whole files) and summing them, written to a
  WAV with soundfile: the floor of any render that touches every sample, with no processing.

And a suggestion's preview (``preview.render_preview``: 15 s of the mix without and with a
move, matched in loudness, as the preview job renders it) late in the song against the same
at its top: a preview renders from its pre-roll, not from the top of the song, so the two
should take about as long.

Target: the WAV render at least 50 times faster than real time (the mix's duration over the
render's wall time).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from studio.processing import decode, synth  # noqa: E402
from studio.processing.preview import render_preview  # noqa: E402
from studio.processing.render import render_mix  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/render_speed.py"
RATE = 44_100
TARGET_X_REAL_TIME = 50.0
SONGS = ((9, "minor", 1), (0, "major", 2), (4, "minor", 3), (7, "major", 4))
PARTS = ("drums", "bass", "keys", "lead")


def make_stems(folder: str, *, seconds: float, songs: int) -> list[str]:
    """``songs`` x 4 stems of about ``seconds`` s as 24-bit WAV files."""
    paths = []
    for tonic, mode, seed in SONGS[:songs]:
        bars = max(4, 4 * round(seconds * 96.0 / 240.0 / 4))
        tempo = bars * 240.0 / seconds
        song = synth.compose_song(tonic=tonic, mode=mode, tempo_bpm=tempo, n_bars=bars, seed=seed)
        stems = synth.render_stems(song, sample_rate=RATE)
        for part in PARTS:
            path = os.path.join(folder, f"s{seed}-{part}.wav")
            decode.write(path, stems[part], sample_rate=RATE, format="WAV", subtype="PCM_24")
            paths.append(path)
    return paths


def engineer_settings(count: int) -> list[dict]:
    """A realistic mix: EQ everywhere, a high-pass on half, a compressor on a quarter."""
    settings = []
    for index in range(count):
        stem: dict = {
            "gain_db": -3.0 + index % 4,
            "pan": ((index % 5) - 2) / 4,
            "eq": [{"freq_hz": 300.0 + 250 * index, "gain_db": -3.0, "q": 1.4}],
        }
        if index % 2:
            stem["highpass_hz"] = 80.0
        if index % 4 == 0:
            stem["compressor"] = {"threshold_db": -20.0, "ratio": 3.0, "makeup_db": 2.0}
        settings.append(stem)
    return settings


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def floor(paths: Sequence[str], out: str) -> None:
    total = None
    for path in paths:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        total = data if total is None else total + data
    assert total is not None
    sf.write(out, np.clip(total, -1, 1), RATE, subtype="PCM_24")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 stems of 30 s")
    args = parser.parse_args(argv)
    seconds, songs = (30.0, 1) if args.quick else (180.0, 4)
    with tempfile.TemporaryDirectory(prefix="render-speed-") as folder:
        start = time.perf_counter()
        paths = make_stems(folder, seconds=seconds, songs=songs)
        duration = max(sf.info(p).duration for p in paths)
        print(
            f"{len(paths)} stems of {duration:.0f} s, made in {time.perf_counter() - start:.0f} s"
        )
        settings = engineer_settings(len(paths))
        bus = {"gain_db": 3.0, "ceiling_dbtp": -1.0}

        def ours(formats: Sequence[str]) -> Callable[[], object]:
            outputs = {f: os.path.join(folder, f"mix.{f}") for f in formats}
            return lambda: render_mix(paths=paths, settings=settings, bus=bus, outputs=outputs)

        rows = [
            ("ours: render_mix to a 24-bit WAV (meter and peaks on the way)", ours(["wav"])),
            ("ours: to WAV, FLAC and MP3 at once", ours(["wav", "flac", "mp3"])),
            (
                "(a) floor: read every stem, sum, write a WAV",
                lambda: floor(paths, f"{folder}/f.wav"),
            ),
        ]
        times = {}
        print(f"\n{'':<66} {'best of 3':>10} {'x real time':>12}")
        for label, fn in rows:
            times[label] = best_of(fn)
            print(f"  {label:<64} {times[label]:>9.2f}s {duration / times[label]:>11.0f}x")
        wav = times[rows[0][0]]
        ratio = duration / wav
        verdict = "met" if ratio >= TARGET_X_REAL_TIME else "MISSED"
        target = f"target >= {TARGET_X_REAL_TIME:.0f}x: {verdict}"
        print(f"\n  WAV render: {ratio:.0f}x real time, {target}")
        print(f"  ours over the floor (a): {wav / times[rows[2][0]]:.2f}x")
        print(
            f"\nREADME: | {len(paths)} stems of {duration / 60:.0f} min to a 24-bit WAV "
            f"(`{COMMAND}`) | {wav:.2f} s | {ratio:.0f}x real time (target 50x); the floor "
            f"(read, sum, write) {times[rows[2][0]]:.2f} s |"
        )
        time_previews(paths, settings, bus, folder, late_s=0.8 * duration)
    return 0


def time_previews(
    paths: Sequence[str], settings: list[dict], bus: dict, folder: str, *, late_s: float
) -> None:
    """A 15 s preview of an EQ move on the first stem, at ``late_s`` (s) and at the top."""
    moved = [dict(settings[0], eq=[{"freq_hz": 2500.0, "gain_db": 4.0, "q": 1.0}])]
    moved += settings[1:]

    def preview(start_s: float) -> Callable[[], object]:
        return lambda: render_preview(
            paths=paths,
            before=settings,
            after=moved,
            bus_before=bus,
            bus_after=bus,
            start_s=start_s,
            duration_s=15.0,
            out_before=f"{folder}/before.flac",
            out_after=f"{folder}/after.flac",
        )

    late, top = best_of(preview(late_s)), best_of(preview(0.0))
    print(f"\n  a 15 s preview of the mix at {late_s:.0f} s: {late:.2f} s")
    print(f"  the same at 0 s (baseline): {top:.2f} s; late over top {late / top:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
