"""Tests for arrangement ideas: key, tempo, grid, MIDI, rendering, determinism, moves."""

from __future__ import annotations

import io
import json
import math

import mido
import numpy as np
import pytest

from studio.processing.ideas import Idea, NoteEvent, SongContext, Track, generate
from studio.processing.instruments import render_idea
from studio.processing.midi import from_midi, to_midi
from studio.processing.rhythm import analyze_rhythm
from studio.processing.song_context import Grid
from studio.processing.theory import degree_harmony, scale_pitch_classes
from studio.processing.tonality import analyze_tonality

SAMPLE_RATE = 22050
KEYS = [(0, "major"), (9, "minor"), (6, "major"), (3, "minor")]
SEEDS = [0, 1, 2]
# (label, bars, energy): intro of 12 bars, then verse/chorus pairs and an outro.
SONG_FORM = [("intro", 12, 0.3), ("A", 8, 0.5), ("B", 8, 0.9), ("A", 8, 0.85), ("B", 8, 0.95)]
SONG_FORM += [("outro", 4, 0.3)]
NOTE_KINDS = [
    ("chords", None, {"colour": "diatonic"}),
    ("chords", 2, {"colour": "borrowed", "bars": 8}),
    ("chords", None, {"colour": "secondary"}),
    ("reharmonise", 1, {"colour": "diatonic"}),
    ("reharmonise", 2, {"colour": "borrowed"}),
    ("reharmonise", 3, {"colour": "secondary"}),
    ("drums", 2, {"style": "funk", "feel": "swung"}),
    ("bass", 1, {"style": "roots"}),
    ("bass", 2, {"style": "octaves", "drum_style": "four-on-the-floor"}),
    ("bass", 3, {"style": "walking", "feel": "swung"}),
    ("melody", 1, {"density": "sparse"}),
    ("melody", 2, {"density": "busy", "low": 55, "high": 79}),
]


def make_context(
    tonic: int = 9,
    mode: str = "minor",
    tempo_bpm: float = 96.0,
    *,
    form: list[tuple[str, int, float]] | None = None,
    drift: float = 0.0,
) -> SongContext:
    """A song on a beat grid (optionally drifting by up to ``drift`` of a beat period), with
    sections, a chord per bar (a diatonic loop per label, one chord of the verse borrowed from
    outside the key) and stems."""
    form = form or SONG_FORM
    n_bars = sum(bars for _, bars, _ in form)
    period_s = 60.0 / tempo_bpm
    phase = np.arange(n_bars * 4)
    periods = period_s * (1.0 + drift * np.sin(2 * np.pi * phase / 37.0))
    beats = 0.25 + np.concatenate([[0.0], np.cumsum(periods)[:-1]])
    bar_s = [float(beats[4 * b]) for b in range(n_bars)] + [float(beats[-1] + periods[-1])]
    sections, chords, bar = [], [], 0
    loops = {
        "major": {"A": (0, 5, 3, 4), "B": (3, 4, 5, 0)},
        "minor": {"A": (0, 5, 2, 6), "B": (5, 6, 0, 0)},
    }
    for label, bars, energy in form:
        sections.append((bar_s[bar], bar_s[bar + bars], label, energy))
        loop = loops[mode].get(label.rstrip("'"), loops[mode]["A"])
        for i in range(bars):
            h = degree_harmony(loop[i % 4], tonic=tonic, mode=mode)
            root, quality = h.root, h.quality
            if label == "A" and i == 6:  # bVII in major, IV (major) in minor: outside the key
                root, quality = (
                    ((tonic + 10) % 12, "maj") if mode == "major" else ((tonic + 5) % 12, "maj")
                )
            chords.append((bar_s[bar + i], bar_s[bar + i + 1], root, quality))
        bar += bars
    stems = (
        ("Keys", "keys", tuple(-20.0 + (i % 2) for i in range(len(form)))),
        (
            "Vox",
            "vocals",
            tuple(None if i in (0, len(form) - 1) else -14.0 for i in range(len(form))),
        ),
        ("Drums", "drums", tuple(-12.0 - 6 * (energy < 0.5) for _, _, energy in form)),
    )
    return SongContext(
        tonic=tonic,
        mode=mode,
        tempo_bpm=tempo_bpm,
        beats_s=tuple(float(b) for b in beats),
        downbeats_s=tuple(bar_s[:-1]),
        duration_s=bar_s[-1],
        sections=tuple(sections),
        chords=tuple(chords),
        stems=stems,
    )


