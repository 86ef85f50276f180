"""Examples, batches, the training batch stream and the fixed validation set."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset

TRAIN_STREAM = 0
"""Random stream of training examples (validation uses :data:`VALID_STREAM`)."""
VALID_STREAM = 1


@dataclass
class Example:
    """One training example (numpy, float32, mono).

    Attributes:
        mixture: (T,) the model input.
        reference: (T,) the desired output; equals ``mixture`` when the target is absent;
            (S, T), every talker, for separation.
        present: whether the target speaks in the mixture.
        enrollment: (E,) clean speech of the target speaker (extract only).
        speaker: the target speaker's class index (extract only; -1 when unknown).
        sources: indices of the target and interferer utterances in the bank (-1: none), for
            checks and debugging.
        enrollment_source: index of the enrollment's utterance in the bank (-1: none).
    """

    mixture: np.ndarray
    reference: np.ndarray
    present: bool = True
    enrollment: np.ndarray | None = None
    speaker: int = -1
    sources: tuple[int, int] = (-1, -1)
    enrollment_source: int = -1


def collate(examples: Sequence[Example]) -> dict[str, Any]:
    """Stack examples into a batch of tensors.

    Shape:
        mixture: (B, 1, T); reference: (B, 1, T), or (B, S, T) for S-talker separation;
        enrollment: (B, 1, E); speaker: (B,) long; present: (B,) bool.
    """
    import torch

    references = torch.from_numpy(np.stack([e.reference for e in examples]))
    batch: dict[str, Any] = {
        "mixture": torch.from_numpy(np.stack([e.mixture for e in examples]))[:, None],
        "reference": references if references.dim() == 3 else references[:, None],
        "present": torch.tensor([e.present for e in examples], dtype=torch.bool),
        "speaker": torch.tensor([e.speaker for e in examples], dtype=torch.long),
    }
    enrollments = [e.enrollment for e in examples if e.enrollment is not None]
    if enrollments:
        batch["enrollment"] = torch.from_numpy(np.stack(enrollments))[:, None]
    return batch


class BatchStream(IterableDataset):
    """An endless, deterministic stream of collated batches for one rank.

    Batch ``s`` of rank ``r`` holds examples ``(s * world_size + r) * batch_size + j``. DataLoader
    workers take every ``num_workers``-th step and the loader interleaves them round-robin, so
    the order is the same with any worker count, and ``start_step`` resumes the stream exactly.
    Use it with ``DataLoader(stream, batch_size=None, num_workers=...)``.
    """

    def __init__(
        self, source: Any, batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        super().__init__()
        self.source = source
        self.batch_size = batch_size
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size

    def batch(self, step: int) -> dict[str, Any]:
        """The batch of training step ``step`` for this rank."""
        base = (step * self.world_size + self.rank) * self.batch_size
        return collate([self.source.example(base + j) for j in range(self.batch_size)])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        step = self.start_step + worker
        while True:
            yield self.batch(step)
            step += workers


def validation_batches(
    source: Any, n_examples: int, batch_size: int, rank: int = 0, world_size: int = 1
) -> list[dict[str, Any]]:
    """A fixed validation set: examples ``0..n_examples-1`` of ``source``, this rank's share."""
    mine = list(range(rank, n_examples, world_size))
    return [
        collate([source.example(i) for i in mine[k : k + batch_size]])
        for k in range(0, len(mine), batch_size)
    ]


# ---------------------------------------------------------------------------------------------
