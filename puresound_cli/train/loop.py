"""The training loop: ``train(config)`` reads top to bottom.

processes and seeds -> data -> model and objective -> optimizer, schedule, mixed precision ->
resume -> loop (step, log, validation, checkpoint) -> release checkpoint. It runs on one process
or under ``torchrun`` (distributed data parallel: gloo on CPU, nccl on GPU; each rank draws its
own shard of the example stream; only rank 0 writes files).

A run folder holds ``last.pt`` (weights + optimizer, schedule, RNG, step and elapsed time,
written atomically every ``checkpoint_every`` steps), ``best.pt`` (best validation loss),
``log.csv`` and, at the end, ``model.pt``: the release checkpoint (best weights, output level
calibrated on the validation set, no optimizer state). Starting again on the same folder
continues from ``last.pt``: examples are a pure function of (seed, step), so a resumed run
follows the uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from puresound_cli import data as D
from puresound_cli.errors import PuresoundError
from puresound_cli.train.builder import build_data
from puresound_cli.train.config import TrainConfig, TrainEvent
from puresound_cli.train.lock import RunLock
from puresound_cli.train.objective import build_objective, model_spec
from puresound_cli.train.process import Process, amp_settings, from_rank0, start_process
from puresound_cli.train.schedule import Schedule, TimeBudget
from puresound_cli.train.state import (
    CsvLog,
    init_weights,
    resume_mismatch,
    rng_state,
    set_rng_state,
)
from puresound_cli.train.validate import validate, write_release

log = logging.getLogger("puresound_cli.train")

MAX_BAD_BATCHES = 20


def train(config: TrainConfig, progress: Callable[[TrainEvent], None] | None = None) -> Path:
    """Train a model as configured and return the path of its release checkpoint.

    Args:
        config: the run's settings.
        progress: called with a :class:`TrainEvent` at start, after every step, after every
            validation and at the end (rank 0 only). The library itself never prints.

    Returns:
        ``RUN/model.pt``.

    Raises:
        PuresoundError: no usable data, bad options, a checkpoint that does not fit the config,
            a run folder that is a file or that another training process is using, a time
            budget that ended before the first step.
    """
    run = Path(config.out)
    if run.exists() and not run.is_dir():
        raise PuresoundError(f"--out {run} is a file, not a run folder")
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 holds the folder's lock
        return _train(config, progress)
    run.mkdir(parents=True, exist_ok=True)
    with RunLock(run):
        return _train(config, progress)


def _train(config: TrainConfig, progress: Callable[[TrainEvent], None] | None) -> Path:
    """:func:`train` inside the run folder's lock."""
    from puresound_cli.checkpoint import load_checkpoint, save_checkpoint

    # -- processes, devices, seeds ------------------------------------------------------------
    clock_start = time.monotonic()
    proc = start_process(config)
    device = proc.device
    emit = progress if (progress is not None and proc.is_main) else (lambda event: None)
    random.seed(config.seed + proc.rank)
    np.random.seed(config.seed + proc.rank)
    torch.manual_seed(config.seed)  # same initial weights on every rank
    run = Path(config.out)
    if run.exists() and not run.is_dir():
        raise PuresoundError(f"--out {run} is a file, not a run folder")
    if proc.is_main:
        run.mkdir(parents=True, exist_ok=True)
    last, best_path, release = run / "last.pt", run / "best.pt", run / "model.pt"
    ckpt = load_checkpoint(last) if config.resume and last.is_file() else None
    state = (ckpt.get("train_state") or {}) if ckpt is not None else {}
    budget = TimeBudget(config.time_budget_minutes, float(state.get("elapsed_s", 0.0)))
    budget.valid_s = float(state.get("valid_s", 0.0))  # a resumed run knows its validation time
    budget.started -= time.monotonic() - clock_start  # the clock starts with this call

    # -- data ---------------------------------------------------------------------------------
    report = D.DataReport()
    train_src, valid_src, split = build_data(config, report, state.get("speakers"))
    speakers = split["train"]
    valid_batches = D.validation_batches(
        valid_src, config.valid_examples, config.batch_size, proc.rank, proc.world_size
    )
    log.info("data: %s", report.summary())

    # -- model, objective, optimizer, schedule, mixed precision -------------------------------
    model, objective_module, params = build_objective(config, len(speakers), device)
    objective: nn.Module = objective_module
    if proc.distributed:
        objective = nn.parallel.DistributedDataParallel(
            objective_module, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = Schedule(config, optimizer, budget)
    use_amp, amp_dtype = amp_settings(config.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    # -- resume, or start from another checkpoint's weights ------------------------------------
    step, best, bad_rounds = 0, math.inf, 0
    if config.init_from and ckpt is None:
        copied = init_weights(model, load_checkpoint(config.init_from)["state_dict"])
        log.info("init_from %s: %d of %d tensors copied", config.init_from, copied,
                 len(model.state_dict()))  # fmt: skip
    if ckpt is not None:
        arch = model_spec(config)[0]
        if ckpt["arch"] != arch:
            raise PuresoundError(f"{last} holds a {ckpt['arch']} model, this run trains {arch}")
        try:
            model.load_state_dict(ckpt["state_dict"])
        except RuntimeError as exc:
            raise PuresoundError(resume_mismatch(last, ckpt, config, model)) from exc
        if state:
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            if objective_module.speaker_loss is not None and state.get("speaker_loss"):
                objective_module.speaker_loss.load_state_dict(state["speaker_loss"])
            set_rng_state(state["rng"])
            step, best, bad_rounds = state["step"], state["best"], state["bad_rounds"]
        log.info("resumed %s at step %d", last, step)
    csv_log = CsvLog(run / "log.csv", step) if proc.is_main else None
    writer = _tensorboard(run, step) if config.tensorboard and proc.is_main else None

    def meta(metrics: Mapping[str, float]) -> dict[str, Any]:
        return {
            "task": config.task,
            "train_config": dataclasses.asdict(config),
            "step": step,
            "metrics": dict(metrics),
            "speakers": len(speakers),
        }

    def save_last(metrics: Mapping[str, float]) -> None:
        started = time.monotonic()
        train_state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": schedule.state_dict(),
            "scaler": scaler.state_dict(),
            "speaker_loss": (
                objective_module.speaker_loss.state_dict()
                if objective_module.speaker_loss is not None
                else {}
            ),
            "rng": rng_state(),
            "step": step,
            "best": best,
            "bad_rounds": bad_rounds,
            "speakers": split,
            "elapsed_s": budget.elapsed(),
            "valid_s": budget.valid_s,
        }
        save_checkpoint(last, model, meta(metrics), train_state=train_state)
        budget.note_save(time.monotonic() - started)

    def run_validation() -> bool:
        """Validate, log, keep the best weights; True when early stopping says stop."""
        nonlocal best, bad_rounds
        started = time.monotonic()
        metrics = validate(model, valid_batches, objective_module.signal_loss, device,
                           config.task, proc.distributed)  # fmt: skip
        valid_metrics.clear()
        valid_metrics.update(metrics)
        schedule.after_validation(metrics["loss"])
        if metrics["loss"] < best:
            best, bad_rounds = metrics["loss"], 0
            if proc.is_main:
                save_checkpoint(best_path, model, meta(metrics))
        else:
            bad_rounds += 1
        budget.note_validation(time.monotonic() - started)
        lr = optimizer.param_groups[0]["lr"]
        if csv_log is not None:
            csv_log.write(step=step, kind="valid", loss=metrics["loss"], lr=lr,
                          si_sdri=metrics["si_sdri"], absent_db=metrics["absent_db"],
                          elapsed_s=budget.elapsed(), accuracy=metrics.get("accuracy"))  # fmt: skip
        if writer is not None:
            for key, value in metrics.items():
                writer.add_scalar(f"valid/{key}", value, step)
        emit(TrainEvent("valid", step, planned(), dict(metrics)))
        return bool(config.early_stopping and bad_rounds >= config.early_stopping)

    def planned() -> int:
        if not budget.enabled:
            return config.max_steps
        return min(config.max_steps, step + budget.steps_left(budget.elapsed()))

    # -- loop ---------------------------------------------------------------------------------
    stream = D.BatchStream(train_src, config.batch_size, step, proc.rank, proc.world_size)
    loader = iter(
        torch.utils.data.DataLoader(
            stream,
            batch_size=None,
            num_workers=config.num_workers,
            pin_memory=device.type == "cuda",
            prefetch_factor=4 if config.num_workers > 0 else None,
            persistent_workers=config.num_workers > 0,
        )
    )
    valid_metrics: dict[str, float] = {}
    validated_at = saved_at = -1
    if budget.enabled and budget.valid_s == 0:  # a baseline, and the time a validation takes
        run_validation()
        validated_at = step
    emit(TrainEvent("start", step, planned(), message=report.summary()))
    window_start, window_examples = time.monotonic(), 0
    stop_reason = "max steps reached"
    bad_batches = 0
    objective.train()
    while step < config.max_steps:
        elapsed = budget.elapsed()
        stop_now, progress_now = from_rank0(
            [float(budget.should_stop(elapsed)), budget.progress(elapsed)], proc, device
        )
        if stop_now:
            stop_reason = f"time budget reached ({config.time_budget_minutes:g} min)"
            break
        step_started = time.monotonic()
        schedule.before_step(step, progress_now)
        batch = {k: v.to(device, non_blocking=True) for k, v in next(loader).items()}
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            loss, parts = objective(batch)
        optimizer.zero_grad(set_to_none=True)
        ok = _backward_and_step(loss, params, optimizer, scaler, config.grad_clip, proc)
        step += 1
        if ok:
            bad_batches = 0
            window_examples += batch["mixture"].shape[0] * proc.world_size
        else:
            bad_batches += 1
            log.warning("non-finite loss or gradients at step %d: batch skipped", step)
            if bad_batches >= MAX_BAD_BATCHES:
                raise PuresoundError(
                    f"loss or gradients not finite in {MAX_BAD_BATCHES} batches in a row; "
                    "lower the learning rate"
                )
        budget.note_step(time.monotonic() - step_started)

        # -- log ----------------------------------------------------------------------------
        lr = optimizer.param_groups[0]["lr"]
        metrics = {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}
        emit(TrainEvent("step", step, planned(), {**metrics, "lr": lr}))
        if ok and step % config.log_every == 0 and csv_log is not None:
            now = time.monotonic()
            speed = window_examples / max(now - window_start, 1e-9)
            window_start, window_examples = now, 0
            csv_log.write(step=step, kind="train", lr=lr, examples_per_s=speed,
                          elapsed_s=budget.elapsed(), **metrics)  # fmt: skip
            if writer is not None:
                for key, value in {**metrics, "lr": lr}.items():
                    writer.add_scalar(f"train/{key}", value, step)

        # -- validation, checkpoint ---------------------------------------------------------
        stop = False
        if step % config.valid_every == 0:
            stop = run_validation()
            validated_at = step
            if stop:
                stop_reason = f"early stopping after {bad_rounds} validations"
        if proc.is_main and (step % config.checkpoint_every == 0 or stop):
            save_last(valid_metrics)
            saved_at = step
        if stop:
            break
    del loader
    if validated_at != step:  # the final weights are always validated (and may be the best)
        run_validation()
    if proc.is_main and saved_at != step:
        save_last(valid_metrics)

    # -- release ------------------------------------------------------------------------------
    if step == 0:  # a model.pt of the starting weights would pass for a trained model
        raise PuresoundError(f"{stop_reason} before the first training step: nothing trained, "
                             "no model.pt written")  # fmt: skip
    if proc.distributed:
        dist.barrier()
    if proc.is_main:
        write_release(release, model, meta(valid_metrics), best_path, valid_batches)
        if writer is not None:
            writer.close()
        emit(TrainEvent("end", step, step, dict(valid_metrics), stop_reason))
    if proc.distributed:
        dist.barrier()
        dist.destroy_process_group()
    return release


def _backward_and_step(
    loss: torch.Tensor,
    params: list[nn.Parameter],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    grad_clip: float,
    proc: Process,
) -> bool:
    """Backward pass, clipping and optimizer step; False when the batch was skipped.

    A batch whose loss or gradients are not finite is skipped rather than corrupt the weights.
    Under DDP every rank takes the same decision (a rank that skips the backward pass alone
    would leave the others waiting in the gradient all-reduce forever).
    """
    finite = torch.isfinite(loss.detach()).to(torch.float32)
    if proc.distributed:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    if not bool(finite.item()):
        return False
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # no-op without fp16 loss scaling
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
    # with loss scaling the scaler skips inf/NaN gradients itself (and lowers its scale); the
    # all-reduced gradients give every rank the same norm
    if scaler.is_enabled() or bool(torch.isfinite(norm)):
        scaler.step(optimizer)
        scaler.update()
        return True
    optimizer.zero_grad(set_to_none=True)
    return False


def _tensorboard(run: Path, step: int) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tensorboard"), purge_step=step or None)
