"""A tracker's reading of one recording: who-talks-when decisions, their segments, and the
output gain they give (:mod:`puresound_cli.tracking` makes them); :class:`OutputGate` applies
that gain, and the level rescue, to the output as it is written."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from puresound_cli.tracking import TrackConfig


@dataclass
class Track:
    """The tracker's reading of one recording.

    Attributes:
        hop_seconds: time between two decisions.
        scores: cosine of the window centred at ``i * hop_seconds`` with the enrollment.
        talking: the decision at each centre (after hysteresis, lead and hangover).
        config: the settings used.
        input_rms: with ``config.rescue_cosine``, the input's RMS (mono, at the separator's
            level) over ``config.rescue_seconds`` around each centre; else None.
    """

    hop_seconds: float
    scores: np.ndarray
    talking: np.ndarray
    config: TrackConfig
    input_rms: np.ndarray | None = None

    def segments(self, min_seconds: float = 0.2) -> list[tuple[float, float]]:
        """(start, end) in seconds of each run of talk decisions (runs under ``min_seconds``
        dropped); a decision at centre ``i`` covers ``[(i - 0.5) h, (i + 0.5) h]``."""
        out: list[tuple[float, float]] = []
        h = self.hop_seconds
        edges = np.diff(np.concatenate([[0], self.talking.astype(np.int8), [0]]))
        for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            s, e = max(0.0, float(start - 0.5) * h), float(end - 0.5) * h
            if e - s >= min_seconds:
                out.append((round(s, 3), round(e, 3)))
        return out

    def talk_seconds(self) -> float:
        return float(sum(e - s for s, e in self.segments()))

    def scores_at(self, start: int, frames: int, sample_rate: int) -> np.ndarray:
        """The scores at samples ``start .. start + frames`` at ``sample_rate`` (float32),
        interpolated linearly between window centres (held beyond the first and last)."""
        t = (start + np.arange(frames)) / sample_rate
        centres = np.arange(self.scores.size) * self.hop_seconds
        return np.interp(t, centres, self.scores).astype(np.float32)

    def gain(self, start: int, frames: int, sample_rate: int) -> np.ndarray:
        """Per-sample gain of samples ``start .. start + frames`` at ``sample_rate`` (float32):
        exactly 1 where the target talks, ``floor_db`` elsewhere, raised-cosine ramps between."""
        floor = 10 ** (self.config.floor_db / 20)
        t = (start + np.arange(frames)) / sample_rate  # sample times
        level = _ramped(self.talking, self.hop_seconds, self.config.ramp_seconds, t)
        gain = floor + (1.0 - floor) * level
        return gain.astype(np.float32)

    def as_dict(self) -> dict[str, object]:
        return {
            "talk_seconds": round(self.talk_seconds(), 3),
            "segments": [list(s) for s in self.segments()],
            "tracker": asdict(self.config),
        }


def _ramped(talking: np.ndarray, hop: float, ramp: float, t: np.ndarray) -> np.ndarray:
    """Level in [0, 1] at times ``t``: the decisions as steps at the decision-cell edges,
    each edge replaced by a raised-cosine ramp of ``ramp`` seconds that ends on the edge for an
    opening and starts on it for a closing (a talk cell is fully open over its whole span)."""
    n = talking.size
    if n == 0:
        return np.zeros(t.size)
    borders = (np.arange(n - 1) + 0.5) * hop  # cell i spans borders[i - 1] .. borders[i]
    index = np.searchsorted(borders, t, side="right")  # the cell of each time
    level = talking[index].astype(np.float64)
    if ramp <= 0:
        return level
    steps = np.diff(talking.astype(np.int8))
    for i in np.flatnonzero(steps != 0):  # a step between cell i and i + 1
        edge = borders[i]
        opening = steps[i] > 0
        lo, hi = (edge - ramp, edge) if opening else (edge, edge + ramp)
        inside = (t >= lo) & (t < hi)
        phase = (t[inside] - lo) / ramp  # 0 -> 1 across the ramp
        rise = 0.5 - 0.5 * np.cos(np.pi * phase)
        level[inside] = np.maximum(level[inside], rise if opening else 1.0 - rise)
    return level


GateFn = Callable[[int, np.ndarray], np.ndarray]
"""Output gate: ``(first frame of the block, block (C, n)) -> block``."""


def gate_for(result: Track, sample_rate: int) -> GateFn:
    """An output gate (``Separator.process_file(gate=...)``) applying ``result`` at
    ``sample_rate``: ``gate(first frame, block (C, n)) -> block``."""

    def gate(start: int, block: np.ndarray) -> np.ndarray:
        return block * result.gain(start, block.shape[1], sample_rate)

    return gate


class LevelMeter:
    """RMS over any span of a signal that arrives in pieces (kept as the running sum of its
    10 ms frames' energies: each query costs only its own size, whatever the length).

    Shape:
        push: mono samples ``(n,)``; rms: window centres in seconds ``(k,)`` -> ``(k,)``.
    """

    def __init__(self, rate: int) -> None:
        self.rate, self.frame = rate, max(1, rate // 100)
        self.cum = np.zeros(1024)  # cum[i]: energy of frames 0 .. i - 1; valid up to self.n
        self.n = 1
        self.rest = np.zeros(0)
        self.samples = 0

    def push(self, mono: np.ndarray) -> None:
        x = np.concatenate([self.rest, np.asarray(mono, dtype=np.float64)])
        whole = x.size // self.frame * self.frame
        energy = np.square(x[:whole]).reshape(-1, self.frame).sum(axis=1)
        if self.n + energy.size > self.cum.size:  # grow by doubling: amortised O(1) a frame
            self.cum = np.resize(self.cum, max(2 * self.cum.size, self.n + energy.size))
        self.cum[self.n : self.n + energy.size] = self.cum[self.n - 1] + np.cumsum(energy)
        self.n += energy.size
        self.rest, self.samples = x[whole:], self.samples + mono.size

    def rms(self, centres: np.ndarray, width: float) -> np.ndarray:
        """RMS of the samples within ``width / 2`` seconds of each centre (10 ms steps)."""
        frames = self.n - 1 + (self.rest.size > 0)  # the last one may be partial
        tail = self.cum[self.n - 1] + np.square(self.rest).sum()  # energy of every sample

        def energy_before(i: np.ndarray) -> np.ndarray:
            return np.where(i < self.n, self.cum[np.minimum(i, self.n - 1)], tail)

        per_frame = self.rate / self.frame
        a = np.clip(np.round((centres - width / 2) * per_frame), 0, frames).astype(int)
        b = np.clip(np.round((centres + width / 2) * per_frame), 0, frames).astype(int)
        count = np.minimum(b * self.frame, self.samples) - a * self.frame
        return np.sqrt((energy_before(b) - energy_before(a)) / np.maximum(count, 1))


class OutputGate:
    """The output's last stage, block by block in order: the caller's ``gate``, then the
    tracker's gain, then its level rescue.

    The rescue keeps a target the separator drops: where a window scores at least
    ``config.rescue_cosine`` (the enrolled voice surely talks), the output is raised to the
    input's level over ``config.rescue_seconds`` around the window centre, by at most
    ``config.rescue_cap_db``; the gain in dB is linear between centres (no clicks). It needs the
    output a little ahead, so blocks come out up to ``ahead`` frames late; :meth:`finish` gives
    the rest. The output is the same whatever the blocks' sizes.

    Args:
        gate: the caller's gate or None; track: the tracker's reading or None.
        rate: the output's sample rate; scale: output -> the separator's level (the input's).
    """

    def __init__(self, gate: GateFn | None, track: Track | None, rate: int, scale: float) -> None:
        self.gate, self.track, self.rate, self.scale = gate, track, rate, scale
        self.rescue = track is not None and track.input_rms is not None
        self.seen = self.done = self.ahead = 0
        self.held: list[np.ndarray] = []
        if track is not None and self.rescue:
            span = track.hop_seconds + track.config.rescue_seconds / 2
            self.meter = LevelMeter(rate)
            self.ahead = math.ceil(span * rate) + self.meter.frame + 1

    def push(self, block: np.ndarray) -> list[np.ndarray]:
        """Take the next output block ``(C, n)``; returns the blocks ready to write."""
        start, n = self.seen, block.shape[1]
        self.seen += n
        if self.gate is not None:
            block = self.gate(start, block)
        if self.track is not None:
            block = block * self.track.gain(start, n, self.rate)
        if not self.rescue:
            self.done += n
            return [block]
        self.meter.push(block.mean(axis=0) * self.scale)
        self.held.append(block)
        return self._emit(self.seen - self.ahead)

    def finish(self) -> list[np.ndarray]:
        """The blocks still held (call once, after the last :meth:`push`)."""
        return self._emit(self.seen) if self.rescue else []

    def _emit(self, upto: int) -> list[np.ndarray]:
        count = upto - self.done
        if count <= 0:
            return []
        held = np.concatenate(self.held, axis=1)
        self.held = [held[:, count:]]
        out = held[:, :count] * self.rescue_gain(self.done, count)
        self.done += count
        return [out.astype(np.float32)]

    def rescue_gain(self, start: int, frames: int) -> np.ndarray:
        """The rescue's gain on output frames ``start .. start + frames`` (all the output up to
        ``ahead`` frames past them already pushed)."""
        assert self.track is not None and self.track.input_rms is not None
        config, hop = self.track.config, self.track.hop_seconds
        t = (start + np.arange(frames)) / self.rate
        last = self.track.scores.size - 1
        first, end = max(0, math.floor(t[0] / hop)), min(last, math.ceil(t[-1] / hop))
        index = np.arange(first, end + 1)
        boost = np.zeros(index.size)
        assert config.rescue_cosine is not None
        sure = self.track.scores[index] >= config.rescue_cosine
        if sure.any():
            out = np.maximum(self.meter.rms(index[sure] * hop, config.rescue_seconds), 1e-9)
            wanted = self.track.input_rms[index[sure]]
            with np.errstate(divide="ignore"):
                deficit = 20 * np.log10(wanted / out)
            boost[sure] = np.clip(deficit, 0.0, config.rescue_cap_db)
        return (10 ** (np.interp(t, index * hop, boost) / 20)).astype(np.float32)
