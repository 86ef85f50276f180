"""Real room impulse responses from itsmusician/IR-Library (MIT): its Rooms, Outdoors and
Enclosed Spaces folders as a training RIR folder, every fifth held out for dev.

Each response is mixed to mono, resampled to 16 kHz, started 2 ms before its direct-path peak,
cut to 2 s and written as 32-bit float WAV; files that do not decode are skipped and counted.

Usage (from the repo root; the library is a plain git clone, fetched once by the developer):
    git clone https://github.com/itsmusician/IR-Library runs/IR-Library
    .venv/bin/python recipes/room_irs.py --source runs/IR-Library --out runs/data/rirs
    puresound train ... --reverb-prob 0.3   # with rir_dirs = ["runs/data/rirs/train"] in the TOML
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from puresound_cli.audio import read_audio, resample

FOLDERS = ("Rooms", "Outdoors", "Enclosed Spaces")
SR = 16000
MAX_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="a clone of IR-Library")
    parser.add_argument("--out", type=Path, default=Path("runs/data/rirs"))
    args = parser.parse_args()
    paths = sorted(p for f in FOLDERS for p in (args.source / f).rglob("*.wav"))
    kept: dict[str, list[str]] = {"train": [], "dev": []}
    skipped = 0
    for i, path in enumerate(paths):
        try:
            wav, rate, _ = read_audio(path)
        except Exception:  # noqa: BLE001 - undecodable or empty: counted, left out
            skipped += 1
            continue
        mono = resample(wav.mean(axis=0, keepdims=True), rate, SR)[0]
        peak = int(np.argmax(np.abs(mono)))
        start = max(0, peak - int(0.002 * SR))
        rir = mono[start : start + int(MAX_SECONDS * SR)]
        if not np.isfinite(rir).all() or np.abs(rir).max() == 0:
            skipped += 1
            continue
        part = "dev" if i % 5 == 4 else "train"
        name = path.relative_to(args.source).as_posix().replace("/", "_").replace(" ", "-")
        dest = args.out / part / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dest, rir / np.abs(rir).max(), SR, subtype="FLOAT")
        kept[part].append(name)
    sources = {"itsmusician/IR-Library": {"licence": "MIT", "folders": FOLDERS, "files": kept}}
    (args.out / "sources.json").write_text(json.dumps(sources, indent=2) + "\n")
    print(f"train {len(kept['train'])}, dev {len(kept['dev'])} impulse responses; "
          f"{skipped} skipped")  # fmt: skip


if __name__ == "__main__":
    main()
