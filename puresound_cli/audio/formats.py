"""Audio file formats: which suffixes are audio, and which format and subtype an output gets.

Policy: the output keeps the input's container format and sample subtype where soundfile can
write them (see :func:`output_format`); ``"-"`` (stdout) is always WAV.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Literal

import soundfile as sf

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

FLOAT_SUBTYPES = {"FLOAT", "DOUBLE", "VORBIS", "OPUS"}
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
        fmt = "FLAC" if in_subtype not in FLOAT_SUBTYPES else "WAV"
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


def describe(path: PathLike) -> str:
    """How messages name a path: ``<stdin>``/``<stdout>`` style for ``"-"``."""
    return "<stdin>" if str(path) == STDIO else str(path)
