"""Putting a finished output in place without clobbering: the rule every written file follows.

Outputs are built under a temporary name in the destination folder and moved into place only
when complete; without ``overwrite`` the move is exclusive (a hard link, then the temporary name
is removed), so a file that another process created in the meantime is kept.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from puresound_cli.errors import PuresoundError


def new_file_mode(dest: str | os.PathLike[str]) -> int:
    """Permissions for a new output: the existing file's, else 0o666 minus the umask."""
    try:
        return Path(dest).stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (the same inode when both exist; else the same
    resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def refuse_inputs(
    dest: str | os.PathLike[str], inputs: Iterable[tuple[str, str | os.PathLike[str] | None]]
) -> None:
    """The one rule for every command: an output is never one of its inputs.

    Args:
        dest: the output about to be written.
        inputs: what the command reads, as (what it is, path) pairs
            (``[("enrollment", path), ...]``); ``"-"`` and None are skipped.

    Raises:
        PuresoundError: ``dest`` is one of them (the message says which).
    """
    if str(dest) == "-" or is_special(dest):
        return
    for role, path in inputs:
        if path and str(path) != "-" and same_path(dest, path):
            raise PuresoundError(f"refusing to write over the {role} {path}")


def is_special(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` exists and is a device, pipe or socket (written in place, never
    replaced)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def place_file(tmp: str | os.PathLike[str], dest: str | os.PathLike[str], overwrite: bool) -> None:
    """Move the finished temporary file ``tmp`` (in ``dest``'s folder) to ``dest``.

    Raises:
        PuresoundError: without ``overwrite``, ``dest`` exists; or ``dest`` is a device, pipe
            or socket, which is never replaced by a file (``tmp`` is left for the caller to
            remove).
    """
    if is_special(dest):
        raise PuresoundError(f"{dest}: not a regular file (a device or pipe); not replaced")
    os.chmod(tmp, new_file_mode(dest))
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise PuresoundError(
            f"{dest}: appeared while this file was made (another run?); "
            "kept it, not replaced (pass --overwrite to replace it)"
        ) from None
    except OSError:  # no hard links here (some network or FAT file systems)
        if os.path.lexists(dest):
            raise PuresoundError(f"{dest}: appeared while this file was made; kept it") from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


def write_file(dest: str | Path, data: bytes, overwrite: bool) -> None:
    """Write ``data`` to ``dest`` atomically (never half-written, never clobbering by surprise).

    Raises:
        PuresoundError: ``dest`` exists without ``overwrite``, or cannot be written.
    """
    dest = Path(dest)
    if is_special(dest):  # /dev/null, a FIFO: written in place, as audio outputs are
        try:
            with open(dest, "wb") as handle:
                handle.write(data)
        except OSError as err:
            raise PuresoundError(f"{dest}: cannot write ({err.strerror or err})") from err
        return
    if dest.exists() and not overwrite:
        raise PuresoundError(f"{dest}: exists; kept it (pass --overwrite to replace it)")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as err:
        raise PuresoundError(f"{dest}: cannot write ({err.strerror or err})") from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        place_file(tmp, dest, overwrite)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise PuresoundError(f"{dest}: cannot write ({err.strerror or err})") from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
