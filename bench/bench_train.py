"""Training throughput: examples per second of full training steps on this machine.

One step = dynamic mixing of a batch (in the training process) + forward + SI-SDR and AAM-softmax
losses + backward + gradient clipping + AdamW, as in ``puresound_cli.train.train``. Speech is
synthetic (the numbers do not depend on the voices), segments are 4 s at 16 kHz.

Usage:
    .venv/bin/python bench/bench_train.py [--sizes small seed] [--tasks extract enhance]
        [--batch-size 4] [--steps 3] [--threads N]
Prints one markdown table row per (task, size).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import synth_voice  # noqa: E402

from puresound_cli import data as D  # noqa: E402
from puresound_cli.losses import AAMSoftmax  # noqa: E402
from puresound_cli.nets import build, count_parameters  # noqa: E402
from puresound_cli.train import Objective, TrainConfig, model_spec  # noqa: E402

SR = 16000


def make_speech(root: Path) -> Path:
    rows = ["path\tspeaker\tpassage"]
    for s in range(8):
        for u in range(2):
            rel = f"s{s}/{u}.wav"
            (root / f"s{s}").mkdir(parents=True, exist_ok=True)
            sf.write(root / rel, synth_voice(8.0, 90 + 25 * s, seed=10 * s + u), SR)
            rows.append(f"{rel}\ts{s}\tp{s}{u}")
    (root / "speakers.tsv").write_text("\n".join(rows) + "\n")
    return root


def bench(task: str, size: str, speech: Path, batch_size: int, steps: int) -> dict:
    config = TrainConfig(task=task, speech_dirs=(str(speech),), size=size, segment_seconds=4.0)
    arch, arch_config = model_spec(config)
    model = build(arch, arch_config)
    bank = D.load_speech([speech], SR)
    mixer = D.DynamicMixer(bank, [], D.MixConfig(task=task, segment_seconds=4.0), seed=0)
    stream = D.BatchStream(mixer, batch_size)
    speaker_loss = None
    if task == "extract":
        with torch.no_grad():
            dim = model.embed(torch.zeros(1, 1, SR)).shape[-1]
        speaker_loss = AAMSoftmax(dim, len(bank.speakers))
    objective = Objective(model, speaker_loss).train()
    optimizer = torch.optim.AdamW(objective.parameters(), lr=1e-3)
    times = []
    for step in range(steps + 1):  # the first step warms up
        t0 = time.perf_counter()
        batch = stream.batch(step)
        loss, _ = objective(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(objective.parameters(), 5.0)
        optimizer.step()
        times.append(time.perf_counter() - t0)
    per_step = float(np.median(times[1:]))
    return {
        "task": task,
        "size": size,
        "params": count_parameters(model),
        "step_s": per_step,
        "examples_per_s": batch_size / per_step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "seed"])
    parser.add_argument("--tasks", nargs="+", default=["extract", "enhance"])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} torch threads, torch {torch.__version__}, batch {args.batch_size}, "
        f"4 s segments, median of {args.steps} steps"
    )
    print("| task | size | params | s/step | examples/s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        speech = make_speech(Path(tmp))
        for task in args.tasks:
            for size in args.sizes:
                r = bench(task, size, speech, args.batch_size, args.steps)
                print(
                    f"| {r['task']} | {r['size']} | {r['params'] / 1e6:.2f} M | "
                    f"{r['step_s']:.2f} | {r['examples_per_s']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
