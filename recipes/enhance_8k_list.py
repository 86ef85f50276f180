"""A larger 8 kHz enhancement list, for comparisons the dev set's 36 items are too few to settle.

The dev set's 8 kHz list (``recipes/prepare_data.py``: ``dev/enhance-8k.tsv``) holds one noisy
version of each of its 36 held-out utterances, all at 5 dB. Per item, PESQ differences between two
good enhancers spread widely (-1.6 to +0.9 between ours and DeepFilterNet3), so a mean difference
of a few hundredths is well inside the list's standard error. This list mixes the same held-out
utterances (the clean references of ``dev/enhance.tsv``) with the same held-out real noise files
(``heldout.json``), ``--draws`` times each at SNRs cycling through 0, 5 and 10 dB, each draw a
new noise file and crop, then resamples to 8 kHz, as the dev list does (the SNR is set at 16 kHz,
as there). Deterministic (``--seed``).

    .venv/bin/python recipes/enhance_8k_list.py --data runs/data --out runs/data/dev8k-large
    .venv/bin/python bench/compare_enhance.py runs/data/dev8k-large/enhance-8k.tsv \
        --models enhance-unet-16k --items runs/dev8k-large-items.csv
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from prepare_data import SR, fit, read, rms, write_item

from puresound_cli.audio import resample

SNRS = (0, 5, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("runs/data"), help="prepare_data's --out")
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--out", type=Path, default=Path("runs/data/dev8k-large"))
    parser.add_argument("--draws", type=int, default=4, help="noisy versions per utterance")
    parser.add_argument("--seed", type=int, default=8000)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    dev = args.data / "dev"
    with open(dev / "enhance.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["snr_db"] == "5"]
    held = json.loads((args.data / "heldout.json").read_text())
    noise_paths = [args.corpus / p for p in held["noise_files"]]
    noises = [read(p) for p in noise_paths]
    args.out.mkdir(parents=True, exist_ok=True)
    table: list[list[str]] = []
    for i, row in enumerate(rows):
        clean = read(dev / row["reference"])
        for d in range(args.draws):
            snr = SNRS[(i + d) % len(SNRS)]
            k = int(rng.integers(0, len(noises)))
            noise = fit(noises[k], clean.size, rng)
            noise = noise * rms(clean) / rms(noise) / 10 ** (snr / 20)
            signals = {"noisy": clean + noise, "ref": clean}
            signals = {key: resample(s[None], SR, 8000)[0] for key, s in signals.items()}
            paths = write_item(args.out, f"e8k{i:02d}-{d}-{snr}db", signals, sr=8000)
            table.append([paths["noisy"], paths["ref"], row["speaker"], noise_paths[k].name,
                          str(snr)])  # fmt: skip
    with open(args.out / "enhance-8k.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["input", "reference", "speaker", "noise", "snr_db"])
        w.writerows(table)
    print(f"wrote {len(table)} items to {args.out / 'enhance-8k.tsv'}")


if __name__ == "__main__":
    main()
