"""Conv-TasNet: encoder -> masker (optionally speaker-conditioned) -> mask -> decoder.

The masker comes from ``nets.maskers``, the mask kinds from ``nets.masks``.

References:
    Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for
    speech separation", IEEE/ACM TASLP 2019.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from puresound_cli.nets.conditioning import KINDS, WHERE, normalise_embedding
from puresound_cli.nets.configs import config_from_dict
from puresound_cli.nets.filterbanks import LearnedFilterbank, STFTFilterbank
from puresound_cli.nets.maskers.tcn import TCNConfig, TCNMasker
from puresound_cli.nets.masks import CONSTRAINTS, MASK_KINDS, apply_mask, reim_magnitude

if TYPE_CHECKING:
    from puresound_cli.nets.maskers.base import Masker

ENCODERS = ("learned", "stft")


@dataclass(frozen=True)
class ConvTasNetConfig:
    """Every architecture number of a ConvTasNet frame; the masker's own are in ``masker_config``.

    Args:
        sample_rate: sample rate in Hz.
        encoder: "learned" (1-D conv filterbank) or "stft" (re/im of a Hann STFT).
        encoder_channels: N, learned filters (ignored by "stft", whose width is window // 2 + 1).
        window: L, encoder window (FFT size for "stft") in samples.
        hop: encoder hop in samples.
        causal: cLN and left-only padding, so output depends only on the past (+ one window).
        masker: the masker between encoder and decoder, a name in ``nets.maskers.MASKERS``.
        masker_config: that masker's frozen config (``MASKERS[masker].Config``); None takes its
            defaults.
        mask_kind: one of ``nets.masks.MASK_KINDS`` ("magnitude" is the only one whose masker
            sees magnitudes); the two "_reim" kinds need the STFT encoder.
        mask_constraint: "relu", "sigmoid" or "none" (complex_polar needs "none").
        speaker_dim: D, embedding size for speaker conditioning; None for an enhancer.
        conditioning: how the embedding enters the masker, a kind of ``nets.conditioning``:
            "concat" (seed), "film" or "multiply".
        conditioned_blocks: which of the masker's blocks see it: "repeat" (the first of each
            repeat, the seed's choice), "first" (only the very first) or "all".
        sources: S, masks (and output waveforms) per input: 1 for enhancement and extraction,
            2 or more for a permutation-invariant separator (task "separate")
        embed_gain: factor on the L2-normalised speaker embedding (the seed's ``embed_norm``):
            1.0 is the seed's; sqrt(D) gives unit RMS, so conditioning layers adapt as fast as
            the rest under Adam.
        output_gain: a fixed factor on the output waveform, set by a release so that speech
            keeps its input level and polarity (SI-SDR training leaves both arbitrary).
    """

    sample_rate: int = 16000
    encoder: str = "learned"
    encoder_channels: int = 512
    window: int = 32
    hop: int = 16
    causal: bool = False
    masker: str = TCNMasker.name
    masker_config: Any = None
    mask_kind: str = "magnitude"
    mask_constraint: str = "relu"
    speaker_dim: int | None = None
    conditioning: str = "concat"
    conditioned_blocks: str = "repeat"
    sources: int = 1
    embed_gain: float = 1.0
    output_gain: float = 1.0

    def __post_init__(self) -> None:
        from puresound_cli.nets.maskers import MASKERS

        choices = {
            "encoder": ENCODERS,
            "masker": tuple(MASKERS),
            "mask_kind": MASK_KINDS,
            "mask_constraint": CONSTRAINTS,
            "conditioning": KINDS,
            "conditioned_blocks": WHERE,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        own, given = MASKERS[self.masker].Config, self.masker_config
        if given is None or isinstance(given, dict):  # a dict: from a checkpoint or a TOML file
            object.__setattr__(self, "masker_config", config_from_dict(own, given or {}))
        MASKERS[self.masker].check(self)
        if self.sources < 1 or (self.sources > 1 and self.speaker_dim is not None):
            raise ValueError("sources must be >= 1, and 1 for a speaker-conditioned model")
        if self.mask_kind.endswith("_reim") and self.encoder != "stft":
            raise ValueError(f"mask_kind {self.mask_kind!r} needs encoder='stft'")
        if self.mask_kind == "complex_polar" and self.mask_constraint != "none":
            raise ValueError(
                "complex_polar bounds its magnitude with tanh: use mask_constraint='none'"
            )
        if not (self.embed_gain > 0 and math.isfinite(self.embed_gain)):
            raise ValueError(f"embed_gain must be finite and positive, got {self.embed_gain}")
        if self.output_gain == 0 or not math.isfinite(self.output_gain):
            raise ValueError(f"output_gain must be finite and non-zero, got {self.output_gain}")
        if not (0 < self.hop <= self.window):
            raise ValueError(f"need 0 < hop <= window, got hop={self.hop}, window={self.window}")
        if self.encoder_channels < 1:
            raise ValueError("encoder_channels must be >= 1")

    @property
    def feature_channels(self) -> int:
        """Channels of the masker input (magnitude: F; re/im kinds: 2F; learned: N)."""
        if self.encoder == "learned":
            return self.encoder_channels
        bins = self.window // 2 + 1
        return bins if self.mask_kind == "magnitude" else 2 * bins

    @property
    def mask_channels(self) -> int:
        """Channels of the mask the masker outputs."""
        base = self.encoder_channels if self.encoder == "learned" else self.window // 2 + 1
        return 2 * base if self.mask_kind in ("complex_reim", "complex_polar") else base

    @property
    def context_frames(self) -> int:
        """Frames of input one output frame of the masker sees (nominal for recurrent ones)."""
        from puresound_cli.nets.maskers import MASKERS

        return MASKERS[self.masker].context_frames(self)

    @classmethod
    def seed(cls, speaker_dim: int | None = None) -> ConvTasNetConfig:
        """The seed's TSE masker: N 512 (L 32, hop 16), no bottleneck, R 3 x X 8 blocks, H 256."""
        return cls(speaker_dim=speaker_dim, masker_config=TCNConfig.preset("seed"))

    @classmethod
    def small(cls, speaker_dim: int | None = None) -> ConvTasNetConfig:
        """The shipped CPU size (about 0.57 GFLOP per s of audio).

        STFT encoder (512-point Hann, hop 128: six times the audio per CPU second of a wide
        learned filterbank), complex ratio mask, the TCN's small preset (8.2 s of context).
        Extraction: FiLM on the unit-norm embedding scaled to unit RMS (embed_gain sqrt(D)).
        """
        return cls(
            encoder="stft",
            window=512,
            hop=128,
            masker_config=TCNConfig.preset("small"),
            mask_kind="complex_reim",
            mask_constraint="none",
            speaker_dim=speaker_dim,
            conditioning="film" if speaker_dim else "concat",
            embed_gain=math.sqrt(speaker_dim) if speaker_dim else 1.0,
        )

    @classmethod
    def tiny(cls, speaker_dim: int | None = None) -> ConvTasNetConfig:
        """A test size that runs in milliseconds."""
        return cls(
            encoder_channels=16,
            window=16,
            hop=8,
            masker_config=TCNConfig.preset("tiny"),
            speaker_dim=speaker_dim,
        )

    def with_masker(self, name: str, size: str) -> ConvTasNetConfig:
        """This frame with masker ``name`` at a size preset (the STFT encoder where the masker
        needs it, causal where its presets are); ValueError for a size it has no preset for."""
        from puresound_cli.nets.maskers import MASKERS, masker_config

        options = masker_config(name, size)
        cls = MASKERS[name]
        return dataclasses.replace(
            self,
            masker=name,
            masker_config=options,
            encoder="stft" if cls.needs_stft else self.encoder,
            causal=self.causal or cls.causal_presets,
        )


class ConvTasNet(nn.Module):
    """Mask-based enhancer (speaker_dim None) or speaker-conditioned separator.

    Args:
        config: the architecture, see ConvTasNetConfig.

    Shape:
        forward: mixture (B, 1, T), embedding (B, D) or None -> (B, 1, T) for any T >= 1.
    """

    def __init__(self, config: ConvTasNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.encoder == "learned":
            self.filterbank: LearnedFilterbank | STFTFilterbank = LearnedFilterbank(
                c.encoder_channels, c.window, c.hop
            )
        else:
            self.filterbank = STFTFilterbank(c.window, c.hop)
        from puresound_cli.nets.maskers import MASKERS

        self.masker: Masker = MASKERS[c.masker](c)

    @property
    def task(self) -> str:
        if self.config.sources > 1:
            return "separate"
        return "enhance" if self.config.speaker_dim is None else "extract"

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def receptive_field_samples(self) -> int:
        """Input span of the dilated convs plus one window (gLN statistics are global anyway)."""
        return self.config.context_frames * self.config.hop + self.config.window

    @property
    def lookahead_samples(self) -> int:
        """Future samples one output sample may depend on (causal: window - 1)."""
        c = self.config
        future_frames = 0 if c.causal else (self.receptive_field_samples - c.window) // c.hop // 2
        return future_frames * c.hop + c.window - 1

    def valid_length(self, n: int) -> int:
        """Smallest length >= n that the encoder takes without padding."""
        return self.filterbank.valid_length(max(1, n))

    def _encode(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(padded waveform) -> (representation, masker input features)."""
        rep = self.filterbank.encode(wav)  # learned (B, N, frames) | complex (B, F, frames)
        if self.config.encoder == "learned":
            return rep, rep
        if not torch.is_complex(rep):  # an STFT in real arithmetic (export): (B, 2F, frames)
            return rep, reim_magnitude(rep) if self.config.mask_kind == "magnitude" else rep
        if self.config.mask_kind == "magnitude":
            return rep, rep.abs()  # (B, F, frames)
        return rep, torch.cat([rep.real, rep.imag], dim=1)  # (B, 2F, frames)

    def features(self, wav: torch.Tensor) -> torch.Tensor:
        """Masker input features of a waveform (the shared front end of the speaker net).

        Shape:
            (B, 1, T) -> (B, feature_channels, frames)
        """
        _check_wave(wav, "wav")
        pad = self.valid_length(wav.shape[-1]) - wav.shape[-1]
        return self._encode(F.pad(wav, (0, pad)))[1]

    def mask(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        """The masker. (B, feature_channels, frames), (B, D) -> (B, mask_channels, frames)."""
        return self.masker(features, embedding)

    def apply_mask(self, rep: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Apply the mask to the encoder representation (see :func:`~.masks.apply_mask`)."""
        reim = self.config.encoder == "stft" and not torch.is_complex(rep)  # export
        return apply_mask(self.config.mask_kind, rep, mask, reim)

    def forward(self, mixture: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        _check_wave(mixture, "mixture")
        if (embedding is None) != (self.config.speaker_dim is None):
            raise ValueError(
                "an embedding is required iff the model is speaker-conditioned "
                f"(speaker_dim={self.config.speaker_dim}, embedding given: {embedding is not None})"
            )
        if embedding is not None:
            if embedding.dim() != 2 or embedding.shape[1] != self.config.speaker_dim:
                raise ValueError(
                    f"embedding must be (B, {self.config.speaker_dim}), "
                    f"got {tuple(embedding.shape)}"
                )
            embedding = normalise_embedding(embedding, self.config.embed_gain)
        length = mixture.shape[-1]
        padded = F.pad(mixture, (0, self.valid_length(length) - length))  # (B, 1, T')
        rep, feats = self._encode(padded)
        mask = self.mask(feats, embedding)  # (B, S * mask_channels, frames)
        sources = self.config.sources
        if sources > 1:  # one mask per talker, applied to the same representation
            batch = rep.shape[0]
            rep = rep.repeat_interleave(sources, dim=0)  # (B * S, F, frames)
            mask = mask.reshape(batch * sources, -1, mask.shape[-1])  # (B * S, M, frames)
        out = self.filterbank.decode(self.apply_mask(rep, mask), length)  # (B * S, 1, T)
        if sources > 1:
            out = out.reshape(-1, sources, length)  # (B, S, T)
        return out if self.config.output_gain == 1.0 else out * self.config.output_gain


def _check_wave(wav: torch.Tensor, name: str) -> None:
    if wav.dim() != 3 or wav.shape[1] != 1 or wav.shape[2] < 1:
        raise ValueError(f"{name} must be (batch, 1, time) with time >= 1, got {tuple(wav.shape)}")