@pytest.fixture(scope="module")
def contexts() -> dict[tuple[int, str], SongContext]:
    return {
        (tonic, mode): make_context(tonic, mode, 80.0 + 15 * tonic % 70) for tonic, mode in KEYS
    }


@pytest.fixture(scope="module")
def context() -> SongContext:
    return make_context()


def midi_notes(idea: Idea) -> list[tuple[Track, NoteEvent]]:
    contents = from_midi(to_midi(idea))
    return [(track, note) for track in contents.tracks for note in track.notes]


def chord_at(idea: Idea, beat: float):
    return next(
        c for c in idea.chords if c.start_beat <= beat + 1e-9 < c.start_beat + c.duration_beats
    )


# --------------------------------------------------------------------------- key and tempo


@pytest.mark.parametrize("tonic, mode", KEYS)
@pytest.mark.parametrize("kind, section, options", NOTE_KINDS)
def test_pitched_notes_stay_in_key_except_marked_chords(
    contexts, tonic, mode, kind, section, options
):
    context = contexts[(tonic, mode)]
    scale = set(scale_pitch_classes(tonic=tonic, mode=mode))
    for seed in SEEDS:
        idea = generate(kind, context, section=section, seed=seed, options=options)
        for track, note in midi_notes(idea):
            if track.is_drums or note.pitch % 12 in scale:
                continue
            chord = chord_at(idea, note.start_beat)
            assert chord.source != "diatonic", (idea.title, seed, note)
            assert note.pitch % 12 in chord.pitch_classes, (idea.title, seed, note, chord)


@pytest.mark.parametrize("colour", ["borrowed", "secondary"])
def test_coloured_progressions_mark_their_chromatic_chords(context, colour):
    scale = set(scale_pitch_classes(tonic=context.tonic, mode=context.mode))
    for seed in SEEDS:
        idea = generate("chords", context, seed=seed, options={"colour": colour, "bars": 8})
        marked = [c for c in idea.chords if c.source == colour]
        assert marked, idea.title
        assert all(set(c.pitch_classes) - scale for c in marked if colour == "secondary")
        assert all(set(c.pitch_classes) <= scale for c in idea.chords if c.source == "diatonic")


@pytest.mark.parametrize("kind, section, options", NOTE_KINDS)
def test_midi_tempo_is_the_songs(contexts, kind, section, options):
    for context in contexts.values():
        idea = generate(kind, context, section=section, seed=1, options=options)
        contents = from_midi(to_midi(idea))
        assert contents.tempo_bpm == pytest.approx(context.tempo_bpm, abs=1e-3)
        assert (contents.numerator, contents.denominator, contents.ticks_per_beat) == (4, 4, 480)


@pytest.mark.parametrize("tonic, mode", [(0, "major"), (9, "minor"), (7, "major"), (4, "minor")])
@pytest.mark.parametrize("colour", ["diatonic", "borrowed", "secondary"])
def test_rendered_eight_bar_chords_are_heard_in_the_songs_key(tonic, mode, colour):
    context = make_context(tonic, mode, 100.0)
    idea = generate("chords", context, seed=1, options={"bars": 8, "colour": colour})
    report = analyze_tonality(
        render_idea(idea, context, sample_rate=SAMPLE_RATE), sample_rate=SAMPLE_RATE
    )
    assert (report.tonic, report.mode) == (tonic, mode), idea.title


