"""Conv-TasNet's temporal convolutional network (TCN) masker, optionally speaker-conditioned.

input norm -> 1x1 bottleneck (F -> B) -> R repeats of X dilated blocks (dilations 1 ... 2**(X-1),
conditioning at the first block of each repeat) -> PReLU -> 1x1 (B -> mask channels) -> the
mask constraint (ReLU, sigmoid or none).

References:
    Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for
    speech separation", IEEE/ACM TASLP 2019.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from puresound_cli.nets.blocks import Pointwise, TCNBlock, make_norm, zero_linear
from puresound_cli.nets.masks import constrain

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


def conditioned_blocks(config: ConvTasNetConfig, per_repeat: int | None = None) -> set[int]:
    """Indices of the blocks that see the speaker embedding (see ``conditioned_blocks``).

    ``per_repeat`` blocks make one repeat (default ``blocks_per_repeat``; 1 for maskers whose
    blocks are not grouped in repeats, where "repeat" then means every block).
    """
    per = config.blocks_per_repeat if per_repeat is None else per_repeat
    total = config.repeats * per
    if config.conditioned_blocks == "first":
        return {0}
    if config.conditioned_blocks == "all":
        return set(range(total))
    return set(range(0, total, per))


class TCNMasker(nn.Module):
    """The masker of a ConvTasNet: features (and an embedding) in, mask out.

    Args:
        config: the frame's config; this reads feature/mask channels, B, H, P, X, R, causal,
            speaker_dim, conditioning and mask_constraint.

    Shape:
        features (B, feature_channels, frames), embedding (B, D) or None
        -> (B, sources * mask_channels, frames)
    """

    def __init__(self, config: ConvTasNetConfig) -> None:
        super().__init__()
        c = config
        self.constraint = c.mask_constraint
        width = c.bottleneck_channels or c.feature_channels
        self.input_norm = make_norm(c.feature_channels, c.causal) if c.bottleneck_channels else None
        self.bottleneck = Pointwise(c.feature_channels, width) if c.bottleneck_channels else None
        embed_dim = c.speaker_dim or 0
        conditioned = conditioned_blocks(c) if embed_dim else set()
        inside = embed_dim if c.conditioning in ("concat", "film") else 0
        self.blocks = nn.ModuleList(
            TCNBlock(
                width,
                c.hidden_channels,
                c.kernel_size,
                dilation=2 ** (i % c.blocks_per_repeat),
                causal=c.causal,
                embed_dim=inside if i in conditioned else 0,
                conditioning=c.conditioning,
            )
            for i in range(c.repeats * c.blocks_per_repeat)
        )
        # multiplicative adaptation after a block: x * (1 + W e), W zero at the start
        self.adapt = nn.ModuleDict(
            {str(i): zero_linear(embed_dim, width) for i in sorted(conditioned)}
            if c.conditioning == "multiply"
            else {}
        )
        out_channels = c.mask_channels * c.sources
        needs_output = c.bottleneck_channels is not None or width != out_channels
        self.output = (
            nn.Sequential(nn.PReLU(), Pointwise(width, out_channels)) if needs_output else None
        )

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        x = features
        if self.input_norm is not None and self.bottleneck is not None:
            x = self.bottleneck(self.input_norm(x))  # (B, B_ch, frames)
        for i, block in enumerate(self.blocks):
            x = block(x, embedding)  # (B, B_ch, frames)
            adapt = self.adapt[str(i)] if str(i) in self.adapt else None
            if adapt is not None:
                if embedding is None:
                    raise ValueError("this masker is speaker-conditioned: an embedding is required")
                x = x * (1.0 + adapt(embedding).unsqueeze(-1))  # (B, B_ch, frames)
        if self.output is not None:
            x = self.output(x)  # (B, mask_channels, frames)
        return constrain(x, self.constraint)

    @staticmethod
    def context_frames(config: ConvTasNetConfig) -> int:
        """Frames one output frame sees through the dilated convolutions."""
        return config.context_frames
