"""``puresound vad``: when does the enrolled speaker talk? Segments as TSV or JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from puresound_cli.cli.app import app
from puresound_cli.cli.options import (
    DebugOpt,
    Device,
    DeviceOpt,
    Inputs,
    OverwriteOpt,
    QuietOpt,
)
from puresound_cli.cli.report import Reporter, describe_exception, json_line, usage_error
from puresound_cli.errors import PuresoundError

if TYPE_CHECKING:
    from puresound_cli.vad import Detector


VadEnroll = Annotated[
    list[Path],
    typer.Option(
        "--enroll",
        "-e",
        help="A recording of the target speaker; repeat it or give a folder to combine "
        "several recordings of that voice.",
        metavar="SPK",
        exists=True,
    ),
]
VadModel = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="An extraction model (its speaker net tracks the voice; default: the shipped "
        "extractor) or a personal VAD checkpoint (train --task vad).",
        metavar="NAME|PATH",
        show_default=False,
    ),
]
VadOutput = Annotated[
    str, typer.Option("--output", "-o", help="File of segments, or '-' for stdout.", metavar="FILE")
]
VadJson = Annotated[
    bool,
    typer.Option(
        "--json", help="One JSON line per file (on stdout, or into -o FILE) instead of TSV."
    ),
]
VadThreshold = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        min=0.0,
        max=1.0,
        metavar="VALUE",
        help="Activity probability (personal VAD, default 0.5), or the cosine with the "
        "enrollment that opens a talk segment (tracker; it closes 0.1 lower).",
        show_default=False,
    ),
]
VadStream = Annotated[
    bool, typer.Option("--stream", help="Live: WAV on stdin, each segment printed when it ends.")
]
VadPlot = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Draw who talks when: a .png file (one input) or a folder (one PNG per input). "
        "Needs matplotlib; not with a personal VAD model.",
        metavar="PNG|DIR",
        show_default=False,
    ),
]


@app.command()
def vad(
    inputs: Inputs,
    enroll: VadEnroll,
    model: VadModel = None,
    output: VadOutput = "-",
    json_lines: VadJson = False,
    overwrite: OverwriteOpt = False,
    threshold: VadThreshold = None,
    stream: VadStream = False,
    plot: VadPlot = None,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Segments where the enrolled speaker talks: puresound vad MIX --enroll SPK."""
    reporter = Reporter(quiet, debug)
    if stream and (inputs != ["-"] or output != "-"):
        raise usage_error(reporter, "--stream reads WAV on stdin and prints to stdout: INPUT '-'")
    from puresound_cli.files import is_special

    if output != "-" and Path(output).exists() and not is_special(output) and not overwrite:
        raise usage_error(reporter, f"{output}: exists; kept it (pass --overwrite to replace it)")
    from puresound_cli.checkpoint import model_file
    from puresound_cli.enrollment import enrollment_files
    from puresound_cli.files import refuse_inputs
    from puresound_cli.inputs import find_audio_files
    from puresound_cli.runtime import pick_device, set_threads
    from puresound_cli.vad import load_detector

    try:
        torch_device = pick_device(device.value)
    except PuresoundError as err:
        raise usage_error(reporter, str(err)) from None
    try:  # a bad model or enrollment: exit 1, as in extract and enhance
        detector = load_detector(model, enroll, torch_device, threshold)
    except PuresoundError as err:
        reporter.error(None, str(err), err)
        raise typer.Exit(1) from None
    set_threads()
    if stream:
        if detector.tracker is not None:
            raise usage_error(reporter, "--stream needs a personal VAD model (-m VAD.pt): the "
                              "tracker reads whole recordings")  # fmt: skip
        _stream(reporter, detector.net, detector.embedding, detector.threshold, json_lines)
    files = [f for arg in inputs for f in (find_audio_files(Path(arg)) if Path(arg).is_dir()
                                           else [Path(arg)])]  # fmt: skip
    pictures = _plan_plots(reporter, plot, files, detector.tracker is not None, overwrite)
    read = [("input", f) for f in files] + [("enrollment", e) for e in enrollment_files(enroll)]
    read += [("model", model_file(model, check=False))] if model else []
    try:
        for dest in [Path(output), *pictures.values()]:
            refuse_inputs(dest, read)
    except PuresoundError as err:
        raise usage_error(reporter, str(err)) from None
    records, failed = _detect(
        reporter, detector, files, pictures, overwrite, json_lines and output == "-"
    )
    _write_segments(reporter, records, output, json_lines, overwrite)
    raise typer.Exit(1 if failed else 0)


