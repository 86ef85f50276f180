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

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from puresound_cli.errors import PuresoundError
from puresound_cli.train.config import TrainConfig, TrainEvent
from puresound_cli.train.lock import RunLock
from puresound_cli.train.trainer import Trainer

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
    """:func:`train` inside the run folder's lock: set up, loop, release."""
    t = Trainer.setup(config, progress)
    c = t.counters
    loader = t.loader()
    validated_at = saved_at = -1
    if t.budget.enabled and t.budget.valid_s == 0:  # a baseline, and the time a validation takes
        t.validate()
        validated_at = c.step
    t.emit(TrainEvent("start", c.step, t.planned(), message=t.report.summary()))
    window_start, window_examples = time.monotonic(), 0
    stop_reason = "max steps reached"
    bad_batches = 0
    t.objective.train()
    while c.step < config.max_steps:
        if t.should_stop_for_time():
            stop_reason = f"time budget reached ({config.time_budget_minutes:g} min)"
            break
        metrics, examples, ok = t.step(loader)
        if ok:
            bad_batches, window_examples = 0, window_examples + examples
        else:
            bad_batches += 1
            log.warning("non-finite loss or gradients at step %d: batch skipped", c.step)
            if bad_batches >= MAX_BAD_BATCHES:
                raise PuresoundError(f"loss or gradients not finite in {MAX_BAD_BATCHES} "
                                     "batches in a row; lower the learning rate")  # fmt: skip
        speed = None
        if ok and c.step % config.log_every == 0:
            now = time.monotonic()
            speed = window_examples / max(now - window_start, 1e-9)
            window_start, window_examples = now, 0
        t.log_step(metrics, speed)
        t.save_snapshots()

        stop = False
        if c.step % config.valid_every == 0:
            stop = t.validate()
            validated_at = c.step
            if stop:
                stop_reason = f"early stopping after {c.bad_rounds} validations"
        if t.proc.is_main and (c.step % config.checkpoint_every == 0 or stop):
            t.save_last()
            saved_at = c.step
        if stop:
            break
    del loader
    if validated_at != c.step:  # the final weights are always validated (and may be the best)
        t.validate()
    if t.proc.is_main and saved_at != c.step:
        t.save_last()
    return t.release(stop_reason)
