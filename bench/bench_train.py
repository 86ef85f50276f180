"""Training throughput: examples per second of full training steps, and where the time goes.

One step = dynamic mixing of a batch (in this process, as with ``num_workers = 0``; the share it
takes is printed, so the gain from DataLoader workers can be read off) + forward + SI-SDR and
AAM-softmax losses + backward + gradient clipping + AdamW, as in ``puresound_cli.train.train``.
Speech is synthetic (the numbers do not depend on the voices).

Usage:
    .venv/bin/python bench/bench_train.py [--device cpu|cuda] [--sizes small seed]
        [--tasks extract enhance] [--batch-size 8] [--segment 3] [--steps 3] [--amp off|bf16]
        [--profile]
Prints one markdown table row per (task, size); ``--profile`` adds torch.profiler's top ops.
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
from puresound_cli.nets import count_parameters  # noqa: E402
from puresound_cli.train import TrainConfig, build_objective  # noqa: E402

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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(args: argparse.Namespace, task: str, size: str, speech: Path) -> dict:
    device = torch.device(args.device)
    config = TrainConfig(task=task, speech_dirs=(str(speech),), size=size,
                         segment_seconds=args.segment, device=args.device)  # fmt: skip
    bank = D.load_speech([speech], SR)
    mix = D.MixConfig(task=task, segment_seconds=args.segment)
    stream = D.BatchStream(D.DynamicMixer(bank, [], mix, seed=0), args.batch_size)
    model, objective, params = build_objective(config, len(bank.speakers), device)
    objective.train()
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    amp = args.amp == "bf16"
    data_s, step_s = [], []

    def step(i: int) -> None:
        t0 = time.perf_counter()
        batch = {k: v.to(device, non_blocking=True) for k, v in stream.batch(i).items()}
        t1 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss, _ = objective(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        _sync(device)
        data_s.append(t1 - t0)
        step_s.append(time.perf_counter() - t0)

    for i in range(args.steps + 1):  # the first step warms up
        step(i)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        with profile(activities=activities) as prof:
            step(args.steps + 1)
        key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=12), file=sys.stderr)
    per_step = float(np.median(step_s[1:]))
    return {
        "task": task,
        "size": size,
        "params": count_parameters(model),
        "step_s": per_step,
        "examples_per_s": args.batch_size / per_step,
        "data_share": float(np.sum(data_s[1:]) / np.sum(step_s[1:])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--sizes", nargs="+", default=["small", "seed"])
    parser.add_argument("--tasks", nargs="+", default=["extract", "enhance"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--segment", type=float, default=3.0, help="seconds per example")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--amp", choices=("off", "bf16"), default="off")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", action="store_true", help="top ops of one step (stderr)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(
        f"# {where} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} torch threads), torch {torch.__version__}, batch {args.batch_size}, "
        f"{args.segment:g} s segments, amp {args.amp}, median of {args.steps} steps"
    )
    print("| task | size | params | s/step | examples/s | data share |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        speech = make_speech(Path(tmp))
        for task in args.tasks:
            for size in args.sizes:
                r = bench(args, task, size, speech)
                print(
                    f"| {r['task']} | {r['size']} | {r['params'] / 1e6:.2f} M | "
                    f"{r['step_s']:.3f} | {r['examples_per_s']:.1f} | {r['data_share']:.0%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