# Drums alone at 100 BPM or slower with busy or swung hats are often heard at double tempo
# by the rhythm analyser (no harmony to settle the metrical level); the MIDI tempo is exact.
@pytest.mark.parametrize(
    "tempo_bpm, style", [(92.0, "rock"), (120.0, "pop"), (100.0, "four-on-the-floor")]
)
def test_rendered_drums_are_heard_at_the_songs_tempo(tempo_bpm, style):
    context = make_context(2, "major", tempo_bpm)
    idea = generate("drums", context, section=2, seed=5, options={"style": style})
    report = analyze_rhythm(
        render_idea(idea, context, sample_rate=SAMPLE_RATE), sample_rate=SAMPLE_RATE
    )
    assert report.tempo_bpm == pytest.approx(tempo_bpm, rel=0.02)


# --------------------------------------------------------------------------- grid and rendering


@pytest.mark.parametrize(
    "kind, options, steps_per_beat",
    [
        ("drums", {"style": "rock"}, 4),
        ("drums", {"style": "hip-hop", "feel": "swung"}, 6),
        ("drums", {"style": "pop", "feel": "swung"}, 6),
        ("melody", {"density": "sparse"}, 2),
        ("melody", {"density": "busy"}, 4),
        ("chords", {}, 2),
        ("bass", {"style": "octaves"}, 4),
    ],
)
def test_onsets_fall_on_beat_subdivisions(context, kind, options, steps_per_beat):
    for seed in SEEDS:
        idea = generate(kind, context, section=2, seed=seed, options=options)
        for _, note in midi_notes(idea):
            steps = note.start_beat * steps_per_beat
            assert steps == pytest.approx(round(steps), abs=1e-6), (idea.title, note)
            assert 0 <= note.start_beat < idea.beats


def test_swung_drums_move_the_off_beats(context):
    straight = generate("drums", context, section=2, seed=0, options={"style": "rock"})
    swung = generate(
        "drums", context, section=2, seed=0, options={"style": "rock", "feel": "swung"}
    )
    assert any(n.start_beat % 1 == 0.5 for n in straight.tracks[0].notes)
    offbeats = {round(n.start_beat % 1, 4) for n in swung.tracks[0].notes}
    assert 0.5 not in offbeats and round(2 / 3, 4) in offbeats


def test_ideas_are_placed_on_their_section(context):
    grid = Grid(context)
    idea = generate("melody", context, section=3, seed=0)
    assert (idea.start_bar, idea.bars) == (28, 8)
    assert idea.start_s == pytest.approx(context.sections[3].start_s, abs=1e-6)
    new = generate("chords", context, seed=0)
    assert new.start_bar == grid.n_bars == 48
    assert new.start_s == pytest.approx(context.duration_s, abs=1e-6)


def test_render_follows_a_drifting_beat_grid():
    context = make_context(drift=0.04)
    grid = Grid(context)
    kicks = (NoteEvent(36, 0.0, 0.25, 120), NoteEvent(36, 9.0, 0.25, 120))
    base = generate("drums", context, section=1, seed=0)
    idea = Idea(**{**base.__dict__, "tracks": (Track("Drums", 0, True, kicks),)})
    audio = render_idea(idea, context, sample_rate=SAMPLE_RATE)
    song_beat = grid.bar_start_beat(idea.start_bar)
    expected_s = float(grid.time_s(song_beat + 9)[0]) - idea.start_s
    steady_s = 9 * 60.0 / context.tempo_bpm
    assert abs(expected_s - steady_s) > 0.02  # the drift is large enough to tell apart
    loud = np.flatnonzero(np.abs(audio[0]) > 0.05)
    assert loud[0] / SAMPLE_RATE < 0.002
    second = loud[loud > (expected_s - 0.1) * SAMPLE_RATE][0] / SAMPLE_RATE
    assert second == pytest.approx(expected_s, abs=0.003)


@pytest.mark.parametrize("kind, section, options", NOTE_KINDS[::3])
def test_rendered_audio_shape_level_and_length(context, kind, section, options):
    idea = generate(kind, context, section=section, seed=0, options=options)
    audio = render_idea(idea, context, sample_rate=SAMPLE_RATE)
    grid = Grid(context)
    span_s = float(grid.time_s(grid.bar_start_beat(idea.start_bar) + idea.beats)[0]) - idea.start_s
    assert audio.dtype == np.float32 and audio.shape == (2, round((span_s + 1.0) * SAMPLE_RATE))
    peak_db = 20 * math.log10(float(np.max(np.abs(audio))))
    assert -30.0 < peak_db <= -1.0 + 1e-4


