"""Paired differences between two enhancers, item by item, from ``compare_enhance.py --items`` CSVs.

On the 8 kHz dev list one enhancer's PESQ minus another's spreads from -1.6 to +0.9 per item, so
a difference of means says little without its spread: this prints, per list and per SNR, the
mean of A - B over the items both were scored on, with its standard error.

    .venv/bin/python recipes/paired_items.py runs/cmp8k-items.csv runs/new-items.csv \\
        --a at-30min --b "DeepFilterNet3 primed"

``--a`` / ``--b`` name a method by its exact name or by a part only one method's name has.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

MEASURES = ("si_sdr", "pesq", "stoi")


def read(paths: list[Path]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def method(rows: list[dict[str, str]], name: str) -> str:
    names = sorted({r["method"] for r in rows})
    if name in names:
        return name
    found = [n for n in names if name in n]
    if len(found) != 1:
        raise SystemExit(f"{name!r} names {len(found)} of the methods: {names}")
    return found[0]


def paired(rows: list[dict[str, str]], a: str, b: str) -> list[dict[str, object]]:
    """Per list and SNR (and the list as a whole, ``snr_db`` "all"): n and, per measure, the
    mean of A - B and its standard error."""
    items: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for r in rows:
        items.setdefault((r["list"], r["method"]), {})[r["input"]] = r
    out: list[dict[str, object]] = []
    for name in sorted({r["list"] for r in rows}):
        x, y = items.get((name, a), {}), items.get((name, b), {})
        both = sorted(set(x) & set(y))
        for snr in [*sorted({x[k]["snr_db"] for k in both}, key=float), "all"]:
            keys = [k for k in both if snr == "all" or x[k]["snr_db"] == snr]
            if not keys or (snr != "all" and len(keys) == len(both)):
                continue  # one SNR only: "all" says it
            row: dict[str, object] = {"list": name, "snr_db": snr, "n": len(keys)}
            for m in MEASURES:
                d = np.array([float(x[k][m]) - float(y[k][m]) for k in keys])
                se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")
                row[m] = (float(d.mean()), se)
            out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("items", type=Path, nargs="+")
    parser.add_argument("--a", required=True)
    parser.add_argument("--b", required=True)
    args = parser.parse_args()
    rows = read(args.items)
    a, b = method(rows, args.a), method(rows, args.b)
    print(f"A = {a}\nB = {b}\nA - B, mean +- standard error:")
    for row in paired(rows, a, b):
        cells = "  ".join(f"{m} {row[m][0]:+.3f} +- {row[m][1]:.3f}" for m in MEASURES)  # type: ignore[index]
        print(f"{row['list']}  SNR {row['snr_db']}  n {row['n']}  {cells}")


if __name__ == "__main__":
    main()
