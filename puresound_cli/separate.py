"""Separation: one engine for ``enhance`` and ``extract``, on files (streamed) and on tensors.

A :class:`Separator` is a loaded model with its enrollment embedding (computed once). Every
input, a file of any length or an in-memory array, goes through the same core,
:meth:`Separator._stream`: gain normalised once (to the training level), soxr resampling to the
model rate, chunked inference with crossfades (:class:`~puresound_cli.apply.OverlapAdd`),
resampling back and the gain undone. The output keeps the input's sample rate, channel count
and exact length; channels are processed as a batch of mono signals.

Reading ``puresound extract`` from the command line to the written file:
``cli/separate.py`` (options, jobs, reporting) -> this file (load, embed, stream) ->
``apply.py`` (chunks) and ``audio/`` (reader, resampler, writer). The tensor API
(``enhance``, ``extract``) is ``api.py``, on the same :class:`Separator`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from puresound_cli import audio
from puresound_cli.apply import OverlapAdd, segment_samples
from puresound_cli.checkpoint import check_task
from puresound_cli.errors import PuresoundError
from puresound_cli.nets.contract import ExtractionModel, SeparationModel, model_device
from puresound_cli.pretrained import NARROWBAND_RATE
from puresound_cli.results import FileResult
from puresound_cli.talk import GateFn, OutputGate
from puresound_cli.tracking import Track, TrackConfig, track_blocks

TARGET_RMS = 10 ** (-25.0 / 20.0)
"""Level (RMS, -25 dBFS: the middle of the training range) inputs are scaled to."""

MAX_GAIN_EXPONENT = 100
"""Largest power of two :func:`normalising_gain` scales by (either way)."""

FLOAT32_MAX = float(np.finfo(np.float32).max)

logger = logging.getLogger("puresound_cli")

ProgressFn = Callable[[float, float], None]
"""Progress callback: ``(seconds_done, seconds_total)`` of the current file."""


def normalising_gain(rms: float) -> float:
    """Gain bringing a signal of level ``rms`` to about :data:`TARGET_RMS`.

    A power of two, so that scaling and unscaling are exact in floating point (an identity
    network gives back its input bit for bit); the level lands within 3 dB of the target.
    The exponent is limited to +-:data:`MAX_GAIN_EXPONENT` so that the gain and its inverse
    stay finite float32 numbers even for float files at absurd levels (1e-40 or 1e30).
    """
    exponent = round(math.log2(TARGET_RMS / rms))
    return float(2.0 ** max(-MAX_GAIN_EXPONENT, min(MAX_GAIN_EXPONENT, exponent)))


class Separator:
    """A model ready to process audio: its enrollment embedded once, chunking decided once.

    Args:
        model: a loaded network (task "enhance" or "extract").
        embedding: the enrollment embedding ``(1, D)`` for extraction, None for enhancement.
        segment: chunk length in seconds (default: see :func:`~puresound_cli.apply.chunk_seconds`).
        overlap: chunk overlap in seconds (default: idem).
        block_frames: frames read per block from an input file.
        tracker: for extraction, track the enrolled voice (:mod:`puresound_cli.tracking`) and
            silence the output where it does not talk; None to keep the separator's output as is.
        track_embedding: the enrollment's tracking embedding (default: ``embedding``, right for
            a model without a separate tracking net).
        narrowband: an enhance model that takes over inputs at 8 kHz or lower (telephone band).
        names: the two models' names, reported per file (``FileResult.model``).

    Raises:
        ValueError: an extract model without embedding, a bad narrow-band model, segment or overlap.
    """

    def __init__(
        self,
        model: SeparationModel,
        embedding: Tensor | None = None,
        segment: float | None = None,
        overlap: float | None = None,
        block_frames: int = audio.BLOCK_FRAMES,
        tracker: TrackConfig | None = None,
        track_embedding: Tensor | None = None,
        narrowband: SeparationModel | None = None,
        names: tuple[str, str] = ("", ""),
    ) -> None:
        self.extractor = model if isinstance(model, ExtractionModel) else None
        if model.task == "extract" and (embedding is None or self.extractor is None):
            raise ValueError("an extract model needs a speaker net and the enrollment embedding")
        if narrowband is not None and (narrowband.task != model.task or model.task != "enhance"):
            raise ValueError("a narrow-band model must be an enhance model, like the main one")
        self.model = model
        self.narrowband = narrowband
        self.names = names
        self.tracker = tracker if model.task == "extract" else None
        self.track_embedding = embedding if track_embedding is None else track_embedding
        self.last_track: Track | None = None
        self.block_frames = block_frames
        self.seg, self.ovl = segment_samples(model, segment, overlap)
        self.narrow_seg = (0, 0) if narrowband is None else segment_samples(narrowband, segment,
                                                                             overlap)  # fmt: skip
        self.device = model_device(model)
        self.embedding = None if embedding is None else embedding.to(self.device)

    def model_for(self, rate: int) -> SeparationModel:
        """The network for an input at ``rate`` Hz (the narrow-band one, if any, at <= 8 kHz)."""
        if self.narrowband is not None and rate <= NARROWBAND_RATE:
            return self.narrowband
        return self.model

    def _chunk(self, batch: Tensor, net: SeparationModel, start: int) -> Tensor:
        """The network on a (channels, 1, L) batch of mono signals, one channel at a time; with
        a track, its scores over the chunk (from model-rate sample ``start``) go with it."""
        outputs = []
        track = self.last_track if getattr(net, "takes_evidence", False) else None
        evidence = None  # only a model that asks for it (Extractor.takes_evidence) gets it
        if track is not None:
            scores = track.scores_at(start, batch.shape[-1], net.sample_rate)
            evidence = torch.from_numpy(scores)[None].to(self.device)
        for row in batch.split(1, dim=0):  # (1, 1, L): bounded memory whatever the channel count
            x = row.to(self.device)
            if self.embedding is None or self.extractor is None:
                y = net(x)
            else:
                more = () if evidence is None else (evidence,)
                y = self.extractor.separate(x, self.embedding, *more)
            outputs.append(y.to("cpu", torch.float32))
        return torch.cat(outputs, dim=0)

    def process(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Process an in-memory signal ``(channels, frames)``; returns the same shape (float32)."""
        if not np.isfinite(wav).all():
            raise ValueError("input contains NaN or Inf samples")
        rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
        if rms == 0.0:
            return np.zeros_like(wav, dtype=np.float32)
        gain = normalising_gain(rms)
        parts: list[np.ndarray] = []
        self.last_track = None if self.tracker is None else self._track([wav], sample_rate, gain)
        self._stream([wav], sample_rate, wav.shape[0], wav.shape[1], gain, parts.append)
        out = np.concatenate(parts, axis=1) if parts else np.zeros_like(wav, dtype=np.float32)
        if self.last_track is not None:
            final = OutputGate(None, self.last_track, sample_rate, gain)
            out = np.concatenate([*final.push(out), *final.finish()], axis=1)
        return out

    def _track(self, blocks: Iterable[np.ndarray], rate: int, gain: float) -> Track:
        """The tracker's reading of a recording given as blocks ``(C, n)`` at ``rate``."""
        assert self.tracker is not None and self.track_embedding is not None
        assert self.extractor is not None  # a tracker is kept for extraction only
        mono = (_scale(block.mean(axis=0), gain) for block in blocks)
        return track_blocks(self.extractor, self.track_embedding, mono, rate, self.tracker)

    def process_file(
        self,
        source: str | Path,
        dest: str | Path,
        progress: ProgressFn | None = None,
        overwrite: bool = False,
        gate: GateFn | None = None,
    ) -> FileResult:
        """Process ``source`` into ``dest`` (``"-"`` for stdin/stdout), atomically.

        The output keeps the input's rate, channels, exact length, and format/subtype where
        soundfile can write them. A silent input gives a silent output. Without ``overwrite``
        an existing ``dest`` is never replaced, even one created while the file was processed.
        ``gate(start, block)`` may scale each output block (``start``: its first frame), e.g. to
        silence where a personal VAD says the target is absent. With a tracker the input is
        read twice: once to track the enrolled voice (the reading is kept in ``last_track``),
        once to separate; the tracker's gain and level rescue apply after ``gate``
        (:class:`~puresound_cli.talk.OutputGate`).

        Raises:
            PuresoundError: unreadable, empty or non-finite input, or the output cannot be written.
        """
        start = time.perf_counter()
        with audio.AudioReader(source) as reader:
            stats = reader.scan()
            note = reader.truncation()
            if note:
                logger.warning(
                    "%s: %s; processing the %d frames present", source, note, stats.frames
                )
            rate, channels = reader.samplerate, reader.channels
            fmt, subtype = audio.output_format(reader.format, reader.subtype, dest, rate, channels)
            narrow = self.model_for(rate) is self.narrowband
            result = FileResult(str(source), str(dest), rate, channels, stats.frames, fmt, subtype,
                                seconds=stats.frames / rate, silent=stats.peak == 0.0,
                                model=self.names[narrow])  # fmt: skip
            try:
                writer = audio.AudioWriter(
                    dest, rate, channels, fmt, subtype, clip="clamp", overwrite=overwrite
                )
            except (OSError, RuntimeError) as err:
                raise PuresoundError(f"{dest}: cannot write ({err})") from err
            with writer:
                done, gain, self.last_track = 0, 1.0, None
                if not result.silent:
                    gain = normalising_gain(stats.rms)
                    if self.tracker is not None:
                        self.last_track = self._track(reader.blocks(self.block_frames), rate, gain)
                final = OutputGate(gate, self.last_track, rate, gain)

                def emit(blocks: list[np.ndarray]) -> None:
                    nonlocal done
                    for block in blocks:
                        writer.write(block)
                        done += block.shape[1]
                        if progress:
                            progress(done / rate, stats.frames / rate)

                if result.silent:
                    for block in _silence(channels, stats.frames, self.block_frames):
                        emit(final.push(block))
                else:
                    blocks = reader.blocks(self.block_frames)
                    push = lambda block: emit(final.push(block))  # noqa: E731
                    self._stream(blocks, rate, channels, stats.frames, gain, push)
                emit(final.finish())
        result.elapsed = time.perf_counter() - start
        return result

    def _stream(
        self,
        blocks: Iterable[np.ndarray],
        rate: int,
        channels: int,
        frames: int,
        gain: float,
        write: Callable[[np.ndarray], None],
    ) -> None:
        """The core: blocks ``(C, n)`` at ``rate`` in, exactly ``frames`` output frames out."""
        net = self.model_for(rate)
        seg, ovl = self.narrow_seg if net is self.narrowband else (self.seg, self.ovl)
        model_rate = net.sample_rate
        down = audio.StreamResampler(rate, model_rate, channels)
        up = audio.StreamResampler(model_rate, rate, channels)
        ola = OverlapAdd(
            lambda batch: self._chunk(batch, net, ola.segment_start), seg, ovl, net.valid_length
        )
        written = 0

        def emit(model_out: Tensor, last: bool) -> None:
            # model_out: (C, 1, n) at the model rate -> back to the file rate, gain undone.
            nonlocal written
            back = up.process(model_out[:, 0].numpy(), last=last)[:, : frames - written]  # (C, m)
            if back.shape[1]:
                # float64, then clipped: an output beyond float32's range is written as +-max
                # rather than inf (float files can hold any level).
                scaled = np.clip(back.astype(np.float64) / gain, -FLOAT32_MAX, FLOAT32_MAX)
                write(scaled.astype(np.float32))
                written += back.shape[1]

        with torch.inference_mode():
            for block in blocks:  # (C, n) float32
                x = down.process(_scale(block, gain))  # (C, n') at the model rate
                emit(ola.push(torch.from_numpy(x)[:, None]), last=False)
            x = down.process(np.zeros((channels, 0), dtype=np.float32), last=True)
            tail = torch.cat([ola.push(torch.from_numpy(x)[:, None]), ola.flush()], dim=-1)
            emit(tail, last=True)
        if written < frames:  # resampler rounding: pad the last few samples
            write(np.zeros((channels, frames - written), dtype=np.float32))


