"""The ``puresound`` command line (the only module that imports typer).

Commands: ``extract``, ``enhance``, ``models`` (and ``train``/``evaluate`` from the training
module, in their marked section at the end). Heavy imports (torch, the nets) happen inside the
command bodies so that ``puresound --help`` stays instant.

Output streams: stdout carries only audio (``-o -``) or the ``--json`` lines; logs, the
progress bar and error lines go to stderr. Exit codes: 0 all done, 1 some file failed,
2 usage error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from puresound_cli import __version__
from puresound_cli.errors import PuresoundError

app = typer.Typer(
    name="puresound",
    help="Speech enhancement and target-speaker extraction.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)

logger = logging.getLogger("puresound_cli")


class Device(str, Enum):
    """Where the network runs."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


# --- shared options (defined once, used by extract and enhance) ---
Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Audio files, folders (searched recursively) or '-' for a WAV on stdin.",
        metavar="INPUT",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file, folder (mirrors input folders) or '-' for a WAV on stdout.",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Registered model name or checkpoint path (default: the shipped model for the task).",
        show_default=False,
    ),
]
DeviceOpt = Annotated[Device, typer.Option("--device", help="Where to run the network.")]
SegmentOpt = Annotated[
    float | None,
    typer.Option(
        "--segment",
        min=0.01,
        help="Chunk length in seconds (default: 10, or 4 overlaps for long-context models).",
        show_default=False,
    ),
]
OverlapOpt = Annotated[
    float | None,
    typer.Option(
        "--overlap",
        min=0.0,
        help="Overlap between chunks in seconds (default: 2.5, or the model's receptive field).",
        show_default=False,
    ),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")]
SuffixOpt = Annotated[
    str, typer.Option("--suffix", help="Append to output file names, e.g. '_enhanced'.")
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr; no progress bar.")
]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Debug logging and full tracebacks on errors.")
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON summary line per file on stdout."),
]
PlotOpt = Annotated[
    bool,
    typer.Option("--plot", help="Save OUTPUT.png spectrograms before/after (needs matplotlib)."),
]


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


# --- reporting helpers ---


class _Reporter:
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
            handler.setFormatter(_PlainFormatter())
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


class _PlainFormatter(logging.Formatter):
    """``message`` for info, ``warning: message`` otherwise (like the ``error:`` lines)."""

    def format(self, record: logging.LogRecord) -> str:
        message = " ".join(record.getMessage().split())
        if record.levelno == logging.INFO:
            return message
        return f"{record.levelname.lower()}: {message}"


def _usage_error(reporter: _Reporter, message: str) -> typer.Exit:
    reporter.error(None, message)
    return typer.Exit(2)


def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, PuresoundError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {exc}"


