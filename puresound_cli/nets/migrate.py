"""One-time migration of older checkpoints (and TOML model configs) to today's layout.

Two layouts came before today's:

1. Before maskers had their own module, a ConvTasNet's TCN masker weights sat at its top level
   (``blocks.0...``); they are under ``masker.`` since (``masker.blocks.0...``).
2. Before maskers had their own configs and one conditioning module, a frame's config held
   every masker's numbers (``hidden_channels``, ``chunk_frames``, ``unet_channels`` ...) and each
   masker named its conditioning weights itself (``film_scale``, ``embed_proj``, ``adapt.0``, a
   ``film`` layer of scale and shift in one), and most applied FiLM whatever the
   ``conditioning`` said (each masker's ``legacy_kinds`` lists the kinds it did honour).

:func:`migrate` maps both to today's config and weight names, so the network computes what it
computed before (the TCN bit for bit; where one FiLM layer became two, to float rounding).
Checkpoints in today's layout pass through unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import torch

LEGACY_MASKER_FIELDS = {
    "bottleneck_channels": None,
    "hidden_channels": 256,
    "kernel_size": 3,
    "blocks_per_repeat": 8,
    "repeats": 3,
    "chunk_frames": 20,
    "unet_channels": 32,
}
"""The masker numbers a frame config held before each masker had its own (with the defaults
of that time)."""

FRAMES: dict[str, list[tuple[str, ...]]] = {
    "convtasnet": [()],
    "extractor": [("separator",)],
    "pvad": [("detector",)],
}
"""Where each architecture keeps its ConvTasNet frame(s): a path of config keys, which is
also the weight prefix."""


def is_legacy_frame(frame: dict[str, Any]) -> bool:
    """Whether a frame config dict is in the layout before masker configs."""
    return "masker_config" not in frame and bool(LEGACY_MASKER_FIELDS.keys() & frame.keys())


def frame_config(frame: dict[str, Any]) -> dict[str, Any]:
    """Today's frame config dict for a legacy one (a current one is returned as it is)."""
    if not is_legacy_frame(frame):
        return frame
    from puresound_cli.nets.maskers import DEFAULT, MASKERS

    out = {k: v for k, v in frame.items() if k not in LEGACY_MASKER_FIELDS}
    name = out.get("masker", DEFAULT)
    if name not in MASKERS:
        return frame  # left for the config check to name
    fields = MASKERS[name].Config.__dataclass_fields__
    out["masker_config"] = {
        k: frame.get(k, default) for k, default in LEGACY_MASKER_FIELDS.items() if k in fields
    }
    if out.get("conditioning", "concat") not in MASKERS[name].legacy_kinds:
        out["conditioning"] = "film"  # what the masker computed whatever it said
    return out


def _weights(state: dict[str, Any], prefix: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Today's weight names for the legacy frame at ``prefix`` (``frame``: its migrated config).

    A ``film`` layer held scale and shift in one; under "multiply" only its scale was used.
    """
    scale_only = frame.get("conditioning") == "multiply"
    rename = [
        (r"(.*)\.embed_proj\.weight$", r"\1.condition.shift.weight"),
        (r"(.*)\.film_scale\.weight$", r"\1.condition.scale.weight"),
        (r"(.*)\.film_shift\.weight$", r"\1.condition.shift.weight"),
        (r"^adapt\.(\d+)\.weight$", r"adapt.\1.scale.weight"),
    ]
    out: dict[str, Any] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            out[key] = value
            continue
        rest = key[len(prefix) :]
        split = re.fullmatch(r"(?:(.*)\.)?film(\.\d+)?\.weight", rest)
        if split and isinstance(value, torch.Tensor):  # one layer of (scale; shift)
            base = prefix + (f"{split[1]}." if split[1] else "") + f"condition{split[2] or ''}"
            scale, shift = value.chunk(2, dim=0)
            out[f"{base}.scale.weight"] = scale
            if not scale_only:
                out[f"{base}.shift.weight"] = shift
            continue
        for pattern, target in rename:
            rest = re.sub(pattern, target, rest)
        out[prefix + rest] = value
    return out


def _masker_prefix(arch: str, state: dict[str, Any]) -> dict[str, Any]:
    """Layout 1 -> 2: a TCN's top-level masker weights moved under ``masker.``."""
    parts = ("input_norm.", "bottleneck.", "blocks.", "output.")
    prefix = {"convtasnet": "", "extractor": "separator."}.get(arch)
    if prefix is None:
        return state
    out = {}
    for key, value in state.items():
        rest = key[len(prefix) :] if key.startswith(prefix) else None
        if rest is not None and rest.startswith(parts):
            key = f"{prefix}masker.{rest}"
        out[key] = value
    return out


def migrate(
    arch: str, config: dict[str, Any], state: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(config, weights) of a checkpoint in today's layout; unchanged when already current.

    Args:
        arch: the checkpoint's architecture ("convtasnet", "extractor", "pvad").
        config: its config dict.
        state: its state dict (None: migrate the config only, e.g. a TOML model config).
    """
    if state is not None:
        state = _masker_prefix(arch, state)
    config = dict(config)
    for path in FRAMES.get(arch, []):
        parent = config
        for key in path[:-1]:
            parent = parent[key] = dict(parent[key])
        frame = parent[path[-1]] if path else config
        if not isinstance(frame, dict) or not is_legacy_frame(frame):
            continue
        new = frame_config(frame)
        if state is not None:
            state = _weights(state, "".join(f"{k}." for k in path) + "masker.", new)
        if path:
            parent[path[-1]] = new
        else:
            config = new
    return config, state
