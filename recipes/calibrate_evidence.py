"""Choose a selecting extractor's evidence bars (``ExtractorConfig.select_evidence_bar`` and
``select_output_bar``) on the calibration conversations (training voices only,
recipes/conversations.py --calibration).

With the tracker on, the select stage silences a window (to ``select_evidence_db``) where the
tracker's cosine on the mixture is below the evidence bar and the best output's cosine below
the output bar (puresound_cli/nets/select.py). Higher bars silence more of the other talkers
and of recordings without the target, and more of the target too. Each pair of the grid is
scored through the whole ``extract`` pipeline (recipes/score_conversations.py) on every
calibration conversation; the pick is the pair that lowers others kept plus target absent the
most while neither its target kept nor its SI-SDRi where the target overlaps another talker is
more than ``--loss`` dB below the model's without the bars (the output must stay where the
target talks, alone or not).

    .venv/bin/python recipes/calibrate_evidence.py models/extract-convtasnet-16k/model.pt \\
        --list runs/data/conversations-calib/conversations.tsv --out runs/evidence.pt

``--out`` receives the model with the picked bars (the weights unchanged); ``--json`` the table,
which ``--table`` reads back to pick again (another ``--loss``) without scoring.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

import torch
from score_conversations import score, summary

from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint
from puresound_cli.tracking import TrackConfig


def with_bar(
    checkpoint: dict, bar: float | None, output_bar: float = 1.0, db: float | None = None
) -> dict:
    """A copy of a selecting extractor's checkpoint with the evidence bars (and gain) set."""
    out = dict(checkpoint)
    out["config"] = dict(checkpoint["config"], select_evidence_bar=bar,
                         select_output_bar=output_bar)  # fmt: skip
    if db is not None:
        out["config"]["select_evidence_db"] = db
    model = model_from_checkpoint(out)  # validates the values
    if not getattr(model, "selects", False):
        raise SystemExit("the evidence bar is for a separate-then-select extractor")
    return out


KEEP = ("target_kept_db", "overlap_si_sdri_db")
"""What the bars may lower by at most ``--loss`` dB."""


def pick(table: dict[str, dict], loss: float) -> str:
    """The key of ``table`` ("none": the model without bars) with the lowest others kept plus
    target absent among those whose :data:`KEEP` figures are at most ``loss`` dB below
    "none"'s."""
    base = table["none"]
    kept = [m for m in KEEP if base[m] is not None]  # a list may lack overlap or references
    fits = [k for k, v in table.items() if all(v[m] >= base[m] - loss for m in kept)]
    silenced = ("others_kept_db", "absent_db")  # None where the list has no such talk
    return min(fits, key=lambda k: sum(table[k][m] or 0.0 for m in silenced))


def scored(
    checkpoint: dict, calibration: Path, grid: list[tuple[float | None, float]], db: float | None
) -> dict[str, dict]:
    """The conversations' summary (all of them) for each (evidence bar, output bar) of ``grid``,
    keyed "EVIDENCE:OUTPUT" ("none" for an evidence bar None)."""
    with open(calibration, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    options = argparse.Namespace(no_track=False, score_output=False, track=TrackConfig.for_model)
    table: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        options.model = str(Path(tmp) / "candidate.pt")
        for bar, output_bar in grid:
            name = "none" if bar is None else f"{bar:.2f}:{output_bar:.2f}"
            torch.save(with_bar(checkpoint, bar, output_bar, db), options.model)
            table[name] = summary([score(r, calibration.parent, options, []) for r in rows])["all"]
            print(name, json.dumps(table[name]), flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--list", type=Path, required=True)
    parser.add_argument("--bars", type=float, nargs="+", default=[0.55, 0.6],
                        help="evidence bars (the tracker's cosine on the mixture)")  # fmt: skip
    parser.add_argument("--output-bars", type=float, nargs="+", default=[0.66, 0.7],
                        help="output bars (the best output's cosine)")  # fmt: skip
    parser.add_argument("--db", type=float, default=None, help="the silenced windows' gain")
    parser.add_argument("--loss", type=float, default=0.3, help="dB of target kept to give up")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None, help="an earlier --json: no scoring")
    args = parser.parse_args()
    checkpoint = load_checkpoint(args.model)
    if args.table:
        table = json.loads(args.table.read_text())["table"]
    else:
        grid = [(b, o) for b in args.bars for o in args.output_bars]
        table = scored(checkpoint, args.list, [(None, 1.0), *grid], args.db)
    chosen = pick(table, args.loss)
    print(f"pick: {chosen} (evidence:output bars; target kept and overlap SI-SDRi within "
          f"{args.loss} dB of none)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"table": table, "pick": chosen}, indent=1) + "\n")
    if args.out and chosen != "none":
        bar, output_bar = (float(v) for v in chosen.split(":"))
        picked = with_bar(checkpoint, bar, output_bar, args.db)
        picked["meta"] = dict(
            picked.get("meta") or {},
            evidence_calibration={
                "list": str(args.list),
                "loss_db": args.loss,
                "pick": chosen,
                "table": table,
            },
        )
        torch.save(picked, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
