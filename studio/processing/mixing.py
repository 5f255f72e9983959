"""Mix settings and how they sound: pedalboard chains per stem and for the mix bus.

A project's mix is its stems, each through its own :class:`StemSettings` (gate, high-pass,
EQ bands, compressor, gain, stereo width, pan, mute), summed, then through the
:class:`BusSettings` (gain and a true-peak brick-wall limiter). The filters and dynamics are
pedalboard's (JUCE underneath); the only arithmetic done here is what is not a filter:
mid/side width, a constant-power pan and the sum.

Settings are frozen dataclasses that round-trip through plain JSON dicts
(:meth:`StemSettings.from_dict` checks every value and raises ``ValueError`` with the
expected range and what was found).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from queue import Empty, Full, Queue
from typing import Any, ClassVar

import numpy as np
import pedalboard

from .mixdown import StemSource, StemStream, mix_format

MAX_EQ_BANDS = 12
HIGHPASS_ORDER = 2  # two first-order sections: 12 dB per octave
LOUDNESS_TARGETS: dict[str, tuple[float, float]] = {
    # name: (integrated loudness in LUFS, true-peak ceiling in dBTP)
    "streaming": (-14.0, -1.0),
    "club": (-8.0, -0.3),
    "broadcast": (-23.0, -1.0),
}


def _number(data: dict[str, Any], key: str, low: float, high: float, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a number from {low:g} to {high:g}, found {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{key} must be from {low:g} to {high:g}, found {value:g}")
    return float(value)


def _unknown(data: Any, allowed: set[str], what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be an object, found {type(data).__name__}")
    extra = sorted(set(data) - allowed)
    if extra:
        raise ValueError(f"{what} has unknown fields: {', '.join(extra)}")
    return data


@dataclass(frozen=True)
class EqBand:
    """A peaking EQ band: centre in Hz, gain in dB (negative cuts), Q (centre over width).

    ``source`` names what added it: ``"hand"`` or ``"suggestion:<id>"``.
    """

    freq_hz: float
    gain_db: float
    q: float = 1.0
    source: str = "hand"

    @classmethod
    def from_dict(cls, data: Any) -> EqBand:
        data = _unknown(data, {"freq_hz", "gain_db", "q", "source"}, "an EQ band")
        source = data.get("source", "hand")
        if not isinstance(source, str) or len(source) > 40:
            raise ValueError("an EQ band's source must be a short text")
        return cls(
            freq_hz=_number(data, "freq_hz", 20.0, 20_000.0, 1000.0),
            gain_db=_number(data, "gain_db", -30.0, 18.0, 0.0),
            q=_number(data, "q", 0.1, 40.0, 1.0),
            source=source,
        )


@dataclass(frozen=True)
class Compressor:
    """A compressor: threshold in dBFS, ratio (x:1), attack and release in ms, makeup in dB."""

    threshold_db: float = -18.0
    ratio: float = 3.0
    attack_ms: float = 10.0
    release_ms: float = 120.0
    makeup_db: float = 0.0

    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "threshold_db": (-60.0, 0.0),
        "ratio": (1.0, 20.0),
        "attack_ms": (0.1, 200.0),
        "release_ms": (5.0, 2000.0),
        "makeup_db": (0.0, 24.0),
    }

    @classmethod
    def from_dict(cls, data: Any) -> Compressor:
        return _numbers_only(cls, data, "a compressor")


@dataclass(frozen=True)
class Gate:
    """A downward expander that lowers the noise between phrases: threshold in dBFS, ratio,
    attack and release in ms."""

    threshold_db: float = -50.0
    ratio: float = 4.0
    attack_ms: float = 2.0
    release_ms: float = 150.0

    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "threshold_db": (-90.0, 0.0),
        "ratio": (1.0, 20.0),
        "attack_ms": (0.1, 100.0),
        "release_ms": (5.0, 2000.0),
    }

    @classmethod
    def from_dict(cls, data: Any) -> Gate:
        return _numbers_only(cls, data, "a gate")


def _numbers_only[T](cls: type[T], data: Any, what: str) -> T:
    """An instance of a dataclass whose fields are all numbers with ``cls.RANGES``, from a
    dict (missing fields take their defaults)."""
    defaults = {f.name: f.default for f in dataclass_fields(cls)}  # type: ignore[arg-type]
    data = _unknown(data, set(defaults), what)
    ranges = cls.RANGES  # type: ignore[attr-defined]
    return cls(**{k: _number(data, k, *ranges[k], v) for k, v in defaults.items()})


@dataclass(frozen=True)
class StemSettings:
    """How one stem enters the mix.

    gain_db : level change in dB. pan : -1 (left) to 1 (right), constant power.
    width : side level over its original (0 mono, 1 unchanged, 2 twice as wide).
    mono_below_hz : the side signal is high-passed (12 dB/octave) at this frequency in Hz,
        centring the low end; None leaves it.
    highpass_hz : 12 dB/octave high-pass cutoff in Hz, or None.
    """

    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    width: float = 1.0
    mono_below_hz: float | None = None
    highpass_hz: float | None = None
    eq: tuple[EqBand, ...] = ()
    compressor: Compressor | None = None
    gate: Gate | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"eq": [asdict(band) for band in self.eq]}

    @classmethod
    def from_dict(cls, data: Any) -> StemSettings:
        data = _unknown(data, {f for f in cls.__dataclass_fields__}, "stem settings")
        mute = data.get("mute", False)
        if not isinstance(mute, bool):
            raise ValueError(f"mute must be true or false, found {mute!r}")
        eq = data.get("eq", [])
        if not isinstance(eq, list) or len(eq) > MAX_EQ_BANDS:
            raise ValueError(f"eq must be a list of at most {MAX_EQ_BANDS} bands")
        highpass, mono_below = data.get("highpass_hz"), data.get("mono_below_hz")
        return cls(
            gain_db=_number(data, "gain_db", -60.0, 24.0, 0.0),
            pan=_number(data, "pan", -1.0, 1.0, 0.0),
            mute=mute,
            width=_number(data, "width", 0.0, 2.0, 1.0),
            mono_below_hz=None
            if mono_below is None
            else _number(data, "mono_below_hz", 20, 500, 120),
            highpass_hz=None if highpass is None else _number(data, "highpass_hz", 20, 1000, 20),
            eq=tuple(EqBand.from_dict(band) for band in eq),
            compressor=_optional(Compressor, data.get("compressor")),
            gate=_optional(Gate, data.get("gate")),
        )


def _optional(kind: type[Compressor] | type[Gate], data: Any) -> Any:
    return None if data is None else kind.from_dict(data)


@dataclass(frozen=True)
class BusSettings:
    """The mix bus: a gain in dB, then a true-peak brick-wall limiter at ``ceiling_dbtp``
    (None: no limiter); ``target`` names the loudness target chosen (see LOUDNESS_TARGETS)."""

    gain_db: float = 0.0
    ceiling_dbtp: float | None = None
    release_ms: float = 100.0
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> BusSettings:
        data = _unknown(data, {f for f in cls.__dataclass_fields__}, "bus settings")
        target = data.get("target")
        if target is not None and target not in LOUDNESS_TARGETS:
            raise ValueError(
                f"target must be one of {', '.join(LOUDNESS_TARGETS)}, found {target!r}"
            )
        ceiling = data.get("ceiling_dbtp")
        return cls(
            gain_db=_number(data, "gain_db", -60.0, 30.0, 0.0),
            ceiling_dbtp=None if ceiling is None else _number(data, "ceiling_dbtp", -12, 0, -1),
            release_ms=_number(data, "release_ms", 1.0, 2000.0, 100.0),
            target=target,
        )


@dataclass(frozen=True)
class MixSettings:
    """Settings of every stem (by stem key) and of the bus."""

    stems: dict[str, StemSettings] = field(default_factory=dict)
    bus: BusSettings = BusSettings()

    def stem(self, key: str) -> StemSettings:
        return self.stems.get(key, StemSettings())

    def with_stem(self, key: str, settings: StemSettings) -> MixSettings:
        return replace(self, stems=self.stems | {key: settings})

    def to_dict(self) -> dict[str, Any]:
        return {"stems": {k: s.to_dict() for k, s in self.stems.items()}, "bus": self.bus.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> MixSettings:
        data = _unknown(data or {}, {"stems", "bus"}, "mix settings")
        stems = data.get("stems", {})
        if not isinstance(stems, dict):
            raise ValueError("stems must be an object of stem settings")
        return cls(
            stems={str(k): StemSettings.from_dict(v) for k, v in stems.items()},
            bus=BusSettings.from_dict(data.get("bus", {})),
        )


# Processing ---------------------------------------------------------------------------------


class _Stream:
    """A pedalboard run block by block, its latency (lookahead) taken out: the output has the
    input's length and alignment."""

    def __init__(self, board: pedalboard.Pedalboard, *, sample_rate: int) -> None:
        self.board, self.sample_rate = board, sample_rate
        self.pending = 0  # frames taken in and not yet given back

    def process(self, block: np.ndarray) -> np.ndarray:
        if not len(self.board):
            return block
        out = self.board.process(block, self.sample_rate, reset=False)
        self.pending += block.shape[1] - out.shape[1]
        return out

    def flush(self, channels: int) -> np.ndarray:
        if not self.pending:
            return np.zeros((channels, 0), dtype=np.float32)
        silence = np.zeros((channels, self.pending + 8192), dtype=np.float32)
        out = self.board.process(silence, self.sample_rate, reset=False)[:, : self.pending]
        self.pending = 0
        return out


