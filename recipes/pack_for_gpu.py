"""Pack a training view to travel to a remote GPU machine: mono Ogg Vorbis at the model rate.

The speech folders' labels are kept (one ``speakers.tsv`` with path, speaker, passage) and the
noise folders' files are packed beside them, so the packed folders train exactly like the
originals (``--speech PACK/speech --noise PACK/noise``). recipes/README.md ("Training on a
remote GPU") has the whole procedure.

Usage:
    .venv/bin/python recipes/pack_for_gpu.py --speech runs/data/train-speech \
        --noise runs/data/train-noise --out gpu/data [--rate 16000] [--quality 0.4]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import soundfile as sf

from puresound_cli.audio import read_mono
from puresound_cli.data import DataReport, audio_files_below, scan_speech


def pack(path: Path, dest: Path, rate: int, quality: float) -> bool:
    try:
        wav = read_mono(path, rate)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dest, wav, rate, format="OGG", subtype="VORBIS", compression_level=quality)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speech", type=Path, nargs="+", required=True)
    parser.add_argument("--noise", type=Path, nargs="*", default=[])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--quality", type=float, default=0.4, help="Vorbis compression 0..1")
    args = parser.parse_args()
    report = DataReport()
    rows = []
    for i, utt in enumerate(scan_speech(args.speech, report)):
        rel = Path(utt.speaker) / f"{i:06d}.ogg"
        if pack(utt.path, args.out / "speech" / rel, args.rate, args.quality):
            rows.append((str(rel), utt.speaker, utt.passage))
    with open(args.out / "speech" / "speakers.tsv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(("path", "speaker", "passage"))
        writer.writerows(rows)
    noises = [p for folder in args.noise for p in audio_files_below(folder)]
    packed = sum(
        pack(p, args.out / "noise" / f"{i:05d}.ogg", args.rate, args.quality)
        for i, p in enumerate(noises)
    )
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{len(rows)} speech files, {packed} noise files, {size / 1e6:.1f} MB in {args.out}")


if __name__ == "__main__":
    main()
