"""Frozen config dataclasses from plain dicts (checkpoints, TOML files)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def config_from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Rebuild a (possibly nested) frozen config dataclass from ``dataclasses.asdict`` output.

    Raises:
        ValueError: unknown keys or invalid values.
    """
    if not isinstance(values, dict):
        raise ValueError(f"{cls.__name__} needs a dict, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(typing.cast(Any, cls))}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
    kwargs = {}
    for key, value in values.items():
        hint = hints[key]
        options = [a for a in typing.get_args(hint) if isinstance(a, type)]
        nested = [
            a for a in [hint, *options] if isinstance(a, type) and dataclasses.is_dataclass(a)
        ]
        if nested and isinstance(value, dict):  # e.g. SpeakerNetConfig | None
            value = config_from_dict(nested[0], value)
        kwargs[key] = value
    return cls(**kwargs)
