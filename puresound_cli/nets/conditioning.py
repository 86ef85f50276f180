"""Speaker conditioning: the one place that says how an embedding enters a masker.

Three kinds, one meaning each, applied to activations ``x`` with the channels on one axis:

- "concat": ``x + W e`` (equals a 1x1 convolution over ``[x; e tiled over time]``, without
  ever tiling the embedding; the seed's choice);
- "film": ``x * (1 + gamma(e)) + beta(e)`` (feature-wise linear modulation);
- "multiply": ``x * (1 + W e)`` (the multiplicative adaptation layer of SpeakerBeam / SpEx+).

The "concat" and "film" layers start from PyTorch's default (random) initialisation, so an
untrained model already depends on the speaker; the "multiply" layer starts at zero (the
identity), as SpeakerBeam's adaptation layer. Where a masker applies it (which blocks, before or
after which layer) is the masker's choice, written in its module.

References:
    Perez et al., "FiLM: Visual reasoning with a general conditioning layer", AAAI 2018.
    Zmolikova et al., "SpeakerBeam: Speaker aware neural network for target speaker extraction
    in speech mixtures", IEEE JSTSP 2019.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("concat", "film", "multiply")
WHERE = ("repeat", "first", "all")


def zero_linear(in_features: int, out_features: int) -> nn.Linear:
    """A bias-free linear layer starting at zero: conditioning that begins as the identity."""
    layer = nn.Linear(in_features, out_features, bias=False)
    nn.init.zeros_(layer.weight)
    return layer


def normalise_embedding(embedding: torch.Tensor, gain: float) -> torch.Tensor:
    """The L2-normalised speaker embedding times ``gain`` (the seed's ``embed_norm``).

    Shape:
        (B, D) -> (B, D)
    """
    embedding = F.normalize(embedding, dim=1)
    return embedding if gain == 1.0 else embedding * gain


def conditioned_blocks(where: str, total: int, per_repeat: int) -> set[int]:
    """Indices of the blocks that see the embedding among ``total`` blocks in repeats of
    ``per_repeat``: "repeat" (the first of each repeat), "first" (only block 0) or "all"."""
    if where == "first":
        return {0}
    if where == "all":
        return set(range(total))
    return set(range(0, total, per_repeat))


class Conditioning(nn.Module):
    """One conditioning layer of kind "concat", "film" or "multiply" (see the module docstring).

    Args:
        kind: one of ``KINDS``.
        embed_dim: D.
        channels: C, the channels it modulates.
        channel_dim: the axis of ``x`` that holds the channels (1 for (B, C, ...), -1 for
            channels-last activations).

    Shape:
        x (B, ..., C at ``channel_dim``, ...), embedding (B, D) -> same as x
    """

    def __init__(self, kind: str, embed_dim: int, channels: int, channel_dim: int = 1) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"conditioning must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.channel_dim = channel_dim
        if kind == "multiply":
            self.scale: nn.Linear | None = zero_linear(embed_dim, channels)
        else:
            self.scale = nn.Linear(embed_dim, channels, bias=False) if kind == "film" else None
        self.shift = nn.Linear(embed_dim, channels, bias=False) if kind != "multiply" else None

    def _shaped(self, layer: nn.Linear, embedding: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``layer(embedding)`` broadcastable against ``x``: (B, C) -> (B, 1.., C, 1..)."""
        y = layer(embedding)  # (B, C)
        if self.channel_dim == -1 or self.channel_dim == x.dim() - 1:
            return y.reshape(y.shape[0], *([1] * (x.dim() - 2)), y.shape[1])
        return y.reshape(*y.shape, *([1] * (x.dim() - 2)))

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        if embedding is None:
            raise ValueError("this masker is speaker-conditioned: an embedding is required")
        if self.scale is None and self.shift is not None:  # concat
            return x + self._shaped(self.shift, embedding, x)
        assert self.scale is not None
        scale = 1.0 + self._shaped(self.scale, embedding, x)
        if self.shift is None:  # multiply
            return x * scale
        return torch.addcmul(self._shaped(self.shift, embedding, x), x, scale)  # film
