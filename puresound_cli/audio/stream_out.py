"""Outputs that are streams, not files to replace: stdout, devices (``/dev/null``) and named
pipes. Every byte is written or the run fails with one line (a full disk, a closed pipe)."""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from puresound_cli.audio.formats import PathLike
from puresound_cli.errors import PuresoundError


def is_special_file(path: PathLike) -> bool:
    """An existing output that is not a regular file: a device (``/dev/null``) or a named pipe.

    Such outputs are written in place (there is nothing to replace atomically), like stdout.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def write_all(stream: BinaryIO, data: bytes, name: str) -> None:
    """Write every byte of ``data`` to ``stream`` (stdout, a device, a pipe), or fail clearly.

    Raw writes are checked: a short write is continued, and a full disk or a closed pipe raises
    instead of leaving a silently truncated output.

    Raises:
        PuresoundError: the write failed (no space left, closed pipe, I/O error).
    """
    try:
        stream.flush()
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests, embedding): buffer
        fd = None
    view = memoryview(data)
    try:
        if fd is None:
            written = stream.write(view)
            if written is not None and written != len(view):
                raise OSError(errno.EIO, f"short write ({written} of {len(view)} bytes)")
            stream.flush()
            return
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise OSError(errno.EIO, "write returned 0")
            view = view[written:]
    except BrokenPipeError as err:
        raise PuresoundError(f"{name}: the reading end of the pipe was closed") from err
    except OSError as err:
        raise PuresoundError(f"{name}: write failed ({err.strerror or err})") from err
