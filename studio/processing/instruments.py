"""Rendering ideas to audio with the engine's own instruments, on the song's beat grid.

Pitched tracks use the voices of :mod:`studio.processing.synth` by General MIDI program
family: basses (programs 32-39) the bass voice, pianos, organs, guitars, strings, pads and
the like the electric-piano voice, leads and everything else the lead voice. Drums follow the
General MIDI drum map: kick (35, 36), snare and clap (37-40), hi-hats (42, 44, 46), toms
(41-50), crash and ride (49, 51, 52, 55, 57, 59); the kick, snare and closed hat are
synth's, the rest are written here.

Timing: an idea's beat ``b`` sounds at the song time of its song beat, interpolated on the
song's own beat times (:class:`~studio.processing.song_context.Grid`), so the idea follows a
song whose tempo drifts. Sample 0 of the result is song time ``idea.start_s``.
"""

from __future__ import annotations

import numpy as np

from studio.processing import synth
from studio.processing.ideas import Idea, Track
from studio.processing.song_context import Grid, SongContext

TAIL_S = 1.0
PEAK_DBFS = -1.0
TRACK_RMS_DBFS = {"drums": -20.0, "bass": -21.0, "keys": -23.0, "lead": -22.0}
PANS = {"drums": 0.0, "bass": 0.0, "keys": -0.2, "lead": 0.15}
HAT_PAN = 0.3
TOM_HZ = {41: 82.0, 43: 98.0, 45: 110.0, 47: 131.0, 48: 147.0, 50: 165.0}


def render_idea(idea: Idea, context: SongContext, *, sample_rate: int = 44100) -> np.ndarray:
    """Render an idea's tracks to stereo audio placed on the song's beat grid.

    Parameters
    ----------
    idea : Idea
        Any idea with tracks (not ``moves``).
    context : SongContext
        The song it belongs to: its beat times place the notes.
    sample_rate : int
        Output sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(2, n_samples)``: from song time ``idea.start_s`` to the end of the
        idea's last bar plus a 1 s tail. Each track is brought to a level for its role, and
        the sum is scaled so its peak is at most -1 dBFS.

    Raises
    ------
    ValueError
        For an idea without tracks or a bad sample rate.
    """
    if not idea.tracks:
        raise ValueError(f"idea: a {idea.kind!r} idea has no notes to render")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 8000:
        raise ValueError(f"sample_rate: expected an int >= 8000 Hz, found {sample_rate!r}")
    grid = Grid(context)
    song_beat = grid.bar_start_beat(idea.start_bar)
    end_s = float(grid.time_s(song_beat + idea.beats)[0])
    n_samples = round((end_s - idea.start_s + TAIL_S) * sample_rate)
    mix = np.zeros((2, n_samples))
    for track in idea.tracks:
        mix += _render_track(track, grid, song_beat, idea.start_s, n_samples, sample_rate)
    peak = float(np.max(np.abs(mix)))
    ceiling = 10.0 ** (PEAK_DBFS / 20.0)
    if peak > ceiling:
        mix *= ceiling / peak
    return mix.astype(np.float32)


def _role(track: Track) -> str:
    if track.is_drums:
        return "drums"
    if 32 <= track.program <= 39:
        return "bass"
    if track.program < 32 or 40 <= track.program <= 55 or 88 <= track.program <= 95:
        return "keys"
    return "lead"


def _render_track(
    track: Track, grid: Grid, song_beat: float, start_s: float, n_samples: int, sample_rate: int
) -> np.ndarray:
    role = _role(track)
    out = np.zeros((2, n_samples))
    if not track.notes:
        return out
    rng = np.random.default_rng(len(track.notes))
    starts = np.array([n.start_beat for n in track.notes]) + song_beat
    ends = starts + np.array([n.duration_beats for n in track.notes])
    onsets_s = grid.time_s(starts) - start_s
    lengths_s = grid.time_s(ends) - start_s - onsets_s
    cache: dict[tuple[int, int], np.ndarray] = {}
    for note, onset_s, length_s in zip(track.notes, onsets_s, lengths_s, strict=True):
        if role == "drums":
            tone, pan = _drum(note.pitch, sample_rate, rng)
        else:
            key = (note.pitch, round(length_s * 1000))
            if key not in cache:
                cache[key] = _pitched(role, note.pitch, float(length_s), sample_rate)
            tone, pan = cache[key], PANS[role]
        _add(out, tone * (note.velocity / 127.0), pan, float(onset_s), sample_rate)
    return _level(out, role)


