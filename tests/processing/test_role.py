"""Role guess: synth stems, noise and silence by their sound; file names as hints only."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from studio.processing import synth
from studio.processing.frontend import FRAME_RATE_HZ, N_BINS, SpectralFrames, SpectralFrontEnd
from studio.processing.role import (
    HINT_BONUS,
    ROLES,
    RoleFeatures,
    RoleGuess,
    ShapeReport,
    SpectralShape,
    guess_role,
    role_features,
    roles_named_in,
)
from studio.processing.spectrum import SpectrumAnalyzer
from studio.processing.stereo import StereoAnalyzer

SEED = 20_240_613
RATE = 44_100


def features_of(signal: np.ndarray, *, sample_rate: int = RATE) -> RoleFeatures:
    """Run a (channels, n) signal through the front end, spectrum, shape and stereo analyzers."""
    signal = np.atleast_2d(signal).astype(np.float32)
    spectrum, shape = SpectrumAnalyzer(), SpectralShape()
    stereo = StereoAnalyzer(sample_rate=sample_rate, channels=signal.shape[0])

    def sink(frames: SpectralFrames) -> None:
        spectrum.push(frames)
        shape.push(frames)

    front = SpectralFrontEnd(sample_rate=sample_rate, channels=signal.shape[0], sink=sink)
    for start in range(0, signal.shape[1], 65_536):
        block = signal[:, start : start + 65_536]
        front.push(block)
        stereo.push(block)
    front.finish()
    return role_features(spectrum=spectrum.result(), shape=shape.result(), stereo=stereo.result())


def shape_of(signal: np.ndarray, *, sample_rate: int = RATE) -> ShapeReport:
    signal = np.atleast_2d(signal).astype(np.float32)
    shape = SpectralShape()
    front = SpectralFrontEnd(sample_rate=sample_rate, channels=signal.shape[0], sink=shape.push)
    front.push(signal)
    front.finish()
    return shape.result()


def guess(signal: np.ndarray, file_name: str | None = None, **kwargs: int) -> RoleGuess:
    return guess_role(features=features_of(signal, **kwargs), file_name=file_name)


# Songs in two keys, tempos and channel layouts, so no rule leans on one arrangement.
SONGS = {
    "A minor, 96 bpm, stereo": (dict(tonic=9, mode="minor", tempo_bpm=96.0, seed=0), True),
    "E major, 128 bpm, mono": (dict(tonic=4, mode="major", tempo_bpm=128.0, seed=3), False),
}


@pytest.fixture(scope="module", params=list(SONGS))
def stems(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    song_args, stereo = SONGS[request.param]
    song = synth.compose_song(n_bars=12, **song_args)
    out = synth.render_stems(song, sample_rate=RATE, stereo=stereo, split_drums=True)
    out.update(synth.render_stems(song, sample_rate=RATE, stereo=stereo))
    return out


def noise(*, seconds: float = 8.0, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.05, round(seconds * RATE)).astype(np.float32)


def held_chords(*, stereo: bool) -> np.ndarray:
    """A pad: bright detuned chords, 4 s each, swelling in over 1.5 s, no gaps."""
    rng = np.random.default_rng(SEED)
    t = np.arange(4 * RATE) / RATE
    envelope = np.minimum(1.0, t / 1.5) * np.minimum(1.0, (4.0 - t) / 0.5 + 0.6)
    chords = ((57, 60, 64), (53, 57, 60), (55, 59, 62), (52, 56, 59))
    detunes = (-0.004, 0.004) if stereo else (0.0,)
    bars = []
    for chord in chords:
        channels = []
        for detune in detunes:
            tone = np.zeros_like(t)
            for midi in chord:
                f0 = synth.midi_to_hz(midi) * (1.0 + detune)
                for k in range(1, int(8000 / f0)):
                    tone += np.sin(2 * np.pi * k * f0 * t + k * rng.uniform(0, 6)) / k
            channels.append(envelope * tone)
        bars.append(np.stack(channels))
    return (0.05 * np.concatenate(bars, axis=1)).astype(np.float32)


# Synth stems by their sound ---------------------------------------------------------------


def test_a_drums_stem_is_drums(stems):
    result = guess(stems["drums"])
    assert result.role == "drums"
    assert result.confidence > 0.7


def test_a_bass_stem_is_bass(stems):
    result = guess(stems["bass"])
    assert result.role == "bass"
    assert result.confidence > 0.7
    assert "below 112 Hz" in result.reason and result.reason.endswith("likely bass.")


def test_a_keys_stem_is_keys_not_a_pad(stems):
    # Electric-piano chords with 3 ms attacks and decaying partials: played, not held.
    result = guess(stems["keys"])
    assert result.role == "keys"
    assert result.scores["keys"] > result.scores["pad"]


def test_a_synth_lead_is_keys_not_vocals(stems):
    # A clean, band-limited sawtooth melody: "keys" covers synthesisers. A voice is assumed
    # less cleanly harmonic, so vocals come second, close enough for a name to settle it.
    result = guess(stems["lead"])
    assert result.role == "keys"
    ranked = sorted(result.scores, key=result.scores.get, reverse=True)
    assert ranked[1] == "vocals"
    assert 0.0 < result.scores["keys"] - result.scores["vocals"] < HINT_BONUS


@pytest.mark.parametrize("part", ["kick", "snare"])
def test_a_kick_or_snare_alone_is_drums(stems, part):
    assert guess(stems[part]).role in {"drums", "percussion"}


def test_hats_alone_are_percussion(stems):
    # Unpitched hits with no low end: a shaker would measure the same.
    assert guess(stems["hats"]).role in {"percussion", "drums"}


def test_the_same_stem_in_mono_and_stereo_gets_the_same_role(stems):
    for part in ("drums", "bass", "keys", "lead"):
        signal = stems[part]
        assert guess(signal[:1]).role == guess(signal).role, part


# Noise, pads, silence ---------------------------------------------------------------------


def test_white_noise_is_fx():
    result = guess(noise())
    assert result.role == "fx"
    assert "noise-like" in result.reason


def test_pink_noise_is_fx():
    n = 8 * RATE
    rng = np.random.default_rng(SEED)
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    frequencies = np.fft.rfftfreq(n, d=1 / RATE)
    spectrum[0], spectrum[1:] = 0.0, spectrum[1:] / np.sqrt(frequencies[1:])
    pink = np.fft.irfft(spectrum, n=n)
    assert guess((0.5 * pink / np.abs(pink).max()).astype(np.float32)).role == "fx"


def test_held_wide_chords_are_a_pad():
    result = guess(held_chords(stereo=True))
    assert result.role == "pad"
    assert "wide" in result.reason


@pytest.mark.parametrize("channels", [1, 2])
def test_silence_is_other_with_low_confidence(channels):
    result = guess(np.zeros((channels, 5 * RATE), dtype=np.float32))
    assert result.role == "other"
    assert result.confidence <= 0.1
    assert "silent" in result.reason


# The file name as a hint ------------------------------------------------------------------


def test_a_bass_line_named_vocals_is_still_bass(stems):
    for name in ("vocals.wav", "Lead Vox.flac"):
        result = guess(stems["bass"], name)
        assert result.role == "bass"
        assert result.hint_used
        assert "says otherwise" in result.reason


def test_drums_named_keys_are_still_drums(stems):
    assert guess(stems["drums"], "Rhodes.wav").role == "drums"


def test_a_name_settles_a_clean_melody_between_keys_and_vocals(stems):
    result = guess(stems["lead"], "lead vox.flac")
    assert result.role == "vocals"
    assert result.hint_used
    assert "tipped the balance" in result.reason


def test_a_name_settles_a_held_mono_chord_between_keys_and_pad():
    # Without the width of a stereo pad, held clean chords are keys by a little.
    signal = held_chords(stereo=False)
    plain = guess(signal)
    assert plain.role == "keys"
    assert plain.scores["keys"] - plain.scores["pad"] < HINT_BONUS
    assert guess(signal, "Pad 2.wav").role == "pad"


def test_a_name_that_agrees_raises_the_confidence(stems):
    plain, named = guess(stems["kick"]), guess(stems["kick"], "Kick.wav")
    assert named.role == plain.role == "drums"
    assert named.confidence > plain.confidence
    assert named.reason.endswith("Its name agrees.")


def test_a_name_without_a_role_changes_nothing(stems):
    plain, named = guess(stems["keys"]), guess(stems["keys"], "Bounce_final_v3.wav")
    assert not named.hint_used
    assert named == plain


@pytest.mark.parametrize(
    ("file_name", "roles"),
    [
        ("Kick.wav", {"drums"}),
        ("lead vox.flac", {"vocals"}),
        ("GTR_01", {"guitar"}),
        ("LeadVox_final.wav", {"vocals"}),
        ("LEADVOX.WAV", {"vocals"}),
        ("Bass Drum.aif", {"drums"}),
        ("bassdrum_2.wav", {"drums"}),
        ("808 sub.wav", {"bass"}),
        ("stems/EPiano2.flac", {"keys"}),
        ("C:\\Session\\Overheads.wav", {"drums"}),
        ("drumloop 120bpm.wav", {"drums"}),
        ("Shaker+Tamb.wav", {"percussion"}),
        ("Riser FX.wav", {"fx"}),
        ("Keys and Vox bounce.wav", {"keys", "vocals"}),
        ("subtle.wav", set()),
        ("Mix_v3.wav", set()),
        ("", set()),
        (None, set()),
    ],
)
def test_roles_named_in_file_names(file_name, roles):
    assert roles_named_in(file_name) == roles


# Features ---------------------------------------------------------------------------------


def test_energy_shares_add_up_to_one(stems):
    features = features_of(stems["drums"])
    shares = (
        features.low_share,
        features.low_mid_share,
        features.mid_share,
        features.high_mid_share,
        features.high_share,
    )
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)


def test_stereo_width_comes_from_the_stereo_report_or_the_spectrum():
    left, right = noise(seed=1), noise(seed=2)
    features = features_of(np.stack([left, right]))
    assert features.stereo_width == pytest.approx(1.0, abs=0.05)
    assert features_of(left).stereo_width == 0.0  # mono


def test_tonalness_tells_a_tone_from_noise():
    t = np.arange(5 * RATE) / RATE
    tone = shape_of((0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32))
    hiss = shape_of(noise(seconds=5.0))
    assert tone.tonalness is not None and tone.tonalness > 0.95
    assert hiss.tonalness is not None and hiss.tonalness < 0.1
    assert hiss.flatness == pytest.approx(0.56, abs=0.03)  # white noise: e^-gamma


@pytest.mark.parametrize("tempo_bpm", [90.0, 120.0, 150.0])
def test_onset_density_of_a_click_track_is_its_tempo(tempo_bpm):
    clicks = synth.click_track(tempo_bpm=tempo_bpm, duration_s=12.0, sample_rate=RATE)
    shape = shape_of(clicks)
    assert shape.onset_density_per_s == pytest.approx(tempo_bpm / 60.0, rel=0.1)


def test_level_spread_and_silent_fraction_of_half_a_signal():
    signal = np.concatenate([noise(seconds=4.0), np.zeros(4 * RATE, dtype=np.float32)])
    shape = shape_of(signal)
    assert shape.silent_fraction == pytest.approx(0.5, abs=0.03)
    assert shape.level_spread_db is not None and shape.level_spread_db < 2.0


def test_shape_does_not_depend_on_how_the_frames_are_cut():
    clicks = synth.click_track(tempo_bpm=120.0, duration_s=6.0, sample_rate=RATE)
    frames: list[SpectralFrames] = []
    front = SpectralFrontEnd(sample_rate=RATE, channels=1, sink=frames.append)
    front.push(clicks)
    front.finish()
    mid = np.concatenate([f.mid for f in frames], axis=1)
    whole = SpectralShape()
    whole.push(SpectralFrames(mid=mid, side=None, start_frame=0))
    expected = whole.result().to_dict()
    for run in (1, 2, 3, 5, 7, 64):
        pieces = SpectralShape()
        for start in range(0, mid.shape[1], run):
            pieces.push(
                SpectralFrames(mid=mid[:, start : start + run], side=None, start_frame=start)
            )
        found = pieces.result().to_dict()
        assert found["onset_density_per_s"] == expected["onset_density_per_s"], run
        assert found == pytest.approx(expected, abs=1e-4), run


def test_frames_out_of_order_are_refused():
    shape = SpectralShape()
    mid = np.zeros((N_BINS, 4), dtype=np.float32)
    shape.push(SpectralFrames(mid=mid, side=None, start_frame=0))
    with pytest.raises(ValueError, match="starting at frame 4, found 0"):
        shape.push(SpectralFrames(mid=mid, side=None, start_frame=0))


# Reports ----------------------------------------------------------------------------------


def test_a_guess_goes_to_json_with_every_role_scored(stems):
    result = guess(stems["bass"], "Bass DI.wav")
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(data["scores"]) == set(ROLES)
    assert data["role"] == "bass" and data["hint_used"] is True
    assert 0.0 <= data["confidence"] <= 1.0
    json.dumps(features_of(stems["bass"]).to_dict(), allow_nan=False)


def test_silent_features_go_to_json():
    features = features_of(np.zeros((2, RATE), dtype=np.float32))
    assert features.tonalness is None and features.silent_fraction == 1.0
    json.dumps(features.to_dict(), allow_nan=False)


# Speed ------------------------------------------------------------------------------------


def test_three_minutes_of_frames_shape_quickly():
    rng = np.random.default_rng(SEED)
    n_frames = int(180 * FRAME_RATE_HZ)
    mid = rng.random((n_frames, N_BINS), dtype=np.float32).T
    shape = SpectralShape()
    started = time.perf_counter()
    for start in range(0, n_frames, 64):
        shape.push(SpectralFrames(mid=mid[:, start : start + 64], side=None, start_frame=start))
    shape.result()
    # About 30 ms on a 2-core machine; the bound catches regressions.
    assert time.perf_counter() - started < 0.25
