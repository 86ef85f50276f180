"""Inference: enhancement and target-speaker extraction on tensors, files and folders.

Tensor API (what library users call)::

    model = load_model("model.pt")
    clean = enhance(model, noisy, sample_rate)                   # (C, T) or (B, C, T)
    target = extract(model, mixture, enrollment, sample_rate)    # enrollment wav or embedding

File API (what the command line uses): :class:`Processor` streams one file at a time through
gain normalisation, soxr resampling to the model rate, :class:`~puresound_cli.apply.OverlapAdd`
chunked inference and resampling back, so memory stays bounded for hour-long files; and
:func:`plan_jobs` maps inputs (files, folders, ``"-"``) to outputs.

Conventions: the output has the input's sample rate, channel count and exact length; every
channel is processed on its own (channels are a batch of mono signals); the gain is normalised
once per file (to the training level) before chunking and undone after; the enrollment
embedding is computed once.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from puresound_cli import audio
from puresound_cli.apply import OverlapAdd, chunked
from puresound_cli.errors import PuresoundError

logger = logging.getLogger("puresound_cli")

TARGET_RMS = 10 ** (-25.0 / 20.0)
"""Level (RMS, -25 dBFS: the middle of the training range) inputs are scaled to."""

MAX_ENROLL_SECONDS = 60.0
"""Only the first minute of an enrollment is used for the speaker embedding."""

MAX_GAIN_EXPONENT = 100
"""Largest power of two :func:`normalising_gain` scales by (either way)."""

FLOAT32_MAX = float(np.finfo(np.float32).max)

DEFAULT_SEGMENT = 10.0
DEFAULT_OVERLAP = 2.5

ProgressFn = Callable[[float, float], None]
"""Progress callback: ``(seconds_done, seconds_total)`` of the current file."""


# --------------------------------------------------------------------------- model helpers


def normalising_gain(rms: float) -> float:
    """Gain bringing a signal of level ``rms`` to about :data:`TARGET_RMS`.

    A power of two, so that scaling and unscaling are exact in floating point (an identity
    network gives back its input bit for bit); the level lands within 3 dB of the target.
    The exponent is limited to +-:data:`MAX_GAIN_EXPONENT` so that the gain and its inverse
    stay finite float32 numbers even for float files at absurd levels (1e-40 or 1e30).
    """
    exponent = round(math.log2(TARGET_RMS / rms))
    return float(2.0 ** max(-MAX_GAIN_EXPONENT, min(MAX_GAIN_EXPONENT, exponent)))


def check_task(model: Any, task: str) -> None:
    """Raise a PuresoundError if ``model`` is not for ``task`` (``"enhance"``/``"extract"``)."""
    actual = getattr(model, "task", None)
    if actual != task:
        raise PuresoundError(
            f"this is an {actual!r} model, not an {task!r} model; use `puresound {actual}` "
            f"or pass an {task} checkpoint with --model"
        )


def chunk_seconds(
    model: Any, segment: float | None = None, overlap: float | None = None
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
    field_seconds = int(getattr(model, "receptive_field_samples", 0)) / int(model.sample_rate)
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
    model: Any, segment: float | None = None, overlap: float | None = None
) -> tuple[int, int]:
    """Segment and overlap in samples at the model rate (defaults from :func:`chunk_seconds`).

    Logs a warning when the overlap is shorter than the network's receptive field.

    Raises:
        ValueError: segment <= 0, overlap < 0, or overlap >= segment.
    """
    segment, overlap = chunk_seconds(model, segment, overlap)
    rate = int(model.sample_rate)
    seg = max(1, round(segment * rate))
    ovl = min(seg - 1, round(overlap * rate))
    field_ = int(getattr(model, "receptive_field_samples", 0))
    if ovl < field_:
        logger.warning(
            "overlap %.3g s is shorter than the model's receptive field %.3g s: "
            "chunk borders may be audible (raise --overlap)",
            overlap,
            field_ / rate,
        )
    return seg, ovl


def _mono_fn(
    model: Any, embedding: Tensor | None, device: torch.device
) -> Callable[[Tensor], Tensor]:
    """Chunk function: a (channels, 1, L) batch of mono signals, one channel at a time."""

    def run(batch: Tensor) -> Tensor:
        outputs = []
        for row in batch.split(1, dim=0):  # (1, 1, L): bounded memory whatever the channel count
            x = row.to(device)
            if embedding is None:
                y = model(x)
            else:
                y = model.separate(x, embedding)
            outputs.append(y.to("cpu", torch.float32))
        return torch.cat(outputs, dim=0)

    return run


def _model_device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


# --------------------------------------------------------------------------- tensor API


def _as_batch(wav: Tensor | np.ndarray) -> tuple[Tensor, tuple[int, ...]]:
    tensor = torch.as_tensor(wav, dtype=torch.float32)
    if tensor.dim() not in (1, 2, 3):
        raise ValueError(f"expected (T), (C, T) or (B, C, T) audio, got {tuple(tensor.shape)}")
    shape = tuple(tensor.shape)
    while tensor.dim() < 3:
        tensor = tensor.unsqueeze(0)
    return tensor, shape


def _run_tensor(
    model: Any,
    wav: Tensor | np.ndarray,
    sample_rate: int,
    embedding: Tensor | None,
    segment: float | None,
    overlap: float | None,
) -> Tensor:
    batch, shape = _as_batch(wav)
    if not torch.isfinite(batch).all():
        raise ValueError("input contains NaN or Inf samples")
    seg, ovl = segment_samples(model, segment, overlap)
    rate = int(model.sample_rate)
    fn = _mono_fn(model, embedding, _model_device(model))
    outputs = []
    with torch.inference_mode():
        for item in batch:  # (C, T): one file's channels
            rms = float(item.double().pow(2).mean().sqrt())
            if rms == 0.0:
                outputs.append(torch.zeros_like(item))
                continue
            gain = normalising_gain(rms)
            x = audio.resample((item * gain).numpy(), sample_rate, rate)
            y = chunked(fn, torch.from_numpy(x)[:, None], seg, ovl, model.valid_length)[:, 0]
            back = audio.resample(y.numpy(), rate, sample_rate)
            out = torch.zeros_like(item)
            n = min(item.shape[-1], back.shape[-1])
            out[:, :n] = torch.from_numpy(back[:, :n]) / gain
            outputs.append(out)
    return torch.stack(outputs).reshape(shape)


def enhance(
    model: Any,
    wav: Tensor | np.ndarray,
    sample_rate: int,
    segment: float | None = None,
    overlap: float | None = None,
) -> Tensor:
    """Enhance speech: remove noise from every channel.

    Args:
        model: an ``"enhance"`` model (ConvTasNet without speaker conditioning).
        wav: waveform at ``sample_rate``.
        sample_rate: rate of ``wav`` in Hz (resampled to the model rate and back).
        segment: chunk length in seconds (default: see :func:`chunk_seconds`).
        overlap: chunk overlap in seconds (default: see :func:`chunk_seconds`).

    Returns:
        The enhanced waveform, same shape and rate as ``wav``.

    Shape:
        wav: ``(T)``, ``(C, T)`` or ``(B, C, T)``; returns the same.
    """
    check_task(model, "enhance")
    return _run_tensor(model, wav, sample_rate, None, segment, overlap)


def embed_speaker(model: Any, enrollment: Tensor | np.ndarray, sample_rate: int) -> Tensor:
    """Speaker embedding of an enrollment recording (mono mix of its channels, first minute).

    Args:
        model: an ``"extract"`` model.
        enrollment: enrollment waveform ``(T)`` or ``(C, T)`` at ``sample_rate``.
        sample_rate: its rate in Hz.

    Returns:
        The embedding, shape ``(1, D)``.

    Raises:
        PuresoundError: the enrollment is empty, silent or holds NaN/Inf.
    """
    check_task(model, "extract")
    wav = torch.as_tensor(enrollment, dtype=torch.float32)
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2:
        raise ValueError(f"expected (T) or (C, T) enrollment, got {tuple(wav.shape)}")
    if wav.shape[-1] == 0:
        raise PuresoundError("enrollment is empty")
    if not torch.isfinite(wav).all():
        raise PuresoundError("enrollment contains NaN or Inf samples")
    mono = wav.mean(dim=0, keepdim=True)[:, : int(MAX_ENROLL_SECONDS * sample_rate)]  # (1, T)
    rms = float(mono.double().pow(2).mean().sqrt())
    if rms < 1e-6:
        raise PuresoundError("enrollment is silent: it must contain the target speaker's voice")
    x = audio.resample((mono * normalising_gain(rms)).numpy(), sample_rate, int(model.sample_rate))
    x_t = torch.from_numpy(np.ascontiguousarray(x))[None].to(_model_device(model))  # (1, 1, T)
    with torch.inference_mode():
        return model.embed(x_t).to("cpu")


def extract(
    model: Any,
    mixture: Tensor | np.ndarray,
    enrollment: Tensor | np.ndarray,
    sample_rate: int,
    segment: float | None = None,
    overlap: float | None = None,
    enrollment_rate: int | None = None,
) -> Tensor:
    """Extract the enrolled speaker from every channel of a mixture.

    Args:
        model: an ``"extract"`` model.
        mixture: waveform at ``sample_rate``.
        enrollment: enrollment waveform ``(T)``/``(C, T)``, or a ready embedding ``(1, D)``
            from :func:`embed_speaker` (pass it to reuse one embedding across files).
        sample_rate: rate of ``mixture`` in Hz.
        segment: chunk length in seconds (default: see :func:`chunk_seconds`).
        overlap: chunk overlap in seconds (default: see :func:`chunk_seconds`).
        enrollment_rate: rate of ``enrollment`` if it differs from ``sample_rate``.

    Returns:
        The target speaker, same shape and rate as ``mixture``.

    Shape:
        mixture: ``(T)``, ``(C, T)`` or ``(B, C, T)``; returns the same.
    """
    check_task(model, "extract")
    emb = torch.as_tensor(enrollment)
    embed_dim = getattr(model, "embed_dim", None)
    if not (emb.dim() == 2 and emb.shape[0] == 1 and emb.shape[1] == embed_dim):
        emb = embed_speaker(model, enrollment, enrollment_rate or sample_rate)
    emb = emb.to(_model_device(model))
    return _run_tensor(model, mixture, sample_rate, emb, segment, overlap)


# --------------------------------------------------------------------------- file API


@dataclass
class FileResult:
    """Summary of one processed file (the CLI prints it, ``--json`` serialises it)."""

    input: str
    output: str
    sample_rate: int = 0
    channels: int = 0
    frames: int = 0
    format: str = ""
    subtype: str = ""
    seconds: float = 0.0
    elapsed: float = 0.0
    silent: bool = False

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration."""
        return self.elapsed / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "input": self.input,
            "output": self.output,
            "status": "ok",
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frames": self.frames,
            "seconds": round(self.seconds, 6),
            "format": self.format,
            "subtype": self.subtype,
            "elapsed": round(self.elapsed, 4),
            "rtf": round(self.rtf, 5),
            "silent": self.silent,
        }


