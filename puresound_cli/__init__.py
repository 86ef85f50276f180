"""puresound: speech enhancement and target-speaker extraction.

The package imports nothing heavy at import time, so ``puresound --help`` stays instant;
the public API below is loaded on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["PuresoundError", "__version__", "embed_speaker", "enhance", "extract", "load_model"]

from puresound_cli.errors import PuresoundError

_LAZY = {
    "load_model": ("puresound_cli.checkpoint", "load_model"),
    "enhance": ("puresound_cli.api", "enhance"),
    "extract": ("puresound_cli.api", "extract"),
    "embed_speaker": ("puresound_cli.separate", "embed_speaker"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'puresound_cli' has no attribute {name!r}")
