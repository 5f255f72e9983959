"""The listening engine in the room: analysis progress and results reach everyone live."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from studio.processing import decode, synth
from tests.browser.conftest import open_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# True when a canvas has at least some non-blank pixels.
CANVAS_DRAWN = """
(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) return true;
  return false;
}
"""


@pytest.fixture
def bass_line(tmp_path: Path) -> Path:
    """Eight bars of a synthesised bass line in E minor at 120 BPM."""
    song = synth.compose_song(tonic=4, mode="minor", tempo_bpm=120.0, n_bars=8, seed=5)
    path = tmp_path / "bass.wav"
    stems = synth.render_stems(song, sample_rate=44100)
    decode.write(path, stems["bass"], sample_rate=44100, format="WAV", subtype="PCM_24")
    return path


def test_both_people_see_the_analysis_of_an_upload_arrive(log_in, night_drive, bass_line):
    alice = open_room(log_in("alice"), night_drive.pk)
    bob = open_room(log_in("bob"), night_drive.pk)
    alice.locator("#file-input").set_input_files([bass_line])
    for page in (alice, bob):
        line = page.locator(".analysis-row .analysis-line")
        expect(line).to_have_attribute("data-status", "done", timeout=90_000)
        expect(line).to_contain_text("LUFS")
        expect(line).to_contain_text("bass")
        expect(page.locator("#mix-line .analysis-line")).to_have_attribute(
            "data-status", "done", timeout=60_000
        )
    expect(bob.locator("#activity")).to_contain_text("Analysis of “bass” done")
    bob.locator(".analysis-row").get_by_role("button", name="Details").click()
    expect(bob.locator("#analysis-title")).to_have_text("Analysis of “bass”")
    expect(bob.locator("#analysis-figures")).to_contain_text("Integrated loudness")
    for canvas in ("plot-waveform", "plot-loudness", "plot-spectrum"):
        bob.wait_for_function(CANVAS_DRAWN, arg=canvas)
