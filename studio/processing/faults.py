"""Deliberate mixing faults, injected into clean stems with known answers.

Tests, the suggestion-quality benchmark and the demo project use these to make
multitracks whose problems are known exactly: a stem too loud, a band that masks the
vocal, mains hum, a DC offset, clipping. Every function takes and returns float32
signals shaped (channels, n) and leaves its input untouched.
"""

from __future__ import annotations

import numpy as np
import pedalboard

from .loudness import db_to_gain


def louder(signal: np.ndarray, *, gain_db: float) -> np.ndarray:
    """The signal ``gain_db`` dB louder (negative: quieter)."""
    return (signal * np.float32(db_to_gain(gain_db))).astype(np.float32)


def with_hum(
    signal: np.ndarray,
    *,
    sample_rate: int,
    mains_hz: float = 50.0,
    level_dbfs: float = -45.0,
    harmonics: int = 5,
) -> np.ndarray:
    """Add mains hum: the fundamental at ``level_dbfs`` (peak) and harmonics falling 1/k."""
    t = np.arange(signal.shape[-1]) / sample_rate
    amplitude = db_to_gain(level_dbfs)
    hum = sum(amplitude / k * np.sin(2 * np.pi * mains_hz * k * t) for k in range(1, harmonics + 1))
    return (signal + hum.astype(np.float32)).astype(np.float32)


def with_dc(signal: np.ndarray, *, offset: float = 0.02) -> np.ndarray:
    """Shift the waveform off zero by ``offset`` (full scale 1)."""
    return (signal + np.float32(offset)).astype(np.float32)


def clipped(signal: np.ndarray, *, drive_db: float = 12.0) -> np.ndarray:
    """Drive the signal ``drive_db`` dB into the digital ceiling: hard clipped at ±1."""
    return np.clip(louder(signal, gain_db=drive_db), -1.0, 1.0).astype(np.float32)


def masking_guitar(
    source: np.ndarray, *, sample_rate: int, like: np.ndarray, boost_hz: float = 2500.0
) -> np.ndarray:
    """A bright, distorted part made from ``source`` (a chord part) with a wide +18 dB boost
    at ``boost_hz``, as loud (RMS) as ``like``: it sits on top of a vocal's presence range."""
    board = pedalboard.Pedalboard(
        [pedalboard.Distortion(drive_db=40.0), pedalboard.PeakFilter(boost_hz, 18.0, 0.7)]
    )
    bright = board.process(source, sample_rate)
    scale = np.sqrt(np.mean(like**2) / max(float(np.mean(bright**2)), 1e-20))
    return (bright * scale).astype(np.float32)
