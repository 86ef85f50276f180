"""SuDoRM-RF masker: a stack of U-ConvBlocks, each looking at several time resolutions at once.

input norm -> 1x1 bottleneck (F -> B) -> U-ConvBlocks -> PReLU -> 1x1 to the masks. A
U-ConvBlock: 1x1 conv (B -> H), norm, PReLU, then a depthwise conv (kernel P) at full rate
followed by Q depthwise convs of stride 2, each halving the frame rate (with norm); the path back
up adds each level, upsampled (each frame repeated), to the level above; norm, PReLU, 1x1 conv
(H -> B) and a residual. Downsampling makes the receptive field grow as 2**Q per block for the
cost of about two 1x1 convolutions, which is where its quality per multiply-add comes from.
Causal frames pad every depthwise conv on the left only: a downsampled frame j then depends on
frames <= 2 j, and repeating it for frames 2 j and 2 j + 1 looks at nothing ahead. Speaker
conditioning (``nets.conditioning``) acts on the expanded activations of the conditioned blocks
("repeat" means every block here).

References:
    Tzinis, Wang & Smaragdis, "Sudo rm -rf: Efficient networks for universal audio source
    separation", MLSP 2020.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from puresound_cli.nets.blocks import Pointwise, make_norm
from puresound_cli.nets.conditioning import Conditioning
from puresound_cli.nets.maskers.base import Masker, Presets

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


@dataclass(frozen=True)
class SuDORMRFConfig(Presets):
    """The U-ConvBlock stack's numbers.

    Args:
        bottleneck_channels: B, the width between blocks.
        hidden_channels: H, the width inside a block.
        depth: Q, stride-2 levels per block.
        blocks: U-ConvBlocks.
        kernel_size: P, the depthwise kernel (odd).
    """

    bottleneck_channels: int = 128
    hidden_channels: int = 512
    depth: int = 4
    blocks: int = 16
    kernel_size: int = 5

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"bottleneck_channels": 16, "hidden_channels": 32, "depth": 2, "blocks": 2},
        "small": {"bottleneck_channels": 128, "hidden_channels": 512, "depth": 4, "blocks": 16},
    }
    """small: the paper's B 128, H 512, Q 4, 16 blocks (about the TCN small's multiply-adds
    on the 512/128 STFT frame)."""

    def __post_init__(self) -> None:
        sizes = (self.bottleneck_channels, self.hidden_channels, self.blocks, self.kernel_size)
        if min(sizes) < 1 or self.depth < 0 or self.kernel_size % 2 == 0:
            raise ValueError("channels, blocks >= 1, depth >= 0 and an odd kernel_size")


def upsample(x: torch.Tensor, frames: int, times: int = 1) -> torch.Tensor:
    """Each frame repeated ``2**times`` times (nearest upsampling, causal), cut to ``frames``.

    Shape:
        (B, C, T) -> (B, C, frames)
    """
    for _ in range(times):
        x = torch.stack([x, x], dim=-1).flatten(-2)  # exports to ONNX, unlike repeat_interleave
    return x[..., :frames]


class StridedDepthwise(nn.Conv1d):
    """Depthwise conv (kernel P, stride 1 or 2) padded to keep ``ceil(frames / stride)``
    frames: on the left only when causal, centred otherwise."""

    def __init__(self, channels: int, kernel: int, stride: int, causal: bool) -> None:
        super().__init__(channels, channels, kernel, stride=stride, groups=channels)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # an odd kernel padded by P - 1 in all gives ceil(T / stride) frames; causal: all of
        # it on the left, so output j ends at input j * stride
        kernel = self.kernel_size[0]
        pads = (kernel - 1, 0) if self.causal else ((kernel - 1) // 2, (kernel - 1) // 2)
        return super().forward(F.pad(x, pads))


class UConvBlock(nn.Module):
    """One U-ConvBlock (see the module docstring).

    Shape:
        x (B, width, frames), embedding (B, D) or None -> (B, width, frames)
    """

    def __init__(self, frame: ConvTasNetConfig, width: int, conditioned: bool) -> None:
        super().__init__()
        o: SuDORMRFConfig = frame.masker_config
        hidden, causal = o.hidden_channels, frame.causal
        self.expand = Pointwise(width, hidden)
        self.norm_in = make_norm(hidden, causal)
        self.act_in = nn.PReLU()
        embed_dim = frame.speaker_dim or 0
        self.condition = (
            Conditioning(frame.conditioning, embed_dim, hidden)
            if conditioned and embed_dim
            else None
        )
        self.levels = nn.ModuleList(
            StridedDepthwise(hidden, o.kernel_size, 1 if q == 0 else 2, causal)
            for q in range(o.depth + 1)
        )
        self.level_norms = nn.ModuleList(make_norm(hidden, causal) for _ in range(o.depth + 1))
        self.norm_out = make_norm(hidden, causal)
        self.act_out = nn.PReLU()
        self.project = Pointwise(hidden, width)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        h = self.act_in(self.norm_in(self.expand(x)))  # (B, H, T)
        if self.condition is not None:
            h = self.condition(h, embedding)
        levels = []
        for conv, norm in zip(self.levels, self.level_norms, strict=True):
            h = norm(conv(h))  # (B, H, ceil(T / 2**q))
            levels.append(h)
        y = levels[-1]
        for above in reversed(levels[:-1]):  # each frame repeated, cut to the level above
            y = above + upsample(y, above.shape[-1])
        return x + self.project(self.act_out(self.norm_out(y)))  # (B, width, T)


class SuDORMRFMasker(Masker):
    """The SuDoRM-RF masker (see the module docstring)."""

    name = "sudormrf"
    backbone = "sudormrf"
    Config = SuDORMRFConfig

    def __init__(self, frame: ConvTasNetConfig) -> None:
        super().__init__(frame)
        o: SuDORMRFConfig = frame.masker_config
        width = o.bottleneck_channels
        self.add_input(frame, width)
        where = self.conditioned(frame, o.blocks, 1)
        self.blocks = nn.ModuleList(UConvBlock(frame, width, i in where) for i in range(o.blocks))
        self.add_head(frame, width)

    @classmethod
    def context_frames(cls, frame: ConvTasNetConfig) -> int:
        """Frames one output frame sees: per block (P - 1) frames at each of the Q + 1 rates."""
        o: SuDORMRFConfig = frame.masker_config
        return o.blocks * (o.kernel_size - 1) * (2 ** (o.depth + 1) - 1)
