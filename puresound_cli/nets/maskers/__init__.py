"""Maskers: the network between encoder and decoder, chosen by name from one explicit table.

Every masker takes the encoder features ``(B, feature_channels, frames)`` and an optional speaker
embedding ``(B, D)`` and returns a mask ``(B, mask_channels, frames)``; it is built from the
frame's frozen config (:class:`~puresound_cli.nets.convtasnet.ConvTasNetConfig`) and says how
many frames of context one output frame sees (``context_frames(config)``).
"""

from __future__ import annotations

from torch import nn

from puresound_cli.nets.maskers.dpcrn import DPARNMasker, DPCRNMasker
from puresound_cli.nets.maskers.dprnn import DPRNNMasker
from puresound_cli.nets.maskers.gated_tcn import GatedTCNMasker
from puresound_cli.nets.maskers.skim import SkiMMasker
from puresound_cli.nets.maskers.tcn import TCNMasker
from puresound_cli.nets.maskers.unet import UNetMasker

MASKERS: dict[str, type[nn.Module]] = {
    "tcn": TCNMasker,
    "gated-tcn": GatedTCNMasker,
    "dprnn": DPRNNMasker,
    "skim": SkiMMasker,
    "unet": UNetMasker,
    "dpcrn": DPCRNMasker,
    "dparn": DPARNMasker,
}
"""Name (``ConvTasNetConfig.masker``) -> masker class."""

BACKBONES: dict[str, tuple[str, dict[str, dict[str, int | bool | str]]]] = {
    "convtasnet": ("tcn", {}),
    "gated-tcn": ("gated-tcn", {}),
    "dprnn": (
        "dprnn",
        {
            "tiny": {"hidden_channels": 16, "repeats": 2, "chunk_frames": 4},
            "small": {"hidden_channels": 128, "repeats": 6, "chunk_frames": 25},
            "seed": {"bottleneck_channels": 128, "hidden_channels": 64, "repeats": 6},
        },
    ),
    "skim": (
        "skim",
        {
            "tiny": {"hidden_channels": 16, "repeats": 2, "chunk_frames": 4, "causal": True},
            "small": {"hidden_channels": 256, "repeats": 4, "chunk_frames": 19, "causal": True},
            "seed": {
                "bottleneck_channels": 128,
                "hidden_channels": 256,
                "repeats": 4,
                "chunk_frames": 150,
                "causal": True,
            },
        },
    ),
    "unet": (
        "unet",
        {
            "tiny": {"encoder": "stft", "unet_channels": 4, "blocks_per_repeat": 2, "repeats": 1},
            "small": {"unet_channels": 32, "blocks_per_repeat": 5, "repeats": 2},
        },
    ),
    "dpcrn": (
        "dpcrn",
        {
            "tiny": {"encoder": "stft", "unet_channels": 4, "hidden_channels": 8, "causal": True},
            "small": {"unet_channels": 64, "hidden_channels": 128, "causal": True},
        },
    ),
    "dparn": (
        "dparn",
        {
            "tiny": {"encoder": "stft", "unet_channels": 4, "hidden_channels": 8, "causal": True},
            "small": {"unet_channels": 64, "hidden_channels": 128, "causal": True},
        },
    ),
}
"""``train --backbone`` name -> (masker, per size preset: the frame config numbers it changes).

The sizes are ``ConvTasNetConfig.tiny/small/seed``; a dual-path masker reuses
``hidden_channels`` (LSTM units) and ``repeats`` (blocks), and reads ``chunk_frames``. The seed's
DPRNN recipe is B 128, H 64, 6 blocks, chunks of 20 frames; its causal SkiM recipe B 128,
H 256, 4 blocks, segments of 150 frames of 1 ms (the small preset: 19 frames of 8 ms)."""

MASKER_PARTS = ("input_norm.", "bottleneck.", "blocks.", "output.")
"""Top-level weight names of the TCN masker in checkpoints written before the masker had its
own module (they now live under ``masker.``)."""

__all__ = [
    "BACKBONES",
    "MASKERS",
    "MASKER_PARTS",
    "DPARNMasker",
    "DPCRNMasker",
    "DPRNNMasker",
    "GatedTCNMasker",
    "SkiMMasker",
    "TCNMasker",
    "UNetMasker",
]