def stem_board(settings: StemSettings) -> pedalboard.Pedalboard:
    """The pedalboard of a stem's filters and dynamics, in mixing order: gate, high-pass, EQ,
    compressor, gain (width, pan and mute are applied by :class:`StemProcessor`)."""
    plugins: list[pedalboard.Plugin] = []
    if settings.gate:
        g = settings.gate
        plugins.append(
            pedalboard.NoiseGate(
                threshold_db=g.threshold_db,
                ratio=g.ratio,
                attack_ms=g.attack_ms,
                release_ms=g.release_ms,
            )
        )
    if settings.highpass_hz:
        plugins += [pedalboard.HighpassFilter(settings.highpass_hz) for _ in range(HIGHPASS_ORDER)]
    plugins += [
        pedalboard.PeakFilter(cutoff_frequency_hz=b.freq_hz, gain_db=b.gain_db, q=b.q)
        for b in settings.eq
        if b.gain_db
    ]
    if settings.compressor:
        c = settings.compressor
        plugins.append(
            pedalboard.Compressor(
                threshold_db=c.threshold_db,
                ratio=c.ratio,
                attack_ms=c.attack_ms,
                release_ms=c.release_ms,
            )
        )
    gain_db = settings.gain_db + (settings.compressor.makeup_db if settings.compressor else 0.0)
    if gain_db:
        plugins.append(pedalboard.Gain(gain_db))
    return pedalboard.Pedalboard(plugins)


