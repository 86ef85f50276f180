"""Run state that survives a resume: RNG states, weights copied from another checkpoint, log.csv."""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from puresound_cli.errors import PuresoundError

LOG_COLUMNS = (
    "step",
    "kind",
    "loss",
    "signal_loss",
    "speaker_loss",
    "lr",
    "si_sdri",
    "absent_db",
    "examples_per_s",
    "elapsed_s",
    "accuracy",
)


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA) RNG states, as primitives and tensors."""
    np_state: Any = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate(_tuples(state["python"]))
    name, key, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def init_weights(model: nn.Module, source: Mapping[str, torch.Tensor]) -> int:
    """Copy every tensor of ``source`` whose name and shape match into ``model``; return the count.

    Raises:
        PuresoundError: nothing matches (the checkpoint is for another architecture).
    """
    own = model.state_dict()
    matching = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise PuresoundError("init_from: no weight of that checkpoint fits this model")
    model.load_state_dict(matching, strict=False)
    return len(matching)


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


class CsvLog:
    """Append-only CSV log that drops rows past ``start_step`` when a run resumes."""

    def __init__(self, path: Path, start_step: int) -> None:
        self.path = path
        rows: list[list[str]] = []
        if start_step > 0 and path.is_file():
            with open(path, newline="") as f:
                rows = [r for r in csv.reader(f)][1:]
            rows = [r for r in rows if r and r[0].isdigit() and int(r[0]) <= start_step]
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(LOG_COLUMNS)
            writer.writerows(rows)

    def write(self, **values: Any) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow(
                [
                    f"{values[c]:.6g}" if isinstance(values.get(c), float) else values.get(c, "")
                    for c in LOG_COLUMNS
                ]
            )


def resume_mismatch(last: Path, ckpt: dict[str, Any], config: Any, model: Any) -> str:
    """One line on why ``last``'s weights do not fit this run's model (not the kB of key names
    ``load_state_dict`` lists): the options that differ, or how many tensors do not match."""
    before = (ckpt.get("meta") or {}).get("train_config") or {}
    keys = ("task", "size", "backbone", "causal", "sample_rate", "model_config")
    changed = [f"{k} {before[k]!r} -> {getattr(config, k)!r}" for k in keys
               if k in before and _tuples(before[k]) != _tuples(getattr(config, k))]  # fmt: skip
    if not changed:
        have, want = set(ckpt["state_dict"]), set(model.state_dict())
        changed = [f"{len(want - have)} tensors missing, {len(have - want)} unexpected"]
    return (f"{last} was trained with other options ({'; '.join(changed)}): resume with the "
            "same options, or train into another --out")  # fmt: skip
