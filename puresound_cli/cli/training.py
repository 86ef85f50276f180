"""``puresound train`` and ``puresound evaluate``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from puresound_cli.cli.app import LAZY_METAVARS, app
from puresound_cli.cli.options import (
    DebugOpt,
    QuietOpt,
    TrainTask,
)
from puresound_cli.cli.report import Reporter, usage_error
from puresound_cli.errors import PuresoundError

logger = logging.getLogger("puresound_cli")

BACKBONE_METAVAR = "BACKBONE"


def _backbones() -> str:
    from puresound_cli.nets.maskers import BACKBONES, DEFAULT_BACKBONE

    return "|".join([DEFAULT_BACKBONE, *(b for b in BACKBONES if b != DEFAULT_BACKBONE)])


LAZY_METAVARS[BACKBONE_METAVAR] = _backbones


@app.command()
def train(
    task: Annotated[
        TrainTask | None,
        typer.Option(
            "--task", help="extract, enhance, separate (two-talker) or vad (personal VAD)."
        ),
    ] = None,
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
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            help="Size preset (default small).",
            metavar="tiny|small|seed",
            show_default=False,
        ),
    ] = None,
    backbone: Annotated[
        str | None,
        typer.Option(
            "--backbone",
            help="Masker (default: the first listed).",
            metavar=BACKBONE_METAVAR,
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", hidden=True, help="Deprecated: use --size.", show_default=False),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            "--time-budget",
            min=0.01,
            metavar="MINUTES",
            help="Wall-clock budget: a cosine schedule over it; model.pt is written inside it.",
            show_default=False,
        ),
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
    reporter = Reporter(quiet, debug)
    logging.getLogger("puresound_cli.data").setLevel(logging.ERROR if not debug else logging.DEBUG)
    from puresound_cli.train import TrainConfig, load_config_file
    from puresound_cli.train import train as run_training

    if model is not None:
        logger.warning("train --model is deprecated (it names a size): use --size %s", model)
        size = size or model
    try:
        values = load_config_file(config_file) if config_file else {}
        flags = {
            "task": task.value if task else None,
            "speech_dirs": [str(p) for p in speech] if speech else None,
            "noise_dirs": [str(p) for p in noise] if noise else None,
            "out": str(out) if out else None,
            "size": size, "backbone": backbone, "max_steps": max_steps,
            "time_budget_minutes": time_budget,
            "batch_size": batch_size, "segment_seconds": segment_seconds, "lr": lr,
            "valid_every": valid_every, "checkpoint_every": checkpoint_every,
            "num_workers": num_workers, "threads": threads, "seed": seed,
            "reverb_prob": reverb_prob, "device": device, "resume": resume,
            "init_from": str(init_from) if init_from else None,
        }  # fmt: skip
        values.update({k: v for k, v in flags.items() if v is not None})
        if size is not None:
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
            last_valid = (
                f"| valid accuracy {m['accuracy']:.3f}"
                if "accuracy" in m
                else f"| valid SI-SDRi {m['si_sdri']:.2f} dB"
            )
            if "accuracy" in m:  # a personal VAD: no waveform to score
                logger.info("step %d: valid loss %.4g, frame accuracy %.3f",
                            event.step, m["loss"], m["accuracy"])  # fmt: skip
            else:
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
    except OSError as err:  # the run folder became unwritable, a full disk ...
        reporter.error(None, f"{err.filename or config.out}: {err.strerror or err}", err)
        raise typer.Exit(1) from err
    if not quiet:
        reporter.console.print(f"release checkpoint: {release}", markup=False, highlight=False)
