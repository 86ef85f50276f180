"""Choose the tracker's thresholds on the calibration conversations (training voices only).

Reads the window scores that ``recipes/score_conversations.py --dump`` kept (each with its frame
label: nobody, target only, others only, both) and, for every (open, close) pair on a grid,
the share of windows the gate leaves open in each class and in target-absent conversations.
The pick: the pair that closes the most others-only windows while keeping at least --keep of
the target-only windows and --keep-overlap of the windows where the target overlaps another
talker open.

    .venv/bin/python recipes/score_conversations.py --open 0 --close -1 \\
        --list runs/data/conversations-calib/conversations.tsv --dump runs/conv/calib.npz
    .venv/bin/python recipes/calibrate_tracker.py runs/conv/calib.npz \\
        --list runs/data/conversations-calib/conversations.tsv
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from pathlib import Path

import numpy as np

from puresound_cli.tracking import TrackConfig, decide


def open_shares(scores: np.ndarray, rows: list[dict], config: TrackConfig) -> dict[str, float]:
    counts = {k: [0, 0] for k in ("target", "others", "both", "absent")}
    for i, row in enumerate(rows):
        mine = scores[2] == i
        talking = decide(scores[0][mine], config)
        label = scores[1][mine].astype(int)
        if not row["reference"]:
            counts["absent"][0] += int(talking.sum())
            counts["absent"][1] += talking.size
            continue
        for name, code in (("target", 1), ("others", 2), ("both", 3)):
            counts[name][0] += int(talking[label == code].sum())
            counts[name][1] += int(np.sum(label == code))
    return {k: v[0] / max(1, v[1]) for k, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", type=Path)
    parser.add_argument("--list", type=Path, required=True)
    parser.add_argument("--keep", type=float, default=0.95)
    parser.add_argument("--keep-overlap", type=float, default=0.9)
    args = parser.parse_args()
    scores = np.load(args.dump)["scores"]
    with open(args.list, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    low, high = np.percentile(scores[0], [5, 99.5])
    best = None
    for open_cosine in np.arange(round(low, 2), round(high, 2), 0.01):
        for gap in (0.0, 0.02, 0.05, 0.1):
            config = replace(TrackConfig(), open_cosine=float(open_cosine),
                             close_cosine=float(open_cosine - gap))  # fmt: skip
            shares = open_shares(scores, rows, config)
            fits = shares["target"] >= args.keep and shares["both"] >= args.keep_overlap
            if fits and (best is None or shares["others"] < best[1]["others"]):
                best = (config, shares)
    if best is None:
        raise SystemExit(f"no threshold keeps {args.keep:.0%} of the target's windows")
    config, shares = best
    print(f"open {config.open_cosine:.2f} close {config.close_cosine:.2f}: open share target "
          f"{shares['target']:.3f}, both {shares['both']:.3f}, others {shares['others']:.3f}, "
          f"absent {shares['absent']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
