"""`make demo`: run `puresound extract` on the bundled example and print the output path and RTF.

Uses models/examples/{mixture,enrollment}.wav (a short example shipped with the repository; if
they are missing, a synthetic two-voice example is written to bench/out/demo/) and the default
shipped extract model. Before a trained model is shipped, a tiny random checkpoint stands in so
the command still runs end to end (its output is meaningless, and the demo says so).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out" / "demo"


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


def _model_argument() -> list[str]:
    """`--model` arguments: none when a default extract model is shipped, else a random stand-in."""
    sys.path.insert(0, str(REPO))
    from puresound_cli import pretrained

    if pretrained.default_model("extract") is not None:
        return []
    import dataclasses

    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.nets import ExtractorConfig, build

    path = OUT / "random-tiny-extractor.pt"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, build("extractor", dataclasses.asdict(ExtractorConfig.tiny())))
    print(
        "note: no trained extract model is shipped yet; using a random tiny checkpoint "
        f"({path.relative_to(REPO)}), so the output is NOT meaningful.",
        file=sys.stderr,
    )
    return ["--model", str(path)]


def main() -> int:
    examples = REPO / "models" / "examples"
    mixture, enrollment = examples / "mixture.wav", examples / "enrollment.wav"
    if not (mixture.is_file() and enrollment.is_file()):
        mixture, enrollment = _synthesise_example(OUT)
    output = OUT / "extracted.wav"
    OUT.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "puresound_cli", "extract", str(mixture),
        "--enroll", str(enrollment), "-o", str(output), "--overwrite", "--json", "--quiet",
        *_model_argument(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=os.environ.copy())
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        print(f"demo failed (exit {proc.returncode}): {' '.join(cmd)}", file=sys.stderr)
        return proc.returncode
    record = json.loads(proc.stdout.splitlines()[-1])
    print(f"mixture:    {mixture.relative_to(REPO)}")
    print(f"enrollment: {enrollment.relative_to(REPO)}")
    print(f"output:     {output.relative_to(REPO)}")
    print(f"audio {record['seconds']:.1f} s, real-time factor {record['rtf']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