class StemProcessor:
    """One stem through its settings, block by block, out in ``out_channels`` (1 or 2)."""

    def __init__(self, settings: StemSettings, *, sample_rate: int, out_channels: int) -> None:
        self.settings, self.out_channels = settings, out_channels
        self.stream = _Stream(stem_board(settings), sample_rate=sample_rate)
        self.side_filter = None
        if settings.mono_below_hz:
            board = pedalboard.Pedalboard(
                [pedalboard.HighpassFilter(settings.mono_below_hz) for _ in range(HIGHPASS_ORDER)]
            )
            self.side_filter = _Stream(board, sample_rate=sample_rate)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Process a float32 block shaped (channels, n) into (out_channels, n): a stem's
        chain has no lookahead, so what comes out lines up with what went in."""
        out = self.stream.process(np.ascontiguousarray(block, dtype=np.float32))
        if out.shape[1] != block.shape[1]:
            raise RuntimeError(f"a stem chain delayed its output by {self.stream.pending} frames")
        return self._place(out)

    def _place(self, block: np.ndarray) -> np.ndarray:
        s = self.settings
        if s.mute:
            return np.zeros((self.out_channels, block.shape[1]), dtype=np.float32)
        if self.out_channels == 1:
            return block.mean(axis=0, keepdims=True) if block.shape[0] == 2 else block
        if block.shape[0] == 1:
            block = np.repeat(block, 2, axis=0)
        if s.width != 1.0 or self.side_filter:
            mid, side = (block[0] + block[1]) / 2, (block[0] - block[1]) / 2 * s.width
            if self.side_filter:
                side = self.side_filter.process(side[np.newaxis])[0]
            block = np.stack([mid + side, mid - side])
        if s.pan:
            # Constant power: each channel scaled by cos/sin of an angle from 0 to pi/2,
            # normalised so that the centre position is unity gain.
            angle = (s.pan + 1.0) * math.pi / 4.0
            scale = np.array([[math.cos(angle)], [math.sin(angle)]]) * math.sqrt(2.0)
            block = block * scale.astype(np.float32)
        return block.astype(np.float32, copy=False)


def process_stem(signal: np.ndarray, *, sample_rate: int, settings: StemSettings) -> np.ndarray:
    """A whole in-memory stem (float32, (channels, n)) through its settings, same length and
    channel count out."""
    processor = StemProcessor(settings, sample_rate=sample_rate, out_channels=signal.shape[0])
    return processor.process(signal)


def bus_board(bus: BusSettings) -> pedalboard.Pedalboard:
    """The bus chain: gain, then (when a ceiling is set) a true-peak brick-wall limiter."""
    plugins: list[pedalboard.Plugin] = []
    if bus.gain_db:
        plugins.append(pedalboard.Gain(bus.gain_db))
    if bus.ceiling_dbtp is not None:
        plugins.append(
            pedalboard.BrickwallLimiter(
                ceiling_dbtp_to_sample(bus.ceiling_dbtp), release_ms=bus.release_ms, true_peak=True
            )
        )
    return pedalboard.Pedalboard(plugins)


def ceiling_dbtp_to_sample(ceiling_dbtp: float) -> float:
    """The limiter's ceiling for a true-peak target: pedalboard's oversampled detector still
    lets a little through, so aim 0.5 dB under (its documentation advises a margin)."""
    return ceiling_dbtp - 0.5


def process_bus(signal: np.ndarray, *, sample_rate: int, bus: BusSettings) -> np.ndarray:
    """A whole in-memory mix through the bus chain, same shape out."""
    stream = _Stream(bus_board(bus), sample_rate=sample_rate)
    head = stream.process(np.ascontiguousarray(signal, dtype=np.float32))
    return np.concatenate([head, stream.flush(signal.shape[0])], axis=1)


def render_mix_blocks(
    sources: Sequence[StemSource],
    settings: Sequence[StemSettings],
    *,
    bus: BusSettings | None = None,
    block_frames: int = 65_536,
    threads: int = 1,
    start_frame: int = 0,
) -> Iterator[np.ndarray]:
    """Yield the mix of ``sources`` through their ``settings`` and the bus, as float32 blocks
    shaped (channels, n) in order (sizes vary by the limiter's lookahead; the total is the
    mix's length less ``start_frame``), holding a few blocks per stem in memory.

    ``start_frame`` (frames at the mix rate) starts the render there, every filter,
    compressor and limiter starting from rest: the first seconds differ from a render from
    the top while they settle (see :data:`studio.processing.preview.PRE_ROLL_S`).

    ``threads`` > 1 decodes and processes the stems of each block on that many threads, and
    sums the next block while the bus (and whoever reads the blocks) works on this one:
    libsndfile and pedalboard release the GIL, so a render uses every core.
    """
    sample_rate, channels, _ = mix_format(sources)
    if len(settings) != len(sources):
        raise ValueError(f"expected {len(sources)} stem settings, found {len(settings)}")
    sums = _stem_sums(
        sources, settings, block_frames=block_frames, threads=threads, start_frame=start_frame
    )
    bus_stream = _Stream(bus_board(bus or BusSettings()), sample_rate=sample_rate)
    with contextlib.closing(sums):
        for block in sums:
            out = bus_stream.process(block)
            if out.shape[1]:
                yield out
    yield bus_stream.flush(channels)


def _stem_sums(
    sources: Sequence[StemSource],
    settings: Sequence[StemSettings],
    *,
    block_frames: int,
    threads: int,
    start_frame: int,
) -> Iterator[np.ndarray]:
    """The sum of the processed stems from ``start_frame`` on, block by block; computed
    ahead on a thread of its own (two blocks at most) when ``threads`` > 1."""
    sample_rate, channels, total = mix_format(sources)
    streams = [
        StemStream(s, sample_rate=sample_rate, channels=channels, start_frame=start_frame)
        for s in sources
    ]
    chains = [StemProcessor(s, sample_rate=sample_rate, out_channels=channels) for s in settings]
    pairs = list(zip(streams, chains, strict=True))

    def blocks(pool: ThreadPoolExecutor | None) -> Iterator[np.ndarray]:
        for done in range(start_frame, total, block_frames):
            n = min(block_frames, total - done)

            def stem_block(pair: tuple[StemStream, StemProcessor], n: int = n) -> np.ndarray:
                return pair[1].process(pair[0].take(n))

            block = np.zeros((channels, n), dtype=np.float32)
            for part in pool.map(stem_block, pairs) if pool else map(stem_block, pairs):
                block += part
            yield block

    if threads <= 1:
        yield from blocks(None)
        return
    with ThreadPoolExecutor(threads) as pool:
        yield from _ahead(blocks(pool), depth=2)


def _ahead(items: Iterator[np.ndarray], *, depth: int) -> Iterator[np.ndarray]:
    """``items``, produced on a thread of their own up to ``depth`` ahead of the reader; an
    error there is raised here, and a reader that stops early stops the producer."""
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(("item", item), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(("end", None))
        except BaseException as error:  # handed to the reader, which raises it
            queue.put(("error", error))

    producer = threading.Thread(target=produce, name="mix-sums", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while producer.is_alive():
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)
        producer.join()
