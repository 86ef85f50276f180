"""A tracker's reading of one recording: who-talks-when decisions, their segments, and the
output gain they give (:mod:`puresound_cli.tracking` makes them)."""

from __future__ import annotations

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
    """

    hop_seconds: float
    scores: np.ndarray
    talking: np.ndarray
    config: TrackConfig

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
