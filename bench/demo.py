"""`make demo`: run `puresound extract` on the bundled example and print the output path and RTF.

Uses models/examples/{mixture,enrollment}.wav (a short example shipped with the repository; if
they are missing, a synthetic two-voice example is written to bench/out/demo/) and the default
shipped extract model. With models/examples/reference.wav (the clean target) it also prints the
SI-SDR of the mixture and of the output. Where no trained model is shipped, a tiny random
checkpoint stands in so the command still runs end to end (its output is meaningless, and the
demo says so).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out" / "demo"


def _show(path: Path) -> Path:
    """A path relative to the repository when it is inside it."""
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def _synthesise_example(folder: Path) -> tuple[Path, Path]:
    """Two harmonic 'voices' (target 120 Hz, interferer 210 Hz) and an enrollment of the target."""
    import numpy as np
    import soundfile as sf

    rate = 16000

    def voice(seconds: float, f0: float, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        t = np.arange(int(seconds * rate)) / rate
        phase = 2 * math.pi * np.cumsum(f0 * (1 + 0.04 * np.sin(2 * math.pi * 3 * t))) / rate
        wav = sum(np.sin(k * phase + rng.uniform(0, 6)) / k for k in range(1, 10))
        return 0.3 * wav * (0.6 + 0.4 * np.sin(2 * math.pi * 4 * t + rng.uniform(0, 6)))

    folder.mkdir(parents=True, exist_ok=True)
    mixture, enrollment = folder / "mixture.wav", folder / "enrollment.wav"
    sf.write(mixture, voice(6.0, 120.0, 1) + voice(6.0, 210.0, 2), rate, subtype="PCM_16")
    sf.write(enrollment, voice(4.0, 120.0, 3), rate, subtype="PCM_16")
    return mixture, enrollment


def _model_argument(out: Path) -> tuple[list[str], str]:
    """`--model` arguments (none when a default extract model is shipped, else a random stand-in)
    and the model's name to print."""
    sys.path.insert(0, str(REPO))
    from puresound_cli import pretrained

    default = pretrained.default_model("extract")
    if default is not None:
        return [], f"{default} (the shipped default)"
    import dataclasses

    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.nets import ExtractorConfig, build

    path = out / "random-tiny-extractor.pt"
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, build("extractor", dataclasses.asdict(ExtractorConfig.tiny())))
    print(
        "note: no trained extract model is shipped yet; using a random tiny checkpoint "
        f"({_show(path)}), so the output is NOT meaningful.",
        file=sys.stderr,
    )
    return ["--model", str(path)], f"{_show(path)} (random stand-in)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    out = parser.parse_args().out.resolve()
    examples = REPO / "models" / "examples"
    mixture, enrollment = examples / "mixture.wav", examples / "enrollment.wav"
    if not (mixture.is_file() and enrollment.is_file()):
        mixture, enrollment = _synthesise_example(out)
    output = out / "extracted.wav"
    out.mkdir(parents=True, exist_ok=True)
    model_args, model_name = _model_argument(out)
    cmd = [
        sys.executable, "-m", "puresound_cli", "extract", str(mixture),
        "--enroll", str(enrollment), "-o", str(output), "--overwrite", "--json", "--quiet",
        *model_args,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=os.environ.copy())
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        print(f"demo failed (exit {proc.returncode}): {' '.join(cmd)}", file=sys.stderr)
        return proc.returncode
    record = json.loads(proc.stdout.splitlines()[-1])
    print(f"mixture:    {_show(mixture)}")
    print(f"enrollment: {_show(enrollment)}")
    print(f"output:     {_show(output)}")
    print(f"model:      {model_name}")
    print(f"audio {record['seconds']:.1f} s, real-time factor {record['rtf']:.3f}")
    reference = mixture.parent / "reference.wav"
    if reference.is_file():
        _print_score(mixture, output, reference)
    return 0


def _print_score(mixture: Path, output: Path, reference: Path) -> None:
    """SI-SDR of the mixture and of the output against the clean target (bundled example)."""
    import soundfile as sf

    from puresound_cli.evaluate import si_sdr_db

    ref = sf.read(reference, dtype="float32")[0]
    before = si_sdr_db(sf.read(mixture, dtype="float32")[0], ref)
    after = si_sdr_db(sf.read(output, dtype="float32")[0], ref)
    print(
        f"SI-SDR against the clean target: mixture {before:.1f} dB -> output {after:.1f} dB "
        f"({after - before:+.1f} dB)"
    )


if __name__ == "__main__":
    sys.exit(main())
