"""The options of ``puresound train``, each named as the :class:`TrainConfig` field it sets.

The command's parameters carry these names, so the flags given on the command line become the
config's values without renaming (``--speech`` sets ``speech_dirs``, ``--time-budget`` sets
``time_budget_minutes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from puresound_cli.cli.app import LAZY_METAVARS
from puresound_cli.cli.options import TrainTask

BACKBONE_METAVAR = "BACKBONE"


def backbone_names() -> str:
    """The maskers' ``train --backbone`` names, the default first (read when help is shown)."""
    from puresound_cli.nets.maskers import BACKBONES, DEFAULT_BACKBONE

    return "|".join([DEFAULT_BACKBONE, *(b for b in BACKBONES if b != DEFAULT_BACKBONE)])


LAZY_METAVARS[BACKBONE_METAVAR] = backbone_names


def _opt(*names: str, **kw: Any) -> Any:
    """A train option that shows no default (the default is TrainConfig's, or the TOML's)."""
    return typer.Option(*names, show_default=False, **kw)


Task = Annotated[
    TrainTask | None,
    _opt("--task", help="extract, enhance, separate (two-talker) or vad (personal VAD)."),
]
Speech = Annotated[
    list[Path] | None,
    _opt("--speech", exists=True, file_okay=False, metavar="DIR",
         help="Speech folder (speakers.tsv, speaker subfolders or Kaldi lists); repeatable."),
]  # fmt: skip
Noise = Annotated[
    list[Path] | None,
    _opt("--noise", exists=True, file_okay=False, metavar="DIR", help="Noise folder; repeatable."),
]
Out = Annotated[Path | None, _opt("--out", metavar="RUN", help="Run folder.")]
ConfigFile = Annotated[
    Path | None,
    _opt("--config", exists=True, dir_okay=False, metavar="TOML",
         help="TOML file of training options (TrainConfig field names); flags override it."),
]  # fmt: skip
Settings = Annotated[
    list[str] | None,
    _opt("--set", metavar="KEY=VALUE",
         help="Any training option (TrainConfig field name), repeatable: --set sample_rate=8000 "
              "--set bandlimit_prob=0.3. Over --config; an option's own flag may not repeat it."),
]  # fmt: skip
Size = Annotated[
    str | None, _opt("--size", help="Size preset (default small).", metavar="tiny|small|seed")
]
Backbone = Annotated[
    str | None,
    _opt("--backbone", help="Masker (default: the first listed).", metavar=BACKBONE_METAVAR),
]
OldModel = Annotated[str | None, _opt("--model", hidden=True, help="Deprecated: use --size.")]
TimeBudget = Annotated[
    float | None,
    _opt("--time-budget", min=0.01, metavar="MINUTES",
         help="Wall-clock budget: a cosine schedule over it; model.pt is written inside it."),
]  # fmt: skip
MaxSteps = Annotated[int | None, _opt("--max-steps", min=1, metavar="N")]
BatchSize = Annotated[int | None, _opt("--batch-size", min=1, metavar="N")]
SegmentSeconds = Annotated[float | None, _opt("--segment-seconds", min=0.1, metavar="SECONDS")]
Lr = Annotated[float | None, _opt("--lr", metavar="RATE")]
ValidEvery = Annotated[int | None, _opt("--valid-every", min=1, metavar="STEPS")]
CheckpointEvery = Annotated[int | None, _opt("--checkpoint-every", min=1, metavar="STEPS")]
NumWorkers = Annotated[int | None, _opt("--num-workers", min=0, metavar="N")]
Threads = Annotated[int | None, _opt("--threads", min=0, metavar="N", help="0: all cores.")]
Seed = Annotated[int | None, _opt("--seed", metavar="N")]
ReverbProb = Annotated[float | None, _opt("--reverb-prob", min=0.0, max=1.0, metavar="P")]
TrainDevice = Annotated[
    str | None, _opt("--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps.")
]
Resume = Annotated[
    bool | None,
    _opt(
        "--resume/--no-resume",
        help="Continue RUN from its last checkpoint (default) or start afresh.",
    ),
]
InitFrom = Annotated[
    Path | None,
    _opt("--init-from", exists=True, dir_okay=False, metavar="CHECKPOINT",
         help="Start a new run from this checkpoint's weights (fine-tuning)."),
]  # fmt: skip
