"""Live streaming for causal models: samples in as they arrive, samples out as soon as final.

:class:`StreamingSeparator` runs a causal STFT model (a ConvTasNet frame with a masker that
streams, ``nets.maskers.streaming_maskers()``, and ``causal=True``, enhancer or extractor) frame
by frame: the STFT frames are cut from a running buffer, the masker keeps its state between calls
(``Masker.stream_step``: its causal layers in streaming mode, or its recurrent states), and the
inverse STFT is an overlap-add whose samples are handed out once no later frame can touch them.
The concatenated output equals ``model(x)`` on the whole signal (to float rounding), with an
algorithmic latency of ``window - hop`` samples (24 ms for the 512/128 STFT at 16 kHz) plus the
block the caller pushes.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import torch
import torch.nn.functional as F

from puresound_cli.nets import ConvTasNet, Extractor
from puresound_cli.nets.blocks import set_streaming
from puresound_cli.nets.conditioning import normalise_embedding
from puresound_cli.nets.contract import SeparationModel
from puresound_cli.nets.maskers import streaming_maskers


def frame_of(model: object) -> ConvTasNet | None:
    """The ConvTasNet frame of an enhancer or extractor (None for other networks)."""
    if isinstance(model, Extractor):
        return model.separator
    return model if isinstance(model, ConvTasNet) else None


def streamable(model: object) -> str | None:
    """Why ``model`` cannot stream (one line), or None when it can."""
    frame = frame_of(model)
    if frame is None:
        return "only ConvTasNet-frame models stream"
    config = frame.config
    if not config.causal:
        return "the model is not causal (it looks ahead); train one with causal = true"
    names = streaming_maskers()
    if config.encoder != "stft" or config.masker not in names:
        return f"streaming needs the STFT encoder and a {' or '.join(names)} masker"
    if config.sources != 1:
        return "a separator with several outputs does not stream"
    return None


def stft_frames(
    buffer: torch.Tensor, window_fn: torch.Tensor, hop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The complete STFT frames at the start of a running buffer, and what is left of it.

    Frame i is ``buffer[:, i hop : i hop + W] * window`` (as ``torch.stft`` frames a signal).

    Shape:
        buffer (C, T) -> spec (C, W // 2 + 1, frames) complex, rest (C, T - frames hop)
    """
    window = window_fn.numel()
    count = (buffer.shape[1] - window) // hop + 1
    if count <= 0:  # (an empty FFT batch is an error for MKL)
        empty = torch.zeros(buffer.shape[0], window // 2 + 1, 0, dtype=torch.complex64)
        return empty.to(buffer.device), buffer
    steps = hop * torch.arange(count, device=buffer.device)[:, None]
    idx = torch.arange(window, device=buffer.device)[None] + steps  # (frames, W)
    segments = buffer[:, idx] * window_fn  # (C, frames, W)
    spec = torch.fft.rfft(segments, dim=-1).transpose(1, 2)  # (C, F, frames)
    return spec, buffer[:, count * hop :]


class StreamingSeparator:
    """Block-by-block inference of a causal model on ``channels`` independent signals.

    Args:
        model: an enhancer, or an extractor (then ``embedding`` is its enrollment's, ``(1, D)``).
        channels: signals processed side by side (as a batch).
        embedding: the speaker embedding for an extractor.

    Raises:
        ValueError: the model cannot stream (see :func:`streamable`).
    """

    def __init__(
        self,
        model: SeparationModel,
        channels: int = 1,
        embedding: torch.Tensor | None = None,
    ):
        frame = frame_of(model)
        reason = streamable(model)
        if reason or frame is None:
            raise ValueError(reason)
        self.net = frame
        c = frame.config
        self.window, self.hop = c.window, c.hop
        self.channels = channels
        self.device = next(self.net.parameters()).device
        self.window_fn = torch.hann_window(self.window, device=self.device)
        self.embedding = None
        if c.speaker_dim is not None:
            if embedding is None:
                raise ValueError("an extractor needs the enrollment embedding")
            emb = normalise_embedding(embedding.to(self.device), c.embed_gain)
            self.embedding = emb.expand(channels, -1)
        set_streaming(self.net, True)
        self.masker_state: dict[str, Any] = {}
        half = self.window // 2
        self.buffer = torch.zeros(channels, half, device=self.device)  # STFT centre padding
        self.frames_done = 0  # STFT frames synthesised; frame k covers padded [k hop, k hop + W)
        self.origin = half  # padded position of acc[:, 0]; the centre padding is never output
        self.acc = torch.zeros(channels, 0, device=self.device)  # overlap-added samples
        self.env = torch.zeros(0, device=self.device)  # overlap-added window squares
        self.received = 0

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency: the STFT window less one hop."""
        return self.window - self.hop

    def _frames(self) -> torch.Tensor:
        """Cut every complete STFT frame from the buffer: (C, F, frames) complex."""
        spec, self.buffer = stft_frames(self.buffer, self.window_fn, self.hop)
        return spec

    def _synthesise(self, spec: torch.Tensor) -> None:
        """Mask the new frames and overlap-add them into the accumulator."""
        net, c = self.net, self.net.config
        count = spec.shape[-1]
        if count == 0:
            return
        if c.mask_kind == "magnitude":
            feats = spec.abs()
        else:
            feats = torch.cat([spec.real, spec.imag], dim=1)  # (C, 2F, frames)
        # recurrent maskers carry their state in masker_state, the others in their layers
        mask = net.masker.stream_step(feats, self.embedding, self.masker_state)
        masked = net.apply_mask(spec, mask)  # (C, F, frames)
        frames = torch.fft.irfft(masked.transpose(1, 2), n=self.window) * self.window_fn
        end = (self.frames_done + count - 1) * self.hop + self.window - self.origin
        grow = max(0, end - self.acc.shape[1])
        self.acc, self.env = F.pad(self.acc, (0, grow)), F.pad(self.env, (0, grow))
        square = self.window_fn.pow(2)
        for i in range(count):
            at = (self.frames_done + i) * self.hop - self.origin
            lo = max(0, -at)  # the part before origin is centre padding: never output
            self.acc[:, at + lo : at + self.window] += frames[:, i, lo:]
            self.env[at + lo : at + self.window] += square[lo:]
        self.frames_done += count

    def _take(self, final: int) -> torch.Tensor:
        """Hand out padded positions [origin, final), divided by the window envelope."""
        take = max(0, min(final - self.origin, self.acc.shape[1]))
        out = self.acc[:, :take] / self.env[:take]
        self.acc, self.env = self.acc[:, take:], self.env[take:]
        self.origin += take
        gain = self.net.config.output_gain
        return (out if gain == 1.0 else out * gain).cpu()

    def push(self, block: torch.Tensor) -> torch.Tensor:
        """Add ``(C, n)`` samples at the model rate; return the output samples now final."""
        with torch.inference_mode():
            self.received += block.shape[1]
            self.buffer = torch.cat([self.buffer, block.to(self.device, torch.float32)], dim=1)
            self._synthesise(self._frames())
            return self._take(self.frames_done * self.hop)  # no later frame reaches before it

    def flush(self) -> torch.Tensor:
        """Finish the stream as one offline pass would (its padding) and return the rest."""
        with torch.inference_mode():
            length = self.received
            tail = self.net.valid_length(max(1, length)) - length + self.window // 2
            pad = torch.zeros(self.channels, tail, device=self.device)
            self.buffer = torch.cat([self.buffer, pad], dim=1)
            self._synthesise(self._frames())
            set_streaming(self.net, False)
            return self._take(self.window // 2 + length)


def stream_wav(
    model: SeparationModel,
    embedding: torch.Tensor | None,
    fd_in: int,
    out: BinaryIO,
    block_seconds: float = 0.032,
) -> int:
    """Process a WAV stream from ``fd_in`` (a pipe) into ``out``, block by block, as it arrives.

    The output is a float WAV at the input's rate and channel count, each block written (and
    flushed) as soon as it is final, and exactly as long as the input. Each read takes what has
    arrived, at most ``block_seconds``: a live source is processed as it comes, a file piped in
    faster than real time in larger (cheaper) blocks. No level normalisation:
    a stream's level is not known in advance.

    Returns:
        The number of frames written.

    Raises:
        PuresoundError: not a WAV stream, or the output cannot be written.
    """
    import numpy as np

    from puresound_cli.audio import StreamResampler
    from puresound_cli.audio.wav_stream import read_blocks, read_header, write_block, write_header

    fmt = read_header(fd_in)
    rate, channels, model_rate = fmt.sample_rate, fmt.channels, model.sample_rate
    down = StreamResampler(rate, model_rate, channels)
    up = StreamResampler(model_rate, rate, channels)
    stream = StreamingSeparator(model, channels, embedding)
    write_header(out, rate, channels)
    received = written = 0

    def emit(model_out: torch.Tensor, last: bool) -> None:
        nonlocal written
        back = up.process(model_out.numpy(), last=last)
        if last:  # exactly the input's length
            back = np.pad(back, ((0, 0), (0, max(0, received - written - back.shape[1]))))
        back = back[:, : max(0, received - written)]
        if back.shape[1]:
            write_block(out, back)
            written += back.shape[1]

    block = max(1, int(block_seconds * rate))
    for samples in read_blocks(fd_in, fmt, block):
        received += samples.shape[1]
        emit(stream.push(torch.from_numpy(down.process(samples))), last=False)
    tail = down.process(np.zeros((channels, 0), dtype=np.float32), last=True)
    emit(torch.cat([stream.push(torch.from_numpy(tail)), stream.flush()], dim=1), last=True)
    return written
