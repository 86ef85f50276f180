"""Putting a finished output in place without clobbering: the rule every written file follows.

Outputs are built under a temporary name in the destination folder and moved into place only
when complete; without ``overwrite`` the move is exclusive (a hard link, then the temporary name
is removed), so a file that another process created in the meantime is kept.
"""

from __future__ import annotations

import os
import tempfile
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


def place_file(tmp: str | os.PathLike[str], dest: str | os.PathLike[str], overwrite: bool) -> None:
    """Move the finished temporary file ``tmp`` (in ``dest``'s folder) to ``dest``.

    Raises:
        PuresoundError: without ``overwrite``, ``dest`` exists (``tmp`` is left for the caller
            to remove).
    """
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
