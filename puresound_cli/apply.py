"""Chunked inference with overlap-add, for inputs of any length in bounded memory.

Long audio goes through :class:`OverlapAdd`. The input is cut into segments of ``segment``
samples that overlap by ``overlap`` samples; each
segment is zero-padded to the network's ``valid_length``, run through ``fn``, trimmed back, and
the outputs are blended with triangular crossfade weights divided by their sum. Because the
weights are normalised by their sum, an identity network gives back its input (to float
precision; accumulation is in float64, so in practice bit for bit), whatever the length,
segment and overlap. An input no longer than one segment is one chunk: the same result as a
single pass.

:class:`OverlapAdd` does this as a stream (push blocks, get finished samples back), which is
how the command line handles hour-long files; :func:`chunked` is the one-shot form.
:func:`chunk_seconds` and :func:`segment_samples` choose segment and overlap for a model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
from torch import Tensor

from puresound_cli.nets.contract import SeparationModel

logger = logging.getLogger("puresound_cli")

DEFAULT_SEGMENT = 10.0
"""Chunk length in seconds when the model does not need longer ones."""
DEFAULT_OVERLAP = 2.5
"""Chunk overlap in seconds when the receptive field is shorter."""

ChunkFn = Callable[[Tensor], Tensor]


def triangular_window(length: int) -> Tensor:
    """Strictly positive triangular weights ``1, 2, ..., peak, ..., 2, 1`` (float64).

    Shape:
        ``(length,)``
    """
    half = torch.arange(1, length // 2 + 1, dtype=torch.float64)
    rest = torch.arange(length - length // 2, 0, -1, dtype=torch.float64)
    return torch.cat([half, rest])


class OverlapAdd:
    """Streaming chunked inference with triangular crossfades.

    Push waveform blocks in order with :meth:`push`; each call returns the output samples that
    no later segment can change. :meth:`flush` processes what is left and returns the rest. The
    concatenated outputs have exactly the length of the concatenated inputs. While ``fn`` runs,
    :attr:`segment_start` is the input sample where its segment starts.

    Args:
        fn: network applied to each segment, ``(B, C, L) -> (B, C, L)``.
        segment: segment length in samples (>= 1).
        overlap: overlap between consecutive segments in samples (0 <= overlap < segment).
        valid_length: optional ``n -> m >= n``; each segment is zero-padded to ``m`` samples
            before ``fn`` and the output trimmed back to ``n``.

    Raises:
        ValueError: for a bad segment or overlap.
    """

    def __init__(
        self,
        fn: ChunkFn,
        segment: int,
        overlap: int,
        valid_length: Callable[[int], int] | None = None,
    ) -> None:
        if segment < 1:
            raise ValueError(f"segment must be at least 1 sample, got {segment}")
        if not 0 <= overlap < segment:
            raise ValueError(f"overlap must be in [0, segment={segment}), got {overlap}")
        self.fn = fn
        self.segment = segment
        self.overlap = overlap
        self.hop = segment - overlap
        self.valid_length = valid_length
        self._window = triangular_window(segment)
        self._pending: Tensor | None = None  # input not yet consumed, starts at the next segment
        self._num: Tensor | None = None  # weighted output carried over the overlap (float64)
        self._den: Tensor | None = None  # weight sum carried over the overlap (float64)
        self._processed_any = False
        self._consumed = 0  # input samples before ``_pending``
        self.segment_start = 0  # input sample where the segment ``fn`` is given starts

    def _run(self, chunk: Tensor) -> tuple[Tensor, Tensor]:
        """Run one segment; return its weighted output and weights (float64)."""
        length = chunk.shape[-1]
        padded_length = self.valid_length(length) if self.valid_length else length
        if padded_length < length:
            raise ValueError(f"valid_length({length}) = {padded_length} is shorter than the input")
        padded = torch.nn.functional.pad(chunk, (0, padded_length - length))
        out = self.fn(padded)
        if out.shape[:-1] != chunk.shape[:-1] or out.shape[-1] < length:
            raise ValueError(
                f"chunk function returned shape {tuple(out.shape)} for input {tuple(padded.shape)}"
            )
        window = self._window[:length]
        weighted = out[..., :length].to(torch.float64) * window  # (B, C, L)
        self._processed_any = True
        return weighted, window

    def _accumulate(self, weighted: Tensor, window: Tensor) -> tuple[Tensor, Tensor]:
        """Add the carried overlap to the start of a new segment's output."""
        if self._num is not None and self._den is not None:
            n = self._num.shape[-1]
            weighted = weighted.clone()
            weighted[..., :n] += self._num
            window = window.clone()
            window[:n] += self._den
        return weighted, window

    def push(self, block: Tensor) -> Tensor:
        """Add input samples; return the output samples that are now final.

        Shape:
            block: ``(B, C, n)``; returns ``(B, C, m)`` with ``m`` possibly 0.
        """
        if block.dim() != 3:
            raise ValueError(f"expected a (batch, channels, time) block, got {tuple(block.shape)}")
        pending = block if self._pending is None else torch.cat([self._pending, block], dim=-1)
        outputs: list[Tensor] = []
        start = 0
        while pending.shape[-1] - start >= self.segment:
            chunk = pending[..., start : start + self.segment]
            self.segment_start = self._consumed + start
            weighted, window = self._accumulate(*self._run(chunk))
            outputs.append((weighted[..., : self.hop] / window[: self.hop]).to(block.dtype))
            self._num = weighted[..., self.hop :]
            self._den = window[self.hop :]
            start += self.hop
        self._pending = pending[..., start:]
        self._consumed += start
        if outputs:
            return torch.cat(outputs, dim=-1)
        return block[..., :0]

    def flush(self) -> Tensor:
        """Process the remaining input and return the last output samples.

        Shape:
            returns ``(B, C, m)``.
        """
        pending = self._pending
        if pending is None:
            raise ValueError("flush() called before any input was pushed")
        carried = 0 if self._num is None else self._num.shape[-1]
        if pending.shape[-1] > carried or not self._processed_any:
            if pending.shape[-1] == 0:
                out = pending
            else:
                self.segment_start = self._consumed
                weighted, window = self._accumulate(*self._run(pending))
                out = (weighted / window).to(pending.dtype)
        else:  # the last segment already reached the end: only the carried overlap is left
            assert self._num is not None and self._den is not None
            out = (self._num / self._den).to(pending.dtype)
        self._pending = pending[..., :0]
        self._consumed += pending.shape[-1]
        self._num = self._den = None
        return out


