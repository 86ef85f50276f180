"""Benchmark the whole `puresound extract` and `puresound enhance` processes on long inputs.

For each length (default: 10 minutes and 1 hour) this writes a synthetic mono 16 kHz PCM_16
mixture into bench/out/ (block by block, reused when present), runs
``python -m puresound_cli extract MIX --enroll SPK -o OUT --model M --json`` (and the same
``enhance`` command without the enrollment) as a subprocess, and records wall time, real-time
factor (wall time / audio duration, startup and model loading included) and peak resident memory
of the process (``/usr/bin/time -v`` when available, else ``resource.getrusage(RUSAGE_CHILDREN)``).
The figures, with the machine, the date and the commands, replace the "## Command line" section of
bench/RESULTS.md.

Usage::

    python bench/bench_cli.py                       # both commands, their shipped default models
    python bench/bench_cli.py --tasks extract --model runs/x/model.pt --lengths 600

Without a shipped default for a task (and no --model), a randomly initialised small() model of
that task stands in: the same compute and memory, meaningless output.

Targets (issues 3 and 5): RTF <= 0.05 and peak memory <= 600 MB for both lengths with the
default models on the 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Command line"
RATE = 16000
RTF_TARGET = 0.05
RSS_TARGET_MB = 600.0


def _voice_block(start: int, n: int, f0: float, seed: int, rate: int = RATE) -> np.ndarray:
    """A harmonic voice with syllable-rate AM, continuous across blocks (phase from `start`)."""
    t = (start + np.arange(n)) / rate
    rng = np.random.default_rng(seed)
    wav = np.zeros(n)
    for k in range(1, 9):
        wav += np.sin(2 * math.pi * k * f0 * t + rng.uniform(0, 6)) / k
    syllables = np.clip(np.sin(2 * math.pi * 3.7 * t + seed), 0.0, None)
    return wav * syllables


def write_mixture(path: Path, seconds: int, rate: int = RATE) -> Path:
    """Write a target + interferer + noise mixture of `seconds` (reused if already there)."""
    frames = seconds * rate
    if path.is_file():
        info = sf.info(path)
        if info.frames == frames and info.samplerate == rate:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    block = 60 * rate
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as out:
        for start in range(0, frames, block):
            n = min(block, frames - start)
            target = _voice_block(start, n, 120.0, 1, rate)
            interferer = _voice_block(start, n, 205.0, 2, rate)
            noise = 0.05 * rng.standard_normal(n)
            out.write((0.08 * (target + 0.7 * interferer) + noise).astype(np.float32))
    return path


def write_enrollment(path: Path) -> Path:
    """Five seconds of the target voice alone."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * _voice_block(0, 5 * RATE, 120.0, 3), RATE, subtype="PCM_16")
    return path


def random_small_checkpoint(task: str) -> Path:
    """A randomly initialised small() checkpoint of `task` (same compute as a trained one)."""
    path = OUT / f"random-small-{task}.pt"
    if not path.is_file():
        import dataclasses

        import torch

        sys.path.insert(0, str(REPO))
        from puresound_cli.checkpoint import save_checkpoint
        from puresound_cli.nets import ConvTasNetConfig, ExtractorConfig, build

        torch.manual_seed(0)
        OUT.mkdir(parents=True, exist_ok=True)
        if task == "extract":
            model = build("extractor", dataclasses.asdict(ExtractorConfig.small()))
        else:
            model = build("convtasnet", dataclasses.asdict(ConvTasNetConfig.small()))
        save_checkpoint(path, model)
    return path


def default_model(task: str) -> str | None:
    """The shipped default model name for `task`, or None."""
    sys.path.insert(0, str(REPO))
    from puresound_cli import pretrained

    return pretrained.default_model(task)


