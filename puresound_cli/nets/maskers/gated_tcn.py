"""Gated TCN masker: the seed's lighter TCN variant, a gated pair of dilated convolutions.

Each block: 1x1 conv (B -> H) -> a "value" branch (depthwise dilated conv -> norm -> PReLU)
times a "gate" branch (depthwise dilated conv -> norm -> PReLU -> sigmoid) -> 1x1 conv (H -> B)
-> residual. Speaker conditioning enters the gate branch only (FiLM on its input, or the
multiplicative adaptation), so the speaker decides what passes. The stack, bottleneck, output
head and receptive field are those of the TCN masker (R repeats of X blocks, dilations
1 ... 2**(X-1)).

References:
    Dauphin et al., "Language modeling with gated convolutional networks", ICML 2017.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from puresound_cli.nets.blocks import DepthwiseConv1d, Pointwise, make_norm, zero_linear
from puresound_cli.nets.masks import constrain

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


class GatedBlock(nn.Module):
    """One gated dilated block (see the module docstring).

    Shape:
        x (B, width, frames), embedding (B, D) or None -> (B, width, frames)
    """

    def __init__(
        self, width: int, hidden: int, kernel: int, dilation: int, causal: bool, embed_dim: int
    ) -> None:
        super().__init__()
        self.conv_in = Pointwise(width, hidden, bias=False)
        self.norm_in = make_norm(hidden, causal)
        self.act_in = nn.PReLU()
        self.value = nn.Sequential(
            DepthwiseConv1d(hidden, kernel, dilation, causal), make_norm(hidden, causal), nn.PReLU()
        )
        self.gate = nn.Sequential(
            DepthwiseConv1d(hidden, kernel, dilation, causal), make_norm(hidden, causal), nn.PReLU()
        )
        self.film = zero_linear(embed_dim, 2 * hidden) if embed_dim else None
        self.conv_out = Pointwise(hidden, width)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        h = self.act_in(self.norm_in(self.conv_in(x)))  # (B, H, frames)
        g = h
        if self.film is not None:
            if embedding is None:
                raise ValueError("this block is speaker-conditioned: an embedding is required")
            scale, shift = self.film(embedding).unsqueeze(-1).chunk(2, dim=1)  # (B, H, 1) each
            g = h * (1 + scale) + shift
        return x + self.conv_out(self.value(h) * torch.sigmoid(self.gate(g)))


class GatedTCNMasker(nn.Module):
    """The gated TCN masker.

    Shape:
        features (B, feature_channels, frames), embedding (B, D) or None
        -> (B, sources * mask_channels, frames)
    """

    def __init__(self, config: ConvTasNetConfig) -> None:
        super().__init__()
        from puresound_cli.nets.maskers.tcn import conditioned_blocks

        c = config
        self.constraint = c.mask_constraint
        width = c.bottleneck_channels or c.feature_channels
        self.input_norm = make_norm(c.feature_channels, c.causal)
        self.bottleneck = Pointwise(c.feature_channels, width)
        embed_dim = c.speaker_dim or 0
        conditioned = conditioned_blocks(c) if embed_dim else set()
        self.blocks = nn.ModuleList(
            GatedBlock(
                width,
                c.hidden_channels,
                c.kernel_size,
                2 ** (i % c.blocks_per_repeat),
                c.causal,
                embed_dim if i in conditioned else 0,
            )
            for i in range(c.repeats * c.blocks_per_repeat)
        )
        self.output = nn.Sequential(nn.PReLU(), Pointwise(width, c.mask_channels * c.sources))

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        x = self.bottleneck(self.input_norm(features))  # (B, W, frames)
        for block in self.blocks:
            x = block(x, embedding)
        mask = self.output(x)
        return constrain(mask, self.constraint)

    @staticmethod
    def context_frames(config: ConvTasNetConfig) -> int:
        """Frames one output frame sees: as the TCN masker."""
        return config.context_frames
