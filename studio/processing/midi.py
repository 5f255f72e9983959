"""Standard MIDI Files for ideas, written and read with mido.

:func:`to_midi` writes a type 1 file at 480 ticks per beat: a first track with the tempo (the
song's ``tempo_bpm``), a 4/4 time signature, the key signature and the idea's title, then one
track per :class:`~studio.processing.ideas.Track` with its name and program change. Drums go
on channel 10 (index 9); pitched tracks take channels 1, 2, 3, ... skipping 10. Any DAW opens
it at the right tempo, with the idea starting on bar 1.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import mido

from studio.processing.ideas import Idea, NoteEvent, Track

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9
# Key signatures mido accepts, by tonic pitch class.
MAJOR_KEYS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_KEYS = ("Cm", "C#m", "Dm", "D#m", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")


@dataclass(frozen=True)
class MidiContents:
    """What :func:`from_midi` reads back.

    Attributes
    ----------
    tempo_bpm : float
        From the first tempo event (120 if there is none, as the MIDI standard says).
    numerator, denominator : int
        Time signature (4/4 if there is none).
    ticks_per_beat : int
        The file's resolution.
    tracks : tuple of Track
        Tracks with notes, in file order; note times in beats.
    """

    tempo_bpm: float
    numerator: int
    denominator: int
    ticks_per_beat: int
    tracks: tuple[Track, ...]


def to_midi(idea: Idea) -> bytes:
    """The idea as a Standard MIDI File (type 1, 480 ticks per beat), as bytes.

    Raises
    ------
    ValueError
        For a ``moves`` idea (it has no notes) or more than 15 pitched tracks.
    """
    if not idea.tracks:
        raise ValueError(f"idea: a {idea.kind!r} idea has no notes to write as MIDI")
    song = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    song.tracks.append(_conductor(idea))
    channels = iter(c for c in range(16) if c != DRUM_CHANNEL)
    for track in idea.tracks:
        channel = DRUM_CHANNEL if track.is_drums else next(channels, None)
        if channel is None:
            raise ValueError("idea: expected at most 15 pitched tracks")
        song.tracks.append(_note_track(track, channel))
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def _conductor(idea: Idea) -> mido.MidiTrack:
    keys = MAJOR_KEYS if idea.mode == "major" else MINOR_KEYS
    return mido.MidiTrack(
        [
            mido.MetaMessage("track_name", name=_latin1(idea.title), time=0),
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(idea.tempo_bpm), time=0),
            mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
            mido.MetaMessage("key_signature", key=keys[idea.tonic], time=0),
            mido.MetaMessage("end_of_track", time=0),
        ]
    )


def _latin1(text: str) -> str:
    """MIDI text events are bytes: keep what Latin-1 can hold (dashes become hyphens)."""
    text = text.replace("\u2013", "-").replace("\u2014", "-")[:120]
    return text.encode("latin-1", "replace").decode("latin-1")


def _note_track(track: Track, channel: int) -> mido.MidiTrack:
    events: list[tuple[int, int, mido.Message]] = []
    for note in track.notes:
        start = round(note.start_beat * TICKS_PER_BEAT)
        end = max(start + 1, round((note.start_beat + note.duration_beats) * TICKS_PER_BEAT))
        on = mido.Message("note_on", channel=channel, note=note.pitch, velocity=note.velocity)
        off = mido.Message("note_off", channel=channel, note=note.pitch, velocity=0)
        events += [(start, 1, on), (end, 0, off)]  # at equal ticks, offs first
    events.sort(key=lambda event: (event[0], event[1]))
    out = mido.MidiTrack([mido.MetaMessage("track_name", name=_latin1(track.name), time=0)])
    out.append(mido.Message("program_change", channel=channel, program=track.program, time=0))
    now = 0
    for tick, _, message in events:
        out.append(message.copy(time=tick - now))
        now = tick
    out.append(mido.MetaMessage("end_of_track", time=0))
    return out


def from_midi(data: bytes) -> MidiContents:
    """Read a MIDI file's tempo, time signature and notes (times in beats).

    A note is a note_on with velocity > 0 up to the next note_off (or note_on with velocity
    0) of the same channel and pitch. A track's program is its first program change (0 if
    none); it counts as drums when its notes are on channel 10.
    """
    song = mido.MidiFile(file=io.BytesIO(data))
    tempo_bpm, numerator, denominator = 120.0, 4, 4
    tracks = []
    for midi_track in song.tracks:
        found = _read_track(midi_track, song.ticks_per_beat)
        if found["tempo"] is not None and tempo_bpm == 120.0:
            tempo_bpm = found["tempo"]
        if found["signature"] is not None:
            numerator, denominator = found["signature"]
        if found["track"] is not None:
            tracks.append(found["track"])
    return MidiContents(tempo_bpm, numerator, denominator, song.ticks_per_beat, tuple(tracks))


def _read_track(midi_track: mido.MidiTrack, ticks_per_beat: int) -> dict:
    now, name, program, drums = 0, "", 0, False
    tempo = signature = None
    sounding: dict[tuple[int, int], tuple[int, int]] = {}
    notes: list[NoteEvent] = []
    for message in midi_track:
        now += message.time
        if message.type == "track_name":
            name = message.name
        elif message.type == "set_tempo" and tempo is None:
            tempo = mido.tempo2bpm(message.tempo)
        elif message.type == "time_signature":
            signature = (message.numerator, message.denominator)
        elif message.type == "program_change":
            program = message.program
        elif message.type in ("note_on", "note_off"):
            drums = drums or message.channel == DRUM_CHANNEL
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                sounding[key] = (now, message.velocity)
            elif key in sounding:
                start, velocity = sounding.pop(key)
                notes.append(
                    NoteEvent(
                        message.note,
                        start / ticks_per_beat,
                        (now - start) / ticks_per_beat,
                        velocity,
                    )
                )
    notes.sort(key=lambda n: (n.start_beat, n.pitch))
    track = Track(name, program, drums, tuple(notes)) if notes else None
    return {"tempo": tempo, "signature": signature, "track": track}
