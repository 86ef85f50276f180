"""The Typer application and its global options (``--version``, ``-h/--help``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperOption

from puresound_cli import __version__

LAZY_METAVARS: dict[str, Callable[[], str]] = {}
"""Metavars filled in when help is shown: their lists live in modules that import torch, which
the CLI loads only when a command runs (``train``'s ``--backbone`` lists the maskers' table)."""


def _option_display(self: TyperOption, ctx: Any) -> str | None:
    """What help prints after an option: nothing for flags (typer prints ``<bool>``), the lazy
    metavars filled in."""
    if self.is_flag and not self.count:
        return None
    shown = _option_type(self, ctx)
    return LAZY_METAVARS[shown]() if shown in LAZY_METAVARS else shown


_option_type = TyperOption.display_type_rich
# typer has no hook for either; mypy refuses assigning to a method
TyperOption.display_type_rich = _option_display  # type: ignore[method-assign]
# An argument's metavar (``INPUT``) says what it takes; no ``<list[str]>`` beside it.
TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]

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