def _detect(
    reporter: Reporter,
    detector: Detector,
    files: list[Path],
    pictures: dict[Path, Path],
    overwrite: bool,
    print_json: bool,
) -> tuple[list[dict[str, Any]], int]:
    """Segments of every input (drawn where ``pictures`` says; JSON lines printed as they come
    with ``print_json``): (records, number of inputs that failed, each named on stderr)."""
    from puresound_cli import audio
    from puresound_cli.files import write_file

    records: list[dict[str, Any]] = []
    failed = 0
    for path in files:
        try:
            mix, mix_rate, _ = audio.read_audio(path)
            if pictures:
                from puresound_cli.plot import plot_talk

                talk = detector.track(mix, mix_rate)
                found = talk.segments()
                write_file(pictures[path], plot_talk(mix, mix_rate, talk, path.name), overwrite)
            else:
                found = detector.segments(mix, mix_rate)
        except Exception as err:  # noqa: BLE001 - one line per failed file
            reporter.error(str(path), describe_exception(err), err)
            failed += 1
            continue
        records.append({"input": str(path), "segments": [list(s) for s in found]})
        if print_json:
            json_line(records[-1])
    return records, failed


def _write_segments(
    reporter: Reporter,
    records: list[dict[str, Any]],
    output: str,
    json_lines: bool,
    overwrite: bool,
) -> None:
    """The segments as TSV (stdout or -o FILE) or as JSON lines into -o FILE (exit 1 if the
    file cannot be written; JSON lines on stdout were printed as they came)."""
    from puresound_cli.files import write_file

    if json_lines:
        text = "".join(json.dumps(r) + "\n" for r in records)
    else:
        text = "file\tstart\tend\n" + "".join(
            f"{r['input']}\t{s:.3f}\t{e:.3f}\n" for r in records for s, e in r["segments"]
        )
    if output == "-" and not json_lines:
        sys.stdout.write(text)
    elif output != "-":
        try:
            write_file(output, text.encode(), overwrite)
        except PuresoundError as err:
            reporter.error(None, str(err), err)
            raise typer.Exit(1) from None


def _plan_plots(
    reporter: Reporter, plot: Path | None, files: list[Path], tracker: bool, overwrite: bool
) -> dict[Path, Path]:
    """Where each input's picture goes (empty without --plot); usage errors refused early."""
    if plot is None:
        return {}
    if not tracker:
        raise usage_error(reporter, "--plot draws the tracker: use an extraction model, not a "
                          "personal VAD model")  # fmt: skip
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise usage_error(
            reporter, "--plot needs matplotlib: pip install 'puresound[plot]'"
        ) from None
    if plot.suffix.lower() == ".png":
        if len(files) != 1:
            raise usage_error(reporter, f"--plot {plot}: one PNG for {len(files)} inputs; give "
                              "a folder")  # fmt: skip
        targets = {files[0]: plot}
    else:
        plot.mkdir(parents=True, exist_ok=True)
        targets = {f: plot / f"{f.stem}.png" for f in files}
        if len({t for t in targets.values()}) != len(targets):
            raise usage_error(reporter, "--plot: two inputs share a file name; plot them apart")
    for target in targets.values():
        if target.exists() and not overwrite:
            raise usage_error(reporter, f"{target}: exists; kept it (pass --overwrite)")
    return targets


def _stream(reporter: Reporter, net: Any, embedding: Any, threshold: float, as_json: bool) -> None:
    """``vad --stream``: segments printed (and flushed) as soon as they end."""
    import numpy as np

    from puresound_cli.audio import StreamResampler
    from puresound_cli.audio.wav_stream import read_blocks, read_header
    from puresound_cli.vad_stream import SegmentTracker, StreamingVAD

    def emit(found: list[tuple[float, float]]) -> None:
        for start, end in found:
            if as_json:
                json_line({"input": "<stdin>", "start": start, "end": end})
            else:
                sys.stdout.write(f"<stdin>\t{start:.3f}\t{end:.3f}\n")
                sys.stdout.flush()

    try:
        fd = sys.stdin.fileno()
        fmt = read_header(fd)
        down = StreamResampler(fmt.sample_rate, net.sample_rate, 1)
        detector = StreamingVAD(net, embedding)
        tracker = SegmentTracker(net.hop / net.sample_rate, threshold)
        if not as_json:
            sys.stdout.write("file\tstart\tend\n")
        for block in read_blocks(fd, fmt, max(1, fmt.sample_rate // 100)):
            mono = down.process(block.mean(axis=0, keepdims=True))[0]
            emit(tracker.push(detector.push(mono)))
        tail = down.process(np.zeros((1, 0), np.float32), last=True)[0]
        emit(tracker.push(np.concatenate([detector.push(tail), detector.flush()])))
        emit(tracker.flush())
    except PuresoundError as err:
        reporter.error(None, str(err), err)
        raise typer.Exit(1) from None
    raise typer.Exit(0)
