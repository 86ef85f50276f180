"""``puresound models``: the shipped pretrained models, as a table or JSON lines."""

from __future__ import annotations

from typing import Annotated

import typer

from puresound_cli.cli.app import app
from puresound_cli.cli.report import json_line


@app.command("models")
def models_command(
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print one JSON line per model on stdout.")
    ] = False,
) -> None:
    """List the shipped pretrained models: name, task, sample rate, size and scores."""
    from puresound_cli import pretrained

    entries = pretrained.available_models()
    if json_lines:
        for m in entries:
            record = {
                "name": m.name,
                "task": m.task,
                "sample_rate": m.sample_rate,
                "params": m.params,
                "metrics": m.metrics,
                "default": pretrained.DEFAULTS.get(m.task) == m.name,
                "roles": pretrained.roles(m.name),
            }
            json_line(record)
        return
    if not entries:
        typer.echo("No pretrained models are shipped yet; pass a checkpoint with --model PATH.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for title in ("name", "task", "rate", "params"):
        table.add_column(title, no_wrap=True)
    table.add_column("dev scores")
    for m in entries:
        scores = "\n".join(f"{k.removeprefix('dev_')} {v:.2f}" for k, v in m.metrics.items())
        task = "\n".join([m.task, *(f"({role})" for role in pretrained.roles(m.name))])
        size = f"{m.params / 1e6:.2f} M" if m.params else "?"
        rate = f"{m.sample_rate / 1000:g} kHz"
        table.add_row(m.name, task, rate, size, scores)
    Console().print(table)
