"""Output level of a model over pairs lists: does the level jump at another sample rate?

Usage (from the repo root):
    .venv/bin/python recipes/level_check.py --model runs/enhance/model.pt \
        runs/data/dev/enhance.tsv runs/data/dev/enhance-8k.tsv
    .venv/bin/python recipes/level_check.py --model runs/extract/model.pt runs/data/dev/extract.tsv

For each list: the sample rate(s) of its inputs, the mean and spread of the output level relative
to the clean reference (dB; a model that keeps speech at its level sits near 0 dB), and the
largest jump in level between consecutive 1 s windows of output relative to the same windows of
the reference (dB). Items of the two enhance lists are the same speech, so their figures should
agree. Extraction lists use their enrollment column; target-absent rows (no reference) are skipped.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from puresound_cli.api import enhance, extract
from puresound_cli.audio import read_audio
from puresound_cli.checkpoint import load_model


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("lists", nargs="+", type=Path)
    args = parser.parse_args()
    model = load_model(args.model)
    for tsv in args.lists:
        with open(tsv, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        rates, levels, jumps = set(), [], []
        rows = [row for row in rows if row["reference"]]
        for row in rows:
            noisy, rate, _ = read_audio(tsv.parent / row["input"])
            ref, _, _ = read_audio(tsv.parent / row["reference"])
            if model.task == "extract":
                enroll, enroll_rate, _ = read_audio(tsv.parent / row["enrollment"])
                out = extract(model, noisy[0], enroll, rate, enrollment_rate=enroll_rate).numpy()
            else:
                out = enhance(model, noisy[0], rate).numpy()
            rates.add(rate)
            levels.append(db(out) - db(ref[0]))
            win = rate
            rel = [
                db(out[i : i + win]) - db(ref[0][i : i + win])
                for i in range(0, len(out) - win + 1, win)
                if db(ref[0][i : i + win]) > -50
            ]
            if len(rel) > 1:
                jumps.append(float(np.max(np.abs(np.diff(rel)))))
        steps = np.array(jumps or [0.0])
        print(
            f"{tsv.name}: {len(rows)} items at {sorted(rates)} Hz; output - reference level "
            f"{np.mean(levels):+.2f} dB (sd {np.std(levels):.2f}); largest 1 s level step "
            f"{steps.max():.2f} dB (median {np.median(steps):.2f})"
        )


if __name__ == "__main__":
    main()
