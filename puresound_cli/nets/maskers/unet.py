"""Gated convolutional UNet masker over the STFT's (frequency, time) plane.

The STFT features (re/im or magnitude) are a small image per frame sequence: an encoder of L
gated 2-D convolutions halves the frequency axis each layer (GLU gates: ``a * sigmoid(b)``,
LayerNorm over channels, PReLU), a gated TCN (the ``gated-tcn`` blocks: R repeats of X) models
time at the bottleneck, where the speaker conditioning enters, and a decoder of transposed
convolutions doubles frequency back with skip connections. Time kernels look back one frame
(causal) or one frame each way, so the receptive field comes from the bottleneck TCN.

Reads from the frame's config: the STFT ``window`` (F = window // 2 + 1 bins), L = 4 encoder
layers with ``unet_channels`` channels, B = ``bottleneck_channels``, H = ``hidden_channels``,
P, X, R of the bottleneck TCN. Needs ``encoder = "stft"``.

References:
    Tan & Wang, "A convolutional recurrent neural network for real-time speech enhancement",
    Interspeech 2018 (gated conv encoder-decoder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from puresound_cli.nets.blocks import Pointwise
from puresound_cli.nets.maskers.gated_tcn import GatedBlock
from puresound_cli.nets.masks import constrain

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig

LAYERS = 4


class _ChannelNorm(nn.Module):
    """LayerNorm over channels at each (frequency, frame): causal-safe."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GatedConv2d(nn.Module):
    """Frequency-halving gated conv: (B, C_in, F, T) -> (B, C_out, ceil(F / 2), T)."""

    def __init__(self, c_in: int, c_out: int, causal: bool) -> None:
        super().__init__()
        self.time_pad = (1, 0) if causal else (1, 1)
        self.conv = nn.Conv2d(c_in, 2 * c_out, (3, sum(self.time_pad) + 1), (2, 1), (1, 0))
        self.norm = _ChannelNorm(c_out)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(F.pad(x, self.time_pad)).chunk(2, dim=1)
        return self.act(self.norm(a * torch.sigmoid(b)))


class TCNBottleneck(nn.Module):
    """The UNet's bottleneck: the (channels x bins) plane of each frame flattened, then the gated
    TCN blocks (with the speaker conditioning) over time.

    Shape:
        x (B, C, F, T), embedding (B, D) or None -> (B, C, F, T)
    """

    def __init__(self, config: ConvTasNetConfig, channels: int, bins: int) -> None:
        super().__init__()
        from puresound_cli.nets.maskers.tcn import conditioned_blocks

        c = config
        flat = channels * bins
        width = c.bottleneck_channels or flat
        self.into = Pointwise(flat, width)
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
            )  # fmt: skip
            for i in range(c.repeats * c.blocks_per_repeat)
        )
        self.out_of = Pointwise(width, flat)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        batch, channels, bins, frames = x.shape
        h = self.into(x.reshape(batch, channels * bins, frames))  # (B, W, T)
        for block in self.blocks:
            h = block(h, embedding)
        return self.out_of(h).reshape(batch, channels, bins, frames)


class UNetMasker(nn.Module):
    """The gated conv UNet masker (see the module docstring); ``bottleneck`` replaces the TCN
    bottleneck (the dual-path ones of DPCRN and DPARN).

    Shape:
        features (B, feature_channels, frames), embedding (B, D) or None
        -> (B, sources * mask_channels, frames)
    """

    def __init__(self, config: ConvTasNetConfig, bottleneck: nn.Module | None = None) -> None:
        super().__init__()
        c = config
        if c.encoder != "stft":
            raise ValueError("the unet masker needs encoder='stft' (a frequency axis)")
        self.bins = c.window // 2 + 1
        self.planes = c.feature_channels // self.bins  # 1 (magnitude) or 2 (re, im)
        self.out_planes = c.mask_channels // self.bins * c.sources
        self.constraint = c.mask_constraint
        ch = c.unet_channels
        widths = [self.planes] + [ch] * LAYERS
        self.down = nn.ModuleList(
            GatedConv2d(widths[i], widths[i + 1], c.causal) for i in range(LAYERS)
        )
        sizes = [self.bins]
        for _ in range(LAYERS):
            sizes.append((sizes[-1] - 1) // 2 + 1)
        self.sizes = sizes
        self.bottleneck = bottleneck if bottleneck is not None else TCNBottleneck(c, ch, sizes[-1])
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(2 * ch, ch if i > 0 else self.out_planes, (3, 1), (2, 1), (1, 0))
            for i in reversed(range(LAYERS))
        )
        self.up_act = nn.ModuleList(nn.PReLU() for _ in range(LAYERS - 1))

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        batch, _, frames = features.shape
        x = features.reshape(batch, self.planes, self.bins, frames)  # (B, P, F, T)
        skips = []
        for layer in self.down:
            x = layer(x)  # (B, C, F_l, T)
            skips.append(x)
        x = self.bottleneck(x, embedding)  # (B, C, F_L, T)
        for i, layer in enumerate(self.up):
            size = [self.sizes[-2 - i], frames]  # frequency doubled (2 n - 1 or 2 n)
            x = layer(torch.cat([x, skips[-1 - i]], dim=1), output_size=size)
            if i < len(self.up_act):
                x = self.up_act[i](x)
        mask = x.reshape(batch, -1, frames)  # (B, S * M, T): sources, then re/im, then bins
        return constrain(mask, self.constraint)

    @staticmethod
    def context_frames(config: ConvTasNetConfig) -> int:
        """The bottleneck TCN's context plus one frame per encoder layer each way."""
        return config.context_frames + 2 * LAYERS
