"""Mixing suggestions: each rule, given a stem or a project with one fault injected into a
synthetic song, finds that fault, and the measure it claims to improve does improve when
its move is rendered through pedalboard.

The song is studio.processing.synth's (8 bars, A minor, 96 BPM, about 21 s); stems are
written as 24-bit WAV with names that fit the role guesser (vocals.wav for the lead) and
analysed once per module.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pedalboard
import pytest

from studio.processing import decode, synth
from studio.processing.analysis import analyze_file, analyze_mix
from studio.processing.mixing import Compressor, EqBand, MixSettings, StemSettings
from studio.processing.suggest import (
    CENTRES_HZ,
    Measure,
    ProjectContext,
    StemInput,
    Suggestion,
    apply_move,
    masking_db,
    masking_map,
    project_suggestions,
    run_suggestions,
    stem_suggestions,
)

RATE = 44_100
FILE_NAMES = {"drums": "drums", "bass": "bass", "keys": "keys", "lead": "vocals"}
CLEANUP = ("cleanup.hum", "cleanup.dc", "cleanup.clipping")


# Fixtures: the song, its stems with faults, their reports ----------------------------------


@pytest.fixture(scope="module")
def stems() -> dict[str, np.ndarray]:
    song = synth.compose_song(tonic=9, mode="minor", tempo_bpm=96, n_bars=8, seed=3)
    return synth.render_stems(song, sample_rate=RATE)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("suggest")


def stem_input(folder: Path, case: str, name: str, signal: np.ndarray, key: str) -> StemInput:
    """Write ``signal`` as ``<case>/<name>.wav``, analyse it and wrap it for the rules."""
    path = folder / case / f"{name}.wav"
    path.parent.mkdir(exist_ok=True)
    decode.write(path, signal.astype(np.float32), sample_rate=RATE, format="WAV", subtype="PCM_24")
    report = analyze_file(path, verify=False).to_dict()
    return StemInput(key=key, name=name.title(), path=str(path), report=report)


def times(stems: dict[str, np.ndarray]) -> np.ndarray:
    return np.arange(stems["keys"].shape[1]) / RATE


def found(suggestions: list[Suggestion], code: str) -> list[Suggestion]:
    return [s for s in suggestions if s.code == code]


def only(suggestions: list[Suggestion], code: str) -> Suggestion:
    matches = found(suggestions, code)
    assert len(matches) == 1, [s.code for s in suggestions]
    return matches[0]


@pytest.fixture(scope="module")
def clean_results(stems, folder) -> dict[str, tuple[StemInput, list[Suggestion]]]:
    out = {}
    for part, name in FILE_NAMES.items():
        stem = stem_input(folder, "clean", name, stems[part], key=part)
        out[part] = (stem, list(stem_suggestions(stem)))
    return out


@pytest.fixture(scope="module")
def hum_keys(stems, folder) -> list[Suggestion]:
    """50 Hz mains hum with four harmonics (levels 1/k, fundamental -50 dBFS) on the keys."""
    t = times(stems)
    hum = sum(0.003 / k * np.sin(2 * np.pi * 50 * k * t) for k in (1, 2, 3, 4, 5))
    stem = stem_input(folder, "hum", "keys", stems["keys"] + hum, key="keys")
    return list(stem_suggestions(stem))


@pytest.fixture(scope="module")
def dc_bass(stems, folder) -> list[Suggestion]:
    stem = stem_input(folder, "dc", "bass", stems["bass"] + np.float32(0.02), key="bass")
    return list(stem_suggestions(stem))


@pytest.fixture(scope="module")
def clipped_drums(stems, folder) -> tuple[StemInput, list[Suggestion]]:
    stem = stem_input(folder, "clip", "drums", np.clip(stems["drums"] * 4, -1, 1), key="drums")
    return stem, list(stem_suggestions(stem))


def rumbling_vocals(stems, folder, level_dbfs: float) -> list[Suggestion]:
    """The lead with a 30 Hz sine of ``level_dbfs`` peak added (rumble, handling noise)."""
    rumble = 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * 30 * times(stems))
    stem = stem_input(
        folder, f"rumble{-level_dbfs:g}", "vocals", stems["lead"] + rumble, key="lead"
    )
    assert stem.role == "vocals"
    return list(stem_suggestions(stem))


def project(folder: Path, case: str, signals: dict[str, np.ndarray]) -> ProjectContext:
    inputs = [stem_input(folder, case, FILE_NAMES.get(k, k), s, key=k) for k, s in signals.items()]
    mix_report = analyze_mix([s.path for s in inputs]).to_dict()
    return ProjectContext(stems=inputs, mix_report=mix_report)


@pytest.fixture(scope="module")
def loud_bass(stems, folder) -> tuple[ProjectContext, list[Suggestion]]:
    context = project(folder, "loud_bass", stems | {"bass": stems["bass"] * 10 ** (9 / 20)})
    return context, list(project_suggestions(context))


@pytest.fixture(scope="module")
def quiet_mix(stems, folder) -> list[Suggestion]:
    context = project(folder, "quiet", {k: s * 10 ** (-20 / 20) for k, s in stems.items()})
    return list(project_suggestions(context))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def guitar_over_vocals(stems, folder) -> tuple[ProjectContext, list[Suggestion]]:
    """A bright distorted guitar (the keys through drive and a 2.5 kHz lift) 6 dB above the
    lead vocal in RMS: it covers the voice's 1-5 kHz range (about -3 dB of masking at 1 kHz,
    where the guesser's threshold is -6 dB). At equal RMS the masking stays under -8 dB and
    no rule fires, which is a fair answer: the guitar's energy then sits mostly in its own
    250-400 Hz fundamentals."""
    board = pedalboard.Pedalboard(
        [pedalboard.Distortion(drive_db=25), pedalboard.PeakFilter(2500, 12, 1.0)]
    )
    guitar = board.process(stems["keys"], RATE)
    guitar = guitar * (2.0 * rms(stems["lead"]) / rms(guitar))
    context = project(folder, "masking", {"lead": stems["lead"], "guitar": guitar})
    assert [s.role for s in context.stems] == ["vocals", "guitar"]
    return context, list(project_suggestions(context))


# Stem rules on injected faults ---------------------------------------------------------------


def test_hum_added_to_a_stem_gets_a_notch_suggestion_that_lowers_it(hum_keys):
    hum = only(hum_keys, "cleanup.hum")
    assert hum.stems == ("keys",)
    assert hum.detail["frequencies_hz"][:3] == [50.0, 100.0, 150.0]
    assert all(op["op"] == "eq" and op["gain_db"] < 0 for op in hum.move)
    assert hum.measure.after < hum.measure.before - 20.0


def test_dc_offset_gets_a_20_hz_highpass_that_removes_it(dc_bass):
    dc = only(dc_bass, "cleanup.dc")
    assert dc.move == ({"op": "highpass", "stem": "bass", "freq_hz": 20.0},)
    assert dc.measure.before == pytest.approx(20 * math.log10(0.02), abs=1.0)
    assert dc.measure.after < dc.measure.before - 40.0


def test_clipping_is_reported_as_advice_with_its_times_and_no_render(clipped_drums):
    stem, suggestions = clipped_drums
    clip = only(suggestions, "cleanup.clipping")
    assert clip.measure.after is None
    assert clip.measure.before == stem.report["hygiene"]["clipped_samples"] > 0
    assert clip.move[0]["op"] == "advice"
    assert clip.detail["times_s"]
    assert all(0.0 <= start <= end <= 21.0 for start, end in clip.detail["times_s"])
    # the kick lands on beat 1 of bar 1: the first clipped passage is at the start
    assert clip.detail["times_s"][0][0] < 0.1


def test_clipping_advice_lists_each_clipped_passage_once(clipped_drums):
    stem, suggestions = clipped_drums
    clip = only(suggestions, "cleanup.clipping")
    passages = [tuple(t) for t in clip.detail["times_s"]]
    assert len(passages) == len(set(passages))
    assert f"{stem.report['hygiene']['clip_count']} times" in clip.reason


@pytest.mark.parametrize("part", list(FILE_NAMES))
def test_a_clean_stem_gets_no_cleanup_suggestion(clean_results, part):
    _, suggestions = clean_results[part]
    assert not [s.code for s in suggestions if s.code in CLEANUP]


@pytest.mark.parametrize("part", list(FILE_NAMES))
def test_every_stem_suggestion_kept_improves_its_measure_by_a_db(clean_results, part):
    for suggestion in clean_results[part][1]:
        if suggestion.measure.after is not None:
            assert suggestion.measure.improvement() >= 1.0


def test_rumble_at_minus_40_dbfs_on_vocals_gets_a_highpass(stems, folder):
    highpass = only(rumbling_vocals(stems, folder, -40.0), "tonal.highpass")
    assert highpass.measure.after < highpass.measure.before - 10.0


def test_quieter_rumble_at_minus_50_dbfs_on_vocals_gets_a_highpass_that_removes_it(stems, folder):
    highpass = only(rumbling_vocals(stems, folder, -50.0), "tonal.highpass")
    assert highpass.stems == ("lead",)
    assert 40.0 <= highpass.move[0]["freq_hz"] <= 400.0  # under the voice's lowest notes
    assert highpass.measure.after < highpass.measure.before - 10.0


def test_clean_vocals_get_no_highpass(clean_results):
    assert not found(clean_results["lead"][1], "tonal.highpass")


def test_a_pure_tone_gets_no_highpass_for_the_skirt_under_it(folder):
    """The spectrum's skirt under a steady 220 Hz tone is not rumble."""
    t = np.arange(10 * RATE) / RATE
    tone = np.tile(0.1 * np.sin(2 * np.pi * 220 * t), (2, 1)).astype(np.float32)
    path = folder / "keys.wav"
    decode.write(path, tone, sample_rate=RATE, format="WAV", subtype="PCM_24")
    stem = StemInput("tone", "keys", str(path), analyze_file(path, verify=False).to_dict())
    assert not found(list(stem_suggestions(stem)), "tonal.highpass")


