"""Is a speed-shifted voice a new speaker to the tracking net? (issue #23: pseudo-speakers)

Six held-out voices with many recordings (the Fish Fillets actors, June, Carlo; a measurement,
nothing is trained on them), six lines each: the tracking net's cosine between two lines of a
voice, between a line and another line of the same voice sped up or down (resampling, as sox
``speed``: pitch, formants and tempo together), and between lines of different voices.

Usage::

    .venv/bin/python recipes/pseudo_speakers.py
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import conversations  # noqa: E402

from puresound_cli import audio  # noqa: E402
from puresound_cli.checkpoint import load_model  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    model = load_model("models/extract-convtasnet-16k")
    cache = Path("runs/debs")
    voices = conversations.fillets_voices(cache) + conversations.asterisk_voices(cache)
    rng = np.random.default_rng(0)

    def embed(x: np.ndarray, factor: float = 1.0) -> torch.Tensor:
        if factor != 1.0:  # played at factor x the speed: pitch and formants move together
            x = audio.resample(x[None], int(round(16000 * factor)), 16000)[0]
        x = x / (np.sqrt(np.mean(x**2)) + 1e-9) * 0.05
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
        with torch.inference_mode():
            return torch.nn.functional.normalize(model.track_embed(wav), dim=1)[0]

    lines = {
        v.name: [conversations.load(Path(p)) for p in rng.choice(v.lines, size=6, replace=False)]
        for v in voices
    }
    emb = {k: [embed(x) for x in xs] for k, xs in lines.items()}
    names = list(emb)
    same = [float(emb[k][0] @ emb[k][i]) for k in names for i in range(1, 6)]
    diff = [float(emb[a][i] @ emb[b][j]) for n, a in enumerate(names) for b in names[n + 1 :]
            for i in range(3) for j in range(3)]  # fmt: skip
    other_p95 = float(np.quantile(diff, 0.95))
    print(f"voices: {', '.join(names)}")
    low = np.quantile(same, 0.05)
    print(
        f"same voice: mean {np.mean(same):.3f}, 5th percentile {low:.3f}; "
        f"different voices: mean {np.mean(diff):.3f}, 95th percentile {other_p95:.3f}"
    )
    for factor in (0.85, 0.9, 0.95, 1.05, 1.1, 1.15):
        shifted = np.array(
            [float(emb[k][0] @ embed(lines[k][i], factor)) for k in names for i in range(1, 6)]
        )
        above = np.mean(shifted > other_p95)
        print(
            f"speed {factor:.2f}: same voice shifted, mean {shifted.mean():.3f}; share "
            f"above the different voices' 95th percentile {above:.2f}"
        )


if __name__ == "__main__":
    main()
