"""Maskers: the network between encoder and decoder, chosen by name from one explicit table.

Every masker follows the contract of :class:`~puresound_cli.nets.maskers.base.Masker`: its module
holds its own frozen config (with size presets) and a Masker subclass that says its name, its
``train --backbone`` name, whether it streams, whether it needs the STFT encoder and its context.
Everything else (the frame, the CLI help, config checks, streaming, the docs) reads this table.
Adding a masker: its module, and one line here.
"""

from __future__ import annotations

from typing import Any

from puresound_cli.nets.maskers.base import SIZES, Masker
from puresound_cli.nets.maskers.dpcrn import DPARNMasker, DPCRNMasker
from puresound_cli.nets.maskers.dprnn import DPRNNMasker
from puresound_cli.nets.maskers.gated_tcn import GatedTCNMasker
from puresound_cli.nets.maskers.skim import SkiMMasker
from puresound_cli.nets.maskers.sudormrf import SuDORMRFMasker
from puresound_cli.nets.maskers.tcn import TCNMasker
from puresound_cli.nets.maskers.tdanet import TDANetMasker
from puresound_cli.nets.maskers.unet import UNetMasker

MASKERS: dict[str, type[Masker]] = {
    cls.name: cls
    for cls in (
        TCNMasker,
        GatedTCNMasker,
        DPRNNMasker,
        SkiMMasker,
        UNetMasker,
        DPCRNMasker,
        DPARNMasker,
        SuDORMRFMasker,
        TDANetMasker,
    )
}
"""Name (``ConvTasNetConfig.masker``) -> masker class."""

DEFAULT = "tcn"
"""The masker of a frame that names none, and of ``train`` without ``--backbone``."""

BACKBONES: dict[str, type[Masker]] = {cls.backbone: cls for cls in MASKERS.values()}
"""``train --backbone`` name -> masker class (the TCN's backbone name is "convtasnet")."""

DEFAULT_BACKBONE = MASKERS[DEFAULT].backbone


def masker_config(name: str, size: str) -> Any:
    """The frozen config of masker ``name`` at a size preset.

    Raises:
        ValueError: unknown masker or a size it has no preset for.
    """
    if name not in MASKERS:
        raise ValueError(f"masker must be one of {', '.join(MASKERS)}, got {name!r}")
    return MASKERS[name].Config.preset(size)


def streaming_maskers() -> tuple[str, ...]:
    """Names of the maskers that run block by block (``--stream``)."""
    return tuple(name for name, cls in MASKERS.items() if cls.streams)


__all__ = [
    "BACKBONES",
    "DEFAULT",
    "DEFAULT_BACKBONE",
    "MASKERS",
    "SIZES",
    "DPARNMasker",
    "DPCRNMasker",
    "DPRNNMasker",
    "GatedTCNMasker",
    "Masker",
    "SkiMMasker",
    "TCNMasker",
    "UNetMasker",
    "masker_config",
    "streaming_maskers",
]
