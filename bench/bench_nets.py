"""Benchmark the networks on the CPU: parameters, GFLOP per second of audio, real-time factor.

Not a test. Run it on an otherwise idle machine:

    .venv/bin/python bench/bench_nets.py [--threads 2] [--seconds 10 60] [--repeats 3] [--only seed]

For the extractor the embedding is computed once and only ``separate`` is timed (that is what
inference does per chunk). The real-time factor is wall time / audio duration (lower is faster).
The machine's fp32 matmul rate gives the ceiling: RTF_bound = GFLOP per s of audio / GFLOP/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import torch

from puresound_cli.nets import (
    ConvTasNet,
    ConvTasNetConfig,
    Extractor,
    ExtractorConfig,
    count_parameters,
    flops_per_second,
)
from puresound_cli.nets.maskers import BACKBONES


def with_backbone(config: ConvTasNetConfig, backbone: str, causal: bool) -> ConvTasNetConfig:
    """The small() frame with another masker (its small preset), as ``train --backbone`` does."""
    frame = config.with_masker(BACKBONES[backbone].name, "small")
    return dataclasses.replace(frame, causal=causal or frame.causal)


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Sustained fp32 GFLOP/s of size x size matmuls."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def real_time_factor(model: torch.nn.Module, seconds: float, repeats: int) -> float:
    """Best-of-repeats wall time / audio time for one mono input of ``seconds``."""
    sample_rate = int(model.sample_rate)  # type: ignore[arg-type]
    mixture = torch.randn(1, 1, int(seconds * sample_rate)) * 0.1
    if isinstance(model, Extractor):
        embedding = model.embed(torch.randn(1, 1, 3 * sample_rate) * 0.1)

        def run() -> None:
            model.separate(mixture, embedding)

    else:

        def run() -> None:
            model(mixture)

    run()  # warm-up (allocator, oneDNN primitives)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="substrings of model names")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models: dict[str, torch.nn.Module] = {
        "extractor seed": Extractor(ExtractorConfig.seed()),
        "extractor small": Extractor(ExtractorConfig.small()),
        "enhancer small": ConvTasNet(ConvTasNetConfig.small()),
        "extractor tiny": Extractor(ExtractorConfig.tiny()),
    }
    small = ExtractorConfig.small()
    for backbone in BACKBONES:
        for causal in (False, True):
            if (backbone == "convtasnet" and not causal) or (
                causal and not BACKBONES[backbone].causal_ok
            ):
                continue  # the row above, or a masker that cannot be causal
            separator = with_backbone(small.separator, backbone, causal=causal)
            name = f"extr. {backbone}{' causal' if causal else ''}"
            models[name] = Extractor(dataclasses.replace(small, separator=separator))
    if args.only:
        models = {k: v for k, v in models.items() if any(o in k for o in args.only)}
    with torch.inference_mode():
        rate = matmul_gflops()
        print(
            f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
            f"{args.threads} threads"
        )
        print(f"fp32 matmul 2048x2048: {rate:.1f} GFLOP/s")
        header = f"{'model':<24}{'params':>12}{'GFLOP/s audio':>15}{'RTF bound':>11}"
        header += "".join(f"{f'RTF {s:g}s':>11}" for s in args.seconds)
        print(header)
        for name, model in models.items():
            model.eval()
            gflop = flops_per_second(model) / 1e9
            line = f"{name:<24}{count_parameters(model):>12,}{gflop:>15.2f}{gflop / rate:>11.3f}"
            for seconds in args.seconds:
                line += f"{real_time_factor(model, seconds, args.repeats):>11.3f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
