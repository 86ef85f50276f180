"""All audio input/output: reading, writing, format choice, resampling.

Waveforms are numpy float32 arrays shaped ``(channels, frames)``. ``"-"`` stands for stdin
(when reading) or stdout (when writing); both go through an in-memory ``BytesIO`` because WAV
needs a seekable file.

Long files are handled in blocks: :class:`AudioReader` scans and reads a file piece by piece,
:class:`AudioWriter` writes piece by piece into a temporary file in the destination folder that
is renamed over the destination only when everything went well (so Ctrl-C or a crash leaves no
partial file), and :class:`StreamResampler` resamples block by block with soxr.

Policy: the output keeps the input's sample rate, channel count, exact length, container format
and sample subtype where soundfile can write them (see :func:`output_format`); integer subtypes
are clamped to [-1, 1] on write, float subtypes are written as they are.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

import numpy as np
import soundfile as sf

from puresound_cli.errors import PuresoundError

STDIO = "-"
"""The path that means stdin (read) or stdout (write)."""

BLOCK_FRAMES = 1 << 18
"""Frames per block when scanning or streaming a file (~16 s at 16 kHz)."""

# File suffixes that name a format soundfile knows under another name.
_SUFFIX_ALIASES = {
    "aif": "AIFF",
    "aifc": "AIFF",
    "snd": "AU",
    "oga": "OGG",
    "opus": "OGG",
    "sph": "NIST",
    "sf": "IRCAM",
    "iff": "SVX",
    "mat": "MAT5",
}
# Formats that cannot be read without being told the sample rate and layout.
_HEADERLESS = {"RAW"}

_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE", "VORBIS", "OPUS"}
# Plain sample formats: any container that lists them can hold them. Other subtypes are codecs
# (MP3, ADPCM, GSM, Vorbis ...) and are kept only in the input's own container.
_PLAIN_SUBTYPES = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"}
# Subtypes preferred for a suffix that names a codec rather than a container.
_SUFFIX_SUBTYPES = {"opus": "OPUS"}

ClipMode = Literal["rescale", "clamp", "none"]

PathLike = str | os.PathLike[str]


def _format_for_suffix(suffix: str) -> str | None:
    """The soundfile format named by a file suffix (``".flac"`` -> ``"FLAC"``), or None."""
    name = suffix.lower().lstrip(".")
    if not name:
        return None
    formats = sf.available_formats()
    if name in _SUFFIX_ALIASES and _SUFFIX_ALIASES[name] in formats:
        return _SUFFIX_ALIASES[name]
    upper = name.upper()
    if upper in formats and upper not in _HEADERLESS:
        return upper
    return None


def audio_suffixes() -> frozenset[str]:
    """Every file suffix (lower case, with dot) of a format soundfile can read here."""
    names = {f.lower() for f in sf.available_formats() if f not in _HEADERLESS}
    names |= {alias for alias, fmt in _SUFFIX_ALIASES.items() if fmt in sf.available_formats()}
    return frozenset("." + n for n in names)


def is_audio_path(path: PathLike) -> bool:
    """Whether a path's suffix names a format soundfile can read."""
    return _format_for_suffix(Path(path).suffix) is not None


def format_for_path(path: PathLike) -> str | None:
    """The soundfile format implied by a path's suffix, or None if it names none."""
    return _format_for_suffix(Path(path).suffix)


def can_write(fmt: str, subtype: str, sample_rate: int, channels: int) -> bool:
    """Whether soundfile can really open a ``fmt``/``subtype`` file at this rate and layout.

    :func:`soundfile.check_format` only says a pair exists; some encoders refuse rates or
    channel counts (MP3: 2 channels, 8-48 kHz; Opus: 8/12/16/24/48 kHz; GSM: 8 kHz mono) and
    some pairs can be read but not written (WAV holding MP3). This opens one in memory.
    """
    if not sf.check_format(fmt, subtype):
        return False
    try:
        with sf.SoundFile(
            io.BytesIO(),
            "w",
            samplerate=sample_rate,
            channels=channels,
            format=fmt,
            subtype=subtype,
        ):
            pass
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError):
        return False
    return True


