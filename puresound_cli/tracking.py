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

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from puresound_cli.nets.contract import ExtractionModel, model_device
from puresound_cli.runtime import native_bf16
from puresound_cli.talk import GateFn, LevelMeter, Track, gate_for

__all__ = [
    "GateFn", "Track", "TrackConfig", "WindowEmbedder", "adapted", "decide", "gate_for",
    "scores_of", "track", "track_blocks", "track_recording", "track_windows",
    "window_embeddings", "window_scores",
]  # fmt: skip


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
        rescue_cosine: where a window scores at least this, raise the output to the input's
            level around it (:class:`~puresound_cli.talk.OutputGate`); None: no rescue.
        rescue_cap_db, rescue_seconds: the rescue's largest raise; the span it compares.
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
    rescue_cosine: float | None = None
    rescue_cap_db: float = 12.0
    rescue_seconds: float = 0.4
    batch: int = 16

    @classmethod
    def for_model(cls, model: ExtractionModel) -> TrackConfig:
        """The defaults with the thresholds calibrated for ``model``'s tracking net."""
        open_cosine, close_cosine = model.track_thresholds
        return cls(open_cosine=open_cosine, close_cosine=close_cosine,
                   adapt_cosine=model.track_adapt_cosine,
                   rescue_cosine=model.track_rescue_cosine)  # fmt: skip

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
        if self.rescue_cap_db < 0 or not 0.02 <= self.rescue_seconds <= 5.0:
            raise ValueError("need rescue_cap_db >= 0 and rescue_seconds in [0.02, 5]")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")


class WindowEmbedder:
    """Tracking embeddings of the windows centred at every ``i * hop`` of a recording that
    arrives in pieces (memory: one batch of windows, whatever the recording's length).

    Args:
        model: an extractor (its ``track_embed``).
        config: window, hop and batch.

    Shape:
        push: mono float32 samples at ``model.sample_rate`` (at the separator's level);
        finish: -> ``(n, D)`` unit-length embeddings on the CPU, ``n = samples // hop + 1``.
    """

    def __init__(self, model: ExtractionModel, config: TrackConfig) -> None:
        self.model, self.batch = model, config.batch
        self.window = int(round(config.window_seconds * model.sample_rate))
        self.hop = int(round(config.hop_seconds * model.sample_rate))
        self.device = model_device(model)
        # bfloat16 where the CPU has it natively: 1.7x faster, embeddings within cosine 1e-4
        self.bf16 = self.device.type == "cpu" and native_bf16()
        self.buffer = np.zeros(self.window // 2, np.float32)  # the left half-window of silence
        self.base = 0  # padded-signal index of buffer[0]
        self.done = 0  # windows embedded so far
        self.received = 0
        self.parts: list[Tensor] = []

    def push(self, mono: np.ndarray) -> None:
        self.received += mono.size
        self.buffer = np.concatenate([self.buffer, mono.astype(np.float32, copy=False)])
        self._embed(limit=None)

    def finish(self) -> Tensor:
        tail = self.window - self.window // 2 + self.hop
        self.buffer = np.concatenate([self.buffer, np.zeros(tail, np.float32)])
        self._embed(limit=self.received // self.hop + 1)
        return torch.cat(self.parts) if self.parts else torch.zeros(0, 1)

    def _embed(self, limit: int | None) -> None:
        end = self.base + self.buffer.size
        ready = (end - self.window) // self.hop + 1 if end >= self.window else 0
        ready = ready if limit is None else min(ready, limit)
        while self.done < ready:
            count = min(self.batch, ready - self.done)
            if limit is None and count < self.batch:
                break  # wait for a full batch (speed), unless finishing
            starts = (self.done + np.arange(count)) * self.hop - self.base
            frames = np.stack([self.buffer[s : s + self.window] for s in starts])  # (count, W)
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=self.bf16):
                x = torch.from_numpy(frames)[:, None].to(self.device)  # (count, 1, W)
                e = self.model.track_embed(x).float()  # (count, D)
            self.parts.append(torch.nn.functional.normalize(e, dim=1).cpu())
            self.done += count
        drop = self.done * self.hop - self.base  # samples no later window needs
        if drop > 0:
            self.buffer = self.buffer[drop:]
            self.base += drop


def window_embeddings(model: ExtractionModel, mono: np.ndarray, config: TrackConfig) -> Tensor:
    """:class:`WindowEmbedder` on a whole recording: ``(n, D)``, ``n = len(mono) // hop + 1``."""
    embedder = WindowEmbedder(model, config)
    embedder.push(mono)
    return embedder.finish()


def window_scores(
    model: ExtractionModel, mono: np.ndarray, embedding: Tensor, config: TrackConfig
) -> np.ndarray:
    """Cosine with ``embedding`` (the enrollment's ``(1, D)`` tracking embedding) of the window
    centred at every ``i * hop`` of ``mono``; with ``config.adapt_cosine`` the enrollment is
    first adapted to the recording (see :func:`adapted`). Returns ``(n,)`` float32."""
    return scores_of(window_embeddings(model, mono, config), embedding, config)


def scores_of(windows: Tensor, embedding: Tensor, config: TrackConfig) -> np.ndarray:
    """Scores of window embeddings ``(n, D)`` against the enrollment (see :func:`window_scores`)."""
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
    return track_windows(window_embeddings(model, mono, config), embedding, config)


def track_windows(windows: Tensor, embedding: Tensor, config: TrackConfig) -> Track:
    """The :class:`Track` of window embeddings ``(n, D)`` (from :class:`WindowEmbedder`)."""
    scores = scores_of(windows, embedding, config)
    return Track(config.hop_seconds, scores, decide(scores, config), config)


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
    return track_blocks(model, embedding, [scaled], sample_rate, config)


def track_blocks(
    model: ExtractionModel,
    embedding: Tensor,
    blocks: Iterable[np.ndarray],
    rate: int,
    config: TrackConfig,
) -> Track:
    """Track the enrolled voice in a recording given as mono blocks ``(n,)`` at ``rate``,
    already at the separator's level: resampled to the model rate as they come and embedded
    window by window (memory flat whatever the length); with ``config.rescue_cosine`` also the
    input's levels around the centres (``input_rms``). ``extract`` and ``vad`` both go here."""
    from puresound_cli import audio

    down = audio.StreamResampler(rate, model.sample_rate, 1)
    embedder = WindowEmbedder(model, config)
    meter = LevelMeter(model.sample_rate) if config.rescue_cosine is not None else None
    end = [(np.zeros(0, np.float32), True)]
    for block, last in itertools.chain(((b, False) for b in blocks), end):
        mono = down.process(block[None], last=last)[0]
        embedder.push(mono)
        if meter is not None:
            meter.push(mono)
    result = track_windows(embedder.finish(), embedding, config)
    if meter is not None:
        centres = np.arange(result.scores.size) * config.hop_seconds
        result.input_rms = meter.rms(centres, config.rescue_seconds)
    return result
