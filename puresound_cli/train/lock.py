"""One training process per run folder: an advisory lock on ``RUN/.lock``.

Two ``train --out RUN`` at once interleaved ``log.csv`` and overwrote each other's checkpoints.
The lock is an ``flock`` on ``RUN/.lock``, which the kernel releases when its process ends, so a
run that crashed (or was killed) leaves no lock behind: the next run finds the file, sees that
nobody holds it, says so, and takes it. The file names the holder (pid, host, start time) for the
refusal message.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from puresound_cli.errors import PuresoundError

log = logging.getLogger(__name__)


class RunLock:
    """``with RunLock(run):`` holds ``run/.lock`` for the block.

    Raises:
        PuresoundError: another live process holds the lock (the message names it).
    """

    def __init__(self, run: Path) -> None:
        self.path = Path(run) / ".lock"
        self.handle: IO[str] | None = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): run unlocked
            log.warning("%s: this system has no flock; the run folder is not locked", self.path)
            return self
        handle = open(self.path, "a+")  # noqa: SIM115 - held open while locked
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise PuresoundError(
                f"run folder {self.path.parent} is in use by {holder}; wait for it, stop it, "
                "or train into another --out"
            ) from None
        handle.seek(0)
        stale = handle.read().strip()
        if stale:
            log.info("%s: taking over a lock its holder left (%s ended)", self.path, stale)
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()
            self.handle.close()  # closing releases the flock
            self.handle = None
