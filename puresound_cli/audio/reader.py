"""Reading audio: files or stdin, scanned and decoded block by block, or whole.

Waveforms are numpy float32 arrays shaped ``(channels, frames)``. ``"-"`` stands for stdin,
read into an in-memory ``BytesIO`` because WAV needs a seekable file.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf

from puresound_cli.audio.formats import BLOCK_FRAMES, STDIO, PathLike, describe
from puresound_cli.errors import PuresoundError


def _stdin_buffer() -> BinaryIO:
    data = sys.stdin.buffer.read()
    if not data:
        raise PuresoundError("<stdin>: empty input (nothing was piped in)")
    return io.BytesIO(data)


@dataclass(frozen=True)
class ScanResult:
    """What a full pass over a file found.

    Attributes:
        frames: frames actually decoded (may be fewer than the header claims for a
            truncated file).
        peak: largest absolute sample value.
        rms: root mean square over all channels and frames.
    """

    frames: int
    peak: float
    rms: float


class AudioReader:
    """A readable audio file (or stdin) that can be scanned and read block by block.

    Use as a context manager::

        with AudioReader("in.wav") as reader:
            stats = reader.scan()
            for block in reader.blocks():  # (channels, n) float32
                ...

    Raises:
        PuresoundError: the file does not exist, is not audio, or cannot be decoded.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = path
        self.name = describe(path)
        source: Any = _stdin_buffer() if str(path) == STDIO else os.fspath(path)
        if isinstance(source, str) and not os.path.exists(source):
            raise PuresoundError(f"{self.name}: file not found")
        if isinstance(source, str) and os.path.isdir(source):
            raise PuresoundError(f"{self.name}: is a folder, not an audio file")
        if isinstance(source, str) and os.path.getsize(source) == 0:
            raise PuresoundError(f"{self.name}: empty file (0 bytes)")
        if isinstance(source, str):
            try:
                open(source, "rb").close()  # libsndfile says only "System error."
            except PermissionError:
                raise PuresoundError(f"{self.name}: permission denied (cannot read)") from None
        self._source = source
        try:
            self._file = sf.SoundFile(source)
        except FileNotFoundError as err:
            raise PuresoundError(f"{self.name}: file not found") from err
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            text = " ".join(str(err).split())
            reason = text.split(":", 1)[-1].strip() if ":" in text else text
            raise PuresoundError(f"{self.name}: not a readable audio file ({reason})") from err
        self.samplerate: int = int(self._file.samplerate)
        self.channels: int = int(self._file.channels)
        self.format: str = str(self._file.format)
        self.subtype: str = str(self._file.subtype)
        self.frames: int = int(self._file.frames)
        if self.samplerate <= 0 or self.channels <= 0:
            self.close()
            raise PuresoundError(f"{self.name}: invalid header (rate or channel count)")

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()

    def blocks(self, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """Yield the whole file from its start as float32 blocks shaped (channels, n).

        Raises:
            PuresoundError: the file cannot be decoded part-way through.
        """
        try:
            self._rewind()
            while True:
                block = self._file.read(block_frames, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    return
                yield np.ascontiguousarray(block.T)
        except (sf.LibsndfileError, RuntimeError) as err:
            reason = " ".join(str(err).split()).removeprefix("Error : ")
            raise PuresoundError(
                f"{self.name}: truncated or corrupt, cannot decode ({reason})"
            ) from err

    def _rewind(self) -> None:
        """Go back to the first frame; reopen the file if its codec cannot seek (GSM, G.721)."""
        try:
            if self._file.tell() != 0:
                self._file.seek(0)
        except (sf.LibsndfileError, RuntimeError):
            self._file.close()
            if isinstance(self._source, io.BytesIO):
                self._source.seek(0)
            self._file = sf.SoundFile(self._source)

    def truncation(self) -> str | None:
        """A note if the header promises more audio data than the file holds, else None.

        libsndfile reads what is there; placeholder sizes written by streaming tools (0 or
        near 4 GiB) are not reported.
        """
        match = re.search(r"^data\s*:\s*(\d+) \(should be (\d+)\)", self._file.extra_info, re.M)
        if not match:
            return None
        claimed, present = int(match.group(1)), int(match.group(2))
        if claimed <= present or claimed >= 0x7FFF0000:
            return None
        return f"truncated: header promises {claimed} data bytes, the file holds {present}"

    def scan(self) -> ScanResult:
        """Read the file once to validate it and measure its level.

        Returns:
            The decoded frame count, peak and RMS.

        Raises:
            PuresoundError: the file is empty or holds NaN or Inf samples.
        """
        frames = 0
        peak = 0.0
        energy = 0.0
        for block in self.blocks():
            if not np.isfinite(block).all():
                raise PuresoundError(f"{self.name}: contains NaN or Inf samples")
            frames += block.shape[1]
            peak = max(peak, float(np.abs(block).max()))
            energy += float(np.square(block, dtype=np.float64).sum())
        if frames == 0:
            raise PuresoundError(f"{self.name}: empty audio file (no samples)")
        rms = float(np.sqrt(energy / (frames * self.channels)))
        return ScanResult(frames=frames, peak=peak, rms=rms)

    def read(self) -> np.ndarray:
        """The whole file as float32 (channels, frames)."""
        parts = list(self.blocks())
        if not parts:
            return np.zeros((self.channels, 0), dtype=np.float32)
        return np.concatenate(parts, axis=1)


def read_audio(path: PathLike) -> tuple[np.ndarray, int, dict[str, str]]:
    """Read a whole audio file (or ``"-"`` for stdin).

    Args:
        path: file path, or ``"-"``.

    Returns:
        ``(wav, sample_rate, info)``: float32 ``(channels, frames)``, the sample rate, and
        ``{"format": ..., "subtype": ...}``.

    Raises:
        PuresoundError: not audio, empty, or NaN/Inf samples.
    """
    with AudioReader(path) as reader:
        wav = reader.read()
        info = {"format": reader.format, "subtype": reader.subtype}
        rate = reader.samplerate
    if wav.shape[1] == 0:
        raise PuresoundError(f"{describe(path)}: empty audio file (no samples)")
    if not np.isfinite(wav).all():
        raise PuresoundError(f"{describe(path)}: contains NaN or Inf samples")
    return wav, rate, info


def read_mono(
    path: PathLike, sample_rate: int, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """Read a file (or a frame range of it) as float32 mono (channels averaged) at ``sample_rate``.

    ``start``/``stop`` are frames at the file's own rate. For training data: raises whatever
    soundfile raises for an unreadable file (callers count and skip those).
    """
    wav, sr = sf.read(os.fspath(path), start=start, stop=stop, dtype="float32", always_2d=True)
    mono = wav.mean(axis=1)
    if sr != sample_rate and mono.size:
        import soxr

        mono = soxr.resample(mono, sr, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