# Project rules ---------------------------------------------------------------------------


def test_bass_9_db_too_loud_gets_a_balance_cut_of_6_to_12_db(loud_bass):
    _, suggestions = loud_bass
    bass = [s for s in found(suggestions, "balance.gain") if s.stems == ("bass",)]
    assert len(bass) == 1
    (op,) = bass[0].move
    assert op["op"] == "gain" and op["stem"] == "bass"
    assert -12.0 <= op["gain_db"] <= -6.0
    assert bass[0].measure.after < 1.0 < bass[0].measure.before


def test_a_quiet_mix_gets_a_loudness_move_that_reaches_the_target_under_the_ceiling(quiet_mix):
    loudness = only(quiet_mix, "loudness.target")
    assert loudness.measure.before > 15.0  # the mix sits about 21 LU under -14 LUFS
    assert loudness.measure.after < 0.5
    assert loudness.detail["true_peak_after_dbtp"] <= -0.9
    (op,) = loudness.move
    assert op["op"] == "bus" and op["ceiling_dbtp"] == -1.0 and op["gain_db"] > 15.0


def test_a_loud_guitar_over_the_vocals_gets_a_cut_on_the_guitar(guitar_over_vocals):
    _, suggestions = guitar_over_vocals
    masking = only(suggestions, "masking.eq")
    assert masking.stems == ("lead", "guitar")
    cut = masking.move[0]
    assert cut["op"] == "eq" and cut["stem"] == "guitar" and cut["gain_db"] < 0
    assert 1000.0 <= masking.detail["centre_hz"] <= 5000.0
    assert masking.measure.after < masking.measure.before - 2.0


