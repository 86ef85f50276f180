"""Target-speaker extractor: speaker net (enrollment -> d-vector) + speaker-conditioned ConvTasNet.

References:
    Ge et al., "SpEx+: A complete time domain speaker extraction network", Interspeech 2020.
    Wang et al., "VoiceFilter", Interspeech 2019 (d-vector conditioning of a masker).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from puresound_cli.nets.convtasnet import ConvTasNet, ConvTasNetConfig
from puresound_cli.nets.select import (
    EVIDENCE_DB,
    SELECT_HOP_SECONDS,
    SELECT_WINDOW_SECONDS,
    SWITCH_PENALTY,
    UNLIKE_DB,
    UNSURE_MARGIN,
    narrow_band,
    select_voice,
)
from puresound_cli.nets.speaker import SpeakerNet, SpeakerNetConfig


@dataclass(frozen=True)
class ExtractorConfig:
    """A separator and a speaker net; ``separator.speaker_dim`` must equal ``speaker.embed_dim``,
    unless the separator is a two-talker one (``sources`` 2, not conditioned): then the extractor
    separates first and selects the enrolled voice window by window (:mod:`.select`).

    Args:
        separator: the speaker-conditioned masker, or a two-talker separator.
        speaker: the speaker net.
        tracker: a second speaker net that only tracks who talks when
            (:mod:`puresound_cli.tracking`), or None to track with ``speaker``.
        track_with_speaker: ``speaker`` itself is the calibrated tracking net (a separator
            conditioned on the tracking net needs no second copy of it): ``extract`` tracks by
            default, as with a ``tracker`` of its own.
        track_open_cosine: the tracker's calibrated opening threshold (cosine with the
            enrollment) for this model's tracking net.
        track_close_cosine: its closing threshold.
        track_adapt_cosine: windows scoring at least this adapt the enrollment to the
            recording (``tracking.adapted``); None: no adaptation.
        track_rescue_cosine: where a window scores at least this, the output is raised to the
            input's level (``talk.OutputGate``); None: no rescue.
        select_window_seconds, select_hop_seconds, select_switch_cost, select_margin,
        select_unlike_db: how a two-talker separator's output is chosen (:func:`.select_voice`:
            window length and spacing, the cost of a change of output, the doubt margin, the
            gain where no output reaches ``track_open_cosine``); unused otherwise.
        select_evidence_bar, select_output_bar, select_evidence_db: with the tracker on, where
            the tracker's cosine on the mixture over a window is below ``select_evidence_bar``
            and the best output's cosine below ``select_output_bar``, the window's gain is at
            most ``select_evidence_db`` (``select_evidence_bar`` None: not used).
        select_narrowband_bars: the two bars (mixture, output) that replace those for a
            telephone-band chunk (:func:`.narrow_band`); None: the same bars everywhere.
    """

    separator: ConvTasNetConfig = field(default_factory=lambda: ConvTasNetConfig.seed(192))
    speaker: SpeakerNetConfig = field(default_factory=SpeakerNetConfig.seed)
    tracker: SpeakerNetConfig | None = None
    track_open_cosine: float = 0.6
    track_close_cosine: float = 0.5
    track_adapt_cosine: float | None = None
    track_with_speaker: bool = False
    track_rescue_cosine: float | None = None
    select_window_seconds: float = SELECT_WINDOW_SECONDS
    select_hop_seconds: float = SELECT_HOP_SECONDS
    select_switch_cost: float = SWITCH_PENALTY
    select_margin: float = UNSURE_MARGIN
    select_unlike_db: float = UNLIKE_DB
    select_evidence_bar: float | None = None
    select_output_bar: float = 1.0
    select_evidence_db: float = EVIDENCE_DB
    select_narrowband_bars: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.tracker is not None and self.track_with_speaker:
            raise ValueError("track_with_speaker needs tracker None (one tracking net)")
        if self.tracker is not None and self.tracker.frontend == "shared":
            raise ValueError("the tracking speaker net needs its own front end (not 'shared')")
        if not -1.0 <= self.track_close_cosine <= self.track_open_cosine <= 1.0:
            raise ValueError("need -1 <= track_close_cosine <= track_open_cosine <= 1")
        for name in ("track_adapt_cosine", "track_rescue_cosine"):
            if getattr(self, name) is not None and not -1 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [-1, 1] (or None)")
        if not 0 < self.select_hop_seconds <= self.select_window_seconds <= 10:
            raise ValueError("need 0 < select_hop_seconds <= select_window_seconds <= 10")
        if min(self.select_switch_cost, self.select_margin) < 0 or self.select_unlike_db > 0:
            raise ValueError("need select_switch_cost, select_margin >= 0, select_unlike_db <= 0")
        bar, out = self.select_evidence_bar, self.select_output_bar
        if (bar is not None and not -1 <= bar <= 1) or not -1 <= out <= 1:
            raise ValueError("need select_evidence_bar (or None) and select_output_bar in [-1, 1]")
        narrow = self.select_narrowband_bars
        if narrow is not None and (
            bar is None or len(narrow) != 2 or not all(-1 <= b <= 1 for b in narrow)
        ):
            raise ValueError(
                "select_narrowband_bars: two bars in [-1, 1], with select_evidence_bar"
            )
        if self.select_evidence_db > 0:
            raise ValueError(f"need select_evidence_db <= 0, got {self.select_evidence_db}")
        if self.separator.sources > 1 and self.speaker.frontend == "shared":
            raise ValueError("a two-talker separator needs a speaker net with its own front end")
        if self.separator.sources == 1 and self.separator.speaker_dim != self.speaker.embed_dim:
            raise ValueError(
                f"separator.speaker_dim ({self.separator.speaker_dim}) must equal "
                f"speaker.embed_dim ({self.speaker.embed_dim})"
            )

    @classmethod
    def seed(cls) -> ExtractorConfig:
        """The seed TSE model (about 10.1 M parameters)."""
        speaker = SpeakerNetConfig.seed()
        return cls(ConvTasNetConfig.seed(speaker.embed_dim), speaker)

    @classmethod
    def small(cls) -> ExtractorConfig:
        """The fast CPU size."""
        speaker = SpeakerNetConfig.small()
        return cls(ConvTasNetConfig.small(speaker.embed_dim), speaker)

    @classmethod
    def tiny(cls) -> ExtractorConfig:
        """The test size."""
        speaker = SpeakerNetConfig.tiny()
        return cls(ConvTasNetConfig.tiny(speaker.embed_dim), speaker)


class Extractor(nn.Module):
    """Extract the enrolled speaker from a mixture.

    Args:
        config: see ExtractorConfig.

    Shape:
        embed: enrollment (B, 1, T_e) -> (B, D)
        track_embed: audio (B, 1, T) -> (B, D_track)
        separate: mixture (B, 1, T), embedding (B, D) -> (B, 1, T)
        forward: mixture (B, 1, T), enrollment (B, 1, T_e) -> (B, 1, T)
    """

    def __init__(self, config: ExtractorConfig) -> None:
        super().__init__()
        self.config = config
        self.separator = ConvTasNet(config.separator)
        shared = config.speaker.frontend == "shared"
        in_channels = config.separator.feature_channels if shared else None
        self.speaker = SpeakerNet(config.speaker, in_channels)
        self.tracker = None if config.tracker is None else SpeakerNet(config.tracker)

    @property
    def task(self) -> str:
        return "extract"

    @property
    def sample_rate(self) -> int:
        return self.config.separator.sample_rate

    @property
    def embed_dim(self) -> int:
        return self.config.speaker.embed_dim

    @property
    def receptive_field_samples(self) -> int:
        return self.separator.receptive_field_samples

    @property
    def lookahead_samples(self) -> int:
        return self.separator.lookahead_samples

    def valid_length(self, n: int) -> int:
        return self.separator.valid_length(n)

    def embed(self, enrollment: torch.Tensor) -> torch.Tensor:
        """Speaker embedding of an enrollment utterance: (B, 1, T_e) -> (B, D)."""
        if enrollment.dim() != 3 or enrollment.shape[1] != 1 or enrollment.shape[2] < 1:
            raise ValueError(f"enrollment must be (batch, 1, time), got {tuple(enrollment.shape)}")
        if self.speaker.frontend is None:
            return self.speaker(self.separator.features(enrollment))  # shared encoder
        return self.speaker(enrollment)

    def track_embed(self, wav: torch.Tensor) -> torch.Tensor:
        """Embedding for tracking who talks (the tracking net's, else ``embed``): (B, 1, T) ->
        (B, D_track)."""
        if self.tracker is None:
            return self.embed(wav)
        if wav.dim() != 3 or wav.shape[1] != 1 or wav.shape[2] < 1:
            raise ValueError(f"audio must be (batch, 1, time), got {tuple(wav.shape)}")
        return self.tracker(wav)

    @property
    def has_tracking_net(self) -> bool:
        """Whether :meth:`track_embed` uses a net of its own (not the separation embedding)."""
        return self.tracker is not None

    @property
    def tracks_by_default(self) -> bool:
        """Whether ``extract`` tracks who talks unless told not to: the model carries a
        calibrated tracking net (its own, or its speaker net marked as one)."""
        return self.tracker is not None or self.config.track_with_speaker

    @property
    def track_thresholds(self) -> tuple[float, float]:
        """(open, close) cosines calibrated for :meth:`track_embed`."""
        return self.config.track_open_cosine, self.config.track_close_cosine

    @property
    def track_adapt_cosine(self) -> float | None:
        """The calibrated adaptation threshold (None: the tracker does not adapt)."""
        return self.config.track_adapt_cosine

    @property
    def track_rescue_cosine(self) -> float | None:
        """The calibrated rescue threshold (None: no level rescue)."""
        return self.config.track_rescue_cosine

    @property
    def selects(self) -> bool:
        """Whether the separator is a two-talker one whose outputs are selected by voice."""
        return self.config.separator.sources > 1

    @property
    def takes_evidence(self) -> bool:
        """Whether :meth:`separate` uses the tracker's scores (``select_evidence_bar``)."""
        return self.selects and self.config.select_evidence_bar is not None

    def separate(
        self, mixture: torch.Tensor, embedding: torch.Tensor, evidence: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Masked mixture for the speaker of ``embedding``: (B, 1, T), (B, D) -> (B, 1, T).
        ``evidence``: the tracker's cosine on the mixture at every sample, ``(B, T)``, used by a
        selecting model with ``select_evidence_bar`` (ignored otherwise)."""
        if self.selects:
            c, sources = self.config, self.separator(mixture)
            bar: float | torch.Tensor | None = None if evidence is None else c.select_evidence_bar
            out: float | torch.Tensor = c.select_output_bar
            if bar is not None and c.select_narrowband_bars is not None:
                narrow = narrow_band(mixture, self.sample_rate)[:, None, None]  # (B, 1, 1)
                bar = torch.where(narrow, c.select_narrowband_bars[0], bar)
                out = torch.where(narrow, c.select_narrowband_bars[1], out)
            return select_voice(
                sources, mixture, embedding, self.speaker, self.sample_rate,
                window_seconds=c.select_window_seconds, hop_seconds=c.select_hop_seconds,
                switch_penalty=c.select_switch_cost, unsure_margin=c.select_margin,
                plausible=c.track_open_cosine, unlike_db=c.select_unlike_db,
                evidence=None if bar is None else evidence,
                evidence_bar=-1.0 if bar is None else bar, output_bar=out,
                evidence_db=c.select_evidence_db,
            )  # fmt: skip
        return self.separator(mixture, embedding)

    def forward(self, mixture: torch.Tensor, enrollment: torch.Tensor) -> torch.Tensor:
        return self.separate(mixture, self.embed(enrollment))
