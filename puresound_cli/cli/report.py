"""Reporting on stderr: error lines, logging, the progress bar; JSON lines on stdout."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from puresound_cli.errors import PuresoundError

logger = logging.getLogger("puresound_cli")


class Reporter:
    """Error lines, logging and the progress bar, all on stderr."""

    def __init__(self, quiet: bool, debug: bool) -> None:
        from rich.console import Console
        from rich.logging import RichHandler

        self.quiet = quiet
        self.debug = debug
        self.console = Console(stderr=True)
        handler: logging.Handler
        if self.console.is_terminal:
            handler = RichHandler(
                console=self.console,
                show_time=False,
                show_path=False,
                rich_tracebacks=debug,
                markup=False,
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
        else:  # a log file or pipe: one plain line per message, never wrapped or padded
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(PlainFormatter())
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
        self.failed = 0

    def error(self, name: str | None, reason: str, exc: BaseException | None = None) -> None:
        """One line on stderr (plus the traceback with --debug)."""
        message = f"error: {name}: {reason}" if name else f"error: {reason}"
        self.console.print(message, soft_wrap=True, markup=False, highlight=False, style="red")
        if self.debug and exc is not None:
            import traceback

            self.console.print(
                "".join(traceback.format_exception(exc)), soft_wrap=True, markup=False
            )

    def progress(self) -> Any:
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("RTF {task.fields[rtf]}"),
            console=self.console,
            transient=True,
            disable=self.quiet or not self.console.is_terminal,
        )


class PlainFormatter(logging.Formatter):
    """``message`` for info, ``warning: message`` otherwise (like the ``error:`` lines)."""

    def format(self, record: logging.LogRecord) -> str:
        message = " ".join(record.getMessage().split())
        if record.levelno == logging.INFO:
            return message
        return f"{record.levelname.lower()}: {message}"


def usage_error(reporter: Reporter, message: str) -> typer.Exit:
    reporter.error(None, message)
    return typer.Exit(2)


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, PuresoundError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {exc}"


def split_name(message: str, name: str) -> str:
    """Drop a leading 'name: ' that library messages carry, so the line names the file once."""
    for prefix in (f"{name}: ", "<stdin>: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


class Interruption:
    """What stopped a run: Ctrl-C (exit 130) or SIGTERM (exit 143, 128 + 15, as shells do)."""

    def __init__(self) -> None:
        self.terminated = False

    @property
    def exit_code(self) -> int:
        return 143 if self.terminated else 130

    @property
    def reason(self) -> str:
        return "terminated" if self.terminated else "interrupted"


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[Interruption]:
    """Treat SIGTERM like Ctrl-C while files are written, so no temporary file is left.

    Yields the :class:`Interruption` that says which of the two happened.
    """
    import signal

    state = Interruption()

    def handler(signum: int, frame: object) -> None:
        state.terminated = True
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread (embedded use): leave the default
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


def json_line(record: dict[str, Any]) -> None:
    """One JSON object per line on stdout (flushed)."""
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def plot_pair(reporter: Reporter, source: Any, dest: Any) -> None:
    """``--plot``: before/after spectrograms beside the output (a failure is reported, not
    fatal)."""
    from puresound_cli.plot import plot_spectrograms

    png = Path(dest).with_suffix(".png")
    try:
        plot_spectrograms(source, dest, png)
        logger.info("spectrograms -> %s", png)
    except Exception as err:  # noqa: BLE001 - a failed plot does not fail the file
        reporter.error(str(source), f"could not plot ({describe_exception(err)})", err)
