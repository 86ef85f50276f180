"""Turn a training checkpoint into a shipped model: calibrate its output level, write it out.

Usage (from the repo root, where the run's relative data paths resolve):
    .venv/bin/python recipes/release.py RUN/best.pt extract-convtasnet-16k

SI-SDR is blind to scale, so a trained model's output level is arbitrary (the first enhancement
model came out 16 dB below the clean speech). This script runs the checkpoint on its own run's
validation set (held-out training speakers, generated from ``meta.train_config``; never the dev
set), takes the median least-squares gain <est, ref> / <est, est> over items where the target
speaks, and stores it in the config as ``output_gain`` (``train.calibrate_output_level``, which
``puresound train`` also applies to its own ``model.pt``; this script serves older runs).
It writes ``models/<name>/model.pt`` (no optimizer state) and prints the sha256 and parameter
count for ``pretrained.REGISTRY``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from puresound_cli import data as D
from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from puresound_cli.nets import count_parameters
from puresound_cli.pretrained import sha256sum
from puresound_cli.train import TrainConfig, build_data, calibrate_output_level


def levelled(model: Any, meta: dict, examples: int) -> Any:
    """``model`` with its output level calibrated on ``examples`` items of its run's validation
    set (``meta["train_config"]``); records the gain in ``meta["output_calibration"]``."""
    train_config = TrainConfig.from_dict(meta["train_config"])
    _, valid_src, _ = build_data(train_config, D.DataReport())
    batches = D.validation_batches(valid_src, examples, 16)
    model, gain, items = calibrate_output_level(model, batches)
    meta["output_calibration"] = {"gain": gain, "items": items}
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("name")
    parser.add_argument("--examples", type=int, default=128)
    args = parser.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    meta = dict(ckpt.get("meta") or {})
    released = levelled(model_from_checkpoint(ckpt), meta, args.examples)
    gain, items = meta["output_calibration"]["gain"], meta["output_calibration"]["items"]
    meta["release"] = {"source": str(args.checkpoint)}
    out = Path("models") / args.name / "model.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, released, meta=meta)
    out.chmod(0o644)
    print(f"{out}: gain {gain:.4f} ({items} items), params {count_parameters(released)}")
    print(f"sha256 {sha256sum(out)}")


if __name__ == "__main__":
    main()
