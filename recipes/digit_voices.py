"""Six more real voices from the free-spoken-digit-dataset (Jakobovski, CC BY-SA 4.0): 500
spoken digits per speaker at 8 kHz, joined into utterances long enough to train on.

A digit lasts about half a second, under the one second training files need, so each speaker's
recordings are joined, in a seeded random order with 0.15 s of silence between them, into
files of eight digits (about 4-5 s). A file's passage id is its digit sequence, so two files
saying the same digits are never target and interferer. Speaker ``theo`` is held out for dev.

Usage (from the repo root; the data set is a plain git clone, fetched once by the developer):
    git clone https://github.com/Jakobovski/free-spoken-digit-dataset runs/fsdd
    .venv/bin/python recipes/digit_voices.py --source runs/fsdd --out runs/data/fsdd
    puresound train ... --speech runs/data/train-speech runs/data/fsdd/speech

Writes OUT/speech/<speaker>/*.wav with OUT/speech/speakers.tsv (training speakers), and
OUT/dev/<speaker>/*.wav with OUT/dev/speakers.tsv (held out).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import soundfile as sf

HELD_OUT = {"theo"}
PER_FILE = 8
GAP_SECONDS = 0.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="a clone of the data set")
    parser.add_argument("--out", type=Path, default=Path("runs/data/fsdd"))
    args = parser.parse_args()
    by_speaker: dict[str, list[Path]] = {}
    for path in sorted((args.source / "recordings").glob("*.wav")):
        digit, speaker, _ = path.stem.split("_")
        by_speaker.setdefault(speaker, []).append(path)
    rng = np.random.default_rng(0)
    rows: dict[str, list[list[str]]] = {"speech": [], "dev": []}
    for speaker, paths in sorted(by_speaker.items()):
        part = "dev" if speaker in HELD_OUT else "speech"
        order = rng.permutation(len(paths))
        for k in range(0, len(order) - PER_FILE + 1, PER_FILE):
            chosen = [paths[i] for i in order[k : k + PER_FILE]]
            pieces, rate = [], 8000
            for path in chosen:
                wav, rate = sf.read(path, dtype="float32", always_2d=True)
                pieces += [wav.mean(axis=1), np.zeros(int(GAP_SECONDS * rate), np.float32)]
            digits = "".join(p.stem.split("_")[0] for p in chosen)
            rel = f"{speaker}/{speaker}-{k // PER_FILE:03d}.wav"
            (args.out / part / speaker).mkdir(parents=True, exist_ok=True)
            sf.write(args.out / part / rel, np.concatenate(pieces), rate)
            rows[part].append([rel, f"fsdd-{speaker}", f"digits-{digits}"])
    for part, table in rows.items():
        with open(args.out / part / "speakers.tsv", "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(["path", "speaker", "passage"])
            writer.writerows(table)
        print(f"{part}: {len(table)} files of {PER_FILE} digits in {args.out / part}")


if __name__ == "__main__":
    main()
