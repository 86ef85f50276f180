"""What ``extract`` and ``enhance`` were asked to do, and the cheap checks before any work."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from puresound_cli.cli.options import Device
from puresound_cli.cli.report import Reporter, usage_error
from puresound_cli.errors import PuresoundError


@dataclass(frozen=True, kw_only=True)
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
    track: bool | None = None  # None: when the model carries a calibrated tracking net
    shard: str = "1/1"
    skip_existing: bool = False


def check_usage(reporter: Reporter, o: RunOptions) -> str:
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
    if o.skip_existing and o.overwrite:
        raise usage_error(reporter, "--skip-existing keeps finished outputs, --overwrite replaces "
                          "them: give one")  # fmt: skip
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


def read_files(o: RunOptions) -> list[tuple[str, str | Path]]:
    """Files the run reads besides its inputs (enrollments, model, VAD model): never outputs."""
    from puresound_cli.checkpoint import model_file
    from puresound_cli.enrollment import enrollment_files

    files: list[tuple[str, str | Path]] = []
    try:  # an unusable enrollment or model is reported when it is loaded
        files += [("enrollment", e) for e in enrollment_files(o.enroll)]
        files += [("model", model_file(o.model, check=False))] if o.model else []
        files += [("VAD model", model_file(o.vad, check=False))] if o.vad else []
    except PuresoundError:
        pass
    return files
