"""Process settings of the engine."""

from __future__ import annotations

import platform

import pytest

from studio.processing.runtime import tune_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_allocator_thresholds_are_raised_on_glibc():
    assert tune_allocator() is True


def test_a_loudness_only_meter_reads_the_same_loudness_without_true_peak():
    import numpy as np

    from studio.processing.loudness import LoudnessMeter

    rng = np.random.default_rng(4)
    signal = (0.2 * rng.standard_normal((2, 48000 * 5))).astype(np.float32)
    full, lean = (
        LoudnessMeter(sample_rate=48000, channels=2, true_peak=flag) for flag in (True, False)
    )
    full.push(signal)
    lean.push(signal)
    assert lean.result().integrated_lufs == full.result().integrated_lufs
    assert lean.result().true_peak_dbtp == pytest.approx(lean.result().sample_peak_dbfs)
