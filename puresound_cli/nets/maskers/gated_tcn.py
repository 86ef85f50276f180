"""Gated TCN masker: the seed's lighter TCN variant, a gated pair of dilated convolutions.

Each block: 1x1 conv (B -> H) -> a "value" branch (depthwise dilated conv -> norm -> PReLU)
times a "gate" branch (depthwise dilated conv -> norm -> PReLU -> sigmoid) -> 1x1 conv (H -> B)
-> residual. Speaker conditioning (any kind of ``nets.conditioning``) enters the gate branch
only, so the speaker decides what passes. The stack, numbers, presets and receptive field are
those of the TCN masker (R repeats of X blocks, dilations 1 ... 2**(X-1)); unlike it, the input
norm, bottleneck and output head are always there.

References:
    Dauphin et al., "Language modeling with gated convolutional networks", ICML 2017.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from puresound_cli.nets.blocks import DepthwiseConv1d, Pointwise, make_norm
from puresound_cli.nets.conditioning import Conditioning
from puresound_cli.nets.maskers.tcn import DilatedMasker, TCNConfig

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


@dataclass(frozen=True)
class GatedTCNConfig(TCNConfig):
    """The gated TCN's numbers: those of :class:`~.tcn.TCNConfig`, with the same presets."""


class GatedBlock(nn.Module):
    """One gated dilated block (see the module docstring).

    Args:
        conditioning: the conditioning kind, used when ``embed_dim`` > 0.

    Shape:
        x (B, width, frames), embedding (B, D) or None -> (B, width, frames)
    """

    def __init__(
        self,
        width: int,
        hidden: int,
        kernel: int,
        dilation: int,
        causal: bool,
        embed_dim: int,
        conditioning: str = "film",
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
        self.condition = Conditioning(conditioning, embed_dim, hidden) if embed_dim else None
        self.conv_out = Pointwise(hidden, width)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        h = self.act_in(self.norm_in(self.conv_in(x)))  # (B, H, frames)
        g = h if self.condition is None else self.condition(h, embedding)
        return x + self.conv_out(self.value(h) * torch.sigmoid(self.gate(g)))


def gated_blocks(frame: ConvTasNetConfig, width: int, where: set[int]) -> nn.ModuleList:
    """The R x X gated blocks of ``frame`` (its masker config a TCNConfig) at ``width``; the
    blocks in ``where`` conditioned."""
    o: TCNConfig = frame.masker_config
    return nn.ModuleList(
        GatedBlock(
            width,
            o.hidden_channels,
            o.kernel_size,
            2 ** (i % o.blocks_per_repeat),
            frame.causal,
            (frame.speaker_dim or 0) if i in where else 0,
            frame.conditioning,
        )
        for i in range(o.repeats * o.blocks_per_repeat)
    )


class GatedTCNMasker(DilatedMasker):
    """The gated TCN masker."""

    name = "gated-tcn"
    backbone = "gated-tcn"
    Config = GatedTCNConfig
    streams = True

    def __init__(self, frame: ConvTasNetConfig) -> None:
        super().__init__(frame)
        o: GatedTCNConfig = frame.masker_config
        width = o.bottleneck_channels or frame.feature_channels
        self.add_input(frame, width)
        blocks = o.repeats * o.blocks_per_repeat
        self.blocks = gated_blocks(
            frame, width, self.conditioned(frame, blocks, o.blocks_per_repeat)
        )
        self.add_head(frame, width)
