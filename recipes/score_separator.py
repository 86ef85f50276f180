"""Score two-talker separators (``train --task separate``) on dev lists: a learning curve per run.

For every run folder, each snapshot ``at-{M}min.pt`` (``TrainConfig.snapshot_minutes``) and the
release ``model.pt`` are run on the mixtures of each pairs list; the output closer to the
reference (permutation-invariant: the better of the two SI-SDRs) is scored as SI-SDR
improvement over the mixture, at the list's own sample rate (the model's output is resampled
back, so an 8 kHz model pays for the band it does not produce). The table gives, per run and
snapshot, the training steps and examples by then, the mean SI-SDRi on each list (and per voice
source where the list has a ``target`` column naming several: ``list:asterisk`` ...), and for
each run the GFLOP per second of audio and the real-time factor of one forward pass (one
thread).

Usage::

    .venv/bin/python recipes/score_separator.py runs/study/tcn runs/study/sudormrf \\
        --list runs/data/dev/extract.tsv runs/data/debian/dev/extract-other-recording.tsv \\
        --csv runs/study/scores.csv
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from pathlib import Path

import numpy as np
import torch

from puresound_cli import audio
from puresound_cli.checkpoint import load_checkpoint, load_separation_model
from puresound_cli.losses import si_sdr
from puresound_cli.nets import flops_per_second
from puresound_cli.pairs import read_pairs


def snapshots(run: Path) -> list[tuple[float | None, Path]]:
    """(minutes, file) of a run's snapshots in time order, then ``model.pt`` (minutes None)."""
    found = []
    for path in run.glob("at-*min.pt"):
        match = re.fullmatch(r"at-([0-9.]+)min\.pt", path.name)
        if match:
            found.append((float(match[1]), path))
    found.sort()
    release: list[tuple[float | None, Path]] = []
    if (run / "model.pt").is_file():
        release.append((None, run / "model.pt"))
    return [*found, *release]


def voice_groups(path: Path) -> dict[str, list[int]]:
    """Row indices (among rows with a reference) per voice source, from the list's ``target``
    column (the part before the first "-": ``asterisk-June`` -> asterisk); {} without one."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or "target" not in rows[0]:
        return {}
    groups: dict[str, list[int]] = {}
    kept = [r for r in rows if r.get("reference")]
    for i, row in enumerate(kept):
        groups.setdefault(row["target"].split("-")[0], []).append(i)
    return groups if len(groups) > 1 else {}


def load_list(path: Path) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(mixture, reference, rate) of every item of a pairs list (mono)."""
    items = []
    for pair in read_pairs(path, "extract"):
        if pair.reference is None:  # a target-absent row: nothing to separate
            continue
        mix, rate, _ = audio.read_audio(pair.input)
        ref, ref_rate, _ = audio.read_audio(pair.reference)
        if ref_rate != rate:
            ref = audio.resample(ref, ref_rate, rate)
        n = min(mix.shape[1], ref.shape[1])
        items.append((mix.mean(axis=0)[:n], ref.mean(axis=0)[:n], rate))
    return items


def pit_si_sdri(
    model: torch.nn.Module, items: list[tuple[np.ndarray, np.ndarray, int]]
) -> list[float]:
    """Per item: the better output's SI-SDR minus the mixture's (dB)."""
    gains = []
    for mix, ref, rate in items:
        x = audio.resample(mix[None], rate, model.sample_rate)
        with torch.inference_mode():
            out = model(torch.from_numpy(np.ascontiguousarray(x))[None])[0].numpy()  # (S, T')
        est = audio.resample(out, model.sample_rate, rate)[:, : ref.size]
        ref_t = torch.from_numpy(ref[None, None, : est.shape[1]])
        scores = [float(si_sdr(torch.from_numpy(e[None, None]), ref_t)) for e in est]
        base = float(si_sdr(torch.from_numpy(mix[None, None, : est.shape[1]]), ref_t))
        gains.append(max(scores) - base)
    return gains


def speed(model: torch.nn.Module) -> tuple[float, float]:
    """(GFLOP per second of audio, real-time factor of one forward pass on 10 s, one thread)."""
    x = torch.randn(1, 1, 10 * model.sample_rate) * 0.1
    with torch.inference_mode():
        model(x[..., : model.sample_rate])
        start = time.perf_counter()
        model(x)
        rtf = (time.perf_counter() - start) / 10
    return flops_per_second(model) / 1e9, rtf


def examples_per_second(run: Path) -> float:
    """Mean training speed from the run's log.csv."""
    with open(run / "log.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["kind"] == "train" and r["examples_per_s"]]
    return float(np.mean([float(r["examples_per_s"]) for r in rows])) if rows else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--list", type=Path, nargs="+", required=True, dest="lists")
    parser.add_argument("--csv", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lists = {p.stem: load_list(p) for p in args.lists}
    groups = {p.stem: voice_groups(p) for p in args.lists}
    columns = [name for name in lists]
    columns += [f"{name}:{g}" for name in lists for g in groups[name]]
    header = ["run", "minutes", "steps", "examples", *columns, "examples_per_s", "gflop_s", "rtf"]
    rows = []
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for run in args.runs:
        rate = examples_per_second(run)
        gflop = rtf = float("nan")
        for minutes, path in snapshots(run):
            meta = load_checkpoint(path)["meta"]
            model = load_separation_model(path).eval()
            if np.isnan(rtf):
                gflop, rtf = speed(model)
            steps = int(meta.get("step", 0))
            batch = int(meta.get("train_config", {}).get("batch_size", 0))
            label = f"{minutes:g}" if minutes is not None else "final"
            row = [run.name, label, steps, steps * batch]
            scores = {name: pit_si_sdri(model, items) for name, items in lists.items()}
            row += [round(float(np.mean(v)), 2) for v in scores.values()]
            row += [round(float(np.mean([scores[name][i] for i in index])), 2)
                    for name in lists for index in groups[name].values()]  # fmt: skip
            row += [round(rate, 2), round(gflop, 3), round(rtf, 4)]
            rows.append(row)
            print("| " + " | ".join(str(v) for v in row) + " |", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)


if __name__ == "__main__":
    main()
