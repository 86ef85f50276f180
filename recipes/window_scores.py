"""Window scores of the tracker on the mixture and on the separator's output, side by side.

For each row of a conversation list (``recipes/conversations.py``) or a pairs list, the
separator runs untracked; the tracking net scores 1.5 s windows every 0.2 s of the mixture and
of the output against the enrollment (with the calibrated adaptation), and each window gets the
label of who talks at its centre (0 nobody, 1 the target alone, 2 others alone, 3 both; a pairs
list's two-talker rows are 3 throughout, its target-absent rows 2). Each window also gets the
level of the output over the input (dB) around its centre, over the whole window and over its
middle 0.4 s. Writes an ``.npz`` with the rows ``(input score, output score, label, item, level
over 1.5 s, level over 0.4 s)``: what a gate that reads them together could do. With ``--pit``
a two-talker separator (``train --task separate``) also splits the mixture, each of its two
outputs is scored the same way, and a seventh row holds the better of the two scores per window
(a tracker that sees overlapped voices apart).

Usage::

    .venv/bin/python recipes/window_scores.py \\
        --list runs/data/conversations-calib/conversations.tsv --out runs/trk/both-calib.npz
    .venv/bin/python recipes/window_scores.py \\
        --pairs runs/data/dev/extract.tsv --out runs/trk/both-ext.npz
    .venv/bin/python recipes/window_scores.py --pit runs/campaign-pit/at-60min.pt \\
        --list runs/data/conversations-calib/conversations.tsv --out runs/trk/pit-calib.npz
    .venv/bin/python recipes/window_scores.py --report runs/trk/pit-calib.npz
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from puresound_cli import audio
from puresound_cli.checkpoint import load_separation_model
from puresound_cli.nets.contract import ExtractionModel
from puresound_cli.separate import load_separator, normalising_gain
from puresound_cli.tracking import TrackConfig, track

HOP = 160  # 10 ms at 16 kHz: the segment lists' frames


def labels(segments: Path, frames: int) -> np.ndarray:
    """Who talks on each 10 ms frame: 1 target, 2 others, 3 both, 0 nobody."""
    who = np.zeros(frames, int)
    with open(segments, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            a, b = int(float(row["start"]) * 100), int(np.ceil(float(row["end"]) * 100))
            who[a:b] |= 1 if row["talker"] == "target" else 2
    return who


def talkers(segments: Path) -> set[str]:
    """The names of the other talkers of a segment list (every talker but "target")."""
    with open(segments, newline="") as handle:
        return {r["talker"] for r in csv.DictReader(handle, delimiter="\t")} - {"target"}


def at_level(wav: np.ndarray) -> np.ndarray:
    """``wav`` at the separator's level (as ``extract`` hands it to the tracker)."""
    return wav * normalising_gain(float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))) + 1e-9)


def scores(
    model: ExtractionModel, wav: np.ndarray, embedding: torch.Tensor, config: TrackConfig
) -> np.ndarray:
    """The tracker's window scores of ``wav`` at the separator's level."""
    return track(model, at_level(wav), embedding, config).scores


