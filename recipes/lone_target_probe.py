"""Where does an extractor lose the target where it talks alone? The conversation as it is,
then with the other talkers taken out.

For each target-present conversation of the dev set (``recipes/conversations.py``) the separator
runs alone (no tracking) on three inputs, and the level it keeps where only the target talks
(output over input, dB; 0 keeps it all) is printed for each:

- ``mix``: the conversation as scored by ``score_conversations.py``;
- ``half``: the target's image plus half of everything else (the other talkers and the noise at
  -6 dB);
- ``alone``: the target's image plus the rest only on the frames where the target talks alone
  (there that is just the noise): the same frames, the same noise, no other voice anywhere.

A model that keeps ``alone`` but drops ``mix`` loses the target because other voices are
around (which voice to follow), not because of the noise or the room. For ``mix`` it also prints
the SI-SDR of the output and of the input against the target's image on those frames
(``sdr out / in``): an output that is quiet but faithful there (SI-SDR at least the input's) has
the target, only too low; one below the input's has lost it.

    .venv/bin/python recipes/lone_target_probe.py --model CAND [--condition noisy-reverb]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import soundfile as sf
from score_conversations import HOP, activity, frames_of, level_db, si_sdr

from puresound_cli.separate import load_separator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--list", type=Path, default=Path("runs/data/conversations/conversations.tsv")
    )
    parser.add_argument("--condition", default=None, help="only this condition (clean, ...)")
    args = parser.parse_args()
    folder = args.list.parent
    with open(args.list, newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["reference"]]
    if args.condition:
        rows = [r for r in rows if r["condition"] == args.condition]
    kept: dict[str, list[float]] = {"mix": [], "half": [], "alone": []}
    fidelity: list[tuple[float, float]] = []  # (output, input) SI-SDR where the target is alone
    for row in rows:
        mix, rate = sf.read(folder / row["input"], dtype="float32")
        ref, _ = sf.read(folder / row["reference"], dtype="float32")
        n = min(mix.size, ref.size)
        mix, ref = mix[:n], ref[:n]
        target, other = activity(folder / row["segments"], n // HOP)
        only = target & ~other
        if not only.any():  # the target never talks alone here
            continue
        mask = np.zeros(n, np.float32)
        mask[: only.size * HOP] = np.repeat(only, HOP)
        rest = mix - ref
        inputs = {"mix": mix, "half": ref + 0.5 * rest, "alone": ref + rest * mask}
        separator = load_separator("extract", args.model, folder / row["enrollment"], track=False)
        line = []
        for name, x in inputs.items():
            y = separator.process(x[None], rate)[0]
            kept[name].append(level_db(frames_of(y, only), frames_of(x, only)))
            line.append(f"{name} {kept[name][-1]:+6.2f}")
            if name == "mix":
                r = frames_of(ref, only)
                fidelity.append((si_sdr(frames_of(y, only), r), si_sdr(frames_of(x, only), r)))
                line.append("sdr out / in {:+6.2f} / {:+6.2f}".format(*fidelity[-1]))
        print(f"{row['input']} {row['target']:15s} {row['condition']:12s} " + "  ".join(line))
    means = "  ".join(f"{k} {np.mean(v):+6.2f}" for k, v in kept.items())
    count = len(kept["mix"])
    print(f"mean target kept where it talks alone ({count} conversations): {means}")
    out, inp = np.mean(fidelity, axis=0) if fidelity else (np.nan, np.nan)
    print(f"mean SI-SDR there, mix: output {out:+6.2f} dB, input {inp:+6.2f} dB")


if __name__ == "__main__":
    main()
