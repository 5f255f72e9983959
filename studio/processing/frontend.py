"""The engine's shared front end: one resample and one spectrogram per signal, streamed.

Every feature reads what this module computes once. A stem arrives as float32
blocks at its own sample rate; the front end folds it to mid (and side, for stereo),
resamples both once to ``ANALYSIS_SAMPLE_RATE`` with soxr, and cuts them into Hann-
windowed frames whose magnitude spectra go to the feature accumulators. Nothing
here keeps more than one block and one frame of overlap, so memory does not grow
with the length of the input.

Frame ``i`` is centred on analysis sample ``i * HOP_SAMPLES`` (the signal is padded
with ``N_FFT // 2`` zeros at the start, as librosa's ``center=True`` does), so its
time is ``i * HOP_SAMPLES / ANALYSIS_SAMPLE_RATE`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.fft
import soxr

ANALYSIS_SAMPLE_RATE = 22050
N_FFT = 2048
HOP_SAMPLES = 512
FRAME_RATE_HZ = ANALYSIS_SAMPLE_RATE / HOP_SAMPLES
N_BINS = N_FFT // 2 + 1


def bin_frequencies_hz() -> np.ndarray:
    """Centre frequency of each spectrogram bin, in Hz, shaped (N_BINS,)."""
    return np.fft.rfftfreq(N_FFT, d=1.0 / ANALYSIS_SAMPLE_RATE)


def frame_times_s(n_frames: int, *, start_frame: int = 0) -> np.ndarray:
    """Centre time of frames ``start_frame ... start_frame + n_frames - 1``, in s."""
    return (start_frame + np.arange(n_frames)) * (HOP_SAMPLES / ANALYSIS_SAMPLE_RATE)


@dataclass(frozen=True)
class SpectralFrames:
    """A run of consecutive analysis frames.

    Attributes
    ----------
    mid : np.ndarray
        Magnitude spectra of the mid signal ((L + R) / 2, or the mono signal), shaped
        (N_BINS, n_frames), float32, linear amplitude (not power).
    side : np.ndarray or None
        Magnitude spectra of the side signal ((L - R) / 2), or None for mono input.
    start_frame : int
        Index of the first frame in the whole signal.
    """

    mid: np.ndarray
    side: np.ndarray | None
    start_frame: int

    @property
    def n_frames(self) -> int:
        return self.mid.shape[1]

    def check_follows(self, next_frame: int) -> None:
        """Raise ValueError unless these are spectra shaped (N_BINS, n_frames) whose first
        frame is ``next_frame``: every analyzer reads one front end's runs in order."""
        if self.mid.ndim != 2 or self.mid.shape[0] != N_BINS:
            raise ValueError(
                f"Expected spectra shaped ({N_BINS}, n_frames), found {self.mid.shape}."
            )
        if self.start_frame != next_frame:
            raise ValueError(
                f"Expected a run starting at frame {next_frame}, found {self.start_frame}: "
                "runs must follow each other."
            )

    @cached_property
    def mid_power(self) -> np.ndarray:
        """``mid ** 2``, the power spectra, shaped (N_BINS, n_frames), float32, C-ordered.

        Squared once, on first use, for every feature that reads power; read-only, as it is
        shared.
        """
        power = np.square(self.mid, dtype=np.float32, order="C")
        power.flags.writeable = False
        return power


FrameSink = Callable[[SpectralFrames], None]
SampleSink = Callable[[np.ndarray], None]


class SpectralFrontEnd:
    """Streams blocks of audio into analysis frames, handed to ``sink`` as they complete.

    Parameters
    ----------
    sample_rate : int
        Sample rate of the blocks pushed, in Hz.
    channels : int
        1 or 2.
    sink : callable
        Called with each SpectralFrames run, in order.
    samples_sink : callable, optional
        Called with each block of the resampled mid signal (float32, shaped (n,), at
        ANALYSIS_SAMPLE_RATE), in order, for features that need samples rather than
        frames (e.g. a long-window spectrum for mains hum).
    """

    def __init__(
        self,
        *,
        sample_rate: int,
        channels: int,
        sink: FrameSink,
        samples_sink: SampleSink | None = None,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError(f"the front end takes 1 or 2 channels, found {channels}")
        self.channels = channels
        self.sink = sink
        self.samples_sink = samples_sink
        self.n_signals = 1 if channels == 1 else 2
        self.resamplers = [
            soxr.ResampleStream(sample_rate, ANALYSIS_SAMPLE_RATE, 1, dtype="float32")
            for _ in range(self.n_signals)
        ]
        self.pending = np.zeros((self.n_signals, N_FFT // 2), dtype=np.float32)
        self.next_frame = 0
        self.window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)

    def push(self, block: np.ndarray) -> None:
        """Add a float32 block shaped (channels, n) at the input sample rate."""
        self._consume(self._resample(block, last=False))

    def finish(self) -> None:
        """Flush the resamplers and emit the final frames (zero-padded as librosa does)."""
        tail = self._resample(np.zeros((self.channels, 0), dtype=np.float32), last=True)
        padding = np.zeros((self.n_signals, N_FFT // 2), dtype=np.float32)
        self._consume(np.concatenate([tail, padding], axis=1))

    def _resample(self, block: np.ndarray, *, last: bool) -> np.ndarray:
        if self.channels == 1:
            signals = [block[0]]
        else:
            signals = [0.5 * (block[0] + block[1]), 0.5 * (block[0] - block[1])]
        out = [
            r.resample_chunk(np.ascontiguousarray(s, dtype=np.float32), last=last)
            for r, s in zip(self.resamplers, signals, strict=True)
        ]
        resampled = np.stack(out).astype(np.float32, copy=False)
        if self.samples_sink is not None and resampled.shape[1]:
            self.samples_sink(resampled[0])
        return resampled

    def _consume(self, resampled: np.ndarray) -> None:
        buffer = np.concatenate([self.pending, resampled], axis=1)
        n_frames = 0 if buffer.shape[1] < N_FFT else 1 + (buffer.shape[1] - N_FFT) // HOP_SAMPLES
        if n_frames:
            spectra = self._spectra(buffer, n_frames)
            side = spectra[1] if self.n_signals == 2 else None
            self.sink(SpectralFrames(mid=spectra[0], side=side, start_frame=self.next_frame))
            self.next_frame += n_frames
        self.pending = buffer[:, n_frames * HOP_SAMPLES :].copy()

    def _spectra(self, buffer: np.ndarray, n_frames: int) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(buffer, N_FFT, axis=1)
        frames = frames[:, : (n_frames - 1) * HOP_SAMPLES + 1 : HOP_SAMPLES]
        # scipy.fft keeps float32 (numpy's FFT works in float64: ten times slower here).
        spectrum = scipy.fft.rfft(frames * self.window, axis=-1)
        return np.abs(spectrum).transpose(0, 2, 1)
