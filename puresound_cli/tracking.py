"""Who talks when: track the enrolled voice through a recording with the extractor's speaker net.

The separator alone cannot tell a pause of the target from another talker's turn: on real
conversations it keeps other voices only a few dB below the target. The tracker answers "is the
enrolled voice talking now?" and the output is silenced where it is not:

1. The mixture (mono, at the model rate, at the separator's level) is cut into windows of
   :attr:`TrackConfig.window_seconds` every :attr:`TrackConfig.hop_seconds`; the speaker net
   embeds each window on its own, exactly as it embeds an enrollment.
2. Each window's cosine with the enrollment embedding is its score; a window centre at time
   ``t`` scores the voice around ``t``.
3. Hysteresis turns scores into talk decisions (open above ``open_cosine``, close below
   ``close_cosine``), held ``hangover_seconds`` after the last open window and opened
   ``lead_seconds`` early, so word edges are not cut.
4. The gain is 1 where the target talks and ``floor_db`` elsewhere, with raised-cosine ramps of
   ``ramp_seconds`` (no clicks). Where the target overlaps another talker the separator's output
   passes unchanged.

The decisions also give the target's talk segments (``extract --json``, ``puresound vad``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor

from puresound_cli.nets.contract import ExtractionModel


@dataclass(frozen=True)
class TrackConfig:
    """How the tracker decides (defaults calibrated on the conversation dev set, see
    recipes/README.md).

    Args:
        window_seconds: length of one scored window.
        hop_seconds: step between window centres.
        open_cosine: a window scoring at least this opens the gate.
        close_cosine: the gate closes when a window scores below this (<= open_cosine).
        hangover_seconds: the gate stays open this long after the last open window.
        lead_seconds: the gate opens this long before the first open window.
        floor_db: gain where the target is not talking.
        ramp_seconds: length of each gain ramp (raised cosine).
        adapt_cosine: adapt the enrollment to the recording from the windows scoring at least
            this (None: no adaptation); see :func:`adapted`.
        adapt_seconds: how much of them adaptation needs.
        batch: windows embedded per batch (memory, not results).
    """

    window_seconds: float = 1.5
    hop_seconds: float = 0.2
    open_cosine: float = 0.6
    close_cosine: float = 0.5
    hangover_seconds: float = 0.2
    lead_seconds: float = 0.2
    floor_db: float = -40.0
    ramp_seconds: float = 0.06
    adapt_cosine: float | None = None
    adapt_seconds: float = 3.0
    batch: int = 64

    @classmethod
    def for_model(cls, model: ExtractionModel) -> TrackConfig:
        """The defaults with the thresholds calibrated for ``model``'s tracking net."""
        open_cosine, close_cosine = model.track_thresholds
        return cls(open_cosine=open_cosine, close_cosine=close_cosine,
                   adapt_cosine=model.track_adapt_cosine)  # fmt: skip

    def __post_init__(self) -> None:
        if not 0.2 <= self.window_seconds <= 10.0:
            raise ValueError(f"window_seconds must be in [0.2, 10], got {self.window_seconds}")
        if not 0.01 <= self.hop_seconds <= self.window_seconds:
            raise ValueError(
                f"hop_seconds must be in [0.01, window_seconds], got {self.hop_seconds}"
            )
        if not -1.0 <= self.close_cosine <= self.open_cosine <= 1.0:
            raise ValueError(
                "need -1 <= close_cosine <= open_cosine <= 1, got "
                f"{self.close_cosine}, {self.open_cosine}"
            )
        if min(self.hangover_seconds, self.lead_seconds, self.ramp_seconds) < 0:
            raise ValueError("hangover, lead and ramp seconds must be >= 0")
        if not self.floor_db <= 0:
            raise ValueError(f"floor_db must be <= 0, got {self.floor_db}")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")


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
    config: TrackConfig = field(default_factory=TrackConfig)

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