# --------------------------------------------------------------------------- MIDI files


@pytest.mark.parametrize("kind, section, options", NOTE_KINDS)
def test_midi_round_trip_keeps_notes_and_programs(context, kind, section, options):
    idea = generate(kind, context, section=section, seed=2, options=options)
    contents = from_midi(to_midi(idea))
    assert [(t.name, t.program, t.is_drums) for t in contents.tracks] == [
        (t.name, t.program, t.is_drums) for t in idea.tracks
    ]
    for read, written in zip(contents.tracks, idea.tracks, strict=True):
        assert sorted(read.notes) == sorted(written.notes)


def test_midi_file_is_type_one_with_drums_on_channel_ten(context):
    idea = generate("drums", context, section=2, seed=0)
    song = mido.MidiFile(file=io.BytesIO(to_midi(idea)))
    assert song.type == 1 and song.ticks_per_beat == 480 and len(song.tracks) == 2
    channels = {m.channel for m in song.tracks[1] if m.type in ("note_on", "program_change")}
    assert channels == {9}
    tempos = [m.tempo for m in song.tracks[0] if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(context.tempo_bpm)]


def test_moves_have_no_midi_or_audio(context):
    idea = generate("moves", context)
    with pytest.raises(ValueError, match="no notes"):
        to_midi(idea)
    with pytest.raises(ValueError, match="no notes"):
        render_idea(idea, context)


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("kind, section, options", NOTE_KINDS + [("moves", None, {})])
def test_same_seed_same_idea(context, kind, section, options):
    first = generate(kind, context, section=section, seed=7, options=options)
    again = generate(kind, context, section=section, seed=7, options=dict(options))
    assert first == again


@pytest.mark.parametrize("kind, section, options", NOTE_KINDS)
def test_other_seeds_give_variations(context, kind, section, options):
    ideas = [generate(kind, context, section=section, seed=s, options=options) for s in range(6)]
    distinct = {json.dumps([t.to_dict() for t in idea.tracks]) for idea in ideas}
    assert len(distinct) >= 2


@pytest.mark.parametrize("kind, section, options", NOTE_KINDS + [("moves", None, {})])
def test_idea_round_trips_through_json(context, kind, section, options):
    idea = generate(kind, context, section=section, seed=3, options=options)
    assert Idea.from_dict(json.loads(json.dumps(idea.to_dict()))) == idea


def test_context_round_trips_through_json(context):
    assert SongContext.from_dict(json.loads(json.dumps(context.to_dict()))) == context


# --------------------------------------------------------------------------- parts


@pytest.mark.parametrize("style", ["roots", "octaves", "walking"])
@pytest.mark.parametrize("feel", ["straight", "swung"])
def test_bass_lands_on_every_kick_of_the_matching_drums(context, style, feel):
    for seed in SEEDS:
        bass = generate(
            "bass", context, section=2, seed=seed, options={"style": style, "feel": feel}
        )
        drum_options = {"style": bass.options["drum_style"], "feel": feel, "fill": False}
        drums = generate("drums", context, section=2, seed=seed, options=drum_options)
        kicks = {n.start_beat for n in drums.tracks[0].notes if n.pitch == 36}
        onsets = {n.start_beat for n in bass.tracks[0].notes}
        assert kicks <= onsets, bass.title
        if style == "roots":
            changes = {c.start_beat for c in bass.chords}
            assert onsets <= kicks | changes
        assert "kick" in bass.reasoning


def test_bass_plays_chord_roots_on_chord_changes(context):
    idea = generate("bass", context, section=1, seed=0, options={"style": "walking"})
    for chord in idea.chords:
        first = next(n for n in idea.tracks[0].notes if n.start_beat == chord.start_beat)
        assert first.pitch % 12 == chord.root