def _pitched(role: str, pitch: int, length_s: float, sample_rate: int) -> np.ndarray:
    voice = {"bass": synth._bass_voice, "keys": synth._keys_voice, "lead": synth._lead_voice}[role]
    return voice(
        frequency_hz=synth.midi_to_hz(pitch), length_s=max(0.02, length_s), sample_rate=sample_rate
    )


def _drum(pitch: int, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A drum sound for a GM drum note, and its pan (-1 left .. 1 right)."""
    if pitch in (35, 36):
        return synth._kick_voice(sample_rate=sample_rate, rng=rng), 0.0
    if pitch in (37, 38, 40):
        return synth._snare_voice(sample_rate=sample_rate, rng=rng), 0.0
    if pitch == 39:
        return _clap(sample_rate, rng), 0.0
    if pitch in (42, 44):
        return synth._hat_voice(sample_rate=sample_rate, rng=rng), HAT_PAN
    if pitch == 46:
        return _noise_hit(sample_rate, rng, length_s=0.35, cutoff_hz=6000.0, level=0.4), HAT_PAN
    if pitch in TOM_HZ:
        return _tom(TOM_HZ[pitch], sample_rate), (pitch - 45) / 12.0
    if pitch in (49, 52, 55, 57):
        return _noise_hit(sample_rate, rng, length_s=1.5, cutoff_hz=4000.0, level=0.45), -0.3
    if pitch in (51, 53, 59):
        return _ride(sample_rate, rng), -HAT_PAN
    return synth._hat_voice(sample_rate=sample_rate, rng=rng), 0.0


def _times(length_s: float, sample_rate: int) -> np.ndarray:
    return np.arange(round(length_s * sample_rate)) / sample_rate


def _noise_hit(
    sample_rate: int, rng: np.random.Generator, *, length_s: float, cutoff_hz: float, level: float
) -> np.ndarray:
    """High-passed noise with an exponential decay over ``length_s`` s (cymbals, open hat)."""
    t = _times(length_s, sample_rate)
    noise = synth._highpass(
        rng.standard_normal(t.size),
        cutoff_hz=min(cutoff_hz, 0.35 * sample_rate),
        sample_rate=sample_rate,
    )
    return level * noise * np.exp(-t / (length_s / 5.0))


def _ride(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A ride: a short noise wash over two inharmonic partials (a bell)."""
    t = _times(0.6, sample_rate)
    bell = 0.15 * (np.sin(2 * np.pi * 3100.0 * t) + np.sin(2 * np.pi * 4730.0 * t))
    return _noise_hit(sample_rate, rng, length_s=0.6, cutoff_hz=5000.0, level=0.3) + bell * np.exp(
        -t / 0.15
    )


def _tom(frequency_hz: float, sample_rate: int) -> np.ndarray:
    """A tom: a sine gliding down a little from above its pitch, decaying in about 0.3 s."""
    t = _times(0.5, sample_rate)
    frequency = frequency_hz * (1.0 + 0.3 * np.exp(-t / 0.04))
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    return 0.9 * np.sin(phase) * np.exp(-t / 0.12)


def _clap(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A clap: three quick bursts of band noise, then a short tail."""
    t = _times(0.25, sample_rate)
    noise = synth._highpass(rng.standard_normal(t.size), cutoff_hz=900.0, sample_rate=sample_rate)
    bursts = sum(np.exp(-np.clip(t - d, 0, None) / 0.006) * (t >= d) for d in (0.0, 0.011, 0.022))
    return 0.35 * noise * (bursts + 0.4 * np.exp(-t / 0.08))


def _add(out: np.ndarray, tone: np.ndarray, pan: float, onset_s: float, sample_rate: int) -> None:
    start = round(onset_s * sample_rate)
    if start >= out.shape[1] or start + tone.size <= 0:
        return
    gains = (min(1.0, 1.0 - pan), min(1.0, 1.0 + pan))
    skip = max(0, -start)
    end = min(out.shape[1], start + tone.size)
    piece = tone[skip : end - start]
    for channel, gain in enumerate(gains):
        out[channel, start + skip : end] += gain * piece


def _level(signal: np.ndarray, role: str) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(signal))))
    if rms == 0.0:
        return signal
    return signal * (10.0 ** (TRACK_RMS_DBFS[role] / 20.0) / rms)
