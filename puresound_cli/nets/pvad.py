"""Personal voice activity detection: frame by frame, is the enrolled speaker talking?

A speaker net embeds the enrollment (as in the extractor); a small speaker-conditioned masker
over the mixture's STFT magnitudes (any masker of the registry, usually a causal gated TCN) and
a 1x1 head give one logit per STFT frame. Used by ``puresound vad`` (segments of the target's
speech) and to silence extraction output where the target is absent (the seed's PVAD idea).

References:
    Ding et al., "Personal VAD: Speaker-conditioned voice activity detection", Odyssey 2020.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from puresound_cli.nets.blocks import Pointwise
from puresound_cli.nets.conditioning import normalise_embedding
from puresound_cli.nets.convtasnet import ConvTasNet, ConvTasNetConfig
from puresound_cli.nets.maskers.gated_tcn import GatedTCNConfig, GatedTCNMasker
from puresound_cli.nets.speaker import SpeakerNet, SpeakerNetConfig


def _detector(
    embed_dim: int, window: int = 512, hop: int = 128, masker: GatedTCNConfig | None = None
) -> ConvTasNetConfig:
    """The detector frame: a causal gated TCN (6 blocks, B 64, H 128 unless ``masker``) over
    STFT magnitudes, every block FiLM-conditioned."""
    return ConvTasNetConfig(
        encoder="stft", window=window, hop=hop, causal=True, masker=GatedTCNMasker.name,
        masker_config=masker or GatedTCNConfig(bottleneck_channels=64, hidden_channels=128,
                                               blocks_per_repeat=6, repeats=1),
        mask_kind="magnitude", mask_constraint="none", speaker_dim=embed_dim,
        conditioning="film", conditioned_blocks="all",
    )  # fmt: skip


@dataclass(frozen=True)
class PersonalVADConfig:
    """A detector (the frame: STFT magnitudes into a conditioned masker) and a speaker net.

    Args:
        detector: the conditioned masker's frame; ``encoder`` must be "stft", ``speaker_dim``
            the speaker net's ``embed_dim``.
        speaker: the speaker net (its own front end: "mel" or "learned").
    """

    detector: ConvTasNetConfig = field(default_factory=lambda: _detector(128))
    speaker: SpeakerNetConfig = field(default_factory=SpeakerNetConfig.small)

    def __post_init__(self) -> None:
        if self.detector.encoder != "stft" or self.detector.speaker_dim != self.speaker.embed_dim:
            raise ValueError("the detector needs encoder='stft' and speaker_dim = embed_dim")
        if self.speaker.frontend == "shared":
            raise ValueError("the VAD's speaker net needs its own front end (mel or learned)")

    @classmethod
    def small(cls) -> PersonalVADConfig:
        """The CPU size: the small speaker net, a causal gated TCN of 6 blocks (B 64, H 128)."""
        speaker = SpeakerNetConfig.small()
        return cls(_detector(speaker.embed_dim), speaker)

    @classmethod
    def tiny(cls) -> PersonalVADConfig:
        """The test size."""
        speaker = dataclasses.replace(SpeakerNetConfig.tiny(), frontend="mel", n_mels=16)
        small = GatedTCNConfig(bottleneck_channels=8, hidden_channels=8, blocks_per_repeat=2,
                               repeats=1)  # fmt: skip
        detector = _detector(speaker.embed_dim, window=64, hop=16, masker=small)
        return cls(detector, speaker)


class PersonalVAD(nn.Module):
    """Frame-wise target-speaker activity.

    Shape:
        embed: enrollment (B, 1, T_e) -> (B, D)
        frame_logits: mixture (B, 1, T), embedding (B, D) -> (B, frames), frames = T // hop + 1
        forward: mixture (B, 1, T), enrollment (B, 1, T_e) -> (B, frames)
    """

    def __init__(self, config: PersonalVADConfig) -> None:
        super().__init__()
        self.config = config
        self.detector = ConvTasNet(config.detector)
        self.speaker = SpeakerNet(config.speaker)
        self.head = Pointwise(config.detector.mask_channels, 1)

    @property
    def task(self) -> str:
        return "vad"

    @property
    def sample_rate(self) -> int:
        return self.config.detector.sample_rate

    @property
    def hop(self) -> int:
        """Samples per output frame; frame i is centred on sample i * hop."""
        return self.config.detector.hop

    @property
    def embed_dim(self) -> int:
        return self.config.speaker.embed_dim

    @property
    def receptive_field_samples(self) -> int:
        return self.detector.receptive_field_samples

    @property
    def lookahead_samples(self) -> int:
        return self.detector.lookahead_samples

    def valid_length(self, n: int) -> int:
        return self.detector.valid_length(n)

    def embed(self, enrollment: torch.Tensor) -> torch.Tensor:
        """Speaker embedding of an enrollment utterance: (B, 1, T_e) -> (B, D)."""
        if enrollment.dim() != 3 or enrollment.shape[1] != 1 or enrollment.shape[2] < 1:
            raise ValueError(f"enrollment must be (batch, 1, time), got {tuple(enrollment.shape)}")
        return self.speaker(enrollment)

    def frame_logits(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Logit of "the enrolled speaker talks" per frame: (B, 1, T), (B, D) -> (B, frames)."""
        emb = normalise_embedding(embedding, self.config.detector.embed_gain)
        features = self.detector.features(mixture)  # (B, F, frames)
        hidden = self.detector.mask(features, emb)  # (B, F, frames)
        frames = mixture.shape[-1] // self.hop + 1
        return self.head(hidden)[:, 0, :frames]  # (B, frames)

    def forward(self, mixture: torch.Tensor, enrollment: torch.Tensor) -> torch.Tensor:
        return self.frame_logits(mixture, self.embed(enrollment))


def frame_labels(
    reference: torch.Tensor, present: torch.Tensor, hop: int, frames: int, floor_db: float = -40.0
) -> torch.Tensor:
    """Target activity per frame: the reference's energy around each frame centre within
    ``floor_db`` of its loudest frame (and above silence); all 0 where the target is absent.

    Shape:
        reference (B, 1, T), present (B,) -> (B, frames) float
    """
    power = nn.functional.pad(reference[:, 0] ** 2, (hop // 2, hop))  # centre frames on i * hop
    energy = nn.functional.avg_pool1d(power[:, None], hop, hop)[:, 0, :frames]  # (B, <= frames)
    energy = nn.functional.pad(energy, (0, frames - energy.shape[-1]))
    level = 10 * torch.log10(energy + 1e-10)
    loud = level.max(dim=-1, keepdim=True).values
    active = (level > loud + floor_db) & (energy > 1e-8)
    return (active & present[:, None].bool()).float()
