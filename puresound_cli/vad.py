"""Personal voice activity: when does the enrolled speaker talk in a recording?

``frame_probabilities`` runs a personal VAD model (``nets.pvad``) over audio of any length in
chunks (each with a few seconds of left context, so a causal detector sees what it would see in
one pass); ``segments`` turns the probabilities into (start, end) times in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from puresound_cli import audio
from puresound_cli.errors import PuresoundError


def load_vad(model: str, enrollment: str | Path, device: Any = "cpu") -> tuple[Any, torch.Tensor]:
    """A personal VAD model and the enrollment's embedding ``(1, D)`` (on the CPU).

    Raises:
        PuresoundError: not a vad checkpoint, or an unreadable enrollment.
    """
    from puresound_cli.checkpoint import load_model
    from puresound_cli.separate import embed_recording

    net: Any = load_model(model, device)
    if getattr(net, "task", None) != "vad":
        raise PuresoundError(f"{model} is an {net.task!r} model, not a vad model")
    wav, rate, _ = audio.read_audio(enrollment)
    try:
        return net, embed_recording(net, wav, rate)
    except PuresoundError as err:
        raise PuresoundError(f"{audio.describe(enrollment)}: {err}") from err


CHUNK_SECONDS = 30.0
CONTEXT_SECONDS = 4.0


def frame_probabilities(
    model: Any, wav: np.ndarray, sample_rate: int, embedding: torch.Tensor
) -> np.ndarray:
    """Probability per frame (frame i centred on ``i * model.hop`` at the model rate).

    Args:
        model: a loaded ``"vad"`` model.
        wav: mono ``(frames,)`` or ``(channels, frames)`` audio at ``sample_rate`` (mixed down).
        sample_rate: its rate.
        embedding: the enrollment's embedding ``(1, D)`` (``model.embed``).

    Returns:
        ``(n_frames,)`` float32 probabilities, ``n_frames = samples // hop + 1``.
    """
    if getattr(model, "task", None) != "vad":
        raise PuresoundError(f"this is an {getattr(model, 'task', '?')!r} model, not a vad model")
    mono = np.asarray(wav, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    x = audio.resample(mono[None], sample_rate, model.sample_rate)[0]
    hop = int(model.hop)
    n_frames = x.size // hop + 1
    chunk = max(1, int(CHUNK_SECONDS * model.sample_rate) // hop)  # frames per chunk
    context = int(CONTEXT_SECONDS * model.sample_rate) // hop
    device = next(model.parameters()).device
    out = np.zeros(n_frames, dtype=np.float32)
    with torch.inference_mode():
        for first in range(0, n_frames, chunk):
            last = min(n_frames, first + chunk)
            begin = max(0, first - context)
            piece = x[begin * hop : last * hop]  # frames begin .. last-1 (the last one may be cut)
            if piece.size == 0:
                piece = x[begin * hop :]
            tensor = torch.from_numpy(np.ascontiguousarray(piece))[None, None].to(device)
            logits = model.frame_logits(tensor, embedding.to(device))[0].float().cpu().numpy()
            probs = 1.0 / (1.0 + np.exp(-logits))
            keep = probs[first - begin : last - begin]
            out[first : first + keep.size] = keep
    return out


def segments(
    probabilities: np.ndarray,
    seconds_per_frame: float,
    threshold: float = 0.5,
    min_seconds: float = 0.1,
    merge_gap: float = 0.2,
) -> list[tuple[float, float]]:
    """(start, end) in seconds of the runs of frames above ``threshold``; gaps shorter than
    ``merge_gap`` are bridged, runs shorter than ``min_seconds`` dropped."""
    active = np.asarray(probabilities) > threshold
    runs: list[list[float]] = []
    for i, on in enumerate(active):
        if not on:
            continue
        start, end = max(0.0, (i - 0.5) * seconds_per_frame), (i + 0.5) * seconds_per_frame
        if runs and start - runs[-1][1] <= merge_gap:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    return [(round(s, 3), round(e, 3)) for s, e in runs if e - s >= min_seconds]


def sample_gate(
    probabilities: np.ndarray,
    hop_seconds: float,
    sample_rate: int,
    frames: int,
    threshold: float = 0.5,
    floor_db: float = -40.0,
    ramp_seconds: float = 0.05,
    hangover_seconds: float = 0.2,
) -> np.ndarray:
    """Per-sample gain from frame probabilities: 1 where the target talks (held ``hangover``
    seconds after), ``floor_db`` elsewhere, with ``ramp_seconds`` crossfades; ``(frames,)``."""
    active = (np.asarray(probabilities) > threshold).astype(np.float32)
    hold = max(1, int(round(hangover_seconds / hop_seconds)))
    held = np.convolve(active, np.ones(hold, dtype=np.float32))[: active.size] > 0
    times = np.arange(frames) / sample_rate
    index = np.clip(np.round(times / hop_seconds).astype(int), 0, held.size - 1)
    floor = 10 ** (floor_db / 20)
    gain = np.where(held[index], 1.0, floor).astype(np.float32)
    ramp = max(1, int(ramp_seconds * sample_rate))
    padded = np.pad(gain.astype(np.float64), (ramp // 2, ramp - 1 - ramp // 2), mode="edge")
    smooth = np.convolve(padded, np.full(ramp, 1.0 / ramp), "valid")
    smooth[np.abs(smooth - 1.0) < 1e-9] = 1.0  # where the target talks: exactly unchanged
    return smooth.astype(np.float32)


def vad_gate(net: Any, embedding: torch.Tensor, source: str | Path) -> Any:
    """An output gate for one file (``Separator.process_file(gate=...)``): -40 dB where the
    personal VAD hears no target in ``source``."""
    wav, rate, _ = audio.read_audio(source)
    probs = frame_probabilities(net, wav, rate, embedding)
    gain = sample_gate(probs, net.hop / net.sample_rate, rate, wav.shape[1])

    def gate(start: int, block: np.ndarray) -> np.ndarray:
        return block * gain[start : start + block.shape[1]]

    return gate


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
        self.embedding = torch.nn.functional.normalize(embedding, dim=1) * c.embed_gain
        set_streaming(self.detector, True)
        self.state: dict[str, Any] = {}
        self.buffer = torch.zeros(self.window // 2)
        self.received = self.frames_done = 0

    def _run(self) -> np.ndarray:
        from puresound_cli.stream import stft_frames, stream_mask

        spec, rest = stft_frames(self.buffer[None], self.window_fn, self.hop)  # (1, F, n)
        self.buffer = rest[0]
        if spec.shape[-1] == 0:
            return np.zeros(0, dtype=np.float32)
        hidden = stream_mask(self.detector, spec.abs(), self.embedding, self.state)
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
