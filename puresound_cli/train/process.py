"""This process's place in a run: torchrun's environment, device, threads, mixed precision,
and the optimizer step every rank takes alike."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from puresound_cli.runtime import pick_device, set_threads
from puresound_cli.train.config import TrainConfig


@dataclass(frozen=True)
class Process:
    """This process's place in a (possibly distributed) run."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def start_process(config: TrainConfig) -> Process:
    """Read torchrun's environment, pick the device, join the process group, set threads."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = pick_device(config.device, int(os.environ.get("LOCAL_RANK", "0")))
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    set_threads(config.threads, share=world_size)
    return Process(rank, world_size, device)


def amp_settings(amp: str, device: torch.device) -> tuple[bool, torch.dtype]:
    """(autocast on?, its dtype) for the ``amp`` option on ``device``."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return False, torch.float32
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return True, torch.float16  # with loss scaling
    return True, torch.bfloat16


def from_rank0(values: list[float], proc: Process, device: torch.device) -> list[float]:
    """Rank 0's ``values`` on every rank (the time budget's decisions: one schedule, one stop)."""
    if not proc.distributed:
        return values
    shared = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(shared, src=0)
    return shared.tolist()


def backward_and_step(
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


def tensorboard(run: Path, step: int) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tensorboard"), purge_step=step or None)
