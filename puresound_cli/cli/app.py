"""The Typer application and its global options (``--version``, ``-h/--help``)."""

from __future__ import annotations

from typing import Annotated

import typer

from puresound_cli import __version__

app = typer.Typer(
    name="puresound",
    help="Speech enhancement and target-speaker extraction.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"puresound {__version__}")
        raise typer.Exit()


@app.callback()
def _main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Speech enhancement and target-speaker extraction from the command line."""
