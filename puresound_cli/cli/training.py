"""``puresound train``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from puresound_cli.cli import train_options as T
from puresound_cli.cli.app import app
from puresound_cli.cli.options import DebugOpt, QuietOpt
from puresound_cli.cli.report import Reporter, usage_error
from puresound_cli.errors import PuresoundError

if TYPE_CHECKING:
    from puresound_cli.train import TrainConfig

logger = logging.getLogger("puresound_cli")


@app.command()
def train(
    task: T.Task = None,
    speech_dirs: T.Speech = None,
    noise_dirs: T.Noise = None,
    out: T.Out = None,
    config_file: T.ConfigFile = None,
    size: T.Size = None,
    backbone: T.Backbone = None,
    model: T.OldModel = None,
    time_budget_minutes: T.TimeBudget = None,
    max_steps: T.MaxSteps = None,
    batch_size: T.BatchSize = None,
    segment_seconds: T.SegmentSeconds = None,
    lr: T.Lr = None,
    valid_every: T.ValidEvery = None,
    checkpoint_every: T.CheckpointEvery = None,
    num_workers: T.NumWorkers = None,
    threads: T.Threads = None,
    seed: T.Seed = None,
    reverb_prob: T.ReverbProb = None,
    device: T.TrainDevice = None,
    resume: T.Resume = None,
    init_from: T.InitFrom = None,
    settings: T.Settings = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train a model: puresound train --task extract --speech DIR --noise DIR --out RUN."""
    reporter = Reporter(quiet, debug)
    logging.getLogger("puresound_cli.data").setLevel(logging.ERROR if not debug else logging.DEBUG)
    if model is not None:
        logger.warning("train --model is deprecated (it names a size): use --size %s", model)
        size = size or model
    flags = {  # the options given, by their TrainConfig names
        "task": task.value if task else None,
        "speech_dirs": [str(p) for p in speech_dirs] if speech_dirs else None,
        "noise_dirs": [str(p) for p in noise_dirs] if noise_dirs else None,
        "out": str(out) if out else None,
        "init_from": str(init_from) if init_from else None,
        "size": size, "backbone": backbone, "time_budget_minutes": time_budget_minutes,
        "max_steps": max_steps, "batch_size": batch_size, "segment_seconds": segment_seconds,
        "lr": lr, "valid_every": valid_every, "checkpoint_every": checkpoint_every,
        "num_workers": num_workers, "threads": threads, "seed": seed,
        "reverb_prob": reverb_prob, "device": device, "resume": resume,
    }  # fmt: skip
    given = {k: v for k, v in flags.items() if v is not None}
    config = _config(reporter, config_file, given, settings or [])
    _run(reporter, config, quiet)


def _config(
    reporter: Reporter, config_file: Path | None, flags: dict[str, Any], settings: list[str]
) -> TrainConfig:
    """The run's TrainConfig: the TOML file's values, ``--set`` over them, then the flags
    (exit 2 if bad)."""
    from puresound_cli.train import TrainConfig, load_config_file, parse_setting

    try:
        values = load_config_file(config_file) if config_file else {}
        chosen = dict(parse_setting(text) for text in settings)
        repeated = sorted(chosen.keys() & flags.keys())
        if repeated:
            raise PuresoundError(f"--set {', '.join(repeated)}: given by its own flag too")
        values.update(chosen)
        values.update(flags)
        if "size" in flags or "size" in chosen:
            values.pop("model_config", None)
            values.pop("model", None)
        for required in ("task", "speech_dirs", "out"):
            if not values.get(required):
                flag = {"speech_dirs": "speech"}.get(required, required)
                raise usage_error(reporter, f"missing --{flag} (or `{required}` in --config)")
        config: TrainConfig = TrainConfig.from_dict(values)
        if Path(config.out).exists() and not Path(config.out).is_dir():
            raise PuresoundError(f"--out {config.out} is a file, not a run folder")
        from puresound_cli.runtime import pick_device

        pick_device(config.device)
    except PuresoundError as err:
        raise usage_error(reporter, str(err)) from err
    return config


class TrainBar:
    """The progress bar and log lines of a run (a ``progress`` callback of ``train``)."""

    def __init__(self, reporter: Reporter, total: int, quiet: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            console=reporter.console, disable=quiet or not reporter.console.is_terminal,
        )  # fmt: skip
        self.job = self.bar.add_task("train", total=total, info="loading data")
        self.last_valid = ""

    def __call__(self, event: Any) -> None:
        m, bar, job = event.metrics, self.bar, self.job
        if event.kind == "start":
            bar.update(job, completed=event.step, info="")
        elif event.kind == "step":
            bar.update(job, completed=event.step, info=f"loss {m['loss']:.3g} {self.last_valid}")
        elif event.kind == "valid" and "accuracy" in m:  # a personal VAD: no waveform to score
            self.last_valid = f"| valid accuracy {m['accuracy']:.3f}"
            logger.info("step %d: valid loss %.4g, frame accuracy %.3f",
                        event.step, m["loss"], m["accuracy"])  # fmt: skip
        elif event.kind == "valid":
            self.last_valid = f"| valid SI-SDRi {m['si_sdri']:.2f} dB"
            logger.info("step %d: valid loss %.4g, SI-SDRi %.2f dB, absent %.1f dB",
                        event.step, m["loss"], m["si_sdri"], m["absent_db"])  # fmt: skip
        elif event.kind == "end":
            logger.info("stopped at step %d: %s", event.step, event.message)


def _run(reporter: Reporter, config: TrainConfig, quiet: bool) -> None:
    """Train with a progress bar; one line and an exit code for what stops it."""
    from puresound_cli.train import train as run_training

    progress = TrainBar(reporter, config.max_steps, quiet)
    try:
        with progress.bar:
            release = run_training(config, progress=progress)
    except PuresoundError as err:
        reporter.error(None, str(err), err)
        raise typer.Exit(1) from err
    except KeyboardInterrupt:
        reporter.error(None, f"interrupted; resume with the same command ({config.out}/last.pt)")
        raise typer.Exit(130) from None
    except OSError as err:  # the run folder became unwritable, a full disk ...
        reporter.error(None, f"{err.filename or config.out}: {err.strerror or err}", err)
        raise typer.Exit(1) from err
    if not quiet:
        reporter.console.print(f"release checkpoint: {release}", markup=False, highlight=False)
