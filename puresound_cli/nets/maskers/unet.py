"""Gated convolutional UNet masker over the STFT's (frequency, time) plane.

The STFT features (re/im or magnitude) are a small image per frame sequence: an encoder of L
gated 2-D convolutions halves the frequency axis each layer (GLU gates: ``a * sigmoid(b)``,
LayerNorm over channels, PReLU), a gated TCN (the ``gated-tcn`` blocks: R repeats of X) models
time at the bottleneck, where the speaker conditioning enters, and a decoder of transposed
convolutions doubles frequency back with skip connections. Time kernels look back one frame
(causal) or one frame each way, so the receptive field comes from the bottleneck TCN.

Reads the frame's STFT ``window`` (F = window // 2 + 1 bins); L = 4 encoder layers of
``unet_channels`` channels; the bottleneck TCN's B, H, P, X, R. Needs ``encoder = "stft"``.

References:
    Tan & Wang, "A convolutional recurrent neural network for real-time speech enhancement",
    Interspeech 2018 (gated conv encoder-decoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from puresound_cli.nets.blocks import Pointwise
from puresound_cli.nets.maskers.base import Masker
from puresound_cli.nets.maskers.gated_tcn import gated_blocks
from puresound_cli.nets.maskers.tcn import TCNConfig

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig

LAYERS = 4


@dataclass(frozen=True)
class UNetConfig(TCNConfig):
    """The UNet's numbers: its bottleneck TCN's (:class:`~.tcn.TCNConfig`) and the conv channels.

    Args:
        unet_channels: channels of every encoder and decoder layer.
    """

    unet_channels: int = 32

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"bottleneck_channels": 16, "hidden_channels": 24, "blocks_per_repeat": 2,
                 "repeats": 1, "unet_channels": 4},
        "small": {"bottleneck_channels": 128, "hidden_channels": 256, "blocks_per_repeat": 5,
                  "repeats": 2, "unet_channels": 32},
    }  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.unet_channels < 1:
            raise ValueError("unet_channels must be >= 1")


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


class UpConv(nn.Module):
    """The decoder's frequency-doubling transposed conv (kernel 3 x 1, stride 2 x 1, padding 1)
    over ``[x; skip]``, as matrix products on the channels-last layout and an interleave of the
    three taps (``nn.ConvTranspose2d`` takes the CPU's slow path here, and concatenating the skip
    is a copy). Weights (names, shapes, initialisation) and result as ``nn.ConvTranspose2d``.

    Shape:
        x (B, C, F, T), skip (B, C_in - C, F, T), bins -> (B, C_out, bins, T), bins 2F - 1 or 2F
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        layer = nn.ConvTranspose2d(in_channels, out_channels, (3, 1), (2, 1), (1, 0))
        assert layer.bias is not None  # a ConvTranspose2d has a bias unless told otherwise
        self.weight = nn.Parameter(layer.weight.detach())  # (C_in, C_out, 3, 1)
        self.bias = nn.Parameter(layer.bias.detach())  # (C_out,)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, bins: int) -> torch.Tensor:
        batch, channels, freq, frames = x.shape
        weight = self.weight[..., 0].reshape(self.weight.shape[0], -1)  # (C_in, C_out * 3)
        rows = x.permute(0, 2, 3, 1)  # (B, F, T, C): a view of a channels-last tensor
        z = torch.matmul(rows, weight[:channels])
        z.add_(torch.matmul(skip.permute(0, 2, 3, 1), weight[channels:]))  # (B, F, T, 3 C_out)
        z = z.reshape(batch, freq, frames, -1, 3)  # tap k goes to output bin 2 f - 1 + k
        even = z[..., 1]  # bins 2 f: (B, F, T, C_out)
        odd = z[..., 2] + F.pad(z[:, 1:, ..., 0], (0, 0, 0, 0, 0, 1))  # bins 2 f + 1
        out = torch.stack([even, odd], dim=2).reshape(batch, 2 * freq, frames, -1)[:, :bins]
        return (out + self.bias).permute(0, 3, 1, 2)  # (B, C_out, bins, T), channels-last


class TCNBottleneck(nn.Module):
    """The UNet's bottleneck: the (channels x bins) plane of each frame flattened, then the gated
    TCN blocks (with the speaker conditioning) over time.

    Shape:
        x (B, C, F, T), embedding (B, D) or None -> (B, C, F, T)
    """

    def __init__(self, frame: ConvTasNetConfig, channels: int, bins: int) -> None:
        super().__init__()
        o: UNetConfig = frame.masker_config
        flat = channels * bins
        width = o.bottleneck_channels or flat
        self.into = Pointwise(flat, width)
        where = Masker.conditioned(frame, o.repeats * o.blocks_per_repeat, o.blocks_per_repeat)
        self.blocks = gated_blocks(frame, width, where)
        self.out_of = Pointwise(width, flat)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        batch, channels, bins, frames = x.shape
        h = self.into(x.reshape(batch, channels * bins, frames))  # (B, W, T)
        for block in self.blocks:
            h = block(h, embedding)
        return self.out_of(h).reshape(batch, channels, bins, frames)


class UNetMasker(Masker):
    """The gated conv UNet masker (see the module docstring); ``bottleneck`` replaces the TCN
    bottleneck (the dual-path ones of DPCRN and DPARN)."""

    name = "unet"
    backbone = "unet"
    Config = UNetConfig
    needs_stft = True

    def __init__(self, frame: ConvTasNetConfig, bottleneck: nn.Module | None = None) -> None:
        super().__init__(frame)
        c = frame
        if c.encoder != "stft":
            raise ValueError("the unet masker needs encoder='stft' (a frequency axis)")
        self.bins = c.window // 2 + 1
        self.planes = c.feature_channels // self.bins  # 1 (magnitude) or 2 (re, im)
        self.out_planes = c.mask_channels // self.bins * c.sources
        ch = c.masker_config.unet_channels
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
            UpConv(2 * ch, ch if i > 0 else self.out_planes) for i in reversed(range(LAYERS))
        )
        self.up_act = nn.ModuleList(nn.PReLU() for _ in range(LAYERS - 1))

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        batch, _, frames = features.shape
        x = features.reshape(batch, self.planes, self.bins, frames)  # (B, P, F, T)
        x = x.contiguous(memory_format=torch.channels_last)  # 2-D convs twice as fast
        skips = []
        for layer in self.down:
            x = layer(x)  # (B, C, F_l, T)
            skips.append(x)
        bottleneck = self.bottleneck
        assert bottleneck is not None  # set in __init__ (the UNet has no input stage)
        x = bottleneck(x, embedding)  # (B, C, F_L, T)
        for i, layer in enumerate(self.up):
            size = [self.sizes[-2 - i], frames]  # frequency doubled (2 n - 1 or 2 n)
            x = layer(x, skips[-1 - i], size[0])
            if i < len(self.up_act):
                x = self.up_act[i](x)
        return self.top(x.reshape(batch, -1, frames))  # (B, S * M, T): sources, re/im, bins

    @classmethod
    def context_frames(cls, frame: ConvTasNetConfig) -> int:
        """The bottleneck TCN's context plus one frame per encoder layer each way."""
        context: int = frame.masker_config.context_frames
        return context + 2 * LAYERS