@dataclass
class Processor:
    """Runs one loaded model over files, streaming each file in blocks.

    Args:
        model: a loaded network (``task`` ``"enhance"`` or ``"extract"``).
        embedding: the enrollment embedding ``(1, D)`` for extraction, None for enhancement.
        segment: chunk length in seconds (default: see :func:`chunk_seconds`).
        overlap: chunk overlap in seconds (default: see :func:`chunk_seconds`).
        block_frames: frames read per block from the input file.
    """

    model: Any
    embedding: Tensor | None = None
    segment: float | None = None
    overlap: float | None = None
    block_frames: int = audio.BLOCK_FRAMES
    _seg: int = field(init=False, default=0)
    _ovl: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if getattr(self.model, "task", None) == "extract" and self.embedding is None:
            raise ValueError("an extract model needs the enrollment embedding")
        self._seg, self._ovl = segment_samples(self.model, self.segment, self.overlap)
        device = _model_device(self.model)
        emb = None if self.embedding is None else self.embedding.to(device)
        self._fn = _mono_fn(self.model, emb, device)

    def process_file(
        self,
        source: str | Path,
        dest: str | Path,
        progress: ProgressFn | None = None,
    ) -> FileResult:
        """Process ``source`` into ``dest`` (``"-"`` for stdin/stdout), atomically.

        The output keeps the input's rate, channels, exact length, and format/subtype where
        soundfile can write them. A silent input gives a silent output.

        Args:
            source: input path or ``"-"``.
            dest: output path or ``"-"``.
            progress: called with ``(seconds_done, seconds_total)`` as the file advances.

        Returns:
            The file's summary.

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
            fmt, subtype = audio.output_format(
                reader.format, reader.subtype, dest, reader.samplerate, reader.channels
            )
            result = FileResult(
                input=str(source),
                output=str(dest),
                sample_rate=reader.samplerate,
                channels=reader.channels,
                frames=stats.frames,
                format=fmt,
                subtype=subtype,
                seconds=stats.frames / reader.samplerate,
                silent=stats.peak == 0.0,
            )
            try:
                writer = audio.AudioWriter(
                    dest, reader.samplerate, reader.channels, fmt, subtype, clip="clamp"
                )
            except (OSError, RuntimeError) as err:
                raise PuresoundError(f"{dest}: cannot write ({err})") from err
            with writer:
                if result.silent:
                    self._write_silence(writer, reader.channels, stats.frames, progress)
                else:
                    self._stream(
                        reader, writer, stats.frames, normalising_gain(stats.rms), progress
                    )
        result.elapsed = time.perf_counter() - start
        return result

    def _write_silence(
        self, writer: audio.AudioWriter, channels: int, frames: int, progress: ProgressFn | None
    ) -> None:
        done = 0
        while done < frames:
            n = min(self.block_frames, frames - done)
            writer.write(np.zeros((channels, n), dtype=np.float32))
            done += n
            if progress:
                progress(done / writer.sample_rate, frames / writer.sample_rate)

    def _stream(
        self,
        reader: audio.AudioReader,
        writer: audio.AudioWriter,
        frames: int,
        gain: float,
        progress: ProgressFn | None,
    ) -> None:
        rate, model_rate, channels = reader.samplerate, int(self.model.sample_rate), reader.channels
        down = audio.StreamResampler(rate, model_rate, channels)
        up = audio.StreamResampler(model_rate, rate, channels)
        ola = OverlapAdd(self._fn, self._seg, self._ovl, self.model.valid_length)
        state = {"written": 0}

        def emit(model_out: Tensor, last: bool) -> None:
            # model_out: (C, 1, n) at the model rate -> back to the file rate, gain undone.
            back = up.process(model_out[:, 0].numpy(), last=last)  # (C, m)
            room = frames - state["written"]
            if back.shape[1] > room:
                back = back[:, :room]
            if back.shape[1]:
                # float64, then clipped: an output beyond float32's range is written as +-max
                # rather than inf (float files can hold any level).
                scaled = np.clip(back.astype(np.float64) / gain, -FLOAT32_MAX, FLOAT32_MAX)
                writer.write(scaled.astype(np.float32))
                state["written"] += back.shape[1]

        read = 0
        with torch.inference_mode():
            for block in reader.blocks(self.block_frames):  # (C, n) float32
                read += block.shape[1]
                x = down.process(_scale(block, gain))  # (C, n') at the model rate
                emit(ola.push(torch.from_numpy(x)[:, None]), last=False)
                if progress:
                    progress(min(read, frames) / rate, frames / rate)
            x = down.process(np.zeros((channels, 0), dtype=np.float32), last=True)
            tail = torch.cat([ola.push(torch.from_numpy(x)[:, None]), ola.flush()], dim=-1)
            emit(tail, last=True)
        if state["written"] < frames:  # resampler rounding: pad the last few samples
            writer.write(np.zeros((channels, frames - state["written"]), dtype=np.float32))


def _scale(block: np.ndarray, gain: float) -> np.ndarray:
    """``block * gain`` in float32, computed in float64 and kept within float32's range."""
    scaled = np.clip(block.astype(np.float64) * gain, -FLOAT32_MAX, FLOAT32_MAX)
    return scaled.astype(np.float32)


