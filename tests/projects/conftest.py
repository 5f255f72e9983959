"""Fixtures for the tests of the collaborative domain."""

from __future__ import annotations

import pytest

from studio.processing import decode, faults, synth

SR = 44100


@pytest.fixture(autouse=True)
def quick_passwords(settings) -> None:
    """Cheap password hashes: the personas are made for every test.

    Not for the browser tests, whose server process checks passwords with the real
    hashers.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def fighting(tmp_path_factory):
    """A vocal and a bright guitar boosted at 2.5 kHz on top of it, as WAV files."""
    song = synth.compose_song(tonic=9, mode="minor", tempo_bpm=96.0, n_bars=8, seed=3)
    stems = synth.render_stems(song, sample_rate=SR)
    guitar = faults.masking_guitar(stems["keys"], sample_rate=SR, like=stems["lead"])
    folder = tmp_path_factory.mktemp("fight")
    paths = {"vocals": folder / "vocals.wav", "guitar": folder / "guitar.wav"}
    decode.write(paths["vocals"], stems["lead"], sample_rate=SR, format="WAV", subtype="PCM_24")
    decode.write(paths["guitar"], guitar, sample_rate=SR, format="WAV", subtype="PCM_24")
    return paths
