"""Maskers: the network between encoder and decoder, chosen by name from one explicit table.

Every masker takes the encoder features ``(B, feature_channels, frames)`` and an optional speaker
embedding ``(B, D)`` and returns a mask ``(B, mask_channels, frames)``; it is built from the
frame's frozen config (:class:`~puresound_cli.nets.convtasnet.ConvTasNetConfig`).
"""

from __future__ import annotations

from torch import nn

from puresound_cli.nets.maskers.tcn import TCNMasker

MASKERS: dict[str, type[nn.Module]] = {
    "tcn": TCNMasker,
}
"""Name (``ConvTasNetConfig.masker``) -> masker class."""

MASKER_PARTS = ("input_norm.", "bottleneck.", "blocks.", "output.")
"""Top-level weight names of the TCN masker in checkpoints written before the masker had its
own module (they now live under ``masker.``)."""

__all__ = ["MASKERS", "MASKER_PARTS", "TCNMasker"]
