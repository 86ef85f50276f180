"""Real ambient noise from Debian's ``0ad-data`` (the game's audio/ambient recordings, CC BY-SA
3.0): a training noise folder and a held-out dev noise folder.

Downloads the package with ``apt-get download`` (1.4 GB, kept in the cache), takes
``public.zip`` out of it and copies only the ``audio/ambient/`` files. Every fifth file (sorted
by name) is held out for the dev set, never trained on.

Usage (from the repo root):
    .venv/bin/python recipes/ambient_noise.py --out runs/data/ambient [--cache runs/debs]
    puresound train ... --noise runs/data/train-noise runs/data/ambient/train

Writes OUT/train/*.ogg, OUT/dev/*.ogg and OUT/sources.json (package, version, licence, files).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import debs
import soundfile as sf

PACKAGE = "0ad-data"
LICENCE = "CC BY-SA 3.0 (0 A.D. art and audio, Wildfire Games)"
MEMBER = "./usr/share/games/0ad/mods/public/public.zip"
PREFIX = "audio/ambient/"


def public_zip(cache: Path) -> tuple[Path, str]:
    """The package's public.zip in ``cache`` (downloaded and unpacked once) and its version."""
    deb = debs.download(PACKAGE, cache)
    target = cache / "0ad-public.zip"
    if not target.is_file():
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        with tarfile.open(fileobj=tar.stdout, mode="r|") as archive:
            for member in archive:
                if member.name == MEMBER:
                    source = archive.extractfile(member)
                    assert source is not None
                    with open(target.with_suffix(".part"), "wb") as out:
                        shutil.copyfileobj(source, out, length=1 << 20)
                    break
        tar.wait()
        target.with_suffix(".part").replace(target)
    return target, debs.version(deb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/data/ambient"))
    parser.add_argument("--cache", type=Path, default=Path("runs/debs"))
    args = parser.parse_args()
    archive, version = public_zip(args.cache)
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith(PREFIX) and not n.endswith("/"))
        split: dict[str, list[str]] = {"train": [], "dev": []}
        seconds = {"train": 0.0, "dev": 0.0}
        for i, name in enumerate(names):
            part = "dev" if i % 5 == 4 else "train"
            dest = args.out / part / name[len(PREFIX) :].replace("/", "_")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(zf.read(name))
            try:
                seconds[part] += sf.info(str(dest)).duration
            except RuntimeError:  # not audio after all: leave it out
                dest.unlink()
                continue
            split[part].append(dest.name)
    sources = {PACKAGE: {"version": version, "licence": LICENCE, "files": split}}
    (args.out / "sources.json").write_text(json.dumps(sources, indent=2) + "\n")
    for part in ("train", "dev"):
        print(
            f"{part}: {len(split[part])} files, {seconds[part] / 60:.1f} min in {args.out / part}"
        )


if __name__ == "__main__":
    main()
