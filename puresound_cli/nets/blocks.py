"""Building blocks shared by the separator and the speaker net: layer norms and the TCN block.

References:
    Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for
    speech separation", IEEE/ACM TASLP 2019 (gLN, cLN, the 1-D conv block).
    Perez et al., "FiLM: Visual reasoning with a general conditioning layer", AAAI 2018.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from puresound_cli.nets.conditioning import Conditioning

EPS = 1e-8


def set_streaming(module: nn.Module, on: bool) -> None:
    """Put the causal temporal layers of ``module`` into (or out of) streaming mode.

    In streaming mode, consecutive calls continue one another: cumulative layer norms keep their
    running sums and causal depthwise convolutions their last frames, so feeding a signal in
    pieces gives what one pass over it gives. Turning it on (again) starts a fresh stream.

    Raises:
        ValueError: ``module`` holds layers that look ahead or normalise globally.
    """
    for layer in module.modules():
        if isinstance(layer, GlobalLayerNorm) or (
            isinstance(layer, DepthwiseConv1d) and layer.pads[1] > 0
        ):
            raise ValueError("only causal models stream (cLN and left-padded convolutions)")
        if isinstance(layer, CumulativeLayerNorm | DepthwiseConv1d):
            layer.stream = {} if on else None


class GlobalLayerNorm(nn.Module):
    """gLN: normalise over channels and frames of each example, then a per-channel gain and bias.

    Args:
        channels: number of channels C.

    Shape:
        (B, C, frames) -> (B, C, frames)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)  # (B, C * frames)
        count = flat.shape[1]
        mean = flat.sum(dim=1) / count  # (B,); sum + dot is ~20x faster than var_mean on CPU
        if torch.onnx.is_in_onnx_export():  # ONNX has no vecdot
            energy = (flat * flat).sum(dim=1)
        else:
            energy = torch.linalg.vecdot(flat, flat)
        var = (energy / count - mean.pow(2)).clamp_min(0.0)  # (B,)
        scale = self.gain * torch.rsqrt(var + EPS)[:, None, None]  # (B, C, 1)
        shift = self.bias - mean[:, None, None] * scale  # (B, C, 1)
        return torch.addcmul(shift, x, scale)  # (B, C, frames)


class CumulativeLayerNorm(nn.Module):
    """cLN: normalise frame t with the statistics of all channels over frames 0..t (causal).

    Args:
        channels: number of channels C.

    Shape:
        (B, C, frames) -> (B, C, frames)
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        self.stream: dict[str, torch.Tensor] | None = None  # running sums when streaming

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, frames = x.shape[1], x.shape[2]
        count = torch.arange(1, frames + 1, device=x.device, dtype=x.dtype) * channels  # (frames,)
        total = x.sum(dim=1, keepdim=True).cumsum(dim=2)  # (B, 1, frames)
        energy = x.pow(2).sum(dim=1, keepdim=True).cumsum(dim=2)  # (B, 1, frames)
        if self.stream is not None:  # continue the statistics of the frames seen so far
            if self.stream:
                total, energy = total + self.stream["total"], energy + self.stream["energy"]
                count = count + self.stream["count"]
            self.stream = {"total": total[..., -1:], "energy": energy[..., -1:],
                           "count": count[-1:]}  # fmt: skip
        mean = total / count  # (B, 1, frames)
        var = (energy / count - mean.pow(2)).clamp_min(0.0)
        return (x - mean) * torch.rsqrt(var + EPS) * self.gain + self.bias


class Pointwise(nn.Conv1d):
    """1x1 convolution computed as one matrix product (avoids the slow CPU conv path).

    Shape:
        (B, C_in, frames) -> (B, C_out, frames)
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight[:, :, 0]  # (C_out, C_in)
        if self.bias is None:
            return torch.matmul(weight.expand(x.shape[0], -1, -1), x)  # (B, C_out, frames)
        if x.shape[0] == 1:  # one contiguous GEMM with the bias fused
            return torch.addmm(self.bias[:, None], weight, x[0]).unsqueeze(0)
        bias = self.bias[None, :, None]  # (1, C_out, 1)
        return torch.baddbmm(bias, weight.expand(x.shape[0], -1, -1), x)  # (B, C_out, frames)


