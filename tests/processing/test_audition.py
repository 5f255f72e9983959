"""A moves idea is heard by its first move that can be played: a shorter intro (an edit)
or a move that mutes a stem."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from studio.processing import decode
from studio.processing.audition import CROSSFADE_S, audition_idea
from studio.processing.song_context import Grid
from tests.processing.test_ideas import make_context

RATE = 22_050
TEMPO = 180.0  # a bar is 4/3 s
NAMES = ("Keys", "Vox", "Drums")  # as make_context names its stems
# A 12-bar intro before 24 bars of one section: a shorter intro comes first (bar 1), then a
# mute for contrast (the keys out of bars 13-20), a varied repeat and a breakdown.
LONG_INTRO = [("intro", 12, 0.3), ("A", 8, 0.5), ("A", 8, 0.5), ("A", 8, 0.52), ("B", 8, 0.9)]
LONG_INTRO += [("A'", 8, 0.85), ("B", 8, 0.95), ("outro", 4, 0.3)]
# The hook at bar 5: the first move is the mute for contrast (the keys out of bars 13-20).
EARLY_HOOK = [("intro", 4, 0.3), ("B", 8, 0.9), ("A", 8, 0.5), ("A", 8, 0.5), ("A", 8, 0.52)]
EARLY_HOOK += [("B", 8, 0.95), ("outro", 4, 0.3)]


def song(tmp_path, form):
    """The context at 180 BPM, three mono stems to its length (tones for the keys and the
    voice, noise for the drums) and their plain sum."""
    context = make_context(tempo_bpm=TEMPO, form=form)
    t = np.arange(round((context.duration_s + 4.0) * RATE)) / RATE
    signals = (
        0.2 * np.sin(2 * np.pi * 440 * t),
        0.2 * np.sin(2 * np.pi * 660 * t),
        np.random.default_rng(3).normal(0.0, 0.05, t.size),
    )
    paths = []
    for name, signal in zip(NAMES, signals, strict=True):
        paths.append(str(tmp_path / f"{name}.wav"))
        decode.write(
            paths[-1],
            signal[np.newaxis].astype(np.float32),
            sample_rate=RATE,
            format="WAV",
            subtype="FLOAT",
        )
    return context, paths, sum(s.astype(np.float32) for s in signals)


def audition(context, paths, tmp_path, names=NAMES):
    out = tmp_path / "with.flac", tmp_path / "alone.flac"
    idea = audition_idea(
        paths=paths,
        settings=[{}] * 3,
        bus={},
        stem_names=names,
        kind="moves",
        context=context.to_dict(),
        section=None,
        seed=0,
        options={},
        out_with_song=str(out[0]),
        out_alone=str(out[1]),
    )
    with_song, alone = (sf.read(p, dtype="float32", always_2d=True)[0][:, 0] for p in out)
    return idea, with_song, alone


def test_a_shorter_intro_is_heard_as_the_song_with_the_intro_cut(tmp_path):
    context, paths, mix = song(tmp_path, LONG_INTRO)
    idea, with_song, alone = audition(context, paths, tmp_path)

    moves, info = idea["moves"], idea["audition"]
    assert info["move"] == 0 and moves[0]["kind"] == "shorten-intro"
    assert "first 4 bars, then on from bar 33" in moves[0]["message"]
    bar_s = 240.0 / TEMPO
    assert info["cut_s"] == pytest.approx([0.25 + 4 * bar_s, 0.25 + 32 * bar_s], abs=1e-3)
    # Samples of the excerpt, counted as the engine does from the song's grid (the times
    # in ``info`` are rounded to 0.1 ms).
    grid = Grid(context)
    start_s = grid.bar_time_s(0)
    start = int(start_s * RATE)
    a, b = (round((grid.bar_time_s(bar) - start_s) * RATE) for bar in (4, 32))
    # Both run as long as the song takes to reach a bar into its hook (bar 37).
    assert with_song.size == alone.size == pytest.approx(37 * bar_s * RATE, abs=2)
    np.testing.assert_allclose(alone, mix[start : start + alone.size], atol=1e-6)
    # The edit: the song to bar 5, then on from bar 33, landing where bar 5 was.
    fade = round(CROSSFADE_S * RATE)
    np.testing.assert_allclose(with_song[: a - fade], alone[: a - fade], atol=1e-6)
    tail = with_song[a:]
    np.testing.assert_allclose(tail, mix[start + b : start + b + tail.size], atol=1e-6)


def test_a_mute_is_heard_as_the_passage_without_the_stem(tmp_path):
    context, paths, _ = song(tmp_path, EARLY_HOOK)
    idea, with_song, alone = audition(context, paths, tmp_path)

    moves, info = idea["moves"], idea["audition"]
    assert [m["kind"] for m in moves] == ["mute-for-contrast", "vary-repeat"]
    assert info["move"] == 0 and info["cut_s"] is None
    a = round((moves[0]["start_s"] - info["start_s"]) * RATE)
    b = round((moves[0]["end_s"] - info["start_s"]) * RATE)
    assert a == pytest.approx(2 * 4 * RATE / 3, abs=2)  # two bars of 4/3 s lead in
    # Before the move both play the same; in it, the difference is the keys' tone.
    np.testing.assert_allclose(with_song[: a - 10], alone[: a - 10], atol=2e-7)
    dropped = alone[a + 1000 : b - 1000] - with_song[a + 1000 : b - 1000]
    spectrum = np.abs(np.fft.rfft(dropped))
    assert np.fft.rfftfreq(dropped.size, 1 / RATE)[np.argmax(spectrum)] == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(dropped**2)) == pytest.approx(0.2 / np.sqrt(2), rel=0.05)


def test_without_a_move_to_play_both_files_are_the_first_moves_passage(tmp_path):
    context, paths, _ = song(tmp_path, EARLY_HOOK)
    idea, with_song, alone = audition(context, paths, tmp_path, ("Lead", "Choir", "Loops"))

    assert idea["audition"]["move"] is None
    two_bars_before = idea["moves"][0]["start_s"] - 8 / 3
    assert idea["audition"]["start_s"] == pytest.approx(two_bars_before, abs=1e-3)
    np.testing.assert_array_equal(with_song, alone)
