"""Speaker net: front end -> TCN blocks -> attentive statistics pooling -> 1x1 projection.

References:
    Okabe et al., "Attentive statistics pooling for deep speaker embedding", Interspeech 2018.
    Desplanques et al., "ECAPA-TDNN", Interspeech 2020 (the attention layout used here).
    Ge et al., "SpEx+", Interspeech 2020 (sharing the separator's encoder with the speaker net).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from puresound_cli.nets.blocks import TCNBlock
from puresound_cli.nets.filterbanks import LearnedFilterbank, LogMel

FRONTENDS = ("shared", "learned", "mel")


@dataclass(frozen=True)
class SpeakerNetConfig:
    """Every architecture number of the speaker net.

    Args:
        frontend: "shared" (the separator's masker-input features, SpEx+ style), "learned"
            (its own learned filterbank) or "mel" (its own log-mel filterbank).
        sample_rate: sample rate in Hz (mel front end).
        encoder_channels: filters of the "learned" front end.
        window: window of the "learned" / "mel" front end in samples.
        hop: hop of the "learned" / "mel" front end in samples.
        n_mels: bands of the "mel" front end.
        hidden_channels: H of the TCN blocks.
        kernel_size: P of the TCN blocks.
        blocks: number of TCN blocks, dilations 1, 2, 4, ...
        attention_channels: hidden width of the attentive pooling.
        embed_dim: D, the embedding size.
    """

    frontend: str = "shared"
    sample_rate: int = 16000
    encoder_channels: int = 256
    window: int = 32
    hop: int = 16
    n_mels: int = 80
    hidden_channels: int = 256
    kernel_size: int = 3
    blocks: int = 5
    attention_channels: int = 128
    embed_dim: int = 192

    def __post_init__(self) -> None:
        if self.frontend not in FRONTENDS:
            raise ValueError(f"frontend must be one of {FRONTENDS}, got {self.frontend!r}")
        if self.kernel_size % 2 == 0:
            raise ValueError("the speaker net needs an odd kernel_size")
        if min(self.hidden_channels, self.blocks, self.attention_channels, self.embed_dim) < 1:
            raise ValueError("speaker net sizes must be positive")

    @classmethod
    def seed(cls) -> SpeakerNetConfig:
        """The seed's speaker branch: 5 TCN blocks (H 256) on the shared encoder, 192-d output."""
        return cls()

    @classmethod
    def small(cls) -> SpeakerNetConfig:
        """The shipped size: the seed's 5 TCN blocks (H 256) on its own 80-band log-mel front end
        (25 ms window, 10 ms hop), independent of the separator's STFT features."""
        return cls(frontend="mel", window=400, hop=160, n_mels=80)

    @classmethod
    def tiny(cls) -> SpeakerNetConfig:
        """A test size."""
        return cls(hidden_channels=16, blocks=2, attention_channels=8, embed_dim=8)


class AttentiveStatsPool(nn.Module):
    """Attention-weighted mean and standard deviation over frames.

    Args:
        channels: input channels C.
        attention_channels: hidden width A of the attention.

    Shape:
        (B, C, frames) -> (B, 2C)
    """

    def __init__(self, channels: int, attention_channels: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.Conv1d(channels, attention_channels, 1),
            nn.ReLU(),
            nn.BatchNorm1d(attention_channels),
            nn.Tanh(),
            nn.Conv1d(attention_channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.attention(x), dim=2)  # (B, C, frames)
        mean = (weights * x).sum(dim=2)  # (B, C)
        var = (weights * x.pow(2)).sum(dim=2) - mean.pow(2)  # (B, C)
        return torch.cat([mean, torch.sqrt(var.clamp_min(1e-6))], dim=1)  # (B, 2C)


class SpeakerNet(nn.Module):
    """d-vector extractor.

    Args:
        config: the architecture, see SpeakerNetConfig.
        in_channels: channels of the shared features; required iff ``config.frontend == "shared"``.

    Shape:
        forward: shared: features (B, in_channels, frames); otherwise waveform (B, 1, T) -> (B, D)
    """

    def __init__(self, config: SpeakerNetConfig, in_channels: int | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        self.frontend: LearnedFilterbank | LogMel | None = None
        if c.frontend == "shared":
            if in_channels is None:
                raise ValueError("a speaker net with frontend='shared' needs in_channels")
            width = in_channels
        elif c.frontend == "learned":
            self.frontend = LearnedFilterbank(c.encoder_channels, c.window, c.hop)
            width = c.encoder_channels
        else:
            self.frontend = LogMel(c.sample_rate, c.window, c.hop, c.n_mels)
            width = c.n_mels
        self.in_channels = width
        self.blocks = nn.ModuleList(
            TCNBlock(width, c.hidden_channels, c.kernel_size, dilation=2**i, causal=False)
            for i in range(c.blocks)
        )
        self.pool = AttentiveStatsPool(width, c.attention_channels)
        self.project = nn.Linear(2 * width, c.embed_dim, bias=False)

    def frontend_features(self, wav: torch.Tensor) -> torch.Tensor:
        """Own front end: (B, 1, T) -> (B, in_channels, frames)."""
        if wav.dim() != 3 or wav.shape[1] != 1 or wav.shape[2] < 1:
            raise ValueError(f"enrollment must be (batch, 1, time), got {tuple(wav.shape)}")
        if isinstance(self.frontend, LearnedFilterbank):
            pad = self.frontend.valid_length(wav.shape[-1]) - wav.shape[-1]
            return self.frontend.encode(nn.functional.pad(wav, (0, pad)))
        if isinstance(self.frontend, LogMel):
            return self.frontend(wav)
        raise ValueError("this speaker net shares the separator's front end: pass features")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frontend is not None:
            x = self.frontend_features(x)  # (B, in_channels, frames)
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"features must be (B, {self.in_channels}, frames), got {tuple(x.shape)}"
            )
        for block in self.blocks:
            x = block(x)  # (B, in_channels, frames)
        return self.project(self.pool(x))  # (B, D)