def run_cli(
    task: str, mixture: Path, enrollment: Path, model: str | None, threads: int | None = None
) -> dict[str, float | str]:
    """Run `puresound TASK` once as a whole process; return wall time, RTF and peak RSS.
    ``model`` None: no ``--model`` (the CLI picks, e.g. its narrow-band model at 8 kHz).

    The CLI uses every core unless OMP_NUM_THREADS is set; it is removed from the child's
    environment (or set to ``threads``).
    """
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    output = mixture.with_name(f"{mixture.stem}-{task}.wav")
    enroll = ["--enroll", str(enrollment)] if task == "extract" else []
    cmd = [
        sys.executable, "-m", "puresound_cli", task, str(mixture), *enroll,
        "-o", str(output), *(["--model", model] if model else []), "--overwrite", "--json",
        "--quiet",
    ]  # fmt: skip
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    full = [timer, "-v", *cmd] if timer else cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(full, cwd=REPO, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{task} failed ({proc.returncode}):\n{proc.stderr}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if match:
        rss_mb, how = int(match.group(1)) / 1024, "/usr/bin/time -v"
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rss_mb, how = max(after, before) / 1024, "getrusage(RUSAGE_CHILDREN)"
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    seconds = float(record["seconds"])
    output.unlink(missing_ok=True)
    return {
        "seconds": seconds,
        "wall": wall,
        "rtf": wall / seconds,
        "inner_rtf": float(record["rtf"]),
        "rss_mb": rss_mb,
        "rss_how": how,
        "command": " ".join(["puresound", *cmd[3:]]).replace(str(REPO) + "/", ""),
    }


def machine() -> str:
    """CPU model, core count and torch version, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    python = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores, Python {python}, torch {torch.__version__}"


def write_section(text: str) -> None:
    """Replace (or append) the '## Command line' section of bench/RESULTS.md."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks", nargs="+", choices=("extract", "enhance"), default=["extract", "enhance"]
    )
    parser.add_argument("--model", help="model name or checkpoint (only with one task)")
    parser.add_argument(
        "--lengths", default="600,3600", help="comma-separated mixture lengths in seconds"
    )
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the CLI (default: all)")
    parser.add_argument("--no-results", action="store_true", help="do not edit RESULTS.md")
    parser.add_argument("--rate", type=int, default=RATE, help="the mixture's sample rate")
    parser.add_argument(
        "--routed", action="store_true", help="no --model: the CLI's own pick for the input"
    )
    args = parser.parse_args()
    if args.model and len(args.tasks) != 1:
        parser.error("--model needs exactly one --tasks")
    if args.model and args.routed:
        parser.error("--routed runs without --model (the CLI picks): give one or the other")

    enrollment = write_enrollment(OUT / "bench-enrollment.wav")
    lengths = [int(s) for s in args.lengths.split(",")]
    tag = "" if args.rate == RATE else f"-{args.rate}"
    mixtures = {
        seconds: write_mixture(OUT / f"bench-mixture-{seconds}s{tag}.wav", seconds, args.rate)
        for seconds in lengths
    }
    threads = f"OMP_NUM_THREADS={args.threads}" if args.threads else "all cores"
    lines = [
        SECTION,
        "",
        f"`bench/bench_cli.py`, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{machine()}, {threads}. One whole process per row; peak memory by "
        "PEAK_HOW; RTF = wall time / audio duration, process start-up and model loading "
        "included (in-process: the CLI's own per-file figure). Input: a synthetic "
        f"{args.rate} Hz mono PCM_16 mixture of two harmonic voices and noise. Targets: RTF <= "
        f"{RTF_TARGET}, peak RSS <= {RSS_TARGET_MB:.0f} MB.",
    ]
    all_ok, how = True, ""
    for task in args.tasks:
        name = args.model or default_model(task)
        model = name or str(random_small_checkpoint(task))
        note = (
            ("the CLI's own pick (no `--model`)" if args.routed else f"`{name}`")
            if name
            else f"a randomly initialised small() {task} checkpoint (no "
            "trained model shipped: compute and memory are those of the shipped size, quality "
            "is not)"
        )
        rows = []
        for seconds in lengths:
            chosen = None if args.routed else model
            result = run_cli(task, mixtures[seconds], enrollment, chosen, args.threads)
            ok = result["rtf"] <= RTF_TARGET and result["rss_mb"] <= RSS_TARGET_MB
            all_ok &= ok
            how = str(result["rss_how"])
            print(
                f"{task} {seconds / 60:g} min: wall {result['wall']:.1f} s, RTF "
                f"{result['rtf']:.4f} (in-process {result['inner_rtf']:.4f}), peak RSS "
                f"{result['rss_mb']:.0f} MB -> {'meets' if ok else 'misses'} targets"
            )
            rows.append((seconds, result, ok))
        lines += [
            "",
            f"`{task}`, model {note}: `{rows[0][1]['command']}`",
            "",
            "| input | wall time | RTF | RTF in-process | peak RSS | targets |",
            "|---|---|---|---|---|---|",
        ]
        for seconds, r, ok in rows:
            lines.append(
                f"| {seconds / 60:g} min | {r['wall']:.1f} s | {r['rtf']:.4f} | "
                f"{r['inner_rtf']:.4f} | {r['rss_mb']:.0f} MB | {'met' if ok else 'missed'} |"
            )
    if not args.no_results:
        write_section("\n".join(lines).replace("PEAK_HOW", how) + "\n\n")
        print(f"wrote the '{SECTION}' section of {RESULTS.relative_to(REPO)}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