@pytest.mark.parametrize("density", ["sparse", "busy"])
def test_melody_puts_chord_tones_on_strong_beats_within_range(context, density):
    for seed in SEEDS:
        idea = generate("melody", context, section=1, seed=seed, options={"density": density})
        notes = idea.tracks[0].notes
        assert all(60 <= n.pitch <= 81 for n in notes)
        for n in notes:
            if n.start_beat % 2 == 0:
                assert n.pitch % 12 in chord_at(idea, n.start_beat).pitch_classes


def test_chord_voicings_move_little(context):
    for seed in SEEDS:
        idea = generate("chords", context, seed=seed, options={"bars": 8})
        keys = idea.tracks[0].notes
        by_start: dict[float, list[int]] = {}
        for n in keys:
            by_start.setdefault(n.start_beat, []).append(n.pitch)
        voicings = [sorted(v) for _, v in sorted(by_start.items())]
        pairs = zip(voicings, voicings[1:], strict=False)
        moves = [sum(abs(a - b) for a, b in zip(x, y, strict=True)) / 4 for x, y in pairs]
        assert max(moves) <= 4.0 and np.mean(moves) <= 2.0


def test_reharmonisation_keeps_common_tones(context):
    original = generate("bass", context, section=2, seed=0).chords
    for seed in SEEDS:
        idea = generate("reharmonise", context, section=2, seed=seed)
        changed = 0
        for chord in idea.chords:
            old = chord_at(generate("bass", context, section=2, seed=0), chord.start_beat)
            if (old.root, old.quality) != (chord.root, chord.quality):
                changed += 1
                assert len(set(old.pitch_classes) & set(chord.pitch_classes)) >= 2
        assert changed >= len(original) // 2
        assert "Reharmonised" in idea.reasoning


# --------------------------------------------------------------------------- moves


def test_moves_find_long_intro_unchanged_repeat_breakdown_and_mute():
    form = [("intro", 12, 0.3), ("A", 8, 0.5), ("A", 8, 0.5), ("A", 8, 0.52), ("B", 8, 0.9)]
    form += [("A'", 8, 0.85), ("B", 8, 0.95), ("outro", 4, 0.3)]
    context = make_context(form=form)
    idea = generate("moves", context)
    kinds = {m.kind: m for m in idea.moves}
    assert set(kinds) == {"shorten-intro", "vary-repeat", "breakdown", "mute-for-contrast"}
    assert (kinds["shorten-intro"].start_bar, kinds["shorten-intro"].end_bar) == (0, 36)
    # the second half of the three A sections (bars 13 to 36), heard without the keys
    assert (kinds["vary-repeat"].start_bar, kinds["vary-repeat"].end_bar) == (24, 36)
    assert "from bar 13" in kinds["vary-repeat"].message
    assert kinds["vary-repeat"].mute_stems == ("Keys",)
    assert (kinds["breakdown"].start_bar, kinds["breakdown"].end_bar) == (48, 52)
    assert kinds["mute-for-contrast"].message.startswith("Mute the Keys")
    assert kinds["mute-for-contrast"].mute_stems == ("Keys",)
    assert kinds["breakdown"].mute_stems == ("Drums",)
    grid = Grid(context)
    for move in idea.moves:
        assert move.start_s == pytest.approx(grid.bar_time_s(move.start_bar), abs=1e-3)
        assert (
            f"bar {move.start_bar + 1}" in move.message
            or f"bars {move.start_bar + 1}" in move.message
        )
    assert idea.tracks == () and "0.95" in idea.reasoning


