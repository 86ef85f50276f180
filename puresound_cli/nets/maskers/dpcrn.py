"""DPCRN and DPARN: the seed's causal noise-suppression maskers (complex spectral mapping).

Both are the gated conv UNet of ``unet.py`` with a dual-path bottleneck on its (channels,
bins, frames) tensor, two blocks of:

- an intra path across frequency, within each frame (so still causal in time): a bidirectional
  LSTM (DPCRN) or a Transformer encoder layer with sinusoidal bin positions (DPARN), then a
  linear map, LayerNorm over channels and a residual;
- an inter path across time, per bin: a one-directional LSTM (DPCRN and DPARN alike), linear,
  LayerNorm, residual.

The speaker embedding (extraction) scales and shifts the channels before the first block (FiLM,
zero at the start). Simplified from the seed (see the digest, 3.7): 4 encoder layers that all
halve frequency, one channel count; the seed uses (32, 32, 32, 64, 128) channels, 5 layers and
frequency strides (2, 2, 1, 1, 1). With ``causal`` the only lookahead is the STFT window.

References:
    Le et al., "DPCRN: Dual-path convolution recurrent network for single channel speech
    enhancement", Interspeech 2021.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from puresound_cli.nets.blocks import zero_linear
from puresound_cli.nets.maskers.unet import LAYERS, UNetMasker

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


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

    def __init__(self, config: ConvTasNetConfig, channels: int, attention: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            DualPath2D(channels, config.hidden_channels, attention) for _ in range(2)
        )
        embed_dim = config.speaker_dim or 0
        self.film = zero_linear(embed_dim, 2 * channels) if embed_dim else None

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        if self.film is not None:
            if embedding is None:
                raise ValueError("this masker is speaker-conditioned: an embedding is required")
            scale, shift = self.film(embedding)[:, :, None, None].chunk(2, dim=1)
            x = x * (1 + scale) + shift
        for block in self.blocks:
            x = block(x)
        return x


class DPCRNMasker(nn.Module):
    """UNet with a dual-path LSTM bottleneck (see the module docstring)."""

    attention = False

    def __init__(self, config: ConvTasNetConfig) -> None:
        super().__init__()
        bottleneck = DualPathBottleneck(config, config.unet_channels, self.attention)
        self.unet = UNetMasker(config, bottleneck)

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        return self.unet(features, embedding)

    @staticmethod
    def context_frames(config: ConvTasNetConfig) -> int:
        """Nominal: the inter-frame LSTM carries the whole past; plus the encoder layers."""
        from puresound_cli.nets.maskers.dprnn import NOMINAL_CONTEXT_SECONDS

        return int(NOMINAL_CONTEXT_SECONDS * config.sample_rate / config.hop) + 2 * LAYERS


class DPARNMasker(DPCRNMasker):
    """UNet with a dual-path attention (intra) and LSTM (inter) bottleneck."""

    attention = True