def window_levels(mix: np.ndarray, out: np.ndarray, centres: np.ndarray, width: int) -> np.ndarray:
    """Output over input level (dB) in ``width`` samples around each centre (samples)."""

    def power(x: np.ndarray) -> np.ndarray:
        cumulative = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
        a = np.clip(centres - width // 2, 0, x.size)
        b = np.clip(centres + width // 2, 0, x.size)
        return (cumulative[b] - cumulative[a]) / np.maximum(b - a, 1)

    n = min(mix.size, out.size)
    return 10 * np.log10((power(out[:n]) + 1e-10) / (power(mix[:n]) + 1e-10))


def pit_scores(
    pit: torch.nn.Module,
    model: ExtractionModel,
    mix: np.ndarray,
    rate: int,
    embedding: torch.Tensor,
    config: TrackConfig,
) -> np.ndarray:
    """Per window, the better tracker score of the two-talker separator's two outputs."""
    x = audio.resample(at_level(mix)[None], rate, pit.sample_rate)
    with torch.inference_mode():
        outs = pit(torch.from_numpy(np.ascontiguousarray(x))[None])[0].numpy()  # (2, T)
    outs = audio.resample(outs, pit.sample_rate, rate)
    found = [scores(model, out, embedding, config) for out in outs]
    n = min(s.size for s in found)
    return np.max(np.stack([s[:n] for s in found]), axis=0)


def shares_at(dump: np.ndarray, others_open: float) -> dict[str, dict[str, float]]:
    """Per-window rules without hysteresis (mixture score, and with a ``--pit`` dump the
    separator's better output and the larger of the two): the threshold that leaves
    ``others_open`` of the others-only windows open, and the share of the overlapped and the
    target-only windows it leaves open."""
    label = dump[2].astype(int)
    rules = {"mixture": dump[0]}
    if dump.shape[0] > 6:
        rules |= {"separated": dump[6], "larger": np.maximum(dump[0], dump[6])}
    out = {}
    for name, score in rules.items():
        threshold = float(np.quantile(score[label == 2], 1 - others_open))
        out[name] = {"both": float(np.mean(score[label == 3] >= threshold)),
                     "target": float(np.mean(score[label == 1] >= threshold))}  # fmt: skip
    return out


def report(path: Path) -> None:
    """``--report DUMP``: :func:`shares_at` at 20, 25 and 30 % of the others' windows open."""
    dump = np.load(path)["windows"]
    for share in (0.2, 0.25, 0.3):
        found = shares_at(dump, share)
        print(f"others {share:.0%} open: " + "; ".join(
            f"{k} overlapped {v['both']:.1%}, target {v['target']:.1%}" for k, v in found.items()
        ))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="only print an earlier dump's shares")
    parser.add_argument("--list", type=Path, help="a conversation list (with segments)")
    parser.add_argument("--pairs", type=Path, help="a pairs list (input, reference, enrollment)")
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--pit",
        type=Path,
        default=None,
        help="a two-talker separator: also score its outputs (seventh row)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.report is not None:
        report(args.report)
        return
    if args.out is None:
        parser.error("give --out (or --report DUMP)")
    pit = load_separation_model(args.pit).eval() if args.pit else None
    source = args.list or args.pairs
    with open(source, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    dump = []
    for index, row in enumerate(rows):
        folder = source.parent
        mix, rate = sf.read(folder / row["input"], dtype="float32")
        separator = load_separator("extract", args.model, folder / row["enrollment"], track=True)
        net, embedding = separator.extractor, separator.track_embedding
        assert net is not None and embedding is not None
        config = TrackConfig.for_model(net)
        separator.tracker = None
        out = separator.process(mix[None], rate)[0]
        a, b = scores(net, mix, embedding, config), scores(net, out, embedding, config)
        c = pit_scores(pit, net, mix, rate, embedding, config) if pit is not None else None
        n = min(a.size, b.size, c.size if c is not None else a.size)
        centres = (np.arange(n) * config.hop_seconds * 100).astype(int)
        if args.list:
            who = labels(folder / row["segments"], mix.size // HOP + 1)
            label = who[np.minimum(centres, who.size - 1)]
        else:
            label = np.full(n, 3 if row.get("reference") else 2)
        samples = (np.arange(n) * config.hop_seconds * rate).astype(int)
        whole = window_levels(mix, out, samples, int(config.window_seconds * rate))
        middle = window_levels(mix, out, samples, int(0.4 * rate))
        found = [a[:n], b[:n], label, np.full(n, index), whole, middle]
        dump.append(np.stack(found if c is None else [*found, c[:n]]))
        print(f"{index + 1}/{len(rows)} {row['input']}", flush=True)
    np.savez(args.out, windows=np.concatenate(dump, axis=1))


if __name__ == "__main__":
    main()