def test_a_well_built_song_needs_no_moves():
    form = [("intro", 4, 0.3), ("A", 8, 0.5), ("B", 8, 0.9), ("C", 8, 0.4), ("B", 8, 0.95)]
    data = make_context(form=form).to_dict()
    data["stems"] = [["Keys", "keys", [-30.0, -22.0, -18.0, -26.0, -17.0]]]  # it comes and goes
    idea = generate("moves", SongContext.from_dict(data))
    assert idea.moves == () and idea.title == "Arrangement: 0 moves"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kind, section, seed, options, message",
    [
        ("solo", None, 0, {}, "kind"),
        ("chords", None, 0, {"bars": 6}, "bars"),
        ("chords", None, 0, {"colour": "jazzy"}, "colour"),
        ("chords", None, 0, {"tempo": 90}, "unknown"),
        ("drums", 0, 0, {"style": "polka"}, "style"),
        ("drums", 0, 0, {"fill": "yes"}, "fill"),
        ("drums", 0, 0, {"feel": "shuffle"}, "feel"),
        ("bass", 0, 0, {"style": "slap"}, "style"),
        ("melody", 0, 0, {"density": "medium"}, "density"),
        ("melody", 0, 0, {"low": 70, "high": 75}, "high - low"),
        ("reharmonise", None, 0, {}, "section"),
        ("chords", 99, 0, {}, "section"),
        ("chords", None, -1, {}, "seed"),
        ("moves", None, 0, {"bars": 4}, "unknown"),
    ],
)
def test_bad_requests_raise_clear_errors(context, kind, section, seed, options, message):
    with pytest.raises(ValueError, match=message):
        generate(kind, context, section=section, seed=seed, options=options)


def test_reharmonising_a_section_without_chords_is_refused(context):
    bare = SongContext.from_dict({**context.to_dict(), "chords": []})
    with pytest.raises(ValueError, match="no detected chords"):
        generate("reharmonise", bare, section=1, seed=0)


def test_ideas_without_song_chords_fall_back_to_a_diatonic_loop(context):
    bare = SongContext.from_dict({**context.to_dict(), "chords": []})
    idea = generate("melody", bare, section=1, seed=0)
    assert "no chords were detected" in idea.reasoning
    assert all(c.source == "diatonic" for c in idea.chords)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"tonic": 12}, "tonic"),
        ({"mode": "dorian"}, "mode"),
        ({"tempo_bpm": 0}, "tempo_bpm"),
        ({"beats_per_bar": 3}, "beats_per_bar"),
        ({"beats_s": [1.0, 0.5]}, "beats_s"),
        ({"sections": [[0.0, 10.0, "A", 1.5]]}, "energy"),
        ({"chords": [[0.0, 2.0, 3, "aug"]]}, "quality"),
        ({"chords": [[0.0, 2.0, None, "maj"]]}, "root"),
        ({"stems": [["Keys", "keys", [-20.0]]]}, "one per section"),
        ({"stems": [["Keys", "kazoo", []]]}, "role"),
        ({"colour": "red"}, "unknown fields"),
    ],
)
def test_bad_context_raises(context, change, message):
    with pytest.raises(ValueError, match=message):
        SongContext.from_dict({**context.to_dict(), **change})


def test_chord_names_from_the_chord_analyser_are_accepted(context):
    data = context.to_dict()
    data["chords"] = [
        [s, e, r, {"maj": "major", "min": "minor"}.get(q, q)] for s, e, r, q in data["chords"]
    ]
    assert SongContext.from_dict(data).chords == context.chords


def test_bars_before_the_first_downbeat_found_still_count():
    beats = tuple(0.5 * i for i in range(64))  # 120 BPM from 0 s
    context = SongContext(
        tonic=0,
        mode="major",
        tempo_bpm=120.0,
        beats_s=beats,
        downbeats_s=beats[8::4],
        duration_s=32.0,
    )
    grid = Grid(context)
    assert grid.bar_time_s(0) == 0.0 and grid.bar_time_s(4) == 8.0
    assert grid.bar_at(16.0) == 8


def test_a_bar_before_the_first_beat_found_counts_too():
    beats = tuple(0.5 * i for i in range(1, 64))  # the beat at 0 s was missed
    context = SongContext(
        tonic=0,
        mode="major",
        tempo_bpm=120.0,
        beats_s=beats,
        downbeats_s=beats[3::4],
        duration_s=32.0,
    )
    grid = Grid(context)
    assert grid.bar_time_s(0) == pytest.approx(0.0) and grid.bar_at(16.0) == 8
