"""Score target-speaker extraction on the conversation dev set (recipes/conversations.py).

Per conversation, on 10 ms frames labelled from its segments file:

- target kept: output level / input level where only the target talks (dB; 0 keeps it all);
- others kept: the same where only other talkers talk;
- selectivity: target kept - others kept;
- overlap SI-SDRi: SI-SDR of the output against the target's image minus the mixture's, on the
  frames where the target overlaps another talker;
- target absent: output level / input level over the whole of a conversation without the
  enrolled voice.

    .venv/bin/python recipes/score_conversations.py [--model M] [--no-track]
        [--list runs/data/conversations/conversations.tsv] [--json OUT.json] [--dump SCORES.npz]

``--dump`` keeps every window score of the tracker with its frame label (target only, others
only, both, nobody), for calibrating the tracker's thresholds.

``--rescue COSINE [CAP]`` sets the tracker's level rescue (``TrackConfig.rescue_cosine`` and
``rescue_cap_db``, default 12): where a window scores at least COSINE, the output is raised to the
input's level around it (``talk.OutputGate``), as ``extract`` does for a model calibrated with it.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from puresound_cli.separate import load_separator
from puresound_cli.tracking import TrackConfig

HOP = 160  # 10 ms at 16 kHz


def activity(segments: Path, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(target talks, someone else talks) per 10 ms frame."""
    target = np.zeros(frames, bool)
    other = np.zeros(frames, bool)
    with open(segments, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            a, b = int(float(row["start"]) * 100), int(np.ceil(float(row["end"]) * 100))
            (target if row["talker"] == "target" else other)[a:b] = True
    return target, other


def level_db(y: np.ndarray, x: np.ndarray) -> float:
    return float(10 * np.log10((np.sum(y.astype(np.float64) ** 2) + 1e-12)
                               / (np.sum(x.astype(np.float64) ** 2) + 1e-12)))  # fmt: skip


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    ref = reference.astype(np.float64) - reference.mean()
    est = estimate.astype(np.float64) - estimate.mean()
    scale = np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)
    target = scale * ref
    return float(10 * np.log10(np.dot(target, target) / (np.sum((est - target) ** 2) + 1e-12)))


def frames_of(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Samples of ``x`` on the 10 ms frames where ``mask`` holds."""
    n = min(mask.size, x.size // HOP)
    return x[: n * HOP].reshape(n, HOP)[mask[:n]].ravel()


def score(row: dict[str, str], folder: Path, args: argparse.Namespace, dump: list) -> dict:
    mix, rate = sf.read(folder / row["input"], dtype="float32")
    separator = load_separator("extract", args.model, folder / row["enrollment"], track=True)
    untracked = args.no_track or args.score_output
    separator.tracker = None if untracked else args.track(separator.model)
    out = separator.process(mix[None], rate)[0]
    if args.score_output:  # experiment: track the enrolled voice in the separator's output
        from puresound_cli.separate import normalising_gain
        from puresound_cli.tracking import gate_for, track

        level = normalising_gain(float(np.sqrt(np.mean(out.astype(np.float64) ** 2))) + 1e-9)
        separator.last_track = track(
            separator.model, out * level, separator.track_embedding, args.track(separator.model)
        )
        out = gate_for(separator.last_track, rate)(0, out[None])[0]
    result: dict = {"input": row["input"], "target": row["target"], "channel": row["channel"],
                    "condition": row["condition"]}  # fmt: skip
    target, other = activity(folder / row["segments"], mix.size // HOP)
    if not row["reference"]:
        result["absent_db"] = level_db(out, mix)
    else:
        ref, _ = sf.read(folder / row["reference"], dtype="float32")
        only_t, only_o, both = target & ~other, other & ~target, target & other
        result["target_kept_db"] = level_db(frames_of(out, only_t), frames_of(mix, only_t))
        result["others_kept_db"] = level_db(frames_of(out, only_o), frames_of(mix, only_o))
        result["selectivity_db"] = result["target_kept_db"] - result["others_kept_db"]
        r, y, x = frames_of(ref, both), frames_of(out, both), frames_of(mix, both)
        result["overlap_si_sdri_db"] = si_sdr(y, r) - si_sdr(x, r)
    tr = separator.last_track
    if tr is not None:
        result["talk_seconds"] = tr.talk_seconds()
        centres = np.minimum((np.arange(tr.scores.size) * tr.hop_seconds * 100).astype(int),
                             target.size - 1)  # fmt: skip
        label = target[centres].astype(int) + 2 * other[centres].astype(int)
        index = len(dump) * np.ones_like(label)
        dump.append(np.stack([tr.scores, label, index]))
    return result


def summary(results: list[dict]) -> dict:
    def mean(key: str, rows: list[dict]) -> float | None:
        values = [r[key] for r in rows if key in r]
        values = [v for v in values if np.isfinite(v)]
        return round(float(np.mean(values)), 2) if values else None

    out: dict = {}
    for name, rows in (
        ("all", results),
        ("wideband", [r for r in results if r["channel"] == "wide"]),
        ("telephone", [r for r in results if r["channel"] == "phone"]),
        ("clean", [r for r in results if r["condition"] == "clean"]),
        ("noisy-reverb", [r for r in results if r["condition"] != "clean"]),
    ):
        out[name] = {k: mean(k, rows) for k in ("target_kept_db", "others_kept_db",
                     "selectivity_db", "overlap_si_sdri_db", "absent_db")}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--list", type=Path, default=Path("runs/data/conversations/conversations.tsv")
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--no-track", action="store_true", help="the separator alone")
    parser.add_argument("--open", type=float, default=None, help="tracker open cosine")
    parser.add_argument("--close", type=float, default=None, help="tracker close cosine")
    parser.add_argument("--window", type=float, default=None, help="tracker window seconds")
    parser.add_argument("--hop", type=float, default=None, help="tracker hop seconds")
    parser.add_argument("--adapt", type=float, default=None, help="tracker adaptation cosine")
    parser.add_argument(
        "--score-output",
        action="store_true",
        help="track the voice in the separator's output, not in the input",
    )
    parser.add_argument("--rescue", type=float, nargs="+", default=None,
                        help="COSINE [CAP]: the tracker's level rescue")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--dump", type=Path, default=None)
    args = parser.parse_args()
    fields = {"open": "open_cosine", "close": "close_cosine", "window": "window_seconds",
              "hop": "hop_seconds", "adapt": "adapt_cosine"}  # fmt: skip
    overrides = {field: getattr(args, key) for key, field in fields.items()
                 if getattr(args, key) is not None}  # fmt: skip
    if args.rescue:
        if len(args.rescue) > 2:
            parser.error("--rescue takes COSINE [CAP]")
        overrides["rescue_cosine"] = args.rescue[0]
        overrides.update({"rescue_cap_db": args.rescue[1]} if len(args.rescue) == 2 else {})
    args.track = lambda model: replace(TrackConfig.for_model(model), **overrides)
    with open(args.list, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    dump: list = []
    results = [score(r, args.list.parent, args, dump) for r in rows]
    for r in results:
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}))
    table = summary(results)
    print(json.dumps(table, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": table, "items": results,
                                         "tracker": None if args.no_track else
                                         overrides}, indent=1) + "\n")  # fmt: skip
    if args.dump and dump:
        np.savez(args.dump, scores=np.concatenate(dump, axis=1))


if __name__ == "__main__":
    main()
