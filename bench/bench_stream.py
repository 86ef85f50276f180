"""Live streaming speed: real-time factor of block-by-block processing on one thread.

A causal model (the small() frame, ``causal = true``, each streamable masker) is fed 20 s of
noise in blocks of one STFT hop (8 ms at 16 kHz), as a live pipe would; RTF = wall time / audio
time (the target for live use is <= 0.5 on one core). The algorithmic latency is also printed.

    .venv/bin/python bench/bench_stream.py [--seconds 20] [--block 128]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from puresound_cli.nets import ConvTasNet, ConvTasNetConfig, Extractor, ExtractorConfig
from puresound_cli.nets.maskers import streaming_maskers
from puresound_cli.stream import StreamingSeparator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--block", type=int, default=128, help="samples per push")
    parser.add_argument("--maskers", nargs="+", default=list(streaming_maskers()))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, blocks of {args.block} samples at 16 kHz")
    print("| model | masker | latency | RTF |\n|---|---|---:|---:|")
    x = 0.1 * torch.randn(1, int(args.seconds * 16000))
    for masker in args.maskers:
        for task in ("enhance", "extract"):
            frame = dataclasses.replace(
                ConvTasNetConfig.small().with_masker(masker, "small"), causal=True
            )
            embedding = None
            if task == "extract":
                base = ExtractorConfig.small()
                frame = dataclasses.replace(
                    base.separator.with_masker(masker, "small"), causal=True
                )
                model: torch.nn.Module = Extractor(dataclasses.replace(base, separator=frame))
                embedding = torch.randn(1, base.speaker.embed_dim)
            else:
                model = ConvTasNet(frame)
            stream = StreamingSeparator(model.eval(), 1, embedding)
            start = time.perf_counter()
            for pos in range(0, x.shape[1], args.block):
                stream.push(x[:, pos : pos + args.block])
            stream.flush()
            rtf = (time.perf_counter() - start) / args.seconds
            latency = 1000 * stream.latency_samples / 16000
            print(f"| {task} small causal | {masker} | {latency:.0f} ms | {rtf:.3f} |", flush=True)


if __name__ == "__main__":
    main()