def test_masking_map_covers_every_stem_band_and_time(loud_bass):
    context, _ = loud_bass
    picture = masking_map(context)
    assert [row["stem"] for row in picture["stems"]] == [s.key for s in context.stems]
    assert picture["band_centres_hz"] == list(CENTRES_HZ)
    for row in picture["stems"]:
        assert len(row["db"]) == len(CENTRES_HZ)
        assert 0 < len(row["db"][0]) <= 120
        values = [v for band in row["db"] for v in band if v is not None]
        assert values and all(-24 <= v <= 12 for v in values)


# masking_db on synthetic band powers -------------------------------------------------------


def test_masking_db_of_equal_powers_is_0_db():
    target = np.ones((3, 20))
    assert masking_db(target, target.copy(), slice(0, 3)) == pytest.approx((0.0, 1.0))


def test_masking_db_of_a_masker_with_10_times_the_power_is_10_db():
    target = np.ones((3, 20))
    assert masking_db(target, 10 * target, slice(0, 3)) == pytest.approx((10.0, 1.0))


def test_masking_db_is_none_when_the_stems_never_play_together():
    target = np.zeros((3, 20))
    masker = np.zeros((3, 20))
    target[:, :10] = 1.0
    masker[:, 10:] = 1.0
    assert masking_db(target, masker, slice(0, 3)) is None


