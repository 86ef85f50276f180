"""``puresound evaluate``: score a model over a list of pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from puresound_cli.cli.app import app
from puresound_cli.cli.options import (
    DebugOpt,
    Device,
    DeviceOpt,
    ModelOpt,
    OverlapOpt,
    QuietOpt,
    SegmentOpt,
    Task,
    TrackOpt,
)
from puresound_cli.cli.report import Reporter, json_line, usage_error
from puresound_cli.errors import PuresoundError


@app.command()
def evaluate(
    pairs: Annotated[
        Path,
        typer.Option(
            "--pairs",
            exists=True,
            dir_okay=False,
            metavar="TSV",
            help="TSV: input, reference[, enrollment]; empty reference = target absent.",
        ),
    ],
    task: Annotated[
        Task | None,
        typer.Option("--task", help="Default: the model's, else read from the pairs list."),
    ] = None,
    model: ModelOpt = None,
    device: DeviceOpt = Device.auto,
    segment: SegmentOpt = None,
    overlap: OverlapOpt = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON line per item, then a 'mean' line.")
    ] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    track: TrackOpt = None,
) -> None:
    """Score a model: SI-SDR, SI-SDRi (PESQ and STOI with the 'eval' extra) over a pairs list."""
    reporter = Reporter(quiet, debug)
    from puresound_cli import pretrained
    from puresound_cli.checkpoint import load_separation_model
    from puresound_cli.evaluate import METRICS, pairs_task
    from puresound_cli.evaluate import evaluate as run_evaluation
    from puresound_cli.runtime import pick_device, set_threads

    try:
        task_name = task.value if task else None
        if task_name is None and model is None:
            task_name = pairs_task(pairs)  # an enrollment column means extract
        name = model or pretrained.DEFAULTS.get(task_name or "")
        if name is None:
            raise usage_error(reporter, f"no {task_name} model is shipped: pass --model NAME|PATH")
        torch_device = pick_device(device.value)
    except PuresoundError as err:
        raise usage_error(reporter, str(err)) from err
    set_threads()
    narrow_name = None  # the default's narrow-band partner, as `enhance` uses it
    if model is None and task_name in pretrained.TASKS:
        narrow_name = pretrained.narrowband_model(task_name)
    try:  # a bad model: exit 1, as in extract, enhance, vad and export
        net = load_separation_model(name, torch_device)
        narrowband = (
            None if narrow_name is None else load_separation_model(narrow_name, torch_device)
        )
    except PuresoundError as err:
        reporter.error(None, str(err), err)
        raise typer.Exit(1) from None
    try:
        result = run_evaluation(net, pairs, task_name, segment, overlap, track=track,
                                narrowband=narrowband)  # fmt: skip
    except PuresoundError as err:
        reporter.error(None, str(err), err)
        raise typer.Exit(1) from err

    def fmt(v: float) -> str:
        return "" if v != v else f"{v:.2f}"

    if json_lines:
        for item in result.items:
            json_line(item.as_dict())
        mean = {k: (None if v != v else v) for k, v in result.mean.items()}
        json_line({"mean": mean, "counts": result.counts})
    else:
        from rich.console import Console
        from rich.table import Table

        shown = [c for c in METRICS if result.counts[c]]
        table = Table("input", *shown)
        for item in result.items:
            cells = [fmt(getattr(item, c)) for c in shown]
            note = item.error or item.skipped
            label = Path(item.input).name + (f" ({note})" if note else "")
            table.add_row(label, *cells)
        table.add_row("mean", *(fmt(result.mean[c]) for c in shown), style="bold")
        Console(width=200).print(table)
    if any(item.error for item in result.items):
        raise typer.Exit(1)
