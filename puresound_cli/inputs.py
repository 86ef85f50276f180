"""What a batch reads: the audio files in folders, and the shard of them a worker takes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from puresound_cli import audio


def scan_folder(folder: Path) -> tuple[list[Path], list[str]]:
    """Audio files below ``folder`` (recursive, sorted, any suffix soundfile reads), and notes
    on what was left out: symlinked sub-folders (not followed, so a link cycle cannot loop),
    dangling links, and sub-folders that could not be read."""
    suffixes = audio.audio_suffixes()
    found: list[Path] = []
    notes: list[str] = []

    def unreadable(err: OSError) -> None:
        notes.append(f"{err.filename}: skipped, cannot read this folder ({err.strerror})")

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        base = Path(root)
        for name in sorted(dirs):
            if (base / name).is_symlink():
                notes.append(f"{base / name}: skipped, a symlinked folder (not followed)")
        for name in files:
            path = base / name
            if path.suffix.lower() not in suffixes or name.startswith("."):
                continue
            if path.is_symlink() and not path.exists():
                notes.append(f"{path}: skipped, a dangling link")
            elif path.is_file():
                found.append(path)
    return sorted(found), notes


def find_audio_files(folder: Path) -> list[Path]:
    """Audio files below ``folder`` (see :func:`scan_folder`)."""
    return scan_folder(folder)[0]


def in_shard(key: str, k: int, n: int) -> bool:
    """Whether the file named ``key`` (its path relative to the input folder) belongs to shard
    ``k`` of ``n`` (1-based): a hash of the name, so the split does not depend on the order or
    completeness of a listing, and every machine sees the same split."""
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with 1 <= K <= N.

    Raises:
        ValueError: anything else.
    """
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: give K/N, e.g. 3/8") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: need 1 <= K <= N")
    return k, n
