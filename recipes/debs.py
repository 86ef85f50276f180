"""Debian packages for the data recipes: downloaded with ``apt-get download`` into a cache once
(a second run downloads nothing), unpacked with ``dpkg-deb`` once."""

from __future__ import annotations

import subprocess
from pathlib import Path


def download(package: str, cache: Path) -> Path:
    """The newest ``.deb`` of ``package`` in ``cache``, downloaded if there is none."""
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
        debs = sorted(cache.glob(f"{package}_*.deb"))
    return debs[-1]


def unpack(deb: Path, dest: Path) -> Path:
    """``deb``'s files under ``dest`` (extracted unless ``dest`` exists)."""
    if not dest.is_dir():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return dest


def version(deb: Path) -> str:
    """The package version in a ``NAME_VERSION_ARCH.deb`` file name."""
    return deb.name.split("_")[1]
