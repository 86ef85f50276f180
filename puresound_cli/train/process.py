"""This process's place in a run: torchrun's environment, device, threads, mixed precision."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

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
