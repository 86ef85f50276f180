"""WAV as a live stream: read a header and then samples as they arrive on a pipe, and write a
header of unknown length and then samples as they are made (``--stream``).

Only what a live pipe carries is read: RIFF/WAVE with 16-, 24- or 32-bit integer or 32-bit float
PCM (plain or WAVE_FORMAT_EXTENSIBLE); the data size may be a placeholder (0 or 0xFFFFFFFF), as
streaming tools write. The output is 32-bit float WAV with placeholder sizes (readers that need
sizes take the samples to the end of the stream).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from puresound_cli.audio.stream_out import write_all
from puresound_cli.errors import PuresoundError

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
logger = logging.getLogger("puresound_cli")


@dataclass(frozen=True)
class WavFormat:
    """A stream's sample layout."""

    sample_rate: int
    channels: int
    bits: int
    is_float: bool
    data_bytes: int | None = None  # what the header announces; None for a live stream's

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8


def _read_exactly(fd: int, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise PuresoundError("<stdin>: the stream ended inside the WAV header")
        data += chunk
    return data


def read_header(fd: int) -> WavFormat:
    """Read the RIFF header up to the start of the samples.

    Raises:
        PuresoundError: not a WAV stream, or a sample format a live stream does not use.
    """
    riff = _read_exactly(fd, 12)
    if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise PuresoundError("<stdin>: --stream reads WAV (RIFF/WAVE) from stdin")
    fmt: WavFormat | None = None
    while True:
        name, size = struct.unpack("<4sI", _read_exactly(fd, 8))
        if name == b"data":
            if fmt is None:
                raise PuresoundError("<stdin>: WAV data before its fmt chunk")
            live = size == 0 or size >= 0x7FFFF000  # recorders streaming an unknown length
            return fmt if live else dataclasses.replace(fmt, data_bytes=size)
        body = _read_exactly(fd, size + (size & 1))
        if name == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            if (
                tag not in (_PCM, _FLOAT)
                or bits not in (16, 24, 32)
                or (tag == _FLOAT) != (bits == 32 and tag == _FLOAT)
            ):
                raise PuresoundError(
                    f"<stdin>: unsupported WAV sample format (tag {tag}, {bits} bit)"
                )
            fmt = WavFormat(rate, channels, bits, tag == _FLOAT)


def _decode(data: bytes, fmt: WavFormat) -> np.ndarray:
    if fmt.is_float:
        samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
    elif fmt.bits == 16:
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    elif fmt.bits == 32:
        samples = np.frombuffer(data, dtype="<i4").astype(np.float32) / 2147483648.0
    else:  # 24-bit: three bytes, little endian, sign-extended
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        samples = (np.where(value >= 1 << 23, value - (1 << 24), value) / 8388608.0).astype(
            np.float32
        )
    return samples.reshape(-1, fmt.channels).T  # (C, n)


def read_blocks(fd: int, fmt: WavFormat, max_frames: int) -> Iterator[np.ndarray]:
    """Yield (C, n) float32 blocks as the bytes arrive (n <= max_frames), until end of stream.

    A stream that ends before the length its header announces, or inside a frame, is logged
    as truncated (as a truncated file is), and the frames present are processed."""
    pending = b""
    total = 0
    while True:
        chunk = os.read(fd, max_frames * fmt.frame_bytes)
        total += len(chunk)
        if not chunk:
            announced = fmt.data_bytes
            if (announced is not None and total < announced) or pending:
                why = (f"its header announces {announced // fmt.frame_bytes} frames"
                       if announced is not None and total < announced
                       else "it ends inside a frame")  # fmt: skip
                logger.warning("<stdin>: truncated stream (%s); processing the %d frames "
                               "present", why, total // fmt.frame_bytes)  # fmt: skip
            return
        pending += chunk
        usable = len(pending) - len(pending) % fmt.frame_bytes
        if usable:
            yield _decode(pending[:usable], fmt)
            pending = pending[usable:]


def write_header(out: BinaryIO, sample_rate: int, channels: int) -> None:
    """A 32-bit float WAV header with placeholder sizes (a stream of unknown length)."""
    fmt = struct.pack("<HHIIHH", _FLOAT, channels, sample_rate, sample_rate * channels * 4,
                      channels * 4, 32)  # fmt: skip
    header = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"
    header += b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF)
    write_all(out, header, "<stdout>")


def write_block(out: BinaryIO, block: np.ndarray) -> None:
    """Write (C, n) samples as interleaved float32, every byte checked."""
    write_all(out, np.ascontiguousarray(block.T, dtype="<f4").tobytes(), "<stdout>")