def test_masking_db_share_counts_the_time_both_play():
    target = np.ones((3, 20))
    masker = np.zeros((3, 20))
    masker[:, :5] = 1.0
    value, share = masking_db(target, masker, slice(0, 3))
    assert value == pytest.approx(0.0)
    assert share == pytest.approx(0.25)


# apply_move ---------------------------------------------------------------------------------


def test_apply_move_scales_a_gain_by_the_amount():
    move = ({"op": "gain", "stem": "a", "gain_db": -6.0},)
    assert apply_move(MixSettings(), move, amount=0.5).stem("a").gain_db == pytest.approx(-3.0)
    assert apply_move(MixSettings(), move, amount=1.0).stem("a").gain_db == pytest.approx(-6.0)


def test_apply_move_scales_eq_gains_by_the_amount():
    move = ({"op": "eq", "stem": "a", "freq_hz": 250.0, "gain_db": -8.0, "q": 1.4},)
    (band,) = apply_move(MixSettings(), move, amount=0.25).stem("a").eq
    assert band.gain_db == pytest.approx(-2.0)
    assert (band.freq_hz, band.q) == (250.0, 1.4)


def test_apply_move_at_amount_0_leaves_gains_unchanged():
    start = MixSettings(stems={"a": StemSettings(gain_db=-2.0)})
    move = (
        {"op": "gain", "stem": "a", "gain_db": -6.0},
        {"op": "eq", "stem": "a", "freq_hz": 250.0, "gain_db": -8.0, "q": 1.4},
        {"op": "bus", "gain_db": 4.0, "ceiling_dbtp": -1.0},
    )
    moved = apply_move(start, move, amount=0.0)
    assert moved.stem("a").gain_db == -2.0
    assert all(band.gain_db == 0 for band in moved.stem("a").eq)
    assert moved.bus.gain_db == 0.0
    assert moved.bus.ceiling_dbtp is None


def test_apply_move_adds_to_the_gain_already_set():
    start = MixSettings(stems={"a": StemSettings(gain_db=-2.0)})
    moved = apply_move(start, ({"op": "gain", "stem": "a", "gain_db": -6.0},))
    assert moved.stem("a").gain_db == pytest.approx(-8.0)


def test_apply_move_slides_a_highpass_cutoff_on_a_log_scale_from_20_hz():
    move = ({"op": "highpass", "stem": "a", "freq_hz": 80.0},)
    assert apply_move(MixSettings(), move, amount=0.5).stem("a").highpass_hz == pytest.approx(40.0)
    assert apply_move(MixSettings(), move).stem("a").highpass_hz == pytest.approx(80.0)