def chunked(
    fn: ChunkFn,
    wav: Tensor,
    segment: int,
    overlap: int,
    valid_length: Callable[[int], int] | None = None,
) -> Tensor:
    """Apply ``fn`` to ``wav`` in overlapping segments blended by normalised triangular weights.

    Args:
        fn: network, ``(B, C, L) -> (B, C, L)``.
        wav: input waveform.
        segment: segment length in samples.
        overlap: overlap in samples, ``0 <= overlap < segment``.
        valid_length: optional padding rule for the network (``n -> m >= n``).

    Returns:
        The output, same shape and dtype as ``wav``.

    Shape:
        wav: ``(B, C, T)``; returns ``(B, C, T)``.
    """
    stream = OverlapAdd(fn, segment, overlap, valid_length)
    head = stream.push(wav)
    tail = stream.flush()
    return torch.cat([head, tail], dim=-1)


def chunk_seconds(
    model: SeparationModel, segment: float | None = None, overlap: float | None = None
) -> tuple[float, float]:
    """Chunk length and overlap in seconds, filling in defaults that suit the model.

    The default overlap is :data:`DEFAULT_OVERLAP`, or the network's receptive field rounded up
    to half a second when that is longer; the default segment is :data:`DEFAULT_SEGMENT`, or
    four overlaps when that is longer (so overlap costs at most a third more compute). If only
    ``segment`` is given and it is too short for the default overlap, the overlap is a quarter
    of it.

    Raises:
        ValueError: segment <= 0, overlap < 0, or overlap >= segment.
    """
    field_seconds = model.receptive_field_samples / model.sample_rate
    if overlap is None:
        overlap = max(DEFAULT_OVERLAP, math.ceil(field_seconds * 2) / 2)
        if segment is not None and overlap >= segment:
            overlap = segment / 4
    if segment is None:
        segment = max(DEFAULT_SEGMENT, 4 * overlap)
    if not segment > 0:
        raise ValueError(f"segment must be positive, got {segment} s")
    if not 0 <= overlap < segment:
        raise ValueError(f"overlap must be in [0, segment={segment}) s, got {overlap} s")
    return segment, overlap


def segment_samples(
    model: SeparationModel, segment: float | None = None, overlap: float | None = None
) -> tuple[int, int]:
    """Segment and overlap in samples at the model rate (defaults from :func:`chunk_seconds`).

    Logs a warning when the overlap is shorter than the network's receptive field.

    Raises:
        ValueError: segment <= 0, overlap < 0, or overlap >= segment.
    """
    segment, overlap = chunk_seconds(model, segment, overlap)
    rate = model.sample_rate
    seg = max(1, round(segment * rate))
    ovl = min(seg - 1, round(overlap * rate))
    field_ = model.receptive_field_samples
    if ovl < field_:
        logger.warning(
            "overlap %.3g s is shorter than the model's receptive field %.3g s: "
            "chunk borders may be audible (raise --overlap)",
            overlap,
            field_ / rate,
        )
    return seg, ovl
