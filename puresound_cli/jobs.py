"""Jobs: which output each input goes to (refusing the unsafe ones), and each file's summary.

Rules: ``"-"`` in/out means stdin/stdout; a folder is searched recursively and mirrored under
the output folder with the same relative paths; several inputs (or any folder) make the output a
folder; one file in and an output that is an existing folder or has no audio suffix puts the
file inside it. An output that already exists is refused unless ``overwrite``; an output that is
one of the inputs is always refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puresound_cli import audio


@dataclass
class FileResult:
    """Summary of one processed file (the CLI prints it, ``--json`` serialises it)."""

    input: str
    output: str
    sample_rate: int = 0
    channels: int = 0
    frames: int = 0
    format: str = ""
    subtype: str = ""
    seconds: float = 0.0
    elapsed: float = 0.0
    silent: bool = False

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration."""
        return self.elapsed / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "input": self.input,
            "output": self.output,
            "status": "ok",
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frames": self.frames,
            "seconds": round(self.seconds, 6),
            "format": self.format,
            "subtype": self.subtype,
            "elapsed": round(self.elapsed, 4),
            "rtf": round(self.rtf, 5),
            "silent": self.silent,
        }


def find_audio_files(folder: Path) -> list[Path]:
    """Audio files below ``folder`` (recursive, sorted, any suffix soundfile reads)."""
    suffixes = audio.audio_suffixes()
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in suffixes and p.is_file() and not p.name.startswith(".")
    ]
    return sorted(found)


@dataclass(frozen=True)
class Job:
    """One file to process: where it comes from and where it goes (``"-"``: stdin/stdout)."""

    source: str | Path
    dest: str | Path


@dataclass
class Plan:
    """Jobs to run, and inputs refused before any work (``(name, reason)``)."""

    jobs: list[Job] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.stem + suffix + path.suffix) if suffix else path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def plan_jobs(
    inputs: Iterable[str],
    output: str,
    suffix: str = "",
    overwrite: bool = False,
) -> Plan:
    """Map input arguments to output paths and refuse the unsafe ones.

    Rules: ``"-"`` in/out means stdin/stdout; a folder is searched recursively and mirrored
    under the output folder with the same relative paths; several inputs (or any folder) make
    the output a folder; one file in and an output that is an existing folder or has no audio
    suffix puts the file inside it. An output that already exists is refused unless
    ``overwrite``; an output that is one of the inputs is always refused.

    Args:
        inputs: input arguments (files, folders, ``"-"``).
        output: output argument (file, folder, ``"-"``).
        suffix: added to each output file's stem (``"_enhanced"``).
        overwrite: allow replacing existing outputs.

    Returns:
        The plan.

    Raises:
        ValueError: a usage error (the command cannot be run as asked).
    """
    args = list(inputs)
    if not args:
        raise ValueError("no INPUT given")
    if args.count(audio.STDIO) > 1:
        raise ValueError("'-' (stdin) can be given only once")
    plan = Plan()
    sources: list[tuple[str | Path, Path | None]] = []  # (source, path relative to out folder)
    any_folder = any(arg != audio.STDIO and Path(arg).is_dir() for arg in args)
    out_is_folder = (
        len(args) > 1
        or any_folder
        or (output != audio.STDIO and (Path(output).is_dir() or not audio.is_audio_path(output)))
    )
    out_root = Path(output).resolve() if out_is_folder and output != audio.STDIO else None
    if out_root is not None and out_root.is_file():
        raise ValueError(f"-o {output} is a file, but these inputs need an output folder")
    for arg in args:
        if arg == audio.STDIO:
            sources.append((audio.STDIO, None))
            continue
        path = Path(arg)
        if path.is_dir():
            files = find_audio_files(path)
            if out_root is not None and out_root != path.resolve():
                # an output folder inside an input folder: earlier outputs are not inputs
                files = [f for f in files if not f.resolve().is_relative_to(out_root)]
            if not files:
                plan.failures.append((arg, "no audio files found in this folder"))
            sources.extend((f, f.relative_to(path)) for f in files)
        elif path.exists():
            sources.append((path, Path(path.name)))
        else:
            plan.failures.append((arg, "file not found"))

    if output == audio.STDIO:
        if len(args) > 1 or any_folder:
            raise ValueError("-o - (stdout) takes exactly one input file or '-'")
    elif audio.STDIO in args and out_is_folder:
        raise ValueError("with '-' (stdin) as input, -o must be an audio file name or '-'")

    input_paths = {p.resolve() for p, _ in sources if isinstance(p, Path)}
    seen: dict[Path, str] = {}  # output -> the input name that claimed it
    seen_source: dict[Path, str | Path] = {}
    for source, rel in sources:
        if output == audio.STDIO:
            plan.jobs.append(Job(source, audio.STDIO))
            continue
        if out_is_folder:
            assert rel is not None
            dest = _with_suffix(Path(output) / rel, suffix)
        else:
            dest = Path(output)
        name = str(source) if source != audio.STDIO else "<stdin>"
        resolved = dest.resolve()
        if resolved in input_paths or (isinstance(source, Path) and _same_file(source, dest)):
            plan.failures.append((name, f"refusing to write over an input file: {dest}"))
            continue
        if resolved in seen:
            first = seen_source[resolved]
            if isinstance(source, Path) and isinstance(first, Path) and _same_file(source, first):
                continue  # the same file given twice (a.wav ./a.wav): process it once
            plan.failures.append(
                (
                    name,
                    f"output {dest} is also the output of {seen[resolved]} "
                    "(same file name; not overwritten: process it in a separate run)",
                )
            )
            continue
        if dest.exists() and not overwrite:
            plan.failures.append((name, f"output {dest} exists (pass --overwrite to replace it)"))
            continue
        if dest.is_dir():
            plan.failures.append((name, f"output {dest} is a folder"))
            continue
        seen[resolved] = name
        seen_source[resolved] = source
        plan.jobs.append(Job(source, dest))
    return plan
