"""Dual-path RNN masker: LSTMs within chunks of frames and across chunks, alternately.

bottleneck (F -> B) -> frames cut into chunks of K (``chunk_frames``) -> R dual-path blocks, each
an intra-chunk LSTM (over the K frames of a chunk) and an inter-chunk LSTM (over the chunks, at
each position), both followed by a linear map back to B, LayerNorm and a residual -> PReLU ->
1x1 conv to the masks. Causal models use one-directional LSTMs and cumulative input norm, so a
frame sees only earlier frames. Conditioning (``nets.conditioning``, any kind) is applied before
the intra-chunk LSTM of the conditioned blocks ("repeat" means every block here).

References:
    Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
    single-channel speech separation", ICASSP 2020.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from puresound_cli.nets.maskers.base import Masker, Presets

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig

NOMINAL_CONTEXT_SECONDS = 2.0
"""Recurrent maskers see a whole chunk of audio; chunked inference overlaps this much."""


def nominal_context(frame: ConvTasNetConfig) -> int:
    """Frames of the nominal context of a recurrent masker (``NOMINAL_CONTEXT_SECONDS``)."""
    return int(NOMINAL_CONTEXT_SECONDS * frame.sample_rate / frame.hop)


@dataclass(frozen=True)
class DPRNNConfig(Presets):
    """The dual-path RNN's numbers.

    Args:
        bottleneck_channels: B, the width the LSTMs run at (the feature width when None).
        hidden_channels: H, LSTM units per direction.
        repeats: R, dual-path blocks.
        chunk_frames: K, frames per chunk.
    """

    bottleneck_channels: int | None = None
    hidden_channels: int = 128
    repeats: int = 6
    chunk_frames: int = 20

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"bottleneck_channels": 16, "hidden_channels": 16, "repeats": 2, "chunk_frames": 4},
        "small": {"bottleneck_channels": 128, "hidden_channels": 128, "repeats": 6,
                  "chunk_frames": 25},
        "seed": {"bottleneck_channels": 128, "hidden_channels": 64, "repeats": 6},
    }  # fmt: skip
    """seed: the seed's DPRNN recipe (B 128, H 64, 6 blocks, chunks of 20 frames)."""

    def __post_init__(self) -> None:
        if min(self.hidden_channels, self.repeats, self.chunk_frames) < 1 or (
            self.bottleneck_channels is not None and self.bottleneck_channels < 1
        ):
            raise ValueError("channel counts, repeats and chunk_frames must be >= 1")


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


class DPRNNMasker(Masker):
    """The dual-path RNN masker (see the module docstring)."""

    name = "dprnn"
    backbone = "dprnn"
    Config = DPRNNConfig
    legacy_kinds = ("film", "multiply")

    def __init__(self, frame: ConvTasNetConfig) -> None:
        super().__init__(frame)
        o: DPRNNConfig = frame.masker_config
        self.chunk = o.chunk_frames
        width = o.bottleneck_channels or frame.feature_channels
        self.add_input(frame, width)
        self.blocks = nn.ModuleList(
            DualPathBlock(width, o.hidden_channels, frame.causal) for _ in range(o.repeats)
        )
        where = self.conditioned(frame, o.repeats, 1)
        self.condition = self.conditioning(frame, width, where, dim=-1)
        self.add_head(frame, width)

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        x = self.bottom(features)  # (B, W, T)
        batch, width, frames = x.shape
        pad = -frames % self.chunk
        x = F.pad(x, (0, pad)).reshape(batch, width, -1, self.chunk)  # (B, W, S, K)
        x = x.permute(0, 2, 3, 1)  # (B, S, K, W)
        for i, block in enumerate(self.blocks):
            if str(i) in self.condition:
                x = self.condition[str(i)](x, embedding)
            x = block(x)  # (B, S, K, W)
        x = x.permute(0, 3, 1, 2).reshape(batch, width, -1)[..., :frames]  # (B, W, T)
        return self.top(x)  # (B, S * M, T)

    @classmethod
    def context_frames(cls, frame: ConvTasNetConfig) -> int:
        """Nominal context: recurrent layers see the whole input (see NOMINAL_CONTEXT_SECONDS)."""
        return nominal_context(frame)