def test_apply_move_scales_a_compressor_ratio_from_1():
    op = {
        "op": "compressor",
        "stem": "a",
        "threshold_db": -20.0,
        "ratio": 4.0,
        "attack_ms": 5.0,
        "release_ms": 100.0,
        "makeup_db": 2.0,
    }
    compressor = apply_move(MixSettings(), (op,), amount=0.5).stem("a").compressor
    assert compressor == Compressor(-20.0, 2.5, 5.0, 100.0, 2.0)


def test_apply_move_tags_eq_bands_with_their_source():
    move = ({"op": "eq", "stem": "a", "freq_hz": 1000.0, "gain_db": -3.0, "q": 2.0},)
    (band,) = apply_move(MixSettings(), move, source="suggestion:42").stem("a").eq
    assert band == EqBand(1000.0, -3.0, 2.0, source="suggestion:42")


def test_apply_move_touches_only_the_stem_it_names():
    start = MixSettings(stems={"b": StemSettings(pan=0.3)})
    moved = apply_move(start, ({"op": "gain", "stem": "a", "gain_db": -6.0},))
    assert moved.stem("b") == StemSettings(pan=0.3)


def test_apply_move_ignores_advice():
    start = MixSettings(stems={"a": StemSettings(gain_db=1.0)})
    assert apply_move(start, ({"op": "advice", "stem": "a", "times_s": [[1, 2]]},)) == start


def test_apply_move_refuses_an_unknown_operation():
    with pytest.raises(ValueError, match="reverb"):
        apply_move(MixSettings(), ({"op": "reverb", "stem": "a", "mix": 0.3},))


@pytest.mark.parametrize("amount", [-0.1, 1.5])
def test_apply_move_refuses_an_amount_outside_0_to_1(amount):
    with pytest.raises(ValueError, match="amount"):
        apply_move(MixSettings(), ({"op": "gain", "stem": "a", "gain_db": -6.0},), amount=amount)


# Suggestion identity and the worker's door ---------------------------------------------


def suggestion(code: str, stems: tuple[str, ...], key: str, before: float = 3.0) -> Suggestion:
    return Suggestion(
        kind=code.split(".")[0],
        code=code,
        title="t",
        reason="r",
        stems=stems,
        move=(),
        confidence=0.5,
        measure=Measure("m", "m", "dB", before, before - 2),
        key=key,
    )


def test_fingerprint_is_stable_for_the_same_code_stems_and_key():
    a = suggestion("masking.eq", ("1", "2"), "18", before=3.0)
    b = suggestion("masking.eq", ("1", "2"), "18", before=7.5)  # re-analysed: other figures
    assert a.fingerprint == b.fingerprint
    assert len(a.fingerprint) == 32 and int(a.fingerprint, 16) >= 0


def test_fingerprint_differs_when_the_stem_differs():
    a = suggestion("balance.gain", ("1",), "gain")
    b = suggestion("balance.gain", ("2",), "gain")
    assert a.fingerprint != b.fingerprint


def test_fingerprint_differs_when_the_code_or_key_differs():
    base = suggestion("masking.eq", ("1", "2"), "18")
    assert base.fingerprint != suggestion("masking.eq", ("1", "2"), "19").fingerprint
    assert base.fingerprint != suggestion("tonal.mud", ("1", "2"), "18").fingerprint


def test_run_suggestions_emits_each_stem_suggestion_as_a_dict_with_its_fingerprint(stems, folder):
    stem = stem_input(folder, "run", "bass", stems["bass"] + np.float32(0.02), key="9")
    emitted: list[dict] = []
    result = run_suggestions(
        scope="stem",
        stems=[{"key": 9, "name": "Bass", "path": stem.path, "report": stem.report}],
        mix_report=None,
        bus={},
        emit=emitted.append,
    )
    assert "cleanup.dc" in [d["code"] for d in emitted]
    assert result["fingerprints"] == [d["fingerprint"] for d in emitted]
    assert result["masking"] is None
    assert all(d["stems"] == ["9"] for d in emitted)
