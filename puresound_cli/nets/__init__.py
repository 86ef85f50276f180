"""The networks: ConvTasNet (enhancer / conditioned separator), SpeakerNet and Extractor.

Architectures are chosen through the explicit ``ARCHITECTURES`` dict; ``build(arch, config)``
turns a checkpoint's ``config`` dict (``dataclasses.asdict`` of the config) back into a model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from puresound_cli.nets.configs import config_from_dict
from puresound_cli.nets.convtasnet import ConvTasNet, ConvTasNetConfig
from puresound_cli.nets.extractor import Extractor, ExtractorConfig
from puresound_cli.nets.migrate import migrate
from puresound_cli.nets.pvad import PersonalVAD, PersonalVADConfig
from puresound_cli.nets.speaker import SpeakerNet, SpeakerNetConfig

__all__ = [
    "ARCHITECTURES",
    "ConvTasNet",
    "ConvTasNetConfig",
    "Extractor",
    "ExtractorConfig",
    "PersonalVAD",
    "PersonalVADConfig",
    "SpeakerNet",
    "SpeakerNetConfig",
    "arch_name",
    "build",
    "config_from_dict",
    "count_parameters",
    "Network",
    "flops_per_second",
    "migrate",
    "with_output_gain",
]

Network = ConvTasNet | Extractor | PersonalVAD
"""Every network a checkpoint holds."""

ARCHITECTURES: dict[str, tuple[type[Network], type[Any]]] = {
    "convtasnet": (ConvTasNet, ConvTasNetConfig),
    "extractor": (Extractor, ExtractorConfig),
    "pvad": (PersonalVAD, PersonalVADConfig),
}


def build(arch: str, config: dict[str, Any]) -> Network:
    """Build a model from an architecture name and a config dict.

    Args:
        arch: a key of ``ARCHITECTURES``.
        config: ``dataclasses.asdict(cfg)`` of the matching config class (an older layout is
            migrated, see :mod:`.migrate`).

    Raises:
        ValueError: unknown architecture or invalid config.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    model_cls, config_cls = ARCHITECTURES[arch]
    return model_cls(config_from_dict(config_cls, migrate(arch, config)[0]))


def arch_name(model: Network) -> str:
    """The ``ARCHITECTURES`` key of a model (raises ValueError for other modules)."""
    for name, (model_cls, _) in ARCHITECTURES.items():
        if type(model) is model_cls:
            return name
    raise ValueError(f"{type(model).__name__} is not a registered architecture")


def with_output_gain(model: ConvTasNet | Extractor, factor: float) -> ConvTasNet | Extractor:
    """The same network and weights with ``output_gain`` multiplied by ``factor`` (eval mode).

    Raises:
        ValueError: not a registered architecture, or a zero or non-finite factor.
    """
    new: ConvTasNet | Extractor
    if isinstance(model, Extractor):
        cfg = model.config
        separator = dataclasses.replace(
            cfg.separator, output_gain=cfg.separator.output_gain * factor
        )
        new = Extractor(dataclasses.replace(cfg, separator=separator))
    else:
        gain = model.config.output_gain * factor
        new = ConvTasNet(dataclasses.replace(model.config, output_gain=gain))
    new.load_state_dict(model.state_dict())
    return new.to(next(model.parameters()).device).eval()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops_per_second(model: ConvTasNet | Extractor) -> float:
    """FLOP (2 x multiply-accumulates of Conv1d, ConvTranspose1d, Linear, LSTM) per second of audio.

    Counted with forward hooks on one second of audio at the model's sample rate. For an
    Extractor this is the separation path (the embedding is computed once per enrollment);
    FFTs, norms and activations are not counted.
    """
    macs = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: Any) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv1d):
            macs += output.numel() * (module.in_channels // module.groups) * module.kernel_size[0]
        elif isinstance(module, nn.ConvTranspose1d):
            per_input = (module.out_channels // module.groups) * module.kernel_size[0]
            macs += inputs[0].numel() * per_input
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features
        elif isinstance(module, nn.LSTM):  # 4 gates, input and recurrent weights, per step
            steps = output[0].numel() // (module.hidden_size * (2 if module.bidirectional else 1))
            per = 4 * module.hidden_size * (module.input_size + module.hidden_size)
            macs += steps * (2 if module.bidirectional else 1) * per

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv1d | nn.ConvTranspose1d | nn.Linear | nn.LSTM)
    ]
    sample_rate = int(model.sample_rate)
    wav = torch.zeros(1, 1, sample_rate)
    try:
        with torch.inference_mode():
            if isinstance(model, Extractor):
                embedding = torch.ones(1, model.embed_dim)
                macs = 0
                model.separate(wav, embedding)
            elif isinstance(model, ConvTasNet) and model.config.speaker_dim is not None:
                model(wav, torch.ones(1, model.config.speaker_dim))
            else:
                model(wav)
    finally:
        for handle in handles:
            handle.remove()
    return 2.0 * macs
