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

``--otsu`` also tries a per-recording rule: each recording's open threshold is raised to its
scores' Otsu split plus an offset (the grid's offsets) where that is higher, the close
threshold following at the same gap; ``--dev DUMP --dev-list LIST`` reports the pick's shares
on a second dump (the dev conversations), chosen on the first alone.

``--rescue-others SHARE`` also picks the level rescue's cosine (``TrackConfig.rescue_cosine``):
the lowest (every 0.01) above which at most SHARE of the others-only windows and of the
target-absent conversations' windows score, with the share of each class above it.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from pathlib import Path

import numpy as np

from puresound_cli.tracking import TrackConfig, decide

OTSU_OFFSETS = (-0.08, -0.05, -0.03, 0.0, 0.02)


def otsu(values: np.ndarray, bins: int = 64) -> float:
    """The split of ``values`` that maximises the between-class variance of a histogram."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    best, split = -1.0, float(np.median(values))
    for i in range(1, bins):
        low, high = counts[:i].sum(), counts[i:].sum()
        if low == 0 or high == 0:
            continue
        gap = (counts[:i] @ centres[:i]) / low - (counts[i:] @ centres[i:]) / high
        if low * high * gap**2 > best:
            best, split = float(low * high * gap**2), float(edges[i])
    return split


def open_shares(
    scores: np.ndarray, rows: list[dict], config: TrackConfig, offset: float | None = None
) -> dict[str, float]:
    """Share of windows open per class; ``offset``: the per-recording Otsu rule (module doc)."""
    counts = {k: [0, 0] for k in ("target", "others", "both", "absent")}
    gap = config.open_cosine - config.close_cosine
    for i, row in enumerate(rows):
        mine = scores[2] == i
        mine_config = config
        if offset is not None:
            raised = max(config.open_cosine, otsu(scores[0][mine]) + offset)
            mine_config = replace(config, open_cosine=raised, close_cosine=raised - gap)
        talking = decide(scores[0][mine], mine_config)
        label = scores[1][mine].astype(int)
        if not row["reference"]:
            counts["absent"][0] += int(talking.sum())
            counts["absent"][1] += talking.size
            continue
        for name, code in (("target", 1), ("others", 2), ("both", 3)):
            counts[name][0] += int(talking[label == code].sum())
            counts[name][1] += int(np.sum(label == code))
    return {k: v[0] / max(1, v[1]) for k, v in counts.items()}


def pick(
    scores: np.ndarray,
    rows: list[dict],
    keep: float,
    keep_overlap: float,
    low_percentile: float = 5.0,
    gaps: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1),
    offsets: tuple[float | None, ...] = (None,),
) -> tuple[TrackConfig, dict[str, float], float | None] | None:
    """The (open, close) pair of the grid (open cosines every 0.01 from the scores'
    ``low_percentile`` to their 99.5th, close ``gaps`` below) and per-recording Otsu offset that
    leaves the fewest others' windows open while at least ``keep`` of the target's windows and
    ``keep_overlap`` of its overlapped ones stay open: (config, shares, offset), or None."""
    low, high = np.percentile(scores[0], [low_percentile, 99.5])
    best = None
    for open_cosine in np.arange(round(low, 2), round(high, 2), 0.01):
        for gap in gaps:
            config = replace(TrackConfig(), open_cosine=float(open_cosine),
                             close_cosine=float(open_cosine - gap))  # fmt: skip
            for offset in offsets:
                shares = open_shares(scores, rows, config, offset)
                fits = shares["target"] >= keep and shares["both"] >= keep_overlap
                if fits and (best is None or shares["others"] < best[1]["others"]):
                    best = (config, shares, offset)
    return best


def sure_shares(scores: np.ndarray, rows: list[dict], cosine: float) -> dict[str, float]:
    """Share of windows scoring at least ``cosine`` per class (as :func:`open_shares`)."""
    absent = np.isin(scores[2], [i for i, r in enumerate(rows) if not r["reference"]])
    above, label = scores[0] >= cosine, scores[1].astype(int)
    classes = {"target": ~absent & (label == 1), "others": ~absent & (label == 2),
               "both": ~absent & (label == 3), "absent": absent}  # fmt: skip
    return {k: float(above[m].sum() / max(1, m.sum())) for k, m in classes.items()}


def rescue_pick(
    scores: np.ndarray, rows: list[dict], others: float
) -> tuple[float, dict[str, float]]:
    """The lowest cosine (every 0.01 up to 1) with at most ``others`` of the others-only and of
    the target-absent windows at or above it, and every class's share there."""
    for cosine in np.arange(round(float(scores[0].min()), 2), 1.0, 0.01):
        shares = sure_shares(scores, rows, float(cosine))
        if shares["others"] <= others and shares["absent"] <= others:
            return round(float(cosine), 2), shares
    return 1.0, sure_shares(scores, rows, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", type=Path)
    parser.add_argument("--list", type=Path, required=True)
    parser.add_argument("--keep", type=float, default=0.95)
    parser.add_argument("--keep-overlap", type=float, default=0.9)
    parser.add_argument("--otsu", action="store_true", help="also try the per-recording rule")
    parser.add_argument("--dev", type=Path, default=None, help="a second dump to report on")
    parser.add_argument("--dev-list", type=Path, default=None)
    parser.add_argument("--rescue-others", type=float, default=None, help="module doc")
    args = parser.parse_args()
    if (args.dev is None) != (args.dev_list is None):
        parser.error("--dev and --dev-list go together")
    scores = np.load(args.dump)["scores"]
    rows = read_rows(args.list)
    offsets = (None, *OTSU_OFFSETS) if args.otsu else (None,)
    best = pick(scores, rows, args.keep, args.keep_overlap, offsets=offsets)
    if best is None:
        raise SystemExit(f"no threshold keeps {args.keep:.0%} of the target's windows")
    config, shares, offset = best
    rule = "" if offset is None else f", per recording Otsu {offset:+.2f}"
    print(f"open {config.open_cosine:.2f} close {config.close_cosine:.2f}{rule}: {report(shares)}")
    if args.dev is not None:
        dev = open_shares(np.load(args.dev)["scores"], read_rows(args.dev_list), config, offset)
        print(f"dev: {report(dev)}")
    if args.rescue_others is not None:
        cosine, sure = rescue_pick(scores, rows, args.rescue_others)
        print(f"rescue {cosine:.2f}: share at or above " + report(sure).removeprefix("open share "))
        if args.dev is not None:
            dev_sure = sure_shares(np.load(args.dev)["scores"], read_rows(args.dev_list), cosine)
            print("dev: share at or above " + report(dev_sure).removeprefix("open share "))


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def report(shares: dict[str, float]) -> str:
    return "open share " + ", ".join(f"{k} {v:.3f}" for k, v in shares.items())


if __name__ == "__main__":
    main()