# --------------------------------------------------------------------------- paths


def find_audio_files(folder: Path) -> list[Path]:
    """Audio files below ``folder`` (recursive, sorted, any suffix soundfile reads)."""
    suffixes = audio.audio_suffixes()
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in suffixes and p.is_file() and not p.name.startswith(".")
    ]
    return sorted(found)


@dataclass(frozen=True)
class Job:
    """One file to process: where it comes from and where it goes (``"-"``: stdin/stdout)."""

    source: str | Path
    dest: str | Path


@dataclass
class Plan:
    """Jobs to run, and inputs refused before any work (``(name, reason)``)."""

    jobs: list[Job] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.stem + suffix + path.suffix) if suffix else path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def plan_jobs(
    inputs: Iterable[str],
    output: str,
    suffix: str = "",
    overwrite: bool = False,
) -> Plan:
    """Map input arguments to output paths and refuse the unsafe ones.

    Rules: ``"-"`` in/out means stdin/stdout; a folder is searched recursively and mirrored
    under the output folder with the same relative paths; several inputs (or any folder) make
    the output a folder; one file in and an output that is an existing folder or has no audio
    suffix puts the file inside it. An output that already exists is refused unless
    ``overwrite``; an output that is one of the inputs is always refused.

    Args:
        inputs: input arguments (files, folders, ``"-"``).
        output: output argument (file, folder, ``"-"``).
        suffix: added to each output file's stem (``"_enhanced"``).
        overwrite: allow replacing existing outputs.

    Returns:
        The plan.

    Raises:
        ValueError: a usage error (the command cannot be run as asked).
    """
    args = list(inputs)
    if not args:
        raise ValueError("no INPUT given")
    if args.count(audio.STDIO) > 1:
        raise ValueError("'-' (stdin) can be given only once")
    plan = Plan()
    sources: list[tuple[str | Path, Path | None]] = []  # (source, path relative to out folder)
    any_folder = any(arg != audio.STDIO and Path(arg).is_dir() for arg in args)
    out_is_folder = (
        len(args) > 1
        or any_folder
        or (output != audio.STDIO and (Path(output).is_dir() or not audio.is_audio_path(output)))
    )
    out_root = Path(output).resolve() if out_is_folder and output != audio.STDIO else None
    if out_root is not None and out_root.is_file():
        raise ValueError(f"-o {output} is a file, but these inputs need an output folder")
    for arg in args:
        if arg == audio.STDIO:
            sources.append((audio.STDIO, None))
            continue
        path = Path(arg)
        if path.is_dir():
            files = find_audio_files(path)
            if out_root is not None and out_root != path.resolve():
                # an output folder inside an input folder: earlier outputs are not inputs
                files = [f for f in files if not f.resolve().is_relative_to(out_root)]
            if not files:
                plan.failures.append((arg, "no audio files found in this folder"))
            sources.extend((f, f.relative_to(path)) for f in files)
        elif path.exists():
            sources.append((path, Path(path.name)))
        else:
            plan.failures.append((arg, "file not found"))

    if output == audio.STDIO:
        if len(args) > 1 or any_folder:
            raise ValueError("-o - (stdout) takes exactly one input file or '-'")
    elif audio.STDIO in args and out_is_folder:
        raise ValueError("with '-' (stdin) as input, -o must be an audio file name or '-'")

    input_paths = {p.resolve() for p, _ in sources if isinstance(p, Path)}
    seen: dict[Path, str] = {}  # output -> the input name that claimed it
    seen_source: dict[Path, str | Path] = {}
    for source, rel in sources:
        if output == audio.STDIO:
            plan.jobs.append(Job(source, audio.STDIO))
            continue
        if out_is_folder:
            assert rel is not None
            dest = _with_suffix(Path(output) / rel, suffix)
        else:
            dest = Path(output)
        name = str(source) if source != audio.STDIO else "<stdin>"
        resolved = dest.resolve()
        if resolved in input_paths or (isinstance(source, Path) and _same_file(source, dest)):
            plan.failures.append((name, f"refusing to write over an input file: {dest}"))
            continue
        if resolved in seen:
            first = seen_source[resolved]
            if isinstance(source, Path) and isinstance(first, Path) and _same_file(source, first):
                continue  # the same file given twice (a.wav ./a.wav): process it once
            plan.failures.append(
                (
                    name,
                    f"output {dest} is also the output of {seen[resolved]} "
                    "(same file name; not overwritten: process it in a separate run)",
                )
            )
            continue
        if dest.exists() and not overwrite:
            plan.failures.append((name, f"output {dest} exists (pass --overwrite to replace it)"))
            continue
        if dest.is_dir():
            plan.failures.append((name, f"output {dest} is a folder"))
            continue
        seen[resolved] = name
        seen_source[resolved] = source
        plan.jobs.append(Job(source, dest))
    return plan


