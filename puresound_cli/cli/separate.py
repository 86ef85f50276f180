"""``puresound extract`` and ``puresound enhance``: check the options, plan the jobs, run them.

The work itself is :func:`puresound_cli.separate.load_separator` (load, embed once) and
:meth:`~puresound_cli.separate.Separator.process_file` (stream one file); this module turns
options into those calls and failures into one line each.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    ShardOpt,
    SkipExistingOpt,
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
from puresound_cli.cli.usage import RunOptions, check_usage, read_files
from puresound_cli.errors import PuresoundError

if TYPE_CHECKING:
    from torch import Tensor

    from puresound_cli.jobs import Job, Plan
    from puresound_cli.nets.contract import VADModel
    from puresound_cli.results import FileResult
    from puresound_cli.separate import Separator

logger = logging.getLogger("puresound_cli")


def run_separation(o: RunOptions, quiet: bool, debug: bool) -> None:
    """Shared body of extract and enhance; always ends with ``typer.Exit``."""
    reporter = Reporter(quiet, debug)
    output = check_usage(reporter, o)
    if o.stream:
        from puresound_cli.cli.live import run_stream

        run_stream(reporter, o)
    plan = _plan(reporter, o, output)
    as_json = o.as_json and output != "-"
    if o.as_json and output == "-":
        logger.warning("--json: stdout carries the audio (-o -), so no JSON lines are printed")
    failed = 0
    for name, reason in plan.failures:
        reporter.error(name, reason)
        failed += 1
        if as_json:
            json_line({"input": name, "status": "error", "error": reason})
    for job in plan.skipped:
        logger.info("%s: %s exists, skipped (--skip-existing)", job.source, job.dest)
        if as_json:
            json_line({"input": str(job.source), "output": str(job.dest), "status": "skipped"})
    done = 0
    if plan.jobs:  # the heavy part: torch, the model, the enrollment embedding (once per run)
        separator, vad = _load(reporter, o)
        done, errors = _process(reporter, o, plan.jobs, separator, vad, as_json)
        failed += errors
    _summary(as_json, done, len(plan.skipped), failed)
    raise typer.Exit(1 if failed else 0)


def _plan(reporter: Reporter, o: RunOptions, output: str) -> Plan:
    """The jobs (input -> output) of the run; usage errors exit 2."""
    from puresound_cli.inputs import parse_shard
    from puresound_cli.jobs import plan_jobs

    try:
        plan = plan_jobs(
            o.inputs, output, suffix=o.suffix, overwrite=o.overwrite,
            companions=(".png",) if o.plot else (), protected=read_files(o),
            shard=parse_shard(o.shard), skip_existing=o.skip_existing,
        )  # fmt: skip
    except ValueError as err:
        raise usage_error(reporter, str(err)) from None
    for line in plan.info:
        logger.info("%s", line)
    for note in plan.notes:
        logger.warning("%s", note)
    return plan


def _load(reporter: Reporter, o: RunOptions) -> tuple[Separator, tuple[VADModel, Tensor] | None]:
    """The separator (model and enrollment) and the optional --vad gate's model and embedding;
    a bad device is a usage error (exit 2), a bad model or enrollment exits 1."""
    from puresound_cli.enrollment import enrollment_files
    from puresound_cli.runtime import pick_device, set_threads
    from puresound_cli.separate import load_separator

    try:
        device = pick_device(o.device.value)
    except PuresoundError as err:
        raise usage_error(reporter, str(err)) from None
    threads = set_threads()
    try:
        enrollments = enrollment_files(o.enroll)
        separator = load_separator(
            o.task, o.model, enrollments, device=device, segment=o.segment, overlap=o.overlap,
            force_enroll=o.force_enroll, track=o.track,
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 - bad model or enrollment: one line, exit 1
        reporter.error(None, describe_exception(err), err)
        raise typer.Exit(1) from None
    logger.debug("model %s on %s, %d threads", o.model or "default", device, threads)
    if o.vad is None:
        return separator, None
    from puresound_cli.vad import load_vad

    try:
        return separator, load_vad(o.vad, enrollments[0], device)
    except Exception as err:  # noqa: BLE001 - bad VAD model: one line, exit 1
        reporter.error(None, f"--vad: {describe_exception(err)}", err)
        raise typer.Exit(1) from None


def _process(
    reporter: Reporter,
    o: RunOptions,
    jobs: list[Job],
    separator: Separator,
    vad: tuple[VADModel, Tensor] | None,
    as_json: bool,
) -> tuple[int, int]:
    """Run every job with a progress line each: (done, failed). Ctrl-C or SIGTERM stops the
    batch at once (exit 130/143), with no partial output."""
    from puresound_cli.vad import vad_gate

    done = failed = 0
    with interrupt_on_sigterm() as signals, reporter.progress() as progress:
        for job in jobs:
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
            _report(reporter, o, job, name, result, separator, as_json)
            done += 1
    return done, failed


def _report(
    reporter: Reporter,
    o: RunOptions,
    job: Job,
    name: str,
    result: FileResult,
    separator: Separator,
    as_json: bool,
) -> None:
    """The log line (and JSON line, plot) of a finished file."""
    dest = "<stdout>" if job.dest == "-" else job.dest
    speed = f", RTF {result.rtf:.3f}" if result.rtf is not None else ""
    narrow = separator.narrowband is not None and result.model == separator.names[1]
    band = f", narrow-band model {result.model}" if narrow else ""
    logger.info("%s -> %s (%.1f s%s%s)", name, dest, result.seconds, speed, band)
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


def _summary(as_json: bool, done: int, skipped: int, failed: int) -> None:
    """A batch's last line (several files): done, skipped (already there) and failed."""
    if done + skipped + failed <= 1:
        return
    logger.info("%d done, %d skipped, %d failed", done, skipped, failed)
    if as_json:
        json_line({"summary": {"done": done, "skipped": skipped, "failed": failed}})


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
    track: TrackOpt = None,
    shard: ShardOpt = "1/1",
    skip_existing: SkipExistingOpt = False,
) -> None:
    """Keep only the enrolled speaker's voice: puresound extract MIX --enroll SPK -o OUT."""
    options = RunOptions(
        task="extract", inputs=inputs, output=output, enroll=list(enroll or []), model=model,
        device=device, segment=segment, overlap=overlap, overwrite=overwrite, suffix=suffix,
        as_json=json_lines, plot=plot, force_enroll=force_enroll, vad=vad, stream=stream,
        track=track, shard=shard, skip_existing=skip_existing,
    )  # fmt: skip
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
    shard: ShardOpt = "1/1",
    skip_existing: SkipExistingOpt = False,
) -> None:
    """Remove noise from speech: puresound enhance IN... -o OUT.

    Without --model, inputs at 8 kHz or lower go to the shipped narrow-band model."""
    options = RunOptions(
        task="enhance", inputs=inputs, output=output, enroll=[], model=model, device=device,
        segment=segment, overlap=overlap, overwrite=overwrite, suffix=suffix, as_json=json_lines,
        plot=plot, stream=stream, track=False, shard=shard, skip_existing=skip_existing,
    )  # fmt: skip
    run_separation(options, quiet, debug)