def _silence(channels: int, frames: int, block_frames: int) -> Iterable[np.ndarray]:
    for start in range(0, frames, block_frames):
        yield np.zeros((channels, min(block_frames, frames - start)), dtype=np.float32)


def _scale(block: np.ndarray, gain: float) -> np.ndarray:
    """``block * gain`` in float32, computed in float64 and kept within float32's range."""
    scaled = np.clip(block.astype(np.float64) * gain, -FLOAT32_MAX, FLOAT32_MAX)
    return scaled.astype(np.float32)


def load_separator(
    task: str,
    model: str | None = None,
    enrollment: str | Path | Sequence[str | Path] | None = None,
    device: str | torch.device = "cpu",
    segment: float | None = None,
    overlap: float | None = None,
    force_enroll: bool = False,
    streaming: bool = False,
    track: bool | None = False,
    tracker: TrackConfig | None = None,
) -> Separator:
    """Load a model for ``task``, embed the enrollment once, and return the ready separator.

    Args:
        task: "enhance" or "extract".
        model: a registered name, a checkpoint, or a folder with a ``model.pt``; None for the
            shipped default of the task (offline with its narrow-band partner, if registered).
        enrollment: the target speaker's recording (extract), ``"-"`` for stdin, or several
            recordings of the same voice (their embeddings are combined, see
            :func:`combine_embeddings`; one that disagrees is named in a warning).
        device: where the network runs.
        segment, overlap: chunking in seconds (defaults suit the model).
        force_enroll: use an enrollment even with under a second of speech or when it does
            not look like speech (see :mod:`puresound_cli.speech_check`).
        streaming: with ``model`` None, the task's causal default (for live streams).
        track: for extraction, silence the output where the enrolled voice does not talk
            (:mod:`puresound_cli.tracking`); False keeps the separator's output everywhere;
            None tracks when the model carries a calibrated tracking net (the shipped one).
        tracker: the tracker's settings (default: :meth:`TrackConfig.for_model`).

    Raises:
        PuresoundError: no model for the task, a model for the other task, a bad checkpoint or
            enrollment (the message names the file).
    """
    from puresound_cli import pretrained
    from puresound_cli.checkpoint import load_separation_model
    from puresound_cli.enrollment import combine_embeddings, embed_enrollment
    from puresound_cli.nets import Extractor

    name = model if model is not None else pretrained.default_model(task, streaming)
    if name is None and streaming:
        raise PuresoundError(f"no causal {task} model is shipped yet; pass --model with one "
                             "(train with causal = true, backbone skim)")  # fmt: skip
    if name is None:
        raise PuresoundError(
            f"no default {task} model is shipped yet: pass a checkpoint with --model PATH"
        )
    net = load_separation_model(name, device=device)
    check_task(net, task)
    narrow = pretrained.narrowband_model(task) if model is None and not streaming else None
    narrowband = None if narrow is None else load_separation_model(narrow, device=device)
    embedding = track_embedding = None
    tracker_config = None
    if task == "extract":
        if not isinstance(net, Extractor):
            raise PuresoundError(f"{name} is a conditioned separator without a speaker net")
        if enrollment is None:
            raise PuresoundError("extraction needs an enrollment of the target speaker")
        sources = [enrollment] if isinstance(enrollment, str | Path) else list(enrollment)
        if not sources:
            raise PuresoundError("extraction needs an enrollment of the target speaker")
        pairs = [embed_enrollment(net, e, force_enroll) for e in sources]
        names = [audio.describe(e) for e in sources]
        embedding, _ = combine_embeddings([p[0] for p in pairs], names)
        track_embedding, notes = combine_embeddings(
            [p[1] for p in pairs], names, disagree=net.track_thresholds[1]
        )
        for note in notes:
            logger.warning("%s", note)
        if track or (track is None and net.tracks_by_default):
            tracker_config = TrackConfig.for_model(net) if tracker is None else tracker
    return Separator(net, embedding, segment, overlap, tracker=tracker_config,
                     track_embedding=track_embedding, narrowband=narrowband,
                     names=(str(name), narrow or ""))  # fmt: skip