def _split_name(message: str, name: str) -> str:
    """Drop a leading 'name: ' that library messages carry, so the line names the file once."""
    for prefix in (f"{name}: ", "<stdin>: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _pick_device(reporter: _Reporter, device: Device) -> str:
    import torch

    if device is Device.cuda and not torch.cuda.is_available():
        raise _usage_error(reporter, "--device cuda: CUDA is not available here")
    if device is Device.auto:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device.value


def _set_threads() -> None:
    """Use every core (unless OMP_NUM_THREADS says otherwise)."""
    import torch

    env = os.environ.get("OMP_NUM_THREADS", "")
    threads = int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(threads)


def _run(
    task: str,
    inputs: list[str],
    output: str | None,
    enroll: Path | None,
    model_name: str | None,
    device: Device,
    segment: float | None,
    overlap: float | None,
    overwrite: bool,
    suffix: str,
    quiet: bool,
    debug: bool,
    as_json: bool,
    plot: bool,
) -> None:
    """Shared body of extract and enhance."""
    reporter = _Reporter(quiet, debug)
    # Usage checks: cheap, before anything heavy.
    if output is None:
        raise _usage_error(reporter, "missing -o/--output (a file, a folder or '-' for stdout)")
    if not output.strip():
        raise _usage_error(reporter, "-o/--output is empty")
    if any(not arg.strip() for arg in inputs):
        raise _usage_error(reporter, "an INPUT is an empty string")
    if model_name is not None and not model_name.strip():
        raise _usage_error(reporter, "--model is empty")
    if task == "extract" and enroll is None:
        raise _usage_error(reporter, "missing --enroll SPK: a recording of the target speaker")
    if enroll is not None and str(enroll) == "-" and "-" in inputs:
        raise _usage_error(reporter, "stdin ('-') can feed the INPUT or --enroll, not both")
    if segment is not None and overlap is not None and overlap >= segment:
        raise _usage_error(
            reporter, f"--overlap ({overlap} s) must be below --segment ({segment} s)"
        )
    if "-" in inputs and sys.stdin.isatty():
        raise _usage_error(reporter, "'-' reads audio from stdin, but nothing is piped in")
    if output == "-" and sys.stdout.isatty():
        raise _usage_error(reporter, "refusing to write binary audio to a terminal (-o -)")
    if plot:
        if output == "-":
            raise _usage_error(reporter, "--plot needs a file or folder output, not stdout")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise _usage_error(
                reporter, "--plot needs matplotlib: pip install 'puresound[plot]'"
            ) from None
    from puresound_cli import pretrained

    if model_name is None:
        model_name = pretrained.default_model(task)
        if model_name is None:
            raise _usage_error(
                reporter,
                f"no default {task} model is shipped yet: pass a checkpoint with --model PATH",
            )
    from puresound_cli.inference import plan_jobs

    try:
        plan = plan_jobs(inputs, output, suffix=suffix, overwrite=overwrite)
    except ValueError as err:
        raise _usage_error(reporter, str(err)) from None
    as_json = as_json and output != "-"
    failed = 0
    for name, reason in plan.failures:
        reporter.error(name, reason)
        failed += 1
        if as_json:
            _json_line({"input": name, "status": "error", "error": reason})
    if not plan.jobs:
        raise typer.Exit(1 if failed else 0)

    # Heavy part: torch, the model, the enrollment embedding (once per run).
    device_name = _pick_device(reporter, device)
    _set_threads()
    import torch

    from puresound_cli.checkpoint import load_model
    from puresound_cli.inference import Processor, check_task

    try:
        model = load_model(_model_file(model_name), device=device_name)
        check_task(model, task)
        embedding = None
        if enroll is not None and task == "extract":
            embedding = _load_embedding(model, enroll)
        processor = Processor(model, embedding, segment=segment, overlap=overlap)
    except Exception as err:  # noqa: BLE001 - bad model or enrollment: one line, exit 1
        reporter.error(None, _describe_exception(err), err)
        raise typer.Exit(1) from None
    logger.debug("model %s on %s, %d threads", model_name, device_name, torch.get_num_threads())

    with _interrupt_on_sigterm(), reporter.progress() as progress:
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
                result = processor.process_file(job.source, job.dest, progress=on_progress)
            except KeyboardInterrupt:
                reporter.error(name, "interrupted (no partial output was written)")
                raise typer.Exit(130) from None
            except Exception as err:  # noqa: BLE001 - one line per failed file, keep going
                failed += 1
                reason = _split_name(_describe_exception(err), name)
                reporter.error(name, reason, err)
                if as_json:
                    _json_line(
                        {"input": name, "output": str(job.dest), "status": "error", "error": reason}
                    )
                continue
            finally:
                progress.remove_task(task_id)
            logger.info(
                "%s -> %s (%.1f s, RTF %.3f)",
                name,
                "<stdout>" if job.dest == "-" else job.dest,
                result.seconds,
                result.rtf,
            )
            if plot and job.source == "-":
                logger.warning("--plot: no spectrogram for stdin input (it cannot be re-read)")
            elif plot:
                _plot(reporter, job.source, job.dest)
            if as_json:
                _json_line(result.as_dict())
    raise typer.Exit(1 if failed else 0)


def _model_file(name: str) -> str:
    """``--model``'s value, with a model folder (``models/<name>/``) meaning its model.pt.

    Raises:
        PuresoundError: a folder without a model.pt in it.
    """
    from puresound_cli import pretrained

    path = Path(name)
    if name in pretrained.REGISTRY or not path.is_dir():
        return name
    if (path / "model.pt").is_file():
        return str(path / "model.pt")
    raise PuresoundError(f"--model {name} is a folder, not a checkpoint file (.pt)")


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while files are written, so no temporary file is left."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread (embedded use): leave the default
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _load_embedding(model: Any, enroll: Path) -> Any:
    from puresound_cli import audio
    from puresound_cli.inference import embed_speaker

    try:
        wav, rate, _ = audio.read_audio(enroll)
        return embed_speaker(model, wav, rate)
    except PuresoundError as err:
        message = str(err)
        if message.startswith(str(enroll)):
            raise PuresoundError(f"enrollment {message}") from err
        raise PuresoundError(f"{enroll}: {message}") from err


def _plot(reporter: _Reporter, source: Any, dest: Any) -> None:
    from puresound_cli.inference import plot_spectrograms

    png = Path(dest).with_suffix(".png")
    try:
        plot_spectrograms(source, dest, png)
        logger.info("spectrograms -> %s", png)
    except Exception as err:  # noqa: BLE001 - a failed plot does not fail the file
        reporter.error(str(source), f"could not plot ({_describe_exception(err)})", err)


def _json_line(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


@app.command()
def extract(
    inputs: Inputs,
    output: OutputOpt = None,
    enroll: Annotated[
        Path | None,
        typer.Option(
            "--enroll",
            "-e",
            help="A recording of the target speaker (a few seconds of their voice).",
            show_default=False,
        ),
    ] = None,
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
) -> None:
    """Keep only the enrolled speaker's voice: puresound extract MIX --enroll SPK -o OUT."""
    _run(
        "extract", inputs, output, enroll, model, device, segment, overlap,
        overwrite, suffix, quiet, debug, json_lines, plot,
    )  # fmt: skip


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
) -> None:
    """Remove noise from speech: puresound enhance IN... -o OUT."""
    _run(
        "enhance", inputs, output, None, model, device, segment, overlap,
        overwrite, suffix, quiet, debug, json_lines, plot,
    )  # fmt: skip


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
            }
            _json_line(record)
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
        task = m.task + ("\n(default)" if pretrained.DEFAULTS.get(m.task) == m.name else "")
        size = f"{m.params / 1e6:.2f} M" if m.params else "?"
        rate = f"{m.sample_rate / 1000:g} kHz"
        table.add_row(m.name, task, rate, size, scores)
    Console().print(table)


