"""Group `puresound evaluate --json` scores of the extraction dev set, as in the model card.

Usage (from the repo root):
    .venv/bin/puresound evaluate --pairs runs/data/dev/extract.tsv --model M --json > scores.jsonl
    .venv/bin/python recipes/dev_summary.py runs/data/dev/extract.tsv scores.jsonl

Joins each scored item to its row of the pairs list (the `target` and `sir_db` columns written
by recipes/prepare_data.py) and prints one line per group: LibriSpeech, Asterisk or CMU ARCTIC
target, signal-to-interference below or above 0 dB, all; then the target-absent items' output
level relative to the mixture.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

# a target's voice source from its name (the rest: CMU ARCTIC voices, named "aew" or "arctic-aew")
SOURCES = (("librispeech", "LibriSpeech"), ("asterisk", "Asterisk"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("scores", type=Path)
    args = parser.parse_args()
    with open(args.pairs, newline="") as f:
        rows = {
            (args.pairs.parent / r["input"]).resolve(): r for r in csv.DictReader(f, delimiter="\t")
        }
    with open(args.scores) as f:
        items = [json.loads(line) for line in f if line.startswith('{"input"')]
    groups: dict[str, list[dict]] = {}
    absent: list[float] = []
    for item in items:
        row = rows[Path(item["input"]).resolve()]
        if item.get("absent_db") is not None:
            absent.append(item["absent_db"])
            continue
        corpus = next((name for prefix, name in SOURCES if row["target"].startswith(prefix)),
                      "CMU ARCTIC")  # fmt: skip
        sir = "SIR < 0 dB" if float(row["sir_db"]) < 0 else "SIR >= 0 dB"
        for group in (corpus, sir, "all"):
            groups.setdefault(group, []).append(item)
    for group in ("LibriSpeech", "Asterisk", "CMU ARCTIC", "SIR < 0 dB", "SIR >= 0 dB", "all"):
        scored = groups.get(group, [])
        if not scored:
            continue

        def mean(key: str, scored: list[dict] = scored) -> float:
            values = [i[key] for i in scored if i.get(key) is not None]
            return statistics.mean(values) if values else float("nan")

        median = statistics.median(i["si_sdri"] for i in scored)
        print(
            f"{group:12s} {len(scored):3d} items  SI-SDR {mean('si_sdr_input'):6.2f} -> "
            f"{mean('si_sdr'):6.2f} dB  SI-SDRi {mean('si_sdri'):+.2f} dB (median {median:+.2f})  "
            f"PESQ {mean('pesq_input'):.2f} -> {mean('pesq'):.2f}  "
            f"STOI {mean('stoi_input'):.3f} -> {mean('stoi'):.3f}"
        )
    if absent:
        print(
            f"target absent {len(absent)} items: output {statistics.mean(absent):.2f} dB "
            f"re mixture (median {statistics.median(absent):.2f}, "
            f"from {min(absent):.2f} to {max(absent):.2f})"
        )


if __name__ == "__main__":
    main()
