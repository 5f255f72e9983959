"""A moves idea is heard by its first move that can be played: one that mutes a stem."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from studio.processing import decode
from studio.processing.audition import audition_idea
from tests.processing.test_ideas import make_context

RATE = 22_050
# A 12-bar intro, 24 bars of one unchanged section, a chorus, its varied return: the
# moves, in bar order, are a shorter intro (bar 1, a change of form), a mute for contrast
# (the keys out of bars 13-20), a varied repeat (bars 25-36, the keys dropped) and a
# breakdown (the drums out of bars 49-52).
FORM = [("intro", 12, 0.3), ("A", 8, 0.5), ("A", 8, 0.5), ("A", 8, 0.52), ("B", 8, 0.9)]
FORM += [("A'", 8, 0.85), ("B", 8, 0.95), ("outro", 4, 0.3)]
NAMES = ("Keys", "Vox", "Drums")  # as make_context names its stems


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """The context at 180 BPM, and three mono stems to its length: tones for the keys
    (440 Hz) and the voice (660 Hz), noise for the drums."""
    context = make_context(tempo_bpm=180.0, form=FORM)
    folder = tmp_path_factory.mktemp("moves")
    t = np.arange(round((context.duration_s + 1.0) * RATE)) / RATE
    noise = np.random.default_rng(3).normal(0.0, 0.05, t.size)
    paths = []
    for name, signal in zip(
        NAMES,
        (0.2 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t), noise),
        strict=True,
    ):
        paths.append(str(folder / f"{name}.wav"))
        decode.write(
            paths[-1],
            signal[np.newaxis].astype(np.float32),
            sample_rate=RATE,
            format="WAV",
            subtype="FLOAT",
        )
    return context, paths


def audition(song, tmp_path, names):
    context, paths = song
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


def test_the_audition_plays_the_first_move_that_mutes_a_stem(song, tmp_path):
    idea, with_song, alone = audition(song, tmp_path, NAMES)

    moves = idea["moves"]
    assert moves[0]["kind"] == "shorten-intro" and moves[0]["mute_stems"] == []
    heard = idea["audition"]["move"]
    assert heard == 1 and moves[heard]["kind"] == "mute-for-contrast"
    assert [m["kind"] for m in moves[2:]] == ["vary-repeat", "breakdown"]
    start = idea["audition"]["start_s"]
    a = round((moves[heard]["start_s"] - start) * RATE)
    b = round((moves[heard]["end_s"] - start) * RATE)
    assert a == pytest.approx(2 * 4 * RATE / 3, abs=2)  # two bars of 1.333 s lead in
    # Before the move both play the same; in it, the difference is the keys' tone.
    np.testing.assert_allclose(with_song[: a - 10], alone[: a - 10], atol=2e-7)
    dropped = alone[a + 1000 : b - 1000] - with_song[a + 1000 : b - 1000]
    spectrum = np.abs(np.fft.rfft(dropped))
    assert np.fft.rfftfreq(dropped.size, 1 / RATE)[np.argmax(spectrum)] == pytest.approx(440, abs=2)
    assert np.sqrt(np.mean(dropped**2)) == pytest.approx(0.2 / np.sqrt(2), rel=0.05)


def test_without_a_move_to_play_both_files_are_the_first_moves_passage(song, tmp_path):
    idea, with_song, alone = audition(song, tmp_path, ("Lead", "Choir", "Loops"))

    assert idea["audition"]["move"] is None
    assert idea["audition"]["start_s"] == 0.25  # the shorter intro's passage: bar 1 on
    np.testing.assert_array_equal(with_song, alone)
