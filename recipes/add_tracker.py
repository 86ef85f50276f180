"""Give an extractor a speaker net of its own for tracking who talks when.

The separator's conditioning was learnt on its speaker net's embedding space, so a better
speaker net (recipes/distill_speaker.py with --degrade) cannot replace it without retraining the
separator. The tracker (puresound_cli/tracking.py) only compares embeddings of the same net, so
it can use the new net at once: this script copies the speaker net of DISTILLED into EXTRACTOR
as ``tracker`` (``ExtractorConfig.tracker``), with the tracker's calibrated thresholds, and
leaves every separation weight as it was (with ``--level-db 0`` the separated signal is
bit-identical; ``--level-db`` only scales it).

    .venv/bin/python recipes/add_tracker.py models/extract-convtasnet-16k/model.pt \\
        runs/distill2/speaker.pt --open 0.9 --close 0.85 --out runs/extract-tracker.pt
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from puresound_cli.nets import build, with_output_gain


def attach(
    base: Any,
    net: nn.Module,
    open_cosine: float,
    close_cosine: float,
    adapt: float | None,
    rescue: float | None = None,
) -> Any:
    """``base`` (an Extractor) with ``net`` (a SpeakerNet) as its tracker, thresholds set; the
    separation weights are untouched. Where ``net`` is the base's own speaker net (same config,
    same weights: a separator conditioned on the tracking net), it is not stored twice: the
    speaker net is marked as the tracking net (``ExtractorConfig.track_with_speaker``)."""
    same = net.config == base.config.speaker and _same_weights(net, base.speaker)
    config = dataclasses.replace(
        base.config,
        tracker=None if same else net.config,
        track_with_speaker=same,
        track_open_cosine=open_cosine,
        track_close_cosine=close_cosine,
        track_adapt_cosine=adapt,
        track_rescue_cosine=rescue,
    )
    model = build("extractor", dataclasses.asdict(config))
    state = base.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("tracker.")}
    if not same:
        state.update({f"tracker.{k}": v for k, v in net.state_dict().items()})
    model.load_state_dict(state, strict=True)
    return model


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    x, y = a.state_dict(), b.state_dict()
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extractor", type=Path)
    parser.add_argument("distilled", type=Path, help="an extractor whose speaker net tracks")
    parser.add_argument("--open", type=float, required=True, help="opening cosine")
    parser.add_argument("--close", type=float, required=True, help="closing cosine")
    parser.add_argument("--adapt", type=float, default=None, help="adaptation cosine")
    parser.add_argument("--rescue", type=float, default=None, help="level-rescue cosine")
    parser.add_argument(
        "--level-db",
        type=float,
        default=0.0,
        help="raise the output level by this much (the median level the separator loses where "
        "the target talks alone, measured on the calibration conversations)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    ckpt = load_checkpoint(args.extractor)
    base = model_from_checkpoint(ckpt)
    source_ckpt = load_checkpoint(args.distilled)
    source = model_from_checkpoint(source_ckpt)
    model = attach(base, source.speaker, args.open, args.close, args.adapt, args.rescue)
    if args.level_db:
        model = with_output_gain(model, 10 ** (args.level_db / 20))
    meta = dict(ckpt.get("meta") or {})
    meta["tracker"] = {
        "source": str(args.distilled),
        "distillation": (source_ckpt.get("meta") or {}).get("speaker_distillation"),
        "open_cosine": args.open,
        "close_cosine": args.close,
        "adapt_cosine": args.adapt,
        "rescue_cosine": args.rescue,
        "level_db": args.level_db,
    }
    save_checkpoint(args.out, model.eval(), meta=meta)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
