"""TDANet-style masker: multi-scale blocks with a global attention at the coarsest scale whose
result is injected top-down into every scale.

input norm -> 1x1 bottleneck (F -> B) -> blocks -> PReLU -> 1x1 to the masks. A block:
1x1 conv (B -> H), norm, PReLU, then Q depthwise convs of stride 2 give Q + 1 time scales
(bottom-up). Every scale is average-pooled to the coarsest and summed; a Transformer layer
(multi-head self-attention and a feed-forward layer, each residual, pre-norm, at the width B)
runs over those few frames: the global context. Top-down, each scale is gated by the global
context and the coarser scale above it, upsampled (each frame repeated): ``x * sigmoid(a) + b``
with ``a``, ``b`` per-channel maps of the context ("injection"); then norm, PReLU, 1x1 (H -> B)
and a residual.
Attention over the coarsest scale costs little (16 times fewer frames at Q = 4) and sees the
whole chunk. Not causal (attention and pooling look ahead). Speaker conditioning
(``nets.conditioning``) acts on the expanded activations of the conditioned blocks ("repeat"
means every block here).

Our own simplified reading of the paper: one block type with its own weights per block
(TDANet reuses one block several times), and the same pooling, attention and injection at
every block.

References:
    Li, Yang & Hu, "An efficient encoder-decoder architecture with top-down attention for
    speech separation", ICLR 2023.
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
from puresound_cli.nets.maskers.dprnn import nominal_context
from puresound_cli.nets.maskers.sudormrf import StridedDepthwise, upsample

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


@dataclass(frozen=True)
class TDANetConfig(Presets):
    """The blocks' numbers.

    Args:
        bottleneck_channels: B, the width between blocks.
        hidden_channels: H, the width inside a block (and of its attention).
        depth: Q, stride-2 scales per block.
        blocks: blocks.
        kernel_size: P, the depthwise kernel (odd).
        heads: attention heads (divides B: the attention runs at the bottleneck width).
    """

    bottleneck_channels: int = 128
    hidden_channels: int = 512
    depth: int = 4
    blocks: int = 8
    kernel_size: int = 5
    heads: int = 8

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"bottleneck_channels": 16, "hidden_channels": 32, "depth": 2, "blocks": 2,
                 "heads": 2},
        "small": {"bottleneck_channels": 128, "hidden_channels": 512, "depth": 4, "blocks": 8},
    }  # fmt: skip

    def __post_init__(self) -> None:
        sizes = (self.bottleneck_channels, self.hidden_channels, self.blocks, self.heads)
        if min(sizes) < 1 or self.depth < 0 or self.kernel_size % 2 == 0:
            raise ValueError("channels, blocks, heads >= 1, depth >= 0 and an odd kernel_size")
        if self.bottleneck_channels % self.heads:
            raise ValueError("heads must divide bottleneck_channels")


class Injection(nn.Module):
    """``x * sigmoid(a(g)) + b(g)``: per-channel maps of the context ``g`` gate and shift ``x``.

    Shape:
        x (B, H, T), g (B, H, T) -> (B, H, T)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gate = nn.Conv1d(channels, channels, 1, groups=channels)
        self.shift = nn.Conv1d(channels, channels, 1, groups=channels)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift(g), x, torch.sigmoid(self.gate(g)))


class GlobalAttention(nn.Module):
    """A pre-norm Transformer layer over frames (self-attention, then a feed-forward layer) at
    ``channels`` wide, between 1x1 maps from and back to ``outer`` channels.

    Shape:
        (B, outer, T) -> (B, outer, T)
    """

    def __init__(self, outer: int, channels: int, heads: int) -> None:
        super().__init__()
        self.into = Pointwise(outer, channels)
        self.out_of = Pointwise(channels, outer)
        self.heads = heads
        self.norm_att = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.merge = nn.Linear(channels, channels)
        self.norm_ffn = nn.LayerNorm(channels)
        self.ffn = nn.Sequential(
            nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.into(x).transpose(1, 2)  # (B, T, C)
        q, k, v = (
            t.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (B, heads, T, C / heads)
            for t in self.qkv(self.norm_att(h)).chunk(3, dim=-1)
        )
        weights = torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1)
        h = h + self.merge((weights @ v).transpose(1, 2).flatten(-2))  # (B, T, C)
        h = h + self.ffn(self.norm_ffn(h))
        return self.out_of(h.transpose(1, 2))  # (B, outer, T)


class TDABlock(nn.Module):
    """One block (see the module docstring).

    Shape:
        x (B, width, T), embedding (B, D) or None -> (B, width, T)
    """

    def __init__(self, frame: ConvTasNetConfig, width: int, conditioned: bool) -> None:
        super().__init__()
        o: TDANetConfig = frame.masker_config
        hidden, self.depth = o.hidden_channels, o.depth
        self.expand = Pointwise(width, hidden)
        self.norm_in = make_norm(hidden, False)
        self.act_in = nn.PReLU()
        embed_dim = frame.speaker_dim or 0
        self.condition = (
            Conditioning(frame.conditioning, embed_dim, hidden)
            if conditioned and embed_dim
            else None
        )
        self.down = nn.ModuleList(
            StridedDepthwise(hidden, o.kernel_size, 1 if q == 0 else 2, causal=False)
            for q in range(o.depth + 1)
        )
        self.down_norms = nn.ModuleList(make_norm(hidden, False) for _ in range(o.depth + 1))
        self.context = GlobalAttention(hidden, width, o.heads)
        self.inject = nn.ModuleList(Injection(hidden) for _ in range(o.depth + 1))
        self.fuse = nn.ModuleList(Injection(hidden) for _ in range(o.depth))
        self.norm_out = make_norm(hidden, False)
        self.act_out = nn.PReLU()
        self.project = Pointwise(hidden, width)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        h = self.act_in(self.norm_in(self.expand(x)))  # (B, H, T)
        if self.condition is not None:
            h = self.condition(h, embedding)
        scales = []
        for conv, norm in zip(self.down, self.down_norms, strict=True):
            h = norm(conv(h))  # (B, H, ceil(T / 2**q))
            scales.append(h)
        top = self.depth
        pooled = [
            F.avg_pool1d(s, 2 ** (top - q), 2 ** (top - q), ceil_mode=True) if q < top else s
            for q, s in enumerate(scales)
        ]
        g = self.context(torch.stack(pooled).sum(dim=0))  # (B, H, T_Q): the global context
        y = self.inject[top](scales[top], g)
        for q in reversed(range(top)):  # top-down: context and the scale above gate scale q
            frames = scales[q].shape[-1]
            level = self.inject[q](scales[q], upsample(g, frames, top - q))
            y = self.fuse[q](level, upsample(y, frames, 1))
        return x + self.project(self.act_out(self.norm_out(y)))  # (B, width, T)


class TDANetMasker(Masker):
    """The TDANet-style masker (see the module docstring)."""

    name = "tdanet"
    backbone = "tdanet"
    Config = TDANetConfig
    causal_ok = False

    def __init__(self, frame: ConvTasNetConfig) -> None:
        super().__init__(frame)
        o: TDANetConfig = frame.masker_config
        width = o.bottleneck_channels
        self.add_input(frame, width)
        where = self.conditioned(frame, o.blocks, 1)
        self.blocks = nn.ModuleList(TDABlock(frame, width, i in where) for i in range(o.blocks))
        self.add_head(frame, width)

    @classmethod
    def context_frames(cls, frame: ConvTasNetConfig) -> int:
        """Nominal: the attention sees the whole chunk (as the recurrent maskers)."""
        return nominal_context(frame)
