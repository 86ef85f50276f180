"""The typed contract every network meets, so inference never guesses with ``getattr``.

An enhancer maps a mixture to its estimate; an extractor also embeds an enrollment once and
separates any number of chunks with that embedding; a personal VAD embeds an enrollment and
scores frames. ``checkpoint.load_model`` returns the networks that meet them (``ConvTasNet``,
``Extractor``, ``PersonalVAD``). Inference (:mod:`puresound_cli.separate`)
and training are written against these protocols, not against one class.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class NetworkModel(Protocol):
    """What every network says of itself.

    Attributes:
        task: "enhance", "separate", "extract" or "vad".
        sample_rate: the rate the network runs at, in Hz.
    """

    @property
    def task(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...


@runtime_checkable
class SeparationModel(NetworkModel, Protocol):
    """What inference needs of any network that outputs audio (enhancer or extractor).

    Attributes:
        receptive_field_samples: input span one output sample depends on (sets chunk overlap).
        lookahead_samples: future samples one output sample depends on (0 + window for causal).
    """

    @property
    def receptive_field_samples(self) -> int: ...

    @property
    def lookahead_samples(self) -> int: ...

    def valid_length(self, n: int) -> int:
        """Smallest length >= n the network takes without internal padding."""
        ...

    def __call__(self, *args: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ExtractionModel(SeparationModel, Protocol):
    """An extractor: ``embed`` once per enrollment, then ``separate`` chunk by chunk.

    Shape:
        embed: enrollment (B, 1, T_e) -> (B, D)
        separate: mixture (B, 1, T), embedding (B, D) -> (B, 1, T)
    """

    @property
    def embed_dim(self) -> int: ...

    def embed(self, enrollment: torch.Tensor) -> torch.Tensor: ...

    def track_embed(self, wav: torch.Tensor) -> torch.Tensor:
        """Embedding used to track who talks when (may equal ``embed``)."""
        ...

    @property
    def track_thresholds(self) -> tuple[float, float]:
        """Calibrated (open, close) cosines for :meth:`track_embed`."""
        ...

    @property
    def track_adapt_cosine(self) -> float | None:
        """Calibrated adaptation threshold of the tracker, or None."""
        ...

    @property
    def track_rescue_cosine(self) -> float | None:
        """Calibrated level-rescue threshold of the tracker, or None."""
        ...

    @property
    def has_tracking_net(self) -> bool:
        """Whether :meth:`track_embed` differs from :meth:`embed` (a net of its own)."""
        ...

    @property
    def tracks_by_default(self) -> bool:
        """Whether the model carries a calibrated tracking net (``extract`` tracks by default)."""
        ...

    def separate(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class VADModel(NetworkModel, Protocol):
    """A personal voice-activity detector: ``embed`` once per enrollment, then one logit per
    frame of a mixture (frame i centred on sample ``i * hop``).

    Shape:
        embed: enrollment (B, 1, T_e) -> (B, D)
        frame_logits: mixture (B, 1, T), embedding (B, D) -> (B, T // hop + 1)
    """

    @property
    def hop(self) -> int: ...

    @property
    def embed_dim(self) -> int: ...

    def embed(self, enrollment: torch.Tensor) -> torch.Tensor: ...

    def frame_logits(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor: ...


def model_device(model: NetworkModel) -> torch.device:
    """Where the model's weights are (the CPU for a model without any)."""
    return next(iter(model.parameters()), torch.empty(0)).device
