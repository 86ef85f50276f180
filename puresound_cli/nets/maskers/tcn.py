"""Conv-TasNet's temporal convolutional network (TCN) masker, optionally speaker-conditioned.

input norm -> 1x1 bottleneck (F -> B) -> R repeats of X dilated blocks (dilations 1 ... 2**(X-1),
conditioning at the first block of each repeat by default) -> PReLU -> 1x1 (B -> mask channels)
-> the mask constraint (ReLU, sigmoid or none). With no bottleneck (``bottleneck_channels``
None, the seed's) the blocks run at the feature width, with no input norm and, when the widths
match, no output convolution. "concat" and "film" conditioning act inside a block
(``nets.blocks.TCNBlock``), "multiply" on the residual stream after it.

References:
    Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for
    speech separation", IEEE/ACM TASLP 2019.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from puresound_cli.nets.blocks import TCNBlock
from puresound_cli.nets.maskers.base import Masker, Presets

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


@dataclass(frozen=True)
class TCNConfig(Presets):
    """The TCN's numbers.

    Args:
        bottleneck_channels: B, residual width; None keeps the feature width (see above).
        hidden_channels: H, channels inside each block.
        kernel_size: P, depthwise kernel size (odd unless the frame is causal).
        blocks_per_repeat: X, blocks per repeat with dilations 1 ... 2**(X-1).
        repeats: R, number of repeats.
    """

    bottleneck_channels: int | None = None
    hidden_channels: int = 256
    kernel_size: int = 3
    blocks_per_repeat: int = 8
    repeats: int = 3

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"bottleneck_channels": 16, "hidden_channels": 24, "blocks_per_repeat": 3,
                 "repeats": 2},
        "small": {"bottleneck_channels": 128, "hidden_channels": 256, "repeats": 2},
        "seed": {},
    }  # fmt: skip
    """tiny: a test size; small: the shipped CPU size (B 128, H 256, R 2 x X 8); seed: the
    seed's TSE masker (no bottleneck, H 256, R 3 x X 8)."""

    def __post_init__(self) -> None:
        sizes = (self.hidden_channels, self.kernel_size, self.blocks_per_repeat, self.repeats)
        if min(sizes) < 1 or (
            self.bottleneck_channels is not None and self.bottleneck_channels < 1
        ):
            raise ValueError("TCN channel counts, kernel_size, blocks and repeats must be >= 1")

    @property
    def context_frames(self) -> int:
        """Frames one output frame sees through the dilated convs: (P-1) R sum 2^x."""
        return (self.kernel_size - 1) * self.repeats * (2**self.blocks_per_repeat - 1)


class DilatedMasker(Masker):
    """A masker of R repeats of X dilated blocks with a :class:`TCNConfig` (the TCN and the
    gated TCN): their context and their kernel check."""

    @classmethod
    def context_frames(cls, frame: ConvTasNetConfig) -> int:
        """Frames one output frame sees through the dilated convolutions."""
        context: int = frame.masker_config.context_frames
        return context

    @classmethod
    def check(cls, frame: ConvTasNetConfig) -> None:
        super().check(frame)
        if not frame.causal and frame.masker_config.kernel_size % 2 == 0:
            raise ValueError("a non-causal model needs an odd kernel_size")


class TCNMasker(DilatedMasker):
    """The masker of a ConvTasNet: features (and an embedding) in, mask out."""

    name = "tcn"
    backbone = "convtasnet"
    Config = TCNConfig
    streams = True
    legacy_kinds = ("concat", "film", "multiply")

    def __init__(self, frame: ConvTasNetConfig) -> None:
        super().__init__(frame)
        o: TCNConfig = frame.masker_config
        width = o.bottleneck_channels or frame.feature_channels
        if o.bottleneck_channels:
            self.add_input(frame, width)
        blocks = o.repeats * o.blocks_per_repeat
        where = self.conditioned(frame, blocks, o.blocks_per_repeat)
        inside = (frame.speaker_dim or 0) if frame.conditioning in ("concat", "film") else 0
        self.blocks = nn.ModuleList(
            TCNBlock(
                width,
                o.hidden_channels,
                o.kernel_size,
                dilation=2 ** (i % o.blocks_per_repeat),
                causal=frame.causal,
                embed_dim=inside if i in where else 0,
                conditioning=frame.conditioning,
            )
            for i in range(blocks)
        )
        # multiplicative adaptation after a block: x * (1 + W e), W zero at the start
        self.adapt = self.conditioning(
            frame, width, where if frame.conditioning == "multiply" else set()
        )
        out_channels = frame.mask_channels * frame.sources
        if o.bottleneck_channels is not None or width != out_channels:
            self.add_head(frame, width)

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        x = self.bottom(features)  # (B, B_ch, frames)
        for i, block in enumerate(self.blocks):
            x = block(x, embedding)  # (B, B_ch, frames)
            if str(i) in self.adapt:
                x = self.adapt[str(i)](x, embedding)  # (B, B_ch, frames)
        return self.top(x)  # (B, sources * mask_channels, frames)
