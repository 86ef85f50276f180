"""All audio input/output and resampling.

Waveforms are numpy float32 arrays shaped ``(channels, frames)``; ``"-"`` stands for stdin
(reading) or stdout (writing).

- :mod:`.formats`: which suffixes are audio (:func:`audio_suffixes`, the one suffix list) and
  which format and subtype an output gets;
- :mod:`.reader`: :class:`AudioReader` (scan and read block by block), :func:`read_audio`,
  :func:`read_mono` (training data);
- :mod:`.writer`: :class:`AudioWriter` (atomic, block by block), :func:`write_audio`;
- :mod:`.resample`: :func:`resample` and :class:`StreamResampler` (soxr).

Policy: the output keeps the input's sample rate, channel count, exact length, container format
and sample subtype where soundfile can write them.
"""

from puresound_cli.audio.formats import (
    BLOCK_FRAMES,
    STDIO,
    ClipMode,
    PathLike,
    audio_suffixes,
    can_write,
    describe,
    format_for_path,
    is_audio_path,
    output_format,
)
from puresound_cli.audio.reader import AudioReader, ScanResult, read_audio, read_mono
from puresound_cli.audio.resample import StreamResampler, resample
from puresound_cli.audio.stream_out import is_special_file, write_all
from puresound_cli.audio.writer import AudioWriter, write_audio

__all__ = [
    "BLOCK_FRAMES",
    "STDIO",
    "AudioReader",
    "AudioWriter",
    "ClipMode",
    "PathLike",
    "ScanResult",
    "StreamResampler",
    "audio_suffixes",
    "can_write",
    "describe",
    "format_for_path",
    "is_special_file",
    "is_audio_path",
    "output_format",
    "read_audio",
    "read_mono",
    "resample",
    "write_all",
    "write_audio",
]
