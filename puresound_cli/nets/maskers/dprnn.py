"""Dual-path RNN masker: LSTMs within chunks of frames and across chunks, alternately.

bottleneck (F -> B) -> frames cut into chunks of K (``chunk_frames``) -> R dual-path blocks, each
an intra-chunk LSTM (over the K frames of a chunk) and an inter-chunk LSTM (over the chunks, at
each position), both followed by a linear map back to B, LayerNorm and a residual -> PReLU ->
1x1 conv to the masks. Causal models use one-directional LSTMs and cumulative input norm, so a
frame sees only earlier frames. Conditioning (FiLM or the multiplicative adaptation) is applied
before the intra-chunk LSTM of the conditioned blocks.

Reads from the frame's config: B = ``bottleneck_channels`` (the feature width when None),
H = ``hidden_channels`` (LSTM units per direction), R = ``repeats`` (dual-path blocks),
K = ``chunk_frames``; ``blocks_per_repeat`` and ``kernel_size`` are not used.

References:
    Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
    single-channel speech separation", ICASSP 2020.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from puresound_cli.nets.blocks import Pointwise, make_norm, zero_linear
from puresound_cli.nets.maskers.tcn import conditioned_blocks
from puresound_cli.nets.masks import constrain

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig

NOMINAL_CONTEXT_SECONDS = 2.0
"""Recurrent maskers see a whole chunk of audio; chunked inference overlaps this much."""


class DualPathBlock(nn.Module):
    """Intra-chunk then inter-chunk LSTM, each with projection, LayerNorm and residual.

    Shape:
        (batch, chunks, K, B) -> same
    """

    def __init__(self, width: int, hidden: int, causal: bool) -> None:
        super().__init__()
        self.intra = nn.LSTM(width, hidden, batch_first=True, bidirectional=not causal)
        self.intra_proj = nn.Linear(hidden * (1 if causal else 2), width)
        self.intra_norm = nn.LayerNorm(width)
        self.inter = nn.LSTM(width, hidden, batch_first=True, bidirectional=not causal)
        self.inter_proj = nn.Linear(hidden * (1 if causal else 2), width)
        self.inter_norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, chunks, size, width = x.shape
        rows = x.reshape(batch * chunks, size, width)  # (B * S, K, W)
        h, _ = self.intra(rows)
        x = x + self.intra_norm(self.intra_proj(h)).reshape(batch, chunks, size, width)
        cols = x.transpose(1, 2).reshape(batch * size, chunks, width)  # (B * K, S, W)
        h, _ = self.inter(cols)
        h = self.inter_norm(self.inter_proj(h)).reshape(batch, size, chunks, width)
        return x + h.transpose(1, 2)  # (B, S, K, W)


class DPRNNMasker(nn.Module):
    """The dual-path RNN masker (see the module docstring).

    Shape:
        features (B, feature_channels, frames), embedding (B, D) or None
        -> (B, sources * mask_channels, frames)
    """

    def __init__(self, config: ConvTasNetConfig) -> None:
        super().__init__()
        c = config
        self.chunk = c.chunk_frames
        self.constraint = c.mask_constraint
        width = c.bottleneck_channels or c.feature_channels
        self.input_norm = make_norm(c.feature_channels, c.causal)
        self.bottleneck = Pointwise(c.feature_channels, width)
        self.blocks = nn.ModuleList(
            DualPathBlock(width, c.hidden_channels, c.causal) for _ in range(c.repeats)
        )
        embed_dim = c.speaker_dim or 0
        conditioned = conditioned_blocks(c, per_repeat=1) if embed_dim else set()
        self.conditioning = c.conditioning
        self.film = nn.ModuleDict(
            {str(i): zero_linear(embed_dim, 2 * width) for i in sorted(conditioned)}
        )
        self.output = nn.Sequential(nn.PReLU(), Pointwise(width, c.mask_channels * c.sources))

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        x = self.bottleneck(self.input_norm(features))  # (B, W, T)
        batch, width, frames = x.shape
        pad = -frames % self.chunk
        x = F.pad(x, (0, pad)).reshape(batch, width, -1, self.chunk)  # (B, W, S, K)
        x = x.permute(0, 2, 3, 1)  # (B, S, K, W)
        for i, block in enumerate(self.blocks):
            if str(i) in self.film:
                if embedding is None:
                    raise ValueError("this masker is speaker-conditioned: an embedding is required")
                scale, shift = self.film[str(i)](embedding).chunk(2, dim=-1)  # (B, W) each
                scale, shift = scale[:, None, None], shift[:, None, None]
                x = x * (1 + scale) + (0 if self.conditioning == "multiply" else shift)
            x = block(x)  # (B, S, K, W)
        x = x.permute(0, 3, 1, 2).reshape(batch, width, -1)[..., :frames]  # (B, W, T)
        mask = self.output(x)  # (B, S * M, T)
        return constrain(mask, self.constraint)

    @staticmethod
    def context_frames(config: ConvTasNetConfig) -> int:
        """Nominal context: recurrent layers see the whole input (see NOMINAL_CONTEXT_SECONDS)."""
        return int(NOMINAL_CONTEXT_SECONDS * config.sample_rate / config.hop)
