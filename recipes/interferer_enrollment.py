"""Write the dev extraction list again with each mixture enrolled by its interfering speaker.

A model that really follows the enrollment must then lose the target: its SI-SDR against the
target drops far below the mixture's. One that ignores the enrollment scores the same on both
lists. So the gap between

    puresound evaluate --pairs runs/data/dev/extract.tsv --model M
    puresound evaluate --pairs runs/data/dev/extract-interferer.tsv --model M

measures how much the model uses the speaker. Only the target-present rows whose interferer is
itself the target of another dev row (and so has an enrollment file) are written. That
enrollment may share words with the interferer's part of the mixture; it only makes following it
easier.

    .venv/bin/python recipes/interferer_enrollment.py [--dev runs/data/dev]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=Path("runs/data/dev"))
    args = parser.parse_args()
    with open(args.dev / "extract.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    present = [r for r in rows if r["reference"]]
    enrollment = {r["target"]: r["enrollment"] for r in present}
    out = args.dev / "extract-interferer.tsv"
    kept = 0
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for row in present:
            if row["interferer"] in enrollment:
                writer.writerow({**row, "enrollment": enrollment[row["interferer"]]})
                kept += 1
    print(f"wrote {out}: {kept} of {len(present)} target-present mixtures")


if __name__ == "__main__":
    main()