# --- train / evaluate commands (owned by the training module) ---
# The training engineer adds `train` and `evaluate` here; the cli owner does not edit below.


class Task(str, Enum):
    """What a model does."""

    extract = "extract"
    enhance = "enhance"


@app.command()
def train(
    task: Annotated[Task | None, typer.Option("--task", help="extract or enhance.")] = None,
    speech: Annotated[
        list[Path] | None,
        typer.Option(
            "--speech",
            exists=True,
            file_okay=False,
            help="Speech folder (speakers.tsv, speaker subfolders or Kaldi lists); repeatable.",
            show_default=False,
        ),
    ] = None,
    noise: Annotated[
        list[Path] | None,
        typer.Option(
            "--noise",
            exists=True,
            file_okay=False,
            help="Noise folder; repeatable.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder.", show_default=False)
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            exists=True,
            dir_okay=False,
            help="TOML file of training options (TrainConfig field names); flags override it.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Size: tiny, small or seed.", show_default=False)
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, show_default=False)] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, show_default=False)
    ] = None,
    segment_seconds: Annotated[
        float | None, typer.Option("--segment-seconds", min=0.1, show_default=False)
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", show_default=False)] = None,
    valid_every: Annotated[
        int | None, typer.Option("--valid-every", min=1, show_default=False)
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option("--checkpoint-every", min=1, show_default=False)
    ] = None,
    num_workers: Annotated[
        int | None, typer.Option("--num-workers", min=0, show_default=False)
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=0, help="0: all cores.", show_default=False)
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", show_default=False)] = None,
    reverb_prob: Annotated[
        float | None, typer.Option("--reverb-prob", min=0.0, max=1.0, show_default=False)
    ] = None,
    device: Annotated[
        str | None,
        typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.", show_default=False),
    ] = None,
    resume: Annotated[
        bool | None,
        typer.Option(
            "--resume/--no-resume",
            help="Continue RUN from its last checkpoint (default) or start afresh.",
            show_default=False,
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            "--init-from",
            exists=True,
            dir_okay=False,
            help="Start a new run from this checkpoint's weights (fine-tuning).",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train a model: puresound train --task extract --speech DIR --noise DIR --out RUN."""
    reporter = _Reporter(quiet, debug)
    logging.getLogger("puresound_cli.data").setLevel(logging.ERROR if not debug else logging.DEBUG)
    from puresound_cli.train import TrainConfig, config_from_dict, load_config_file
    from puresound_cli.train import train as run_training

    try:
        values = load_config_file(config_file) if config_file else {}
        flags = {
            "task": task.value if task else None,
            "speech_dirs": [str(p) for p in speech] if speech else None,
            "noise_dirs": [str(p) for p in noise] if noise else None,
            "out": str(out) if out else None,
            "model": model, "max_steps": max_steps, "batch_size": batch_size,
            "segment_seconds": segment_seconds, "lr": lr, "valid_every": valid_every,
            "checkpoint_every": checkpoint_every, "num_workers": num_workers,
            "threads": threads, "seed": seed, "reverb_prob": reverb_prob, "device": device,
            "resume": resume, "init_from": str(init_from) if init_from else None,
        }  # fmt: skip
        values.update({k: v for k, v in flags.items() if v is not None})
        if model is not None:
            values.pop("model_config", None)
        for required in ("task", "speech_dirs", "out"):
            if not values.get(required):
                flag = {"speech_dirs": "speech"}.get(required, required)
                raise _usage_error(reporter, f"missing --{flag} (or `{required}` in --config)")
        config: TrainConfig = config_from_dict(values)
    except PuresoundError as err:
        raise _usage_error(reporter, str(err)) from err

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=reporter.console, disable=quiet or not reporter.console.is_terminal,
    )  # fmt: skip
    job = bar.add_task("train", total=config.max_steps, info="loading data")
    last_valid = ""

    def on_event(event: Any) -> None:
        nonlocal last_valid
        m = event.metrics
        if event.kind == "start":
            bar.update(job, completed=event.step, info="")
        elif event.kind == "step":
            bar.update(job, completed=event.step, info=f"loss {m['loss']:.3g} {last_valid}")
        elif event.kind == "valid":
            last_valid = f"| valid SI-SDRi {m['si_sdri']:.2f} dB"
            logger.info(
                "step %d: valid loss %.4g, SI-SDRi %.2f dB, absent %.1f dB",
                event.step, m["loss"], m["si_sdri"], m["absent_db"],
            )  # fmt: skip
        elif event.kind == "end":
            logger.info("stopped at step %d: %s", event.step, event.message)

    try:
        with bar:
            release = run_training(config, progress=on_event)
    except PuresoundError as err:
        reporter.error(None, str(err), err)
        raise typer.Exit(1) from err
    except KeyboardInterrupt:
        reporter.error(None, f"interrupted; resume with the same command ({config.out}/last.pt)")
        raise typer.Exit(130) from None
    if not quiet:
        reporter.console.print(f"release checkpoint: {release}", markup=False, highlight=False)


@app.command()
def evaluate(
    pairs: Annotated[
        Path,
        typer.Option(
            "--pairs",
            exists=True,
            dir_okay=False,
            help="TSV: input, reference[, enrollment]; empty reference = target absent.",
        ),
    ],
    task: Annotated[Task | None, typer.Option("--task", help="Default: the model's.")] = None,
    model: ModelOpt = None,
    device: DeviceOpt = Device.auto,
    segment: SegmentOpt = None,
    overlap: OverlapOpt = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON line per item, then a 'mean' line.")
    ] = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Score a model: SI-SDR, SI-SDRi (PESQ and STOI with the 'eval' extra) over a pairs list."""
    reporter = _Reporter(quiet, debug)
    from puresound_cli import pretrained
    from puresound_cli.checkpoint import load_model
    from puresound_cli.evaluate import METRICS
    from puresound_cli.evaluate import evaluate as run_evaluation

    _set_threads()
    name = model or (pretrained.DEFAULTS.get(task.value) if task else None)
    if name is None:
        raise _usage_error(reporter, "no model: pass --model NAME|PATH")
    try:
        net = load_model(name, _pick_device(reporter, device))
        result = run_evaluation(net, pairs, task.value if task else None, segment, overlap)
    except PuresoundError as err:
        reporter.error(None, str(err), err)
        raise typer.Exit(2 if "model" in str(err) else 1) from err

    def fmt(v: float) -> str:
        return "" if v != v else f"{v:.2f}"

    if json_lines:
        for item in result.items:
            _json_line(item.as_dict())
        mean = {k: (None if v != v else v) for k, v in result.mean.items()}
        _json_line({"mean": mean, "counts": result.counts})
    else:
        from rich.console import Console
        from rich.table import Table

        shown = [c for c in METRICS if result.counts[c]]
        table = Table("input", *shown)
        for item in result.items:
            cells = [fmt(getattr(item, c)) for c in shown]
            label = Path(item.input).name + (f" ({item.error})" if item.error else "")
            table.add_row(label, *cells)
        table.add_row("mean", *(fmt(result.mean[c]) for c in shown), style="bold")
        Console(width=200).print(table)
    if any(item.error for item in result.items):
        raise typer.Exit(1)


# --- end of train / evaluate commands ---


def main() -> None:
    """Console-script entry point (``puresound``)."""
    app()
