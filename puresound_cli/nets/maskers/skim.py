"""SkiM: skipping-memory LSTM masker, light and causal (for low-latency extraction).

Frames are cut into segments of K (``chunk_frames``). Each of the R blocks runs a segment LSTM
over the frames of every segment (projection back to B, LayerNorm, residual), starting from a
memory state; between blocks a memory LSTM runs across segments over the segment LSTMs' final
(h, c) states (projection, LayerNorm, residual) and hands the next block each segment's initial
state. Causal: the memory is shifted by one segment, so a segment only sees earlier segments'
memory, and everything else is one-directional; non-causal: the memory LSTM is bidirectional and
not shifted. Conditioning (FiLM or the multiplicative adaptation) comes before the segment LSTM
of the conditioned blocks.

Reads from the frame's config: B = ``bottleneck_channels``, H = ``hidden_channels``,
R = ``repeats``, K = ``chunk_frames``.

References:
    Li et al., "SkiM: Skipping memory LSTM for low-latency real-time continuous speech
    separation", ICASSP 2022.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from puresound_cli.nets.blocks import Pointwise, make_norm, zero_linear
from puresound_cli.nets.maskers.dprnn import NOMINAL_CONTEXT_SECONDS
from puresound_cli.nets.maskers.tcn import conditioned_blocks
from puresound_cli.nets.masks import constrain

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig


class MemoryLSTM(nn.Module):
    """Across segments: one LSTM for h and one for c, each projected, normalised, residual.

    Shape:
        h, c: (batch, segments, H) -> the next block's initial states, same shapes
    """

    def __init__(self, hidden: int, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        out = hidden * (1 if causal else 2)
        self.lstm_h = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=not causal)
        self.lstm_c = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=not causal)
        self.proj_h, self.proj_c = nn.Linear(out, hidden), nn.Linear(out, hidden)
        self.norm_h, self.norm_c = nn.LayerNorm(hidden), nn.LayerNorm(hidden)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = h + self.norm_h(self.proj_h(self.lstm_h(h)[0]))
        c = c + self.norm_c(self.proj_c(self.lstm_c(c)[0]))
        if self.causal:  # segment s starts from the memory of segments < s
            h = F.pad(h, (0, 0, 1, 0))[:, :-1]
            c = F.pad(c, (0, 0, 1, 0))[:, :-1]
        return h, c


class SkiMMasker(nn.Module):
    """The SkiM masker (see the module docstring).

    Shape:
        features (B, feature_channels, frames), embedding (B, D) or None
        -> (B, sources * mask_channels, frames)
    """

    def __init__(self, config: ConvTasNetConfig) -> None:
        super().__init__()
        c = config
        self.chunk = c.chunk_frames
        self.hidden = c.hidden_channels
        self.constraint = c.mask_constraint
        self.conditioning = c.conditioning
        width = c.bottleneck_channels or c.feature_channels
        self.input_norm = make_norm(c.feature_channels, c.causal)
        self.bottleneck = Pointwise(c.feature_channels, width)
        self.segment_lstms = nn.ModuleList(
            nn.LSTM(width, c.hidden_channels, batch_first=True) for _ in range(c.repeats)
        )
        self.projections = nn.ModuleList(
            nn.Linear(c.hidden_channels, width) for _ in range(c.repeats)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(c.repeats))
        self.memories = nn.ModuleList(
            MemoryLSTM(c.hidden_channels, c.causal) for _ in range(c.repeats - 1)
        )
        embed_dim = c.speaker_dim or 0
        conditioned = conditioned_blocks(c, per_repeat=1) if embed_dim else set()
        self.film = nn.ModuleDict(
            {str(i): zero_linear(embed_dim, 2 * width) for i in sorted(conditioned)}
        )
        self.output = nn.Sequential(nn.PReLU(), Pointwise(width, c.mask_channels * c.sources))

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        x = self.bottleneck(self.input_norm(features))  # (B, W, T)
        batch, width, frames = x.shape
        x = F.pad(x, (0, -frames % self.chunk)).reshape(batch, width, -1, self.chunk)
        segments = x.shape[2]
        x = x.permute(0, 2, 3, 1).reshape(batch * segments, self.chunk, width)  # (B * S, K, W)
        state: tuple[torch.Tensor, torch.Tensor] | None = None
        for i, lstm in enumerate(self.segment_lstms):
            if str(i) in self.film:
                if embedding is None:
                    raise ValueError("this masker is speaker-conditioned: an embedding is required")
                scale, shift = (
                    self.film[str(i)](embedding).repeat_interleave(segments, 0).chunk(2, -1)
                )
                x = x * (1 + scale[:, None]) + (
                    0 if self.conditioning == "multiply" else shift[:, None]
                )
            out, (h, c) = lstm(x, state)  # (B * S, K, H); h, c: (1, B * S, H)
            x = x + self.norms[i](self.projections[i](out))
            if i < len(self.memories):
                h, c = self.memories[i](
                    h.reshape(batch, segments, self.hidden), c.reshape(batch, segments, self.hidden)
                )
                state = (h.reshape(1, -1, self.hidden).contiguous(),
                         c.reshape(1, -1, self.hidden).contiguous())  # fmt: skip
        x = x.reshape(batch, segments, self.chunk, width).permute(0, 3, 1, 2)
        mask = self.output(x.reshape(batch, width, -1)[..., :frames])  # (B, S * M, T)
        return constrain(mask, self.constraint)

    def stream_step(
        self, features: torch.Tensor, embedding: torch.Tensor | None, state: dict[str, Any]
    ) -> torch.Tensor:
        """Live streaming (causal models): the masks of new frames, given what came before.

        ``state`` starts as ``{}`` and carries, between calls, the frame position, each block's
        segment-LSTM state and each memory LSTM's state and output; the input norm must be in
        streaming mode (``nets.blocks.set_streaming``). Equals :meth:`forward` on the whole
        signal, frame for frame.

        Shape:
            features (B, feature_channels, n), embedding (B, D) or None
            -> (B, sources * mask_channels, n)
        """
        x = self.bottleneck(self.input_norm(features))  # (B, W, n)
        blocks = len(self.segment_lstms)
        if not state:
            state.update(pos=0, seg=[None] * blocks, mem=[None] * blocks, init=[None] * blocks)
        films = {}
        for key, layer in self.film.items():
            if embedding is None:
                raise ValueError("this masker is speaker-conditioned: an embedding is required")
            scale, shift = layer(embedding).chunk(2, -1)  # (B, W) each
            films[int(key)] = (scale, 0 if self.conditioning == "multiply" else shift)
        outputs = []
        for t in range(x.shape[-1]):
            xt = x[:, :, t]  # (B, W)
            if state["pos"] % self.chunk == 0:  # a new segment: memory from the earlier ones
                state["seg"] = list(state["init"])
            for i, lstm in enumerate(self.segment_lstms):
                if i in films:
                    xt = xt * (1 + films[i][0]) + films[i][1]
                out, state["seg"][i] = lstm(xt[:, None], state["seg"][i])  # (B, 1, H)
                xt = xt + self.norms[i](self.projections[i](out[:, 0]))
            if state["pos"] % self.chunk == self.chunk - 1:  # segment done: update the memory
                for i, module in enumerate(self.memories):
                    memory: Any = module
                    h, c = (s.transpose(0, 1) for s in state["seg"][i])  # (B, 1, H) each
                    mh, mc = state["mem"][i] or (None, None)
                    yh, mh = memory.lstm_h(h, mh)
                    yc, mc = memory.lstm_c(c, mc)
                    state["mem"][i] = (mh, mc)
                    h = h + memory.norm_h(memory.proj_h(yh))
                    c = c + memory.norm_c(memory.proj_c(yc))
                    state["init"][i + 1] = (h.transpose(0, 1).contiguous(),
                                            c.transpose(0, 1).contiguous())  # fmt: skip
            state["pos"] += 1
            outputs.append(xt)
        mask = self.output(torch.stack(outputs, dim=-1))  # (B, S * M, n)
        return constrain(mask, self.constraint)

    @staticmethod
    def context_frames(config: ConvTasNetConfig) -> int:
        """Nominal context: the memory carries the whole past (see NOMINAL_CONTEXT_SECONDS)."""
        return int(NOMINAL_CONTEXT_SECONDS * config.sample_rate / config.hop)