def output_format(
    in_format: str,
    in_subtype: str,
    path: PathLike | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> tuple[str, str]:
    """Choose the container format and subtype of an output file.

    The format is the one named by ``path``'s suffix if it names one (stdout: WAV), else the
    input's. The subtype is the input's if that format can hold it (a codec subtype such as MP3
    or ADPCM only in the input's own container), else a float (or 24/16-bit) subtype the format
    supports, else the format's default. With ``sample_rate`` and ``channels`` the choice is
    checked by opening such a file in memory (see :func:`can_write`); if nothing works the
    first choice is returned and writing it raises a clear error.

    Args:
        in_format: format of the input file (e.g. ``"WAV"``).
        in_subtype: subtype of the input file (e.g. ``"PCM_16"``).
        path: where the output goes, or ``"-"``/None for stdout.
        sample_rate: the output's sample rate, if known.
        channels: the output's channel count, if known.

    Returns:
        ``(format, subtype)`` accepted by ``soundfile.check_format``.
    """
    suffix = ""
    if path is None or str(path) == STDIO:
        fmt = "WAV"
    else:
        fmt = format_for_path(path) or in_format
        suffix = Path(path).suffix.lower().lstrip(".")
    if not sf.check_format(fmt):
        fmt = "FLAC" if in_subtype not in _FLOAT_SUBTYPES else "WAV"
    wanted: list[str] = []
    if suffix in _SUFFIX_SUBTYPES:
        wanted.append(_SUFFIX_SUBTYPES[suffix])
    if fmt == in_format or in_subtype in _PLAIN_SUBTYPES:
        wanted.append(in_subtype)
    wanted += ["FLOAT", "PCM_24", "PCM_16", sf.default_subtype(fmt) or ""]
    candidates = [sub for sub in dict.fromkeys(wanted) if sub and sf.check_format(fmt, sub)]
    if not candidates:
        return fmt, sf.default_subtype(fmt)
    if sample_rate is not None and channels is not None:
        for sub in candidates:
            if can_write(fmt, sub, sample_rate, channels):
                return fmt, sub
    return fmt, candidates[0]


def _describe(path: PathLike) -> str:
    return "<stdin>" if str(path) == STDIO else str(path)


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
        self.name = _describe(path)
        source: Any = _stdin_buffer() if str(path) == STDIO else os.fspath(path)
        if isinstance(source, str) and not os.path.exists(source):
            raise PuresoundError(f"{self.name}: file not found")
        if isinstance(source, str) and os.path.isdir(source):
            raise PuresoundError(f"{self.name}: is a folder, not an audio file")
        if isinstance(source, str) and os.path.getsize(source) == 0:
            raise PuresoundError(f"{self.name}: empty file (0 bytes)")
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
        raise PuresoundError(f"{_describe(path)}: empty audio file (no samples)")
    if not np.isfinite(wav).all():
        raise PuresoundError(f"{_describe(path)}: contains NaN or Inf samples")
    return wav, rate, info


def _file_in_the_way(folder: Path) -> Path:
    """The first path on the way to ``folder`` that exists and is not a folder."""
    for part in reversed([folder, *folder.parents]):
        if part.exists() and not part.is_dir():
            return part
    return folder


def _file_mode(dest: Path) -> int:
    """Permissions for a new output: the existing file's, else 0o666 minus the umask."""
    try:
        return dest.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


class AudioWriter:
    """Write an audio file block by block, atomically.

    Blocks go to a temporary file in the destination folder; :meth:`commit` (called by the
    context manager on success) renames it over the destination, and any exception (including
    KeyboardInterrupt) deletes it instead. For ``"-"`` the file is built in memory and copied to
    stdout on commit.

    Args:
        path: destination file, or ``"-"`` for stdout.
        sample_rate: sample rate in Hz.
        channels: channel count.
        format: soundfile format (default: from the suffix, else WAV).
        subtype: soundfile subtype (default: the format's default).
        clip: ``"clamp"`` limits samples to [-1, 1] for integer subtypes (the default);
            ``"none"`` writes them as they are.
    """

    def __init__(
        self,
        path: PathLike,
        sample_rate: int,
        channels: int,
        format: str | None = None,
        subtype: str | None = None,
        clip: Literal["clamp", "none"] = "clamp",
    ) -> None:
        self.path = path
        self._stdout = str(path) == STDIO
        fmt = format or ("WAV" if self._stdout else format_for_path(path) or "WAV")
        sub = subtype or sf.default_subtype(fmt)
        if not sf.check_format(fmt, sub):
            raise ValueError(f"soundfile cannot write format {fmt} with subtype {sub}")
        self.format, self.subtype = fmt, sub
        self.channels = channels
        self.sample_rate = sample_rate
        self._clamp = clip == "clamp" and sub not in _FLOAT_SUBTYPES
        self._tmp: str | None = None
        self._target: Any
        if self._stdout:
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
            out = sys.stdout.buffer
            out.write(self._target.getvalue())
            out.flush()
        else:
            assert self._tmp is not None
            os.chmod(self._tmp, _file_mode(Path(self.path)))
            os.replace(self._tmp, self.path)
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
    with AudioWriter(path, sample_rate, data.shape[0], format, subtype, clip=mode) as writer:
        writer.write(data)


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample (channels, frames) float32 with soxr (high quality).

    The output has ``round(frames * sr_out / sr_in)`` frames (soxr's rounding).
    """
    if sr_in == sr_out:
        return wav
    import soxr

    out = soxr.resample(np.ascontiguousarray(wav.T, dtype=np.float32), sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)


class StreamResampler:
    """Block-by-block soxr resampling (high quality); gives the same samples as :func:`resample`.

    Args:
        sr_in: input rate.
        sr_out: output rate.
        channels: channel count of the blocks.
    """

    def __init__(self, sr_in: int, sr_out: int, channels: int) -> None:
        self.identity = sr_in == sr_out
        if not self.identity:
            import soxr

            self._stream = soxr.ResampleStream(
                sr_in, sr_out, channels, dtype="float32", quality="HQ"
            )

    def process(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample a (channels, n) block; pass ``last=True`` with the final block to flush."""
        if self.identity:
            return block
        out = self._stream.resample_chunk(
            np.ascontiguousarray(block.T, dtype=np.float32), last=last
        )
        return np.ascontiguousarray(out.T)
