"""Options shared by several commands, defined once (Typer ``Annotated`` aliases)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class Task(str, Enum):
    """What a model does."""

    extract = "extract"
    enhance = "enhance"


class TrainTask(str, Enum):
    """What a trained model does (``separate``: a two-talker separator, for pre-training)."""

    extract = "extract"
    enhance = "enhance"
    separate = "separate"
    vad = "vad"


class Device(str, Enum):
    """Where the network runs."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Audio files, folders (searched recursively) or '-' for a WAV on stdin.",
        metavar="INPUT",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file, folder (mirrors input folders) or '-' for a WAV on stdout.",
        metavar="PATH",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Registered model name or checkpoint path (default: the shipped model for the task).",
        metavar="NAME|PATH",
        show_default=False,
    ),
]
DeviceOpt = Annotated[Device, typer.Option("--device", help="Where to run the network.")]
SegmentOpt = Annotated[
    float | None,
    typer.Option(
        "--segment",
        min=0.01,
        metavar="SECONDS",
        help="Chunk length in seconds (default: 10, or 4 overlaps for long-context models).",
        show_default=False,
    ),
]
OverlapOpt = Annotated[
    float | None,
    typer.Option(
        "--overlap",
        min=0.0,
        metavar="SECONDS",
        help="Overlap between chunks in seconds (default: 2.5, or the model's receptive field).",
        show_default=False,
    ),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")]
SuffixOpt = Annotated[
    str,
    typer.Option("--suffix", help="Append to output file names, e.g. '_enhanced'.", metavar="TEXT"),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr; no progress bar.")
]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Debug logging and full tracebacks on errors.")
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON summary line per file on stdout."),
]
PlotOpt = Annotated[
    bool,
    typer.Option("--plot", help="Save OUTPUT.png spectrograms before/after (needs matplotlib)."),
]
StreamOpt = Annotated[
    bool,
    typer.Option(
        "--stream",
        help="Live: WAV on stdin processed and written to stdout block by block (causal "
        "models; latency one STFT window less a hop).",
    ),
]
EnrollOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--enroll",
        "-e",
        help="A recording of the target speaker (a few seconds of their voice); repeat it or "
        "give a folder to combine several recordings of that voice.",
        metavar="SPK",
        show_default=False,
    ),
]
ForceEnrollOpt = Annotated[
    bool,
    typer.Option(
        "--force-enroll",
        help="Use the enrollment even with under 1 s of speech or when it is not speech.",
    ),
]
VadGateOpt = Annotated[
    str | None,
    typer.Option(
        "--vad",
        help="A personal VAD checkpoint: silence the output where the target is absent.",
        metavar="PATH",
        show_default=False,
    ),
]
TrackOpt = Annotated[
    bool | None,
    typer.Option(
        "--track/--no-track",
        help="Track who talks when and silence the output where the enrolled voice does not "
        "talk (--json reports its talk segments); the shipped extractor also silences what "
        "neither the tracker nor its separated voices find like the enrollment (on held-out "
        "conversations: others 19 dB below the target, a recording without it 28 dB below the "
        "input on average). Default: when the model carries a calibrated tracking net, as the "
        "shipped extractor does. Not with --stream.",
        show_default=False,
    ),
]
ShardOpt = Annotated[
    str,
    typer.Option(
        "--shard",
        help="Process only part K of N of the input files (e.g. 3/8), split by a hash of each "
        "file's path: N workers, on one machine or many, share a batch with no overlap.",
        metavar="K/N",
    ),
]
SkipExistingOpt = Annotated[
    bool,
    typer.Option(
        "--skip-existing",
        help="Keep outputs that already exist and count them as done: rerun an interrupted "
        "batch to continue it (outputs are only ever written whole).",
    ),
]
