"""Extraction diagnostics on a dev pairs list: how much of the gap is the separator, how much the
speaker.

For every target-present row, the model is run three ways and scored (SI-SDR improvement over
the mixture, against the target):

- ``given``: with the list's enrollment (what users get);
- ``oracle``: enrolled with the clean target itself, a perfect embedding: what the separator can
  do when the speaker side is solved;
- ``interferer``: enrolled with the other talker (mixture minus target, the interferer as heard
  in the mixture): a model that follows its enrollment must lose the target here.

Target-absent rows (empty reference) give the output level relative to the mixture (lower is
better; the goal is -20 dB).

With ``--vad VAD.pt`` every output is gated by the personal VAD as ``extract --vad`` does (the
VAD enrolled with the same recording as the extractor).

    .venv/bin/python recipes/diagnostics.py --pairs runs/data/dev/extract.tsv \
        [--model extract-convtasnet-16k] [--vad runs/vad/model.pt] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from puresound_cli import extract, load_model
from puresound_cli.enrollment import embed_recording
from puresound_cli.evaluate import level_db, si_sdr_db
from puresound_cli.vad import frame_probabilities, sample_gate


def mono(path: Path) -> tuple[np.ndarray, int]:
    wav, rate = sf.read(path, dtype="float32", always_2d=True)
    return wav.mean(axis=1), rate


def sdr(est: np.ndarray, ref: np.ndarray) -> float:
    n = min(est.size, ref.size)
    return si_sdr_db(est[:n], ref[:n])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--model", default="extract-convtasnet-16k")
    parser.add_argument("--vad", default=None, help="a personal VAD checkpoint gating outputs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    model = load_model(args.model)
    vad = load_model(args.vad) if args.vad else None

    def run(mixture: np.ndarray, enroll: np.ndarray, rate: int, enroll_rate: int) -> np.ndarray:
        out = extract(model, mixture, enroll, rate, enrollment_rate=enroll_rate).numpy()
        if vad is None:
            return out
        embedding = embed_recording(vad, enroll, enroll_rate)
        probs = frame_probabilities(vad, mixture, rate, embedding)
        return out * sample_gate(probs, vad.hop / vad.sample_rate, rate, out.shape[-1])

    with open(args.pairs, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    gains: dict[str, list[float]] = {"given": [], "oracle": [], "interferer": []}
    groups: dict[str, list[float]] = {}  # "given" by source (librispeech, asterisk, arctic)
    absent: list[float] = []
    for row in rows:
        mixture, rate = mono(args.pairs.parent / row["input"])
        enroll, enroll_rate = mono(args.pairs.parent / row["enrollment"])
        if not row["reference"]:
            out = run(mixture, enroll, rate, enroll_rate)
            absent.append(level_db(out, mixture))
            continue
        target, _ = mono(args.pairs.parent / row["reference"])
        n = min(target.size, mixture.size)
        base = sdr(mixture, target)
        enrollments = {
            "given": (enroll, enroll_rate),
            "oracle": (target, rate),
            "interferer": (mixture[:n] - target[:n], rate),
        }
        for name, (wav, wav_rate) in enrollments.items():
            out = run(mixture, wav, rate, wav_rate)
            gains[name].append(sdr(out, target) - base)
        source = row.get("target", "").split("-")[0] or "all"
        groups.setdefault(source, []).append(gains["given"][-1])
    summary: dict[str, object] = {name: float(np.mean(v)) for name, v in gains.items() if v}
    summary["given_by_source"] = {k: [float(np.mean(v)), len(v)] for k, v in sorted(groups.items())}
    summary["absent_db"] = float(np.mean(absent)) if absent else float("nan")
    summary["items"] = len(gains["given"])
    summary["absent_items"] = len(absent)
    print(f"{args.pairs} with {args.model}" + (f", gated by {args.vad}:" if vad else ":"))
    print(
        f"  SI-SDRi given {summary['given']:+.2f} dB, oracle {summary['oracle']:+.2f} dB, "
        f"interferer {summary['interferer']:+.2f} dB ({summary['items']} items); "
        f"target absent {summary['absent_db']:.1f} dB ({len(absent)} items)"
    )
    print("  given by source: " + ", ".join(f"{k} {np.mean(v):+.2f} dB ({len(v)})" for k, v in
                                             sorted(groups.items())))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
