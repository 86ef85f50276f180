"""Train every masker the same way and score each on the enhancement dev sets.

Each backbone of ``nets.maskers.BACKBONES`` is trained at the shipped (small) size for the same
number of steps and examples (the base recipe with ``backbone``, ``out``, ``max_steps`` and a
cosine schedule over those steps substituted), then scored with ``puresound evaluate`` on the
dev pairs lists. Equal examples, not equal wall-clock time, so that a run slowed by other work
on the machine is not handicapped; the wall-clock time of each run is reported beside it.

Usage (from the repo root, after recipes/prepare_data.py):
    .venv/bin/python recipes/compare_maskers.py --steps 900 \
        --pairs runs/data/dev/enhance.tsv runs/data/dev/enhance-8k.tsv > runs/compare.md

Runs that already have a ``model.pt`` are not trained again (delete the folder to redo one).
Prints a Markdown table: backbone, parameters, training minutes, last validation SI-SDRi, and
SI-SDRi / PESQ / STOI on each pairs list.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from puresound_cli.nets.maskers import BACKBONES
from puresound_cli.train import load_config_file

ROOT = Path(__file__).resolve().parent.parent
PURESOUND = [sys.executable, "-m", "puresound_cli"]


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_config(base: dict, backbone: str, steps: int, out: Path) -> Path:
    config = dict(base)
    config.update(
        backbone=backbone,
        out=str(out),
        max_steps=steps,
        time_budget_minutes=0,
        scheduler="cosine",
        early_stopping=0,
        tensorboard=False,
        num_workers=0,
        threads=1,
    )
    path = out.with_suffix(".toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in config.items()))
    return path


def last_validation(log: Path) -> float:
    last = float("nan")
    with open(log, newline="") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "valid":
                last = float(row["si_sdri"])
    return last


def evaluate(model: Path, pairs: Path) -> dict:
    done = subprocess.run(
        [*PURESOUND, "evaluate", "--pairs", str(pairs), "--model", str(model), "--json", "-q"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    return next(x for x in lines if "mean" in x)["mean"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=ROOT / "recipes/enhance.toml")
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs/compare")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--pairs", type=Path, nargs="+", required=True)
    args = parser.parse_args()
    base = load_config_file(args.base)
    rows = []
    for backbone in args.backbones:
        out = args.runs / backbone
        minutes = float("nan")
        if not (out / "model.pt").exists():
            config = write_config(base, backbone, args.steps, out)
            start = time.monotonic()
            subprocess.run([*PURESOUND, "train", "--config", str(config)], check=True, cwd=ROOT)
            minutes = (time.monotonic() - start) / 60
            (out / "minutes.txt").write_text(f"{minutes:.1f}\n")
        elif (out / "minutes.txt").exists():
            minutes = float((out / "minutes.txt").read_text())
        state = torch.load(out / "model.pt", map_location="cpu", weights_only=False)
        params = sum(v.numel() for v in state["state_dict"].values() if v.is_floating_point())
        scores = [evaluate(out / "model.pt", pairs) for pairs in args.pairs]
        rows.append((backbone, params, minutes, last_validation(out / "log.csv"), scores))
        print(f"# {backbone}: {rows[-1]}", file=sys.stderr, flush=True)
    head = "| backbone | params | train min | valid SI-SDRi |"
    for pairs in args.pairs:
        head += f" {pairs.name} SI-SDRi / PESQ / STOI |"
    print(head)
    print("|---|---:|---:|---:|" + "---:|" * len(args.pairs))
    for backbone, params, minutes, valid, scores in rows:
        cells = " | ".join(
            f"{s['si_sdri']:+.2f} / {s.get('pesq', float('nan')):.2f} / "
            f"{s.get('stoi', float('nan')):.3f}"
            for s in scores
        )
        print(f"| {backbone} | {params:,} | {minutes:.1f} | {valid:+.2f} | {cells} |")


if __name__ == "__main__":
    main()
