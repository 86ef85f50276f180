"""Writing audio atomically: block by block into a temporary file that replaces nothing.

:class:`AudioWriter` writes into a temporary file in the destination folder and moves it into
place only when everything went well (so Ctrl-C, a crash or a full disk leaves no partial file);
``"-"`` builds the file in memory and copies it to stdout. Integer subtypes are clamped to
[-1, 1] on write, float subtypes are written as they are.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import soundfile as sf

from puresound_cli.audio.formats import FLOAT_SUBTYPES, STDIO, ClipMode, PathLike, format_for_path
from puresound_cli.audio.stream_out import is_special_file, write_all
from puresound_cli.errors import PuresoundError
from puresound_cli.files import place_file


def _file_in_the_way(folder: Path) -> Path:
    """The first path on the way to ``folder`` that exists and is not a folder."""
    for part in reversed([folder, *folder.parents]):
        if part.exists() and not part.is_dir():
            return part
    return folder


class AudioWriter:
    """Write an audio file block by block, atomically, never replacing a file by surprise.

    Blocks go to a temporary file in the destination folder; :meth:`commit` (called by the
    context manager on success) moves it into place, and any exception (including
    KeyboardInterrupt) deletes it instead. Without ``overwrite`` the move is exclusive (a hard
    link, then the temporary name is removed): if another process created the destination in
    the meantime, the commit fails and that file is kept. For ``"-"``, and for an existing
    device or named pipe (``/dev/null``), the file is built in memory and written out on commit,
    every byte checked.

    Args:
        path: destination file, or ``"-"`` for stdout.
        sample_rate: sample rate in Hz.
        channels: channel count.
        format: soundfile format (default: from the suffix, else WAV).
        subtype: soundfile subtype (default: the format's default).
        clip: ``"clamp"`` limits samples to [-1, 1] for integer subtypes (the default);
            ``"none"`` writes them as they are.
        overwrite: replace an existing destination file (else the commit refuses to).
    """

    def __init__(
        self,
        path: PathLike,
        sample_rate: int,
        channels: int,
        format: str | None = None,
        subtype: str | None = None,
        clip: Literal["clamp", "none"] = "clamp",
        overwrite: bool = False,
    ) -> None:
        self.path = path
        self.overwrite = overwrite
        self._stdout = str(path) == STDIO
        self._special = not self._stdout and is_special_file(path)
        fmt = format or ("WAV" if self._stdout else format_for_path(path) or "WAV")
        sub = subtype or sf.default_subtype(fmt)
        if not sf.check_format(fmt, sub):
            raise ValueError(f"soundfile cannot write format {fmt} with subtype {sub}")
        self.format, self.subtype = fmt, sub
        self.channels = channels
        self.sample_rate = sample_rate
        self._clamp = clip == "clamp" and sub not in FLOAT_SUBTYPES
        self._tmp: str | None = None
        self._target: Any
        if self._stdout or self._special:
            self._target = io.BytesIO()
        else:
            dest = Path(path)
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(
                    prefix=f".{dest.name}.", suffix=".part", dir=dest.parent or "."
                )
            except (FileExistsError, NotADirectoryError) as err:
                blocker = _file_in_the_way(dest.parent)
                raise PuresoundError(
                    f"{path}: cannot write: {blocker} is a file, not a folder"
                ) from err
            except OSError as err:
                raise PuresoundError(f"{path}: cannot write ({err.strerror or err})") from err
            os.close(fd)
            self._tmp = tmp
            self._target = tmp
        try:
            self._file = sf.SoundFile(
                self._target,
                "w",
                samplerate=sample_rate,
                channels=channels,
                format=fmt,
                subtype=sub,
            )
        except (sf.LibsndfileError, RuntimeError) as err:
            self._discard()
            raise PuresoundError(
                f"{path}: cannot write {fmt} {sub} audio with {channels} channel(s) at "
                f"{sample_rate} Hz ({self._reason(err)})"
            ) from err
        except BaseException:
            self._discard()
            raise
        self.frames_written = 0

    def write(self, block: np.ndarray) -> None:
        """Append a (channels, n) block."""
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, n) block, got {tuple(block.shape)}")
        data = block.T
        if self._clamp:
            data = np.clip(data, -1.0, 1.0)
        try:
            self._file.write(np.ascontiguousarray(data, dtype=np.float32))
        except (sf.LibsndfileError, RuntimeError, OSError) as err:
            raise PuresoundError(f"{self.path}: write failed ({self._reason(err)})") from err
        self.frames_written += block.shape[1]

    def _reason(self, err: BaseException) -> str:
        """libsndfile's message, with a hint when the destination's disk is full."""
        text = str(getattr(err, "error_string", "") or err)
        text = " ".join(text.split()).removeprefix("Error : ")
        if self._tmp is not None and text.startswith("Error opening"):
            text = text.split(": ", 1)[-1].removeprefix("Error : ")
        if self._tmp is not None:
            try:
                if shutil.disk_usage(os.path.dirname(self._tmp) or ".").free < (1 << 20):
                    text += "; no space left on the device"
            except OSError:
                pass
        return text

    def commit(self) -> None:
        """Finish the file and move it into place (or send it to stdout)."""
        try:
            self._file.close()
        except (sf.LibsndfileError, RuntimeError, OSError) as err:
            raise PuresoundError(f"{self.path}: write failed ({self._reason(err)})") from err
        if self._stdout:
            write_all(sys.stdout.buffer, self._target.getvalue(), "<stdout>")
        elif self._special:
            try:
                with open(self.path, "wb", buffering=0) as device:
                    write_all(device, self._target.getvalue(), str(self.path))
            except OSError as err:
                raise PuresoundError(f"{self.path}: cannot write ({err.strerror or err})") from err
        else:
            assert self._tmp is not None
            place_file(self._tmp, self.path, self.overwrite)
            self._tmp = None

    def _discard(self) -> None:
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except FileNotFoundError:
                pass
            self._tmp = None

    def abort(self) -> None:
        """Drop everything written so far; the destination is left untouched."""
        try:
            self._file.close()
        except Exception:  # noqa: BLE001 - closing a half-written file may fail; we drop it anyway
            pass
        self._discard()

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


def write_audio(
    path: PathLike,
    wav: np.ndarray,
    sample_rate: int,
    format: str | None = None,
    subtype: str | None = None,
    clip: ClipMode = "rescale",
    overwrite: bool = True,
) -> None:
    """Write a whole waveform atomically (temp file + rename), or to stdout for ``"-"``.

    Args:
        path: destination file or ``"-"``.
        wav: float array (channels, frames) or (frames,).
        sample_rate: sample rate in Hz.
        format: soundfile format (default: from the suffix, else WAV).
        subtype: soundfile subtype (default: the format's default).
        clip: for integer subtypes, ``"rescale"`` divides by the peak when it exceeds 1,
            ``"clamp"`` clips to [-1, 1], ``"none"`` leaves samples alone.
        overwrite: replace an existing file (False: refuse, see :class:`AudioWriter`).
    """
    data = np.asarray(wav, dtype=np.float32)
    if data.ndim == 1:
        data = data[None]
    if data.ndim != 2:
        raise ValueError(f"expected (channels, frames), got shape {data.shape}")
    if clip == "rescale":
        peak = float(np.abs(data).max()) if data.size else 0.0
        if peak > 1.0:
            data = data / peak
    mode: Literal["clamp", "none"] = "clamp" if clip == "clamp" else "none"
    with AudioWriter(
        path, sample_rate, data.shape[0], format, subtype, clip=mode, overwrite=overwrite
    ) as writer:
        writer.write(data)
