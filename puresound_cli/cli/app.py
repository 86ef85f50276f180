"""The Typer application and its global options (``--version``, ``-h/--help``)."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperArgument, TyperOption

from puresound_cli import __version__


def _flag_type(self: TyperOption, ctx: object) -> str | None:
    """No type column for flags (typer prints ``<bool>`` after options that take no value)."""
    if getattr(self, "is_flag", False) and not getattr(self, "count", False):
        return None
    return _option_type(self, ctx)  # type: ignore[arg-type]


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]
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
