"""Learning-rate schedules and the run's time budget.

Two schedules: "plateau" (halve the learning rate after ``plateau_patience`` validations without
improvement; torch's ReduceLROnPlateau) and a cosine from ``lr`` to 0 after a linear warm-up,
over ``max_steps`` or, with a time budget, over the run's wall-clock time. A budgeted run
measures how long a step, a validation and a checkpoint take, and stops so that the final
validation, the calibration and ``model.pt`` fit inside the budget.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from puresound_cli.train.config import TrainConfig


def cosine_factor(progress: float, step: int, warmup_steps: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup_steps``, then a cosine from 1 to 0.

    Args:
        progress: share of the run done after warm-up, in [0, 1] (clipped).
        step: the step about to be taken (for the warm-up).
        warmup_steps: warm-up length in steps.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))


class TimeBudget:
    """A run's wall-clock budget: elapsed time, the share used, and when to stop.

    The clock counts from the start of :func:`~puresound_cli.train.train` (plus the time of the
    run before a resume). ``reserve`` is what must be left for the end: the final validation,
    the release calibration (about one more validation) and the checkpoints.

    Args:
        minutes: the budget (0: none; then nothing ever stops for time).
        elapsed_before: seconds the run had used before this process (resume).
        valid_before: the duration of the run's latest validation before this process (resume).
        started: ``time.monotonic()`` when this process's part of the run began (default: now).
    """

    def __init__(
        self,
        minutes: float,
        elapsed_before: float = 0.0,
        valid_before: float = 0.0,
        started: float | None = None,
    ) -> None:
        self.seconds = minutes * 60.0
        self.started = (time.monotonic() if started is None else started) - elapsed_before
        self.step_s = 0.0  # running mean of a training step (data included)
        self.valid_s = valid_before  # the latest validation's duration
        self.save_s = 0.5  # the latest checkpoint write's duration (a guess until measured)
        self._progress = 0.0

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def elapsed(self) -> float:
        """Seconds used so far."""
        return time.monotonic() - self.started

    def note_step(self, seconds: float) -> None:
        """Measure one training step (a running mean; the first, slower ones fade out)."""
        self.step_s = seconds if self.step_s == 0 else 0.9 * self.step_s + 0.1 * seconds

    @property
    def reserve(self) -> float:
        """Seconds kept for the end: validation + calibration + checkpoints, with a margin."""
        return 2.0 * self.valid_s + 2.0 * self.save_s + 0.2

    def note_validation(self, seconds: float) -> None:
        """Measure a validation (the latest counts: the first one also pays for warm-up)."""
        self.valid_s = seconds

    def note_save(self, seconds: float) -> None:
        """Measure a checkpoint write."""
        self.save_s = seconds

    def progress(self, elapsed: float) -> float:
        """Share of the training time (budget less the reserve) used at ``elapsed``; never
        decreases, so the learning rate only falls even when the reserve estimate grows."""
        usable = max(1e-9, self.seconds - self.reserve)
        self._progress = max(self._progress, min(1.0, elapsed / usable))
        return self._progress

    def should_stop(self, elapsed: float) -> bool:
        """Whether one more step would eat into the reserve."""
        return self.enabled and elapsed + self.step_s + self.reserve >= self.seconds

    def steps_left(self, elapsed: float) -> int:
        """Estimated steps still to come (for progress reports)."""
        if not self.enabled or self.step_s <= 0:
            return 0
        return max(0, int((self.seconds - self.reserve - elapsed) / self.step_s))


class Schedule:
    """Sets the learning rate: cosine by step or by time, or on plateaus of validation loss.

    Args:
        config: the run's settings (lr, scheduler, warmup_steps, max_steps, time budget).
        optimizer: whose parameter groups get the learning rate.
        budget: the run's time budget (a cosine over it when enabled).
    """

    def __init__(
        self, config: TrainConfig, optimizer: torch.optim.Optimizer, budget: TimeBudget
    ) -> None:
        self.config = config
        self.optimizer = optimizer
        self.budget = budget
        self.plateau = (
            None
            if config.cosine
            else torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=0.5, patience=config.plateau_patience
            )
        )

    def before_step(self, step: int, budget_progress: float) -> None:
        """Set the learning rate of step ``step`` (cosine); with a time budget the cosine follows
        ``budget_progress`` (:meth:`TimeBudget.progress`, rank 0's under DDP) instead."""
        if self.plateau is not None:
            return
        c = self.config
        if self.budget.enabled:
            progress = budget_progress
        else:
            progress = (step - c.warmup_steps) / max(1, c.max_steps - c.warmup_steps)
        lr = c.lr * cosine_factor(progress, step, c.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def after_validation(self, loss: float) -> None:
        """Feed a validation loss to the plateau schedule."""
        if self.plateau is not None:
            self.plateau.step(loss)

    def state_dict(self) -> dict[str, Any]:
        return self.plateau.state_dict() if self.plateau is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.plateau is not None and state:
            self.plateau.load_state_dict(state)
