"""The state of a training run and its steps: :class:`Trainer`, made in one place.

:meth:`Trainer.setup` builds everything a run holds (processes and seeds, data, model and
objective, optimizer, schedule, mixed precision, resume); its methods take one step, validate,
write ``last.pt`` and the release. :func:`puresound_cli.train.loop.train` drives it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
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
from puresound_cli.train.objective import Objective, build_objective, model_spec
from puresound_cli.train.process import (
    Process,
    amp_settings,
    backward_and_step,
    from_rank0,
    start_process,
    tensorboard,
)
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


@dataclass
class Counters:
    """What the loop counts, saved with ``last.pt``: steps, best validation loss, validations
    without improvement."""

    step: int = 0
    best: float = math.inf
    bad_rounds: int = 0


@dataclass
class Trainer:
    """Everything a run holds, made in one place (:meth:`setup`); :func:`_train` drives it."""

    config: TrainConfig
    proc: Process
    emit: Callable[[TrainEvent], None]
    budget: TimeBudget
    report: D.DataReport
    train_src: Any
    split: dict[str, Any]
    valid_batches: list[dict[str, Any]]
    model: nn.Module
    objective_module: Objective
    objective: nn.Module
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    amp: tuple[bool, torch.dtype]
    counters: Counters
    csv_log: CsvLog | None
    writer: Any
    valid_metrics: dict[str, float] = field(default_factory=dict)
    progress_now: float = 0.0  # share of the time budget used (rank 0's reading)

    @property
    def run(self) -> Path:  # the run folder
        return Path(self.config.out)

    @classmethod
    def setup(cls, config: TrainConfig, progress: Callable[[TrainEvent], None] | None) -> Trainer:
        """Processes and seeds -> data -> model, objective, optimizer, schedule, mixed
        precision -> resume (or start from another checkpoint's weights)."""
        from puresound_cli.checkpoint import load_checkpoint

        clock_start = time.monotonic()
        proc = start_process(config)
        random.seed(config.seed + proc.rank)
        np.random.seed(config.seed + proc.rank)
        torch.manual_seed(config.seed)  # same initial weights on every rank
        run = Path(config.out)
        if proc.is_main:
            run.mkdir(parents=True, exist_ok=True)
        last = run / "last.pt"
        ckpt = load_checkpoint(last) if config.resume and last.is_file() else None
        state = (ckpt.get("train_state") or {}) if ckpt is not None else {}
        budget = TimeBudget(config.time_budget_minutes, float(state.get("elapsed_s", 0.0)),
                            float(state.get("valid_s", 0.0)), started=clock_start)  # fmt: skip

        report = D.DataReport()
        train_src, valid_src, split = build_data(config, report, state.get("speakers"))
        valid_batches = D.validation_batches(
            valid_src, config.valid_examples, config.batch_size, proc.rank, proc.world_size
        )
        log.info("data: %s", report.summary())

        device = proc.device
        model, objective_module, params = build_objective(config, len(split["train"]), device)
        objective: nn.Module = objective_module
        if proc.distributed:
            objective = nn.parallel.DistributedDataParallel(
                objective_module, device_ids=[device.index] if device.type == "cuda" else None
            )
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        use_amp, amp_dtype = amp_settings(config.amp, device)
        trainer = cls(
            config=config,
            proc=proc,
            emit=progress if (progress is not None and proc.is_main) else (lambda event: None),
            budget=budget,
            report=report,
            train_src=train_src,
            split=split,
            valid_batches=valid_batches,
            model=model,
            objective_module=objective_module,
            objective=objective,
            params=params,
            optimizer=optimizer,
            schedule=Schedule(config, optimizer, budget),
            scaler=torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16),
            amp=(use_amp, amp_dtype),
            counters=Counters(),
            csv_log=None,
            writer=None,
        )
        trainer.start_from(ckpt, state)
        step = trainer.counters.step
        trainer.csv_log = CsvLog(run / "log.csv", step) if proc.is_main else None
        if config.tensorboard and proc.is_main:
            trainer.writer = tensorboard(run, step)
        return trainer

    def start_from(self, ckpt: dict[str, Any] | None, state: dict[str, Any]) -> None:
        """Resume from ``last.pt`` (its checkpoint and train state), or copy ``init_from``."""
        from puresound_cli.checkpoint import load_checkpoint

        config, last = self.config, self.run / "last.pt"
        if config.init_from and ckpt is None:
            copied = init_weights(self.model, load_checkpoint(config.init_from)["state_dict"])
            log.info("init_from %s: %d of %d tensors copied", config.init_from, copied,
                     len(self.model.state_dict()))  # fmt: skip
        if ckpt is None:
            return
        arch = model_spec(config)[0]
        if ckpt["arch"] != arch:
            raise PuresoundError(f"{last} holds a {ckpt['arch']} model, this run trains {arch}")
        try:
            self.model.load_state_dict(ckpt["state_dict"])
        except RuntimeError as exc:
            raise PuresoundError(resume_mismatch(last, ckpt, config, self.model)) from exc
        if state:
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
            speaker_loss = self.objective_module.speaker_loss
            if speaker_loss is not None and state.get("speaker_loss"):
                speaker_loss.load_state_dict(state["speaker_loss"])
            set_rng_state(state["rng"])
            self.counters = Counters(state["step"], state["best"], state["bad_rounds"])
        log.info("resumed %s at step %d", last, self.counters.step)

    def should_stop_for_time(self) -> bool:
        """Whether the time budget is spent (rank 0 decides); sets the schedule's progress."""
        elapsed = self.budget.elapsed()
        stop_now, progress_now = from_rank0(
            [float(self.budget.should_stop(elapsed)), self.budget.progress(elapsed)],
            self.proc,
            self.proc.device,
        )
        self.progress_now = progress_now
        return bool(stop_now)

    def step(self, loader: Iterator[dict[str, torch.Tensor]]) -> tuple[dict[str, float], int, bool]:
        """One optimisation step on the loader's next batch (its making timed with it):
        (metrics, examples seen, whether the batch was used)."""
        started = time.monotonic()
        device = self.proc.device
        self.schedule.before_step(self.counters.step, self.progress_now)
        batch = {k: v.to(device, non_blocking=True) for k, v in next(loader).items()}
        use_amp, amp_dtype = self.amp
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            loss, parts = self.objective(batch)
        self.optimizer.zero_grad(set_to_none=True)
        ok = backward_and_step(
            loss, self.params, self.optimizer, self.scaler, self.config.grad_clip, self.proc
        )
        self.counters.step += 1
        self.budget.note_step(time.monotonic() - started)
        metrics = {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}
        return metrics, batch["mixture"].shape[0] * self.proc.world_size, ok

    def log_step(self, metrics: dict[str, float], speed: float | None) -> None:
        """Report a step; with ``speed`` (examples per second) also write it to the logs."""
        step, lr = self.counters.step, self.optimizer.param_groups[0]["lr"]
        self.emit(TrainEvent("step", step, self.planned(), {**metrics, "lr": lr}))
        if speed is None or self.csv_log is None:
            return
        self.csv_log.write(step=step, kind="train", lr=lr, examples_per_s=speed,
                           elapsed_s=self.budget.elapsed(), **metrics)  # fmt: skip
        if self.writer is not None:
            for key, value in {**metrics, "lr": lr}.items():
                self.writer.add_scalar(f"train/{key}", value, step)

    def planned(self) -> int:
        """Steps the run will have made at its end (an estimate under a time budget)."""
        if not self.budget.enabled:
            return self.config.max_steps
        left = self.budget.steps_left(self.budget.elapsed())
        return min(self.config.max_steps, self.counters.step + left)

    def validate(self) -> bool:
        """Validate, log, keep the best weights; True when early stopping says stop."""
        from puresound_cli.checkpoint import save_checkpoint

        started, c, step = time.monotonic(), self.counters, self.counters.step
        metrics = validate(self.model, self.valid_batches, self.objective_module.signal_loss,
                           self.proc.device, self.config.task, self.proc.distributed)  # fmt: skip
        self.valid_metrics = dict(metrics)
        self.schedule.after_validation(metrics["loss"])
        if metrics["loss"] < c.best:
            c.best, c.bad_rounds = metrics["loss"], 0
            if self.proc.is_main:
                save_checkpoint(self.run / "best.pt", self.model, self.meta(metrics))
        else:
            c.bad_rounds += 1
        self.budget.note_validation(time.monotonic() - started)
        lr = self.optimizer.param_groups[0]["lr"]
        if self.csv_log is not None:
            self.csv_log.write(step=step, kind="valid", loss=metrics["loss"], lr=lr,
                               si_sdri=metrics["si_sdri"], absent_db=metrics["absent_db"],
                               elapsed_s=self.budget.elapsed(),
                               accuracy=metrics.get("accuracy"))  # fmt: skip
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(f"valid/{key}", value, step)
        self.emit(TrainEvent("valid", step, self.planned(), dict(metrics)))
        return bool(self.config.early_stopping and c.bad_rounds >= self.config.early_stopping)

    def meta(self, metrics: Mapping[str, float]) -> dict[str, Any]:
        """A checkpoint's metadata."""
        return {
            "task": self.config.task,
            "train_config": dataclasses.asdict(self.config),
            "step": self.counters.step,
            "metrics": dict(metrics),
            "speakers": len(self.split["train"]),
        }

    def save_snapshots(self) -> None:
        """``at-{M}min.pt`` for every snapshot time passed and not written yet (rank 0)."""
        from puresound_cli.checkpoint import save_checkpoint

        minutes = self.budget.elapsed() / 60.0
        for mark in self.config.snapshot_minutes:
            path = self.run / f"at-{mark:g}min.pt"
            if minutes >= mark and self.proc.is_main and not path.exists():
                meta = {**self.meta(self.valid_metrics), "elapsed_minutes": minutes}
                save_checkpoint(path, self.model, meta)

    def save_last(self) -> None:
        """``last.pt``: the weights and everything a resume needs."""
        from puresound_cli.checkpoint import save_checkpoint

        started, c = time.monotonic(), self.counters
        speaker_loss = self.objective_module.speaker_loss
        train_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "speaker_loss": speaker_loss.state_dict() if speaker_loss is not None else {},
            "rng": rng_state(),
            "step": c.step,
            "best": c.best,
            "bad_rounds": c.bad_rounds,
            "speakers": self.split,
            "elapsed_s": self.budget.elapsed(),
            "valid_s": self.budget.valid_s,
        }
        meta = self.meta(self.valid_metrics)
        save_checkpoint(self.run / "last.pt", self.model, meta, train_state=train_state)
        self.budget.note_save(time.monotonic() - started)

    def release(self, stop_reason: str) -> Path:
        """``model.pt``: the best weights, output level calibrated, no optimizer state."""
        release, step = self.run / "model.pt", self.counters.step
        if step == 0:  # a model.pt of the starting weights would pass for a trained model
            raise PuresoundError(f"{stop_reason} before the first training step: nothing "
                                 "trained, no model.pt written")  # fmt: skip
        if self.proc.distributed:
            dist.barrier()
        if self.proc.is_main:
            write_release(release, self.model, self.meta(self.valid_metrics),
                          self.run / "best.pt", self.valid_batches)  # fmt: skip
            if self.writer is not None:
                self.writer.close()
            self.emit(TrainEvent("end", step, step, dict(self.valid_metrics), stop_reason))
        if self.proc.distributed:
            dist.barrier()
            dist.destroy_process_group()
        return release

    def loader(self) -> Iterator[dict[str, torch.Tensor]]:
        """The training batches from the current step on (this rank's shard)."""
        config, proc = self.config, self.proc
        stream = D.BatchStream(
            self.train_src, config.batch_size, self.counters.step, proc.rank, proc.world_size
        )
        return iter(
            torch.utils.data.DataLoader(
                stream,
                batch_size=None,
                num_workers=config.num_workers,
                pin_memory=proc.device.type == "cuda",
                prefetch_factor=4 if config.num_workers > 0 else None,
                persistent_workers=config.num_workers > 0,
            )
        )
