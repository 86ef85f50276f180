"""``--stream``: a live WAV stream from stdin to stdout through a causal model."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import typer

from puresound_cli.cli.report import Reporter, interrupt_on_sigterm, usage_error
from puresound_cli.errors import PuresoundError

if TYPE_CHECKING:
    from puresound_cli.cli.usage import RunOptions

logger = logging.getLogger("puresound_cli")


def run_stream(reporter: Reporter, o: RunOptions) -> None:
    """``--stream``: a live WAV stream from stdin to stdout through a causal model."""
    if o.inputs != ["-"] or o.output != "-":
        raise usage_error(reporter, "--stream reads WAV on stdin and writes WAV on stdout: "
                          "give '-' as INPUT and -o -")  # fmt: skip
    if o.vad is not None or o.plot or o.as_json:
        raise usage_error(reporter, "--stream works alone: not with --vad, --plot or --json")
    from puresound_cli.enrollment import enrollment_files
    from puresound_cli.runtime import pick_device, set_threads
    from puresound_cli.separate import load_separator
    from puresound_cli.stream import stream_wav, streamable

    ignored = [name for name, given in (("--segment", o.segment is not None),
               ("--overlap", o.overlap is not None), ("--suffix", bool(o.suffix)),
               ("--overwrite", o.overwrite), ("--skip-existing", o.skip_existing),
               ("--shard", o.shard != "1/1")) if given]  # fmt: skip
    if ignored:
        logger.warning("--stream ignores %s (blocks are processed as they arrive, into stdout)",
                       ", ".join(ignored))  # fmt: skip
    if o.task == "extract" and o.track:
        logger.info("--stream: no speaker tracking (it needs the whole recording); the "
                    "separator's output is kept everywhere")  # fmt: skip
    try:
        enrollments = enrollment_files(o.enroll) if o.enroll else None
        separator = load_separator(o.task, o.model, enrollments, pick_device(o.device.value),
                                   force_enroll=o.force_enroll, streaming=True)  # fmt: skip
    except PuresoundError as err:
        raise usage_error(reporter, str(err)) from None
    reason = streamable(separator.model)
    if reason:
        raise usage_error(reporter, f"--stream: {reason}")
    set_threads()
    with interrupt_on_sigterm() as signals:
        try:
            frames = stream_wav(separator.model, separator.embedding, sys.stdin.fileno(),
                                sys.stdout.buffer)  # fmt: skip
        except KeyboardInterrupt:
            reporter.error("<stdin>", signals.reason)
            raise typer.Exit(signals.exit_code) from None
        except PuresoundError as err:
            reporter.error(None, str(err), err)
            raise typer.Exit(1) from None
    logger.info("<stdin> -> <stdout> (%d frames, streamed)", frames)
    raise typer.Exit(0)