class DepthwiseConv1d(nn.Conv1d):
    """Dilated depthwise conv as P shifted multiply-adds (about 5x faster than a grouped conv).

    Args:
        channels: channels H (one filter per channel).
        kernel_size: P.
        dilation: spacing of the taps.
        causal: pad (P-1) * dilation on the left only; otherwise half on each side (P odd).

    Shape:
        (B, H, frames) -> (B, H, frames)
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int, causal: bool) -> None:
        super().__init__(channels, channels, kernel_size, dilation=dilation, groups=channels)
        total = (kernel_size - 1) * dilation
        self.pads = (total, 0) if causal else (total // 2, total - total // 2)
        self.stream: dict[str, torch.Tensor] | None = None  # past frames when streaming

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.shape[-1]
        if self.stream is not None:  # causal streaming: the previous frames instead of zeros
            history = self.stream.get("history")
            if history is None:
                history = x.new_zeros(*x.shape[:2], self.pads[0])
            padded = torch.cat([history, x], dim=-1)
            self.stream = {"history": padded[..., padded.shape[-1] - self.pads[0] :]}
        else:
            padded = F.pad(x, self.pads)  # (B, H, frames + (P-1) * dilation)
        step = self.dilation[0]
        taps = self.weight[:, 0, :, None]  # (H, P, 1)
        y = x.new_zeros(()) if self.bias is None else self.bias[:, None]  # (H, 1)
        for k in range(self.kernel_size[0]):
            y = torch.addcmul(y, padded[..., k * step : k * step + frames], taps[:, k])
        return y  # (B, H, frames)


def make_norm(channels: int, causal: bool) -> nn.Module:
    """cLN for causal models, gLN otherwise."""
    return CumulativeLayerNorm(channels) if causal else GlobalLayerNorm(channels)


class TCNBlock(nn.Module):
    """One dilated 1-D conv block of Conv-TasNet, with optional speaker conditioning.

    1x1 conv (B -> H, no bias) -> norm -> PReLU -> depthwise conv (P, dilation) -> norm -> PReLU
    -> pointwise 1x1 (H -> H) -> norm -> PReLU -> 1x1 (H -> B) -> residual add.

    Speaker conditioning (``nets.conditioning``): "concat" adds ``W e`` to the hidden activations
    before the first norm (a 1x1 conv over ``[x; e tiled over time]``), "film" scales and shifts
    them after it.

    Args:
        in_channels: residual width B.
        hidden_channels: hidden width H.
        kernel_size: depthwise kernel P.
        dilation: depthwise dilation (2**x inside a repeat).
        causal: left-only padding and cLN instead of symmetric padding and gLN.
        embed_dim: speaker embedding size D; 0 for an unconditioned block.
        conditioning: "concat" or "film" (only used when embed_dim > 0; "multiply" is applied
            by the masker after the block).

    Shape:
        x (B, in_channels, frames), embedding (B, D) or None -> (B, in_channels, frames)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation: int,
        causal: bool,
        embed_dim: int = 0,
        conditioning: str = "concat",
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv_in = Pointwise(in_channels, hidden_channels, bias=False)
        self.condition = (
            Conditioning(conditioning, embed_dim, hidden_channels)
            if embed_dim > 0 and conditioning in ("concat", "film")
            else None
        )
        self.film = self.condition is not None and conditioning == "film"
        self.norm_in = make_norm(hidden_channels, causal)
        self.act_in = nn.PReLU()
        self.depthwise = DepthwiseConv1d(hidden_channels, kernel_size, dilation, causal)
        self.norm_dw = make_norm(hidden_channels, causal)
        self.act_dw = nn.PReLU()
        self.pointwise = Pointwise(hidden_channels, hidden_channels)
        self.norm_pw = make_norm(hidden_channels, causal)
        self.act_pw = nn.PReLU()
        self.conv_out = Pointwise(hidden_channels, in_channels)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv_in(x)  # (B, H, frames)
        if self.condition is not None and not self.film:
            h = self.condition(h, embedding)  # concat: + W e
        h = self.norm_in(h)
        if self.condition is not None and self.film:
            h = self.condition(h, embedding)  # FiLM
        h = self.act_in(h)
        h = self.act_dw(self.norm_dw(self.depthwise(h)))  # (B, H, frames)
        h = self.act_pw(self.norm_pw(self.pointwise(h)))  # (B, H, frames)
        return x + self.conv_out(h)  # (B, B_ch, frames)
