"""DPCRN and DPARN: the seed's causal noise-suppression maskers (complex spectral mapping).

Both are the gated conv UNet of ``unet.py`` with a dual-path bottleneck on its (channels,
bins, frames) tensor, two blocks of:

- an intra path across frequency, within each frame (so still causal in time): a bidirectional
  LSTM (DPCRN) or a Transformer encoder layer with sinusoidal bin positions (DPARN), then a
  linear map, LayerNorm over channels and a residual;
- an inter path across time, per bin: a one-directional LSTM (DPCRN and DPARN alike), linear,
  LayerNorm, residual.

The speaker embedding (extraction) enters the channels once, before the first block
(``nets.conditioning``, any kind; ``conditioned_blocks`` is not used). Simplified from the
seed (see the digest, 3.7): 4 encoder layers that all halve frequency, one channel count;
the seed uses (32, 32, 32, 64, 128) channels, 5 layers and
frequency strides (2, 2, 1, 1, 1). With ``causal`` the only lookahead is the STFT window.

References:
    Le et al., "DPCRN: Dual-path convolution recurrent network for single channel speech
    enhancement", Interspeech 2021.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from puresound_cli.nets.conditioning import Conditioning
from puresound_cli.nets.maskers.base import Masker, Presets
from puresound_cli.nets.maskers.dprnn import nominal_context
from puresound_cli.nets.maskers.unet import LAYERS, UNetMasker

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


@dataclass(frozen=True)
class DPCRNConfig(Presets):
    """DPCRN's (and DPARN's) numbers.

    Args:
        unet_channels: channels of every encoder and decoder layer (and of the bottleneck).
        hidden_channels: LSTM units (DPCRN), feed-forward width of the attention (DPARN).
    """

    unet_channels: int = 32
    hidden_channels: int = 128

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"unet_channels": 4, "hidden_channels": 8},
        "small": {"unet_channels": 64, "hidden_channels": 128},
    }

    def __post_init__(self) -> None:
        if min(self.unet_channels, self.hidden_channels) < 1:
            raise ValueError("unet_channels and hidden_channels must be >= 1")


@dataclass(frozen=True)
class DPARNConfig(DPCRNConfig):
    """DPARN's numbers: those of :class:`DPCRNConfig`."""


class DualPath2D(nn.Module):
    """One block: intra (across bins) then inter (across frames), each residual.

    Shape:
        (B, C, F, T) -> same
    """

    def __init__(self, channels: int, hidden: int, attention: bool) -> None:
        super().__init__()
        self.attention = attention
        if attention:
            heads = max(h for h in (8, 4, 2, 1) if channels % h == 0)
            self.intra: nn.Module = nn.TransformerEncoderLayer(
                channels, heads, dim_feedforward=hidden, dropout=0.0, batch_first=True
            )
            intra_out = channels
        else:
            self.intra = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
            intra_out = 2 * hidden
        self.intra_proj, self.intra_norm = nn.Linear(intra_out, channels), nn.LayerNorm(channels)
        self.inter = nn.LSTM(channels, hidden, batch_first=True)
        self.inter_proj, self.inter_norm = nn.Linear(hidden, channels), nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, bins, frames = x.shape
        rows = x.permute(0, 3, 2, 1).reshape(batch * frames, bins, channels)  # per frame
        if self.attention:
            h = self.intra(rows + _positions(bins, channels, x.device))
        else:
            h = self.intra(rows)[0]
        rows = rows + self.intra_norm(self.intra_proj(h))
        x = rows.reshape(batch, frames, bins, channels)
        cols = x.permute(0, 2, 1, 3).reshape(batch * bins, frames, channels)  # per bin
        cols = cols + self.inter_norm(self.inter_proj(self.inter(cols)[0]))
        return cols.reshape(batch, bins, frames, channels).permute(0, 3, 1, 2)


def _positions(bins: int, channels: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal positions of the frequency bins: (bins, channels)."""
    pos = torch.arange(bins, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(
        torch.arange(0, channels, 2, device=device, dtype=torch.float32)
        * (-math.log(10000.0) / channels)
    )
    table = torch.zeros(bins, channels, device=device)
    table[:, 0::2] = torch.sin(pos * rate)
    table[:, 1::2] = torch.cos(pos * rate[: channels // 2])
    return table


class DualPathBottleneck(nn.Module):
    """Two dual-path blocks, FiLM-conditioned on the speaker embedding when there is one.

    Shape:
        x (B, C, F, T), embedding (B, D) or None -> (B, C, F, T)
    """

    def __init__(self, frame: ConvTasNetConfig, channels: int, attention: bool) -> None:
        super().__init__()
        hidden = frame.masker_config.hidden_channels
        self.blocks = nn.ModuleList(DualPath2D(channels, hidden, attention) for _ in range(2))
        embed_dim = frame.speaker_dim or 0
        self.condition = (
            Conditioning(frame.conditioning, embed_dim, channels) if embed_dim else None
        )

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        if self.condition is not None:
            x = self.condition(x, embedding)  # (B, C, F, T)
        for block in self.blocks:
            x = block(x)
        return x


class DPCRNMasker(Masker):
    """UNet with a dual-path LSTM bottleneck (see the module docstring)."""

    name = "dpcrn"
    backbone = "dpcrn"
    Config: ClassVar[type[Any]] = DPCRNConfig
    needs_stft = True
    causal_presets = True
    attention = False

    def __init__(self, frame: ConvTasNetConfig) -> None:
        super().__init__(frame)
        channels = frame.masker_config.unet_channels
        bottleneck = DualPathBottleneck(frame, channels, self.attention)
        self.unet = UNetMasker(frame, bottleneck)

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        mask: torch.Tensor = self.unet(features, embedding)
        return mask

    @classmethod
    def context_frames(cls, frame: ConvTasNetConfig) -> int:
        """Nominal: the inter-frame LSTM carries the whole past; plus the encoder layers."""
        return nominal_context(frame) + 2 * LAYERS


class DPARNMasker(DPCRNMasker):
    """UNet with a dual-path attention (intra) and LSTM (inter) bottleneck."""

    name = "dparn"
    backbone = "dparn"
    Config = DPARNConfig
    attention = True
