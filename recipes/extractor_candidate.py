"""Turn an extraction run's checkpoint (a snapshot or ``model.pt``) into a candidate ``extract``
model, levelled the way the shipped extractor was, so that snapshots of different runs can be
scored alike on the dev lists and the conversations.

1. Output level: the median least-squares gain over the run's own validation set (held-out
   training voices; ``release.levelled``, as ``recipes/release.py`` does).
2. Tracker level: with tracking the gate passes the separator's output where the target talks,
   and the separator keeps a little less than the input there; the shipped rule raises the
   output by the median level lost where the target talks alone on the *calibration*
   conversations (training voices only; ``recipes/conversations.py --calibration``), measured
   here with tracking off (``recipes/add_tracker.py --level-db``).

A training run keeps no tracking net (the trainer builds the model from its config): the
candidate takes the tracking net and its calibrated thresholds from ``--tracker-from`` (the
shipped extractor by default), as ``recipes/add_tracker.py`` does.

A two-talker separator (``train --task separate``) becomes a separate-then-select extractor
(``puresound_cli/nets/select.py``): the tracking net is its speaker net too, and chooses the
output that holds the enrolled voice window by window. Step 1 is skipped for it (its run's
validation set is of separation), and so is step 2: each output is scaled to the input by least
squares before the choice, so the output level needs no calibration.

    .venv/bin/python recipes/extractor_candidate.py runs/extract-campaign/at-60min.pt \\
        --out runs/extract-campaign/cand-60.pt
    .venv/bin/python recipes/score_conversations.py --model runs/extract-campaign/cand-60.pt
    .venv/bin/puresound evaluate --pairs runs/data/dev/extract.tsv \\
        --model runs/extract-campaign/cand-60.pt
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
from pathlib import Path
from typing import Any

from add_tracker import attach
from release import levelled
from score_conversations import score

from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from puresound_cli.nets import ConvTasNet, Extractor, with_output_gain
from puresound_cli.nets.extractor import ExtractorConfig


def selecting(
    separator: ConvTasNet, tracker: Any, source: ExtractorConfig, rescue: float | None
) -> Extractor:
    """A separate-then-select extractor: ``separator``'s weights, ``tracker`` as its speaker
    net and tracking net, ``source``'s tracker thresholds."""
    config = ExtractorConfig(
        separator=separator.config,
        speaker=tracker.config,
        track_with_speaker=True,
        track_open_cosine=source.track_open_cosine,
        track_close_cosine=source.track_close_cosine,
        track_adapt_cosine=source.track_adapt_cosine,
        track_rescue_cosine=rescue,
    )
    model = Extractor(config)
    model.separator.load_state_dict(separator.state_dict())
    model.speaker.load_state_dict(tracker.state_dict())
    return model.eval()


def tracker_level(model: Extractor, meta: dict, calibration: Path) -> Extractor:
    """``model`` raised by the median level it loses where the target talks alone on the
    calibration conversations (separator alone); the raise is recorded in ``meta``."""
    with open(calibration, newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["reference"]]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "levelled.pt"
        save_checkpoint(checkpoint, model, meta=meta)
        options = argparse.Namespace(model=str(checkpoint), no_track=True, score_output=False)
        kept = [score(r, calibration.parent, options, [])["target_kept_db"] for r in rows]
    level_db = -statistics.median(kept)
    print(f"tracker level: {level_db:+.2f} dB (median target kept {-level_db:.2f} dB, "
          f"{len(kept)} calibration conversations)")  # fmt: skip
    meta["tracker"]["level_db"] = round(level_db, 2)
    return with_output_gain(model, 10 ** (level_db / 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--calibration",
        type=Path,
        default=Path("runs/data/conversations-calib/conversations.tsv"),
        help="conversations of training voices (recipes/conversations.py --calibration)",
    )
    parser.add_argument(
        "--tracker-from",
        type=Path,
        default=Path("models/extract-convtasnet-16k/model.pt"),
        help="an extractor whose tracking net and thresholds the candidate takes",
    )
    parser.add_argument("--examples", type=int, default=128)
    parser.add_argument(
        "--rescue",
        type=float,
        default=None,
        help="the tracker's level-rescue cosine (recipes/calibrate_tracker.py --rescue-others)",
    )
    args = parser.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(ckpt)
    source_ckpt = load_checkpoint(args.tracker_from)
    source = model_from_checkpoint(source_ckpt)
    c = source.config
    tracker = source.speaker if c.track_with_speaker else source.tracker  # stored once, or its own
    if tracker is None:
        parser.error(f"{args.tracker_from}: no tracking net")
    meta = dict(ckpt.get("meta") or {})
    meta["tracker"] = dict((source_ckpt.get("meta") or {}).get("tracker") or {})
    meta["tracker"]["rescue_cosine"] = args.rescue
    if isinstance(model, ConvTasNet) and model.config.sources == 2:
        model = selecting(model, tracker, c, args.rescue)  # its outputs take the input's scale
        meta["tracker"].pop("level_db", None)  # the donor's raise is not this model's
    else:
        model = attach(model, tracker, c.track_open_cosine, c.track_close_cosine,
                       c.track_adapt_cosine, rescue=args.rescue)  # fmt: skip
        model = levelled(model, meta, args.examples)
        gain, items = meta["output_calibration"]["gain"], meta["output_calibration"]["items"]
        print(f"output level: gain {gain:.4f} over {items} validation items")
        model = tracker_level(model, meta, args.calibration)
    meta["release"] = {"source": str(args.checkpoint)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(args.out, model, meta=meta)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