def window_embeddings(model: ExtractionModel, mono: np.ndarray, config: TrackConfig) -> Tensor:
    """Unit-length tracking embeddings of the windows centred at every ``i * hop`` of ``mono``.

    Args:
        model: an extractor (its ``track_embed``).
        mono: the recording, mono float32 at ``model.sample_rate``, at the separator's level.
        config: window and hop.

    Returns:
        ``(n, D)`` on the CPU, ``n = len(mono) // hop + 1``.
    """
    rate = model.sample_rate
    window = int(round(config.window_seconds * rate))
    hop = int(round(config.hop_seconds * rate))
    n = mono.size // hop + 1
    padded = np.pad(mono.astype(np.float32), (window // 2, window - window // 2 + hop))
    device = next(iter(model.parameters()), torch.empty(0)).device
    parts = []
    with torch.inference_mode():
        for first in range(0, n, config.batch):
            count = min(config.batch, n - first)
            starts = (first + np.arange(count)) * hop
            frames = np.stack([padded[s : s + window] for s in starts])  # (count, window)
            x = torch.from_numpy(frames)[:, None].to(device)  # (count, 1, window)
            e = model.track_embed(x).float()  # (count, D)
            parts.append(torch.nn.functional.normalize(e, dim=1).cpu())
    return torch.cat(parts)


def window_scores(
    model: ExtractionModel, mono: np.ndarray, embedding: Tensor, config: TrackConfig
) -> np.ndarray:
    """Cosine with ``embedding`` (the enrollment's ``(1, D)`` tracking embedding) of the window
    centred at every ``i * hop`` of ``mono``; with ``config.adapt_cosine`` the enrollment is
    first adapted to the recording (see :func:`adapted`). Returns ``(n,)`` float32."""
    windows = window_embeddings(model, mono, config)  # (n, D)
    target = torch.nn.functional.normalize(embedding.cpu().float(), dim=1)  # (1, D)
    scores = (windows @ target.T)[:, 0]
    if config.adapt_cosine is not None:
        scores = (windows @ adapted(windows, scores, target, config).T)[:, 0]
    return scores.numpy().astype(np.float32)


def adapted(windows: Tensor, scores: Tensor, target: Tensor, config: TrackConfig) -> Tensor:
    """The enrollment moved towards the voice as this recording carries it.

    An enrollment from another recording hears another channel; the windows that match it best
    (cosine at least ``adapt_cosine``, ``adapt_seconds`` of them at least) are the target as
    *this* recording has it: their mean, averaged with the enrollment, scores the recording
    again. Without enough confident windows (the target is absent) the enrollment is kept.
    """
    assert config.adapt_cosine is not None
    confident = scores >= config.adapt_cosine
    if float(confident.sum()) * config.hop_seconds < config.adapt_seconds:
        return target
    own = torch.nn.functional.normalize(windows[confident].mean(dim=0, keepdim=True), dim=1)
    return torch.nn.functional.normalize(target + own, dim=1)


def decide(scores: np.ndarray, config: TrackConfig) -> np.ndarray:
    """Talk decisions from scores: hysteresis, then ``lead`` and ``hangover`` widening."""
    talking = np.zeros(scores.size, dtype=bool)
    state = False
    for i, s in enumerate(scores):
        if s >= config.open_cosine:
            state = True
        elif s < config.close_cosine:
            state = False
        talking[i] = state
    hold = int(math.ceil(config.hangover_seconds / config.hop_seconds - 1e-9))
    lead = int(math.ceil(config.lead_seconds / config.hop_seconds - 1e-9))
    widened = talking.copy()
    for j in np.flatnonzero(talking).tolist():
        widened[max(0, j - lead) : j + hold + 1] = True
    return widened


def track(
    model: ExtractionModel, mono: np.ndarray, embedding: torch.Tensor, config: TrackConfig
) -> Track:
    """:func:`window_scores` and :func:`decide` in one call."""
    scores = window_scores(model, mono, embedding, config)
    return Track(config.hop_seconds, scores, decide(scores, config), config)


GateFn = Callable[[int, np.ndarray], np.ndarray]


def gate_for(result: Track, sample_rate: int) -> GateFn:
    """An output gate (``Separator.process_file(gate=...)``) applying ``result`` at
    ``sample_rate``: ``gate(first frame, block (C, n)) -> block``."""

    def gate(start: int, block: np.ndarray) -> np.ndarray:
        return block * result.gain(start, block.shape[1], sample_rate)

    return gate


def track_recording(
    model: ExtractionModel,
    embedding: torch.Tensor,
    wav: np.ndarray,
    sample_rate: int,
    config: TrackConfig,
) -> Track:
    """Track the enrolled voice in a whole recording ``(C, T)`` or ``(T)`` at ``sample_rate``
    (mixed to mono, brought to the separator's level, resampled to the model rate).

    Raises:
        PuresoundError: the recording holds NaN or Inf samples.
    """
    from puresound_cli import audio
    from puresound_cli.errors import PuresoundError
    from puresound_cli.separate import normalising_gain

    mono = np.asarray(wav, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    if not np.isfinite(mono).all():
        raise PuresoundError("contains NaN or Inf samples")
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) if mono.size else 0.0
    if rms == 0.0:  # silence: nobody talks
        n = int(mono.size / sample_rate / config.hop_seconds) + 1
        return Track(config.hop_seconds, np.zeros(n, np.float32), np.zeros(n, bool), config)
    scaled = (mono.astype(np.float64) * normalising_gain(rms)).astype(np.float32)
    x = audio.resample(scaled[None], sample_rate, model.sample_rate)[0]
    return track(model, x, embedding, config)