# --------------------------------------------------------------------------- plots


def plot_spectrograms(
    before: str | Path, after: str | Path, png: str | Path, max_seconds: float = 60.0
) -> Path:
    """Save a PNG with the spectrograms of ``before`` and ``after`` (first channel, first minute).

    Raises:
        PuresoundError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise PuresoundError("--plot needs matplotlib: pip install 'puresound[plot]'") from err
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    images = []
    for ax, path, title in zip(axes, (before, after), ("before", "after"), strict=True):
        with audio.AudioReader(path) as reader:
            limit = int(max_seconds * reader.samplerate)
            wav = next(reader.blocks(limit), np.zeros((1, 1), np.float32))[0]
            rate = reader.samplerate
        nfft = 1 << max(8, int(math.log2(rate * 0.032)))
        *_, image = ax.specgram(wav + 1e-9, NFFT=nfft, Fs=rate, noverlap=nfft // 2, cmap="magma")
        images.append(image)
        ax.set_title(f"{title}: {Path(path).name}")
        ax.set_ylabel("Hz")
    top = max(im.get_clim()[1] for im in images)
    for image in images:  # one dB scale for both, 80 dB range
        image.set_clim(top - 80.0, top)
    fig.colorbar(images[0], ax=axes, label="dB")
    axes[-1].set_xlabel("seconds")
    out = Path(png)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
