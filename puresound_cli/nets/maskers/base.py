"""The masker contract: what every masker module declares and provides.

A masker is the network between a frame's encoder and decoder. Its module holds:

- a frozen config dataclass of its own numbers on :class:`Presets` (``preset(size)`` from its
  ``PRESETS`` table) for the sizes "tiny", "small" and "seed" (a size it has no preset for
  raises ``ValueError``);
- a :class:`Masker` subclass naming that config (``Config``), its ``train --backbone`` name,
  whether it streams, whether it needs the STFT encoder, and how many frames of context one
  output frame sees.

``nets.maskers.MASKERS`` lists them; the frame (:class:`~puresound_cli.nets.convtasnet.ConvTasNet`),
the CLI help, config checks, streaming and the docs read everything from there. Adding a masker
is its module plus its entry in that table (an import and its class in the list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

import torch
from torch import nn

from puresound_cli.nets.blocks import Pointwise, make_norm
from puresound_cli.nets.conditioning import Conditioning, conditioned_blocks
from puresound_cli.nets.masks import constrain

if TYPE_CHECKING:
    from puresound_cli.nets.convtasnet import ConvTasNetConfig

SIZES = ("tiny", "small", "seed")


class Presets:
    """Base of every masker config: ``preset(size)`` builds it from its ``PRESETS`` table."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def preset(cls, size: str) -> Self:
        """``cls(**PRESETS[size])``, or a ValueError naming the sizes there are."""
        if size not in cls.PRESETS:
            names = ", ".join(cls.PRESETS)
            raise ValueError(f"{cls.__name__} has no {size!r} size preset ({names})")
        return cls(**cls.PRESETS[size])


class Masker(nn.Module):
    """Base of every masker: features and an optional speaker embedding in, a mask out.

    Class attributes (each masker sets them):
        name: its ``ConvTasNetConfig.masker`` name (the key in ``MASKERS``).
        backbone: its ``train --backbone`` name (the masker's name unless history says otherwise).
        Config: its frozen config dataclass (``ConvTasNetConfig.masker_config``).
        streams: it runs block by block in ``--stream`` (causal frames only).
        needs_stft: it needs a frequency axis (``encoder = "stft"``).
        causal_presets: its size presets train causal models.
        causal_ok: it can be causal (``causal=True`` frames); False for maskers that attend to or
            pool over the whole chunk.
        legacy_kinds: the conditioning kinds it honoured before the conditioning module (any
            other was FiLM); used once, by ``nets.migrate``.

    Shape:
        forward: features (B, feature_channels, frames), embedding (B, D) or None
            -> (B, sources * mask_channels, frames)
    """

    name: ClassVar[str]
    backbone: ClassVar[str]
    Config: ClassVar[type[Any]]
    streams: ClassVar[bool] = False
    needs_stft: ClassVar[bool] = False
    causal_presets: ClassVar[bool] = False
    causal_ok: ClassVar[bool] = True
    legacy_kinds: ClassVar[tuple[str, ...]] = ("film",)

    def __init__(self, frame: ConvTasNetConfig) -> None:
        super().__init__()
        self.constraint = frame.mask_constraint
        self.input_norm: nn.Module | None = None
        self.bottleneck: nn.Module | None = None
        self.output: nn.Module | None = None

    blocks: nn.ModuleList
    """The stack the default :meth:`forward` runs (each block takes ``(x, embedding)``)."""

    def forward(self, features: torch.Tensor, embedding: torch.Tensor | None) -> torch.Tensor:
        """The default: the input stage, each block with the embedding, the mask head; maskers
        of another shape override it."""
        x = self.bottom(features)  # (B, width, frames)
        for block in self.blocks:
            x = block(x, embedding)
        return self.top(x)

    @classmethod
    def context_frames(cls, frame: ConvTasNetConfig) -> int:
        """Frames of input one output frame sees (nominal for recurrent maskers)."""
        raise NotImplementedError

    @classmethod
    def check(cls, frame: ConvTasNetConfig) -> None:
        """Raise ValueError when ``frame`` cannot hold this masker."""
        if type(frame.masker_config) is not cls.Config:
            raise ValueError(
                f"masker {cls.name!r} needs a {cls.Config.__name__} masker_config, "
                f"got {type(frame.masker_config).__name__}"
            )
        if frame.causal and not cls.causal_ok:
            raise ValueError(
                f"the {cls.name} masker cannot be causal (it looks at the whole chunk)"
            )
        if cls.needs_stft and frame.encoder != "stft":
            raise ValueError(f"the {cls.name} masker needs encoder='stft' (a frequency axis)")

    # the shared input stage and mask head -------------------------------------------------

    def add_input(self, frame: ConvTasNetConfig, width: int) -> None:
        """Input norm and a 1x1 bottleneck from the features to ``width`` channels."""
        self.input_norm = make_norm(frame.feature_channels, frame.causal)
        self.bottleneck = Pointwise(frame.feature_channels, width)

    def add_head(self, frame: ConvTasNetConfig, width: int) -> None:
        """PReLU and a 1x1 convolution from ``width`` channels to the masks."""
        self.output = nn.Sequential(
            nn.PReLU(), Pointwise(width, frame.mask_channels * frame.sources)
        )

    @staticmethod
    def conditioned(frame: ConvTasNetConfig, blocks: int, per_repeat: int) -> set[int]:
        """Indices of the blocks that see the embedding (none for an unconditioned frame)."""
        if not frame.speaker_dim:
            return set()
        return conditioned_blocks(frame.conditioned_blocks, blocks, per_repeat)

    @staticmethod
    def conditioning(
        frame: ConvTasNetConfig, channels: int, where: set[int], dim: int = 1
    ) -> nn.ModuleDict:
        """One :class:`~puresound_cli.nets.conditioning.Conditioning` of the frame's kind per
        block index in ``where``, keyed by that index."""
        return nn.ModuleDict(
            {
                str(i): Conditioning(frame.conditioning, frame.speaker_dim or 0, channels, dim)
                for i in sorted(where)
            }
        )

    def bottom(self, features: torch.Tensor) -> torch.Tensor:
        """The input stage (identity when the masker has none)."""
        if self.input_norm is None or self.bottleneck is None:
            return features
        return self.bottleneck(self.input_norm(features))

    def top(self, x: torch.Tensor) -> torch.Tensor:
        """The mask head and the mask constraint."""
        if self.output is not None:
            x = self.output(x)
        return constrain(x, self.constraint)

    def stream_step(
        self, features: torch.Tensor, embedding: torch.Tensor | None, state: dict[str, Any]
    ) -> torch.Tensor:
        """The masks of new frames in a live stream, given what came before.

        The default suits maskers whose causal layers keep their own state in streaming mode
        (``nets.blocks.set_streaming``); recurrent maskers carry theirs in ``state`` (a dict that
        starts empty). Equals :meth:`forward` on the whole signal, frame for frame.

        Raises:
            ValueError: a masker that does not stream.
        """
        if not self.streams:
            raise ValueError(f"the {self.name} masker does not stream")
        return self(features, embedding)
