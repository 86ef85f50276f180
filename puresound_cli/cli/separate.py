"""``puresound extract`` and ``puresound enhance``: check the options, plan the jobs, run them.

The work itself is :func:`puresound_cli.separate.load_separator` (load, embed once) and
:meth:`~puresound_cli.separate.Separator.process_file` (stream one file); this module turns
options into those calls and failures into one line each.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from puresound_cli.cli.app import app
from puresound_cli.cli.options import (
    DebugOpt,
    Device,
    DeviceOpt,
    EnrollOpt,
    ForceEnrollOpt,
    Inputs,
    JsonOpt,
    ModelOpt,
    OutputOpt,
    OverlapOpt,
    OverwriteOpt,
    PlotOpt,
    QuietOpt,
    SegmentOpt,
    StreamOpt,
    SuffixOpt,
    TrackOpt,
    VadGateOpt,
)
from puresound_cli.cli.report import (
    Reporter,
    describe_exception,
    interrupt_on_sigterm,
    json_line,
    plot_pair,
    split_name,
    usage_error,
)
from puresound_cli.errors import PuresoundError

logger = logging.getLogger("puresound_cli")


@dataclass(frozen=True)
class RunOptions:
    """What extract and enhance were asked to do."""

    task: str
    inputs: list[str]
    output: str | None
    enroll: list[Path]
    model: str | None
    device: Device
    segment: float | None
    overlap: float | None
    overwrite: bool
    suffix: str
    as_json: bool
    plot: bool
    force_enroll: bool = False
    vad: str | None = None
    stream: bool = False
    track: bool = True


def _check_usage(reporter: Reporter, o: RunOptions) -> str:
    """Cheap checks before anything heavy; returns the output argument."""
    output = o.output
    if output is None:
        raise usage_error(reporter, "missing -o/--output (a file, a folder or '-' for stdout)")
    if not output.strip():
        raise usage_error(reporter, "-o/--output is empty")
    if any(not arg.strip() for arg in o.inputs):
        raise usage_error(reporter, "an INPUT is an empty string")
    if o.model is not None and not o.model.strip():
        raise usage_error(reporter, "--model is empty")
    if o.task == "extract" and not o.enroll:
        raise usage_error(reporter, "missing --enroll SPK: a recording of the target speaker")
    if sum(str(e) == "-" for e in o.enroll) > 1:
        raise usage_error(reporter, "stdin ('-') can feed one --enroll only")
    if any(str(e) == "-" for e in o.enroll) and "-" in o.inputs:
        raise usage_error(reporter, "stdin ('-') can feed the INPUT or --enroll, not both")
    if o.segment is not None and o.overlap is not None and o.overlap >= o.segment:
        raise usage_error(
            reporter, f"--overlap ({o.overlap} s) must be below --segment ({o.segment} s)"
        )
    if o.vad is not None and "-" in o.inputs:
        raise usage_error(reporter, "--vad reads each input twice: it needs files, not stdin")
    if "-" in o.inputs and sys.stdin.isatty():
        raise usage_error(reporter, "'-' reads audio from stdin, but nothing is piped in")
    if output == "-" and sys.stdout.isatty():
        raise usage_error(reporter, "refusing to write binary audio to a terminal (-o -)")
    if o.plot:
        if output == "-":
            raise usage_error(reporter, "--plot needs a file or folder output, not stdout")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise usage_error(
                reporter, "--plot needs matplotlib: pip install 'puresound[plot]'"
            ) from None
    from puresound_cli import pretrained

    if o.model is None and pretrained.default_model(o.task) is None:
        message = f"no default {o.task} model is shipped yet: pass a checkpoint with --model PATH"
        raise usage_error(reporter, message)
    return output


def run_separation(o: RunOptions, quiet: bool, debug: bool) -> None:
    """Shared body of extract and enhance; always ends with ``typer.Exit``."""
    reporter = Reporter(quiet, debug)
    output = _check_usage(reporter, o)
    if o.stream:
        from puresound_cli.cli.live import run_stream

        run_stream(reporter, o)
    from puresound_cli.jobs import plan_jobs

    try:
        plan = plan_jobs(o.inputs, output, o.suffix, o.overwrite, (".png",) if o.plot else (),
                         _read_files(o))  # fmt: skip
    except ValueError as err:
        raise usage_error(reporter, str(err)) from None
    for line in plan.info:
        logger.info("%s", line)
    for note in plan.notes:
        logger.warning("%s", note)
    as_json = o.as_json and output != "-"
    if o.as_json and output == "-":
        logger.warning("--json: stdout carries the audio (-o -), so no JSON lines are printed")
    failed = 0
    for name, reason in plan.failures:
        reporter.error(name, reason)
        failed += 1
        if as_json:
            json_line({"input": name, "status": "error", "error": reason})
    if not plan.jobs:
        raise typer.Exit(1 if failed else 0)

    # Heavy part: torch, the model, the enrollment embedding (once per run).
    from puresound_cli.runtime import pick_device, set_threads
    from puresound_cli.separate import load_separator

    try:
        device = pick_device(o.device.value)
    except PuresoundError as err:
        raise usage_error(reporter, str(err)) from None
    threads = set_threads()
    from puresound_cli.enrollment import enrollment_files

    try:
        enrollments = enrollment_files(o.enroll)
        separator = load_separator(
            o.task,
            o.model,
            enrollments,
            device,
            o.segment,
            o.overlap,
            o.force_enroll,
            track=o.track,
        )
    except Exception as err:  # noqa: BLE001 - bad model or enrollment: one line, exit 1
        reporter.error(None, describe_exception(err), err)
        raise typer.Exit(1) from None
    logger.debug("model %s on %s, %d threads", o.model or "default", device, threads)
    vad = None
    if o.vad is not None:
        from puresound_cli.vad import load_vad, vad_gate

        try:
            vad = load_vad(o.vad, enrollments[0], device)
        except Exception as err:  # noqa: BLE001 - bad VAD model: one line, exit 1
            reporter.error(None, f"--vad: {describe_exception(err)}", err)
            raise typer.Exit(1) from None

    with interrupt_on_sigterm() as signals, reporter.progress() as progress:
        for job in plan.jobs:
            name = "<stdin>" if job.source == "-" else str(job.source)
            task_id = progress.add_task(Path(name).name, total=None, rtf="-")
            started = time.perf_counter()

            def on_progress(
                done: float, total: float, task_id: Any = task_id, started: float = started
            ) -> None:
                rtf = (time.perf_counter() - started) / done if done > 0 else 0.0
                progress.update(task_id, completed=done, total=total, rtf=f"{rtf:.3f}")

            try:
                gate = vad_gate(*vad, job.source) if vad is not None else None
                result = separator.process_file(
                    job.source, job.dest, progress=on_progress, overwrite=o.overwrite, gate=gate
                )
            except KeyboardInterrupt:
                reporter.error(name, f"{signals.reason} (no partial output was written)")
                raise typer.Exit(signals.exit_code) from None
            except Exception as err:  # noqa: BLE001 - one line per failed file, keep going
                failed += 1
                reason = split_name(describe_exception(err), name)
                reporter.error(name, reason, err)
                if as_json:
                    json_line({"input": name, "output": str(job.dest), "status": "error",
                               "error": reason})  # fmt: skip
                continue
            finally:
                progress.remove_task(task_id)
            dest = "<stdout>" if job.dest == "-" else job.dest
            speed = f", RTF {result.rtf:.3f}" if result.rtf is not None else ""
            logger.info("%s -> %s (%.1f s%s)", name, dest, result.seconds, speed)
            if o.plot and job.source == "-":
                logger.warning("--plot: no spectrogram for stdin input (it cannot be re-read)")
            elif o.plot:
                plot_pair(reporter, job.source, job.dest)
            summary = result.as_dict()
            if separator.last_track is not None:
                talk = separator.last_track
                logger.info("%s: the enrolled voice talks %.1f s in %d segments", name,
                            talk.talk_seconds(), len(talk.segments()))  # fmt: skip
                summary.update(talk.as_dict())
            if as_json:
                json_line(summary)
    raise typer.Exit(1 if failed else 0)


def _read_files(o: RunOptions) -> list[tuple[str, str | Path]]:
    """Files the run reads besides its inputs (enrollments, model, VAD model): never outputs."""
    from puresound_cli.checkpoint import model_file
    from puresound_cli.enrollment import enrollment_files

    files: list[tuple[str, str | Path]] = []
    try:  # an unusable enrollment or model is reported when it is loaded
        files += [("enrollment", e) for e in enrollment_files(o.enroll)]
        files += [("model", model_file(o.model))] if o.model else []
        files += [("VAD model", model_file(o.vad))] if o.vad else []
    except PuresoundError:
        pass
    return files


@app.command()
def extract(
    inputs: Inputs,
    output: OutputOpt = None,
    enroll: EnrollOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = Device.auto,
    segment: SegmentOpt = None,
    overlap: OverlapOpt = None,
    overwrite: OverwriteOpt = False,
    suffix: SuffixOpt = "",
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    json_lines: JsonOpt = False,
    plot: PlotOpt = False,
    force_enroll: ForceEnrollOpt = False,
    vad: VadGateOpt = None,
    stream: StreamOpt = False,
    track: TrackOpt = True,
) -> None:
    """Keep only the enrolled speaker's voice: puresound extract MIX --enroll SPK -o OUT."""
    options = RunOptions("extract", inputs, output, list(enroll or []), model, device, segment,
                         overlap, overwrite, suffix, json_lines, plot, force_enroll, vad,
                         stream, track=track)  # fmt: skip
    run_separation(options, quiet, debug)


@app.command()
def enhance(
    inputs: Inputs,
    output: OutputOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = Device.auto,
    segment: SegmentOpt = None,
    overlap: OverlapOpt = None,
    overwrite: OverwriteOpt = False,
    suffix: SuffixOpt = "",
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
    json_lines: JsonOpt = False,
    plot: PlotOpt = False,
    stream: StreamOpt = False,
) -> None:
    """Remove noise from speech: puresound enhance IN... -o OUT."""
    options = RunOptions("enhance", inputs, output, [], model, device, segment, overlap,
                         overwrite, suffix, json_lines, plot, stream=stream,
                         track=False)  # fmt: skip
    run_separation(options, quiet, debug)
