"""Training options from text: a TOML file of them, ``KEY=VALUE`` settings of the command line.

Both give plain values; :meth:`~puresound_cli.train.config.TrainConfig.from_dict` checks names
and types.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from puresound_cli.errors import PuresoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, as a package before Python 3.11
    import tomli as tomllib


def parse_setting(text: str) -> tuple[str, Any]:
    """One ``KEY=VALUE`` training option from the command line (``train --set``).

    The value is read as a TOML value (``8000``, ``0.3``, ``true``, ``[0.0, 5.0]``,
    ``["a", "b"]``, ``"text"``); anything that is not one is taken as a plain string, so paths
    need no quotes. Names and types are checked later, with the rest of the config.

    Raises:
        PuresoundError: no ``=``, or no key before it.
    """
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise PuresoundError(f"--set {text!r}: expected KEY=VALUE, e.g. --set sample_rate=8000")
    try:
        return key, tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return key, raw


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML file of training options (top level, or a ``[train]`` table).

    Raises:
        PuresoundError: the file cannot be read or is not TOML.
    """
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PuresoundError(f"cannot read config {path}: {exc}") from exc
    return dict(values.get("train", values))
