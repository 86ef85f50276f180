"""bench/demo.py (`make demo`): runs the shipped default extract model on the bundled example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from puresound_cli import pretrained

REPO = Path(__file__).resolve().parent.parent


def test_demo_extracts_the_bundled_example(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "demo.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out, rate = sf.read(tmp_path / "extracted.wav")
    mixture, mixture_rate = sf.read(REPO / "models" / "examples" / "mixture.wav")
    assert (rate, out.shape) == (mixture_rate, mixture.shape)
    default = pretrained.default_model("extract")
    if default is None:  # a random stand-in runs, and the demo says so
        assert "NOT meaningful" in proc.stderr
        return
    assert f"model:      {default}" in proc.stdout
    scores = re.search(r"mixture (-?[\d.]+) dB -> output (-?[\d.]+) dB", proc.stdout)
    assert scores is not None, proc.stdout
    assert float(scores[2]) > float(scores[1]) + 1.0  # measured: 1.4 -> 6.7 dB
