"""Personal VAD on a live stream: frame probabilities block by block, and segments closed as
soon as they end (``puresound vad --stream``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from puresound_cli.errors import PuresoundError
from puresound_cli.nets.conditioning import normalise_embedding


class StreamingVAD:
    """Frame probabilities of a causal personal VAD, block by block as audio arrives.

    Equals :meth:`PersonalVAD.frame_logits` on the whole signal (one pass), frame for frame.

    Args:
        model: a ``"vad"`` model with a causal detector.
        embedding: the enrollment's embedding ``(1, D)``.
    """

    def __init__(self, model: Any, embedding: torch.Tensor) -> None:
        from puresound_cli.nets.blocks import set_streaming
        from puresound_cli.stream import streamable

        reason = streamable(model.detector)
        if reason:
            raise PuresoundError(f"this VAD cannot stream: {reason}")
        self.model, self.detector = model, model.detector
        c = self.detector.config
        self.window, self.hop = c.window, c.hop
        self.window_fn = torch.hann_window(self.window)
        self.embedding = normalise_embedding(embedding, c.embed_gain)
        set_streaming(self.detector, True)
        self.state: dict[str, Any] = {}
        self.buffer = torch.zeros(self.window // 2)
        self.received = self.frames_done = 0

    def _run(self) -> np.ndarray:
        from puresound_cli.stream import stft_frames

        spec, rest = stft_frames(self.buffer[None], self.window_fn, self.hop)  # (1, F, n)
        self.buffer = rest[0]
        if spec.shape[-1] == 0:
            return np.zeros(0, dtype=np.float32)
        hidden = self.detector.masker.stream_step(spec.abs(), self.embedding, self.state)
        logits = self.model.head(hidden)[0, 0]
        self.frames_done += spec.shape[-1]
        return torch.sigmoid(logits).numpy().astype(np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add mono samples at the model rate; return the probabilities of the new frames."""
        with torch.inference_mode():
            self.received += samples.size
            self.buffer = torch.cat([self.buffer, torch.from_numpy(samples.astype(np.float32))])
            return self._run()

    def flush(self) -> np.ndarray:
        """The last frames (``received // hop + 1`` in all), padded as one offline pass is."""
        from puresound_cli.nets.blocks import set_streaming

        with torch.inference_mode():
            total = self.received // self.hop + 1
            padded = self.detector.valid_length(max(1, self.received))
            tail = torch.zeros(padded - self.received + self.window // 2)
            self.buffer = torch.cat([self.buffer, tail])
            done = self.frames_done
            probs = self._run()[: max(0, total - done)]
            set_streaming(self.detector, False)
            return probs


class SegmentTracker:
    """Turns frame probabilities arriving in pieces into closed (start, end) segments, with the
    rules of :func:`segments` (merge gaps under ``merge_gap``, drop runs under ``min_seconds``)."""

    def __init__(
        self,
        seconds_per_frame: float,
        threshold: float = 0.5,
        min_seconds: float = 0.1,
        merge_gap: float = 0.2,
    ) -> None:
        self.step, self.threshold = seconds_per_frame, threshold
        self.min_seconds, self.merge_gap = min_seconds, merge_gap
        self.frame = 0
        self.open: list[float] | None = None

    def _close(self) -> list[tuple[float, float]]:
        run, self.open = self.open, None
        if run is None or run[1] - run[0] < self.min_seconds:
            return []
        return [(round(run[0], 3), round(run[1], 3))]

    def push(self, probabilities: np.ndarray) -> list[tuple[float, float]]:
        """Segments that can no longer grow."""
        closed = []
        for p in probabilities:
            start = max(0.0, (self.frame - 0.5) * self.step)
            if p > self.threshold:
                if self.open is not None and start - self.open[1] <= self.merge_gap:
                    self.open[1] = (self.frame + 0.5) * self.step
                else:
                    closed += self._close()
                    self.open = [start, (self.frame + 0.5) * self.step]
            elif self.open is not None and start - self.open[1] > self.merge_gap:
                closed += self._close()
            self.frame += 1
        return closed

    def flush(self) -> list[tuple[float, float]]:
        """The segment still open at the end of the stream."""
        return self._close()
