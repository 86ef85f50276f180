"""Jobs: which output each input goes to (refusing the unsafe ones), and each file's summary.

Rules: ``"-"`` in/out means stdin/stdout; a folder is searched recursively and mirrored under
the output folder with the same relative paths; several inputs (or any folder) make the output a
folder; one file in and an output that is an existing folder or has no audio suffix puts the
file inside it. An output that already exists is refused unless ``overwrite``; an output that is
one of the inputs is always refused. An output name is never guessed silently: a new name
without a suffix becomes a folder (with a note), an audio file name with several inputs and a
suffix that is not an audio format are refused; an existing device or pipe (``/dev/null``) is
written in place.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from puresound_cli import audio
from puresound_cli.errors import PuresoundError
from puresound_cli.files import refuse_inputs
from puresound_cli.inputs import in_shard, scan_folder


@dataclass(frozen=True)
class Job:
    """One file to process: where it comes from and where it goes (``"-"``: stdin/stdout)."""

    source: str | Path
    dest: str | Path


@dataclass
class Plan:
    """Jobs to run, inputs refused before any work (``(name, reason)``), notes (warnings: what
    was skipped or guessed) and info (what was decided as asked, e.g. a new output folder)."""

    jobs: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.stem + suffix + path.suffix) if suffix else path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


FLAG_VALUES = {"true", "false", "yes", "no", "on", "off", "1", "0"}
"""Words a user may have meant as a flag's value (``--overwrite true``)."""


def _output_kind(output: str, args: list[str], any_folder: bool, plan: Plan) -> str:
    """The kind of output: "stdout", "special" (a device or pipe), "file" or "folder".

    Raises:
        ValueError: a name that cannot be what the inputs need.
    """
    if output == audio.STDIO:
        if len(args) > 1 or any_folder:
            raise ValueError("-o - (stdout) takes exactly one input file or '-'")
        return "stdout"
    path = Path(output)
    many = len(args) > 1 or any_folder
    if audio.is_special_file(path):
        if many:
            raise ValueError(f"-o {output} is a device or pipe: it takes exactly one input")
        return "special"
    if path.is_dir():
        return "folder"
    if path.exists():  # an existing file
        if many:
            raise ValueError(f"-o {output} is a file, but these inputs need an output folder")
        return "file"
    trailing_slash = output.endswith(("/", os.sep))
    suffix = path.suffix
    if many:
        if audio.is_audio_path(path) and not trailing_slash:
            what = "a folder" if any_folder else f"{len(args)} inputs"
            stray = [a for a in args if a.lower() in FLAG_VALUES and not Path(a).exists()]
            hint = (
                f" ('{stray[0]}' is taken as an input: flags such as --overwrite take no value)"
                if stray
                else ""
            )
            raise ValueError(
                f"-o {output} names an audio file, but {what} need an output folder: "
                f"give a folder name{hint}"
            )
        plan.info.append(f"-o {output}: creating this folder for the outputs")
        return "folder"
    if trailing_slash:  # asked for a folder
        plan.info.append(f"-o {output}: creating this folder for the outputs")
        return "folder"
    if not suffix:
        plan.notes.append(f"-o {output}: no such file or folder; creating the folder {output}")
        return "folder"
    if not audio.is_audio_path(path):
        raise ValueError(
            f"-o {output}: '{suffix}' is not an audio format puresound can write "
            "(use .wav, .flac, .ogg, ...; for a new folder, end the name with '/')"
        )
    return "file"


def plan_jobs(
    inputs: Iterable[str],
    output: str,
    suffix: str = "",
    overwrite: bool = False,
    companions: tuple[str, ...] = (),
    protected: Sequence[tuple[str, str | Path]] = (),
    shard: tuple[int, int] = (1, 1),
    skip_existing: bool = False,
) -> Plan:
    """Map input arguments to output paths and refuse the unsafe ones (see the module rules).

    Args:
        inputs: input arguments (files, folders, ``"-"``).
        output: output argument (file, folder, ``"-"``, or an existing device such as
            ``/dev/null``).
        suffix: added to each output file's stem (``"_enhanced"``), for outputs in a folder.
        overwrite: allow replacing existing outputs.
        companions: suffixes of files written beside each output (``--plot``: ``".png"``),
            refused like the output itself when they exist.
        protected: the other files the command reads, as (what it is, path) pairs
            (enrollments, the model): an output that is one of them is refused like an input.
        shard: ``(k, n)``: keep only the files of shard k of n (:func:`in_shard`), so that n
            workers share a batch without talking to each other.
        skip_existing: an existing output is a finished one: skipped (``plan.skipped``), not
            refused, so an interrupted batch continues where it stopped.

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
    any_folder = any(arg != audio.STDIO and Path(arg).is_dir() for arg in args)
    kind = _output_kind(output, args, any_folder, plan)
    if kind == "folder" and audio.STDIO in args:
        raise ValueError("with '-' (stdin) as input, -o must be an audio file name or '-'")
    if suffix and kind != "folder":
        plan.notes.append(f"--suffix {suffix!r} applies to outputs in a folder; ignored here")
    out_root = Path(output).resolve() if kind == "folder" else None
    sources = _sources(args, out_root, plan)
    input_paths = {p.resolve() for p, _ in sources if isinstance(p, Path)}
    sources = [(src, rel) for src, rel in sources if in_shard(str(rel or src), *shard)]
    rules = _Rules(kind, output, suffix, overwrite, companions, protected, skip_existing)
    _assign_outputs(plan, sources, input_paths, rules)
    return plan


def _sources(
    args: list[str], out_root: Path | None, plan: Plan
) -> list[tuple[str | Path, Path | None]]:
    """The input files of the arguments, each with its path relative to an output folder;
    what cannot be read goes to ``plan.failures``, folder notes to ``plan.notes``."""
    sources: list[tuple[str | Path, Path | None]] = []  # (source, path relative to out folder)
    for arg in args:
        if arg == audio.STDIO:
            sources.append((audio.STDIO, None))
            continue
        path = Path(arg)
        if path.is_dir():
            files, notes = scan_folder(path)
            plan.notes.extend(notes)
            if out_root is not None and out_root != path.resolve():
                # an output folder inside an input folder: earlier outputs are not inputs
                files = [f for f in files if not f.resolve().is_relative_to(out_root)]
            if not files:
                plan.failures.append((arg, "no audio files found in this folder"))
            sources.extend((f, f.relative_to(path)) for f in files)
        elif path.exists():
            if not os.access(path, os.R_OK):
                plan.failures.append((arg, "permission denied (cannot read this file)"))
                continue
            sources.append((path, Path(path.name)))
        elif path.is_symlink():
            plan.failures.append((arg, "a dangling link (its target does not exist)"))
        elif arg.lower() in FLAG_VALUES:
            plan.failures.append((arg, "file not found (flags such as --overwrite take no value)"))
        else:
            plan.failures.append((arg, "file not found"))
    return sources


@dataclass(frozen=True)
class _Rules:
    """How :func:`plan_jobs` places outputs (its arguments)."""

    kind: str
    output: str
    suffix: str
    overwrite: bool
    companions: tuple[str, ...]
    protected: Sequence[tuple[str, str | Path]]
    skip_existing: bool


def _assign_outputs(
    plan: Plan,
    sources: list[tuple[str | Path, Path | None]],
    input_paths: set[Path],
    rules: _Rules,
) -> None:
    """Each source's output, or the reason it gets none (``plan.jobs``/``skipped``/``failures``)."""
    kind, output, suffix = rules.kind, rules.output, rules.suffix
    overwrite, companions, protected = rules.overwrite, rules.companions, rules.protected
    skip_existing = rules.skip_existing
    seen: dict[Path, str] = {}  # output -> the input name that claimed it
    seen_source: dict[Path, str | Path] = {}
    for source, rel in sources:
        if kind in ("stdout", "special"):
            plan.jobs.append(Job(source, output))
            continue
        if kind == "folder":
            assert rel is not None
            dest = _with_suffix(Path(output) / rel, suffix)
        else:
            dest = Path(output)
        name = str(source) if source != audio.STDIO else "<stdin>"
        resolved = dest.resolve()
        if resolved in input_paths or (isinstance(source, Path) and _same_file(source, dest)):
            plan.failures.append((name, f"refusing to write over an input file: {dest}"))
            continue
        try:
            refuse_inputs(dest, protected)
        except PuresoundError as err:
            plan.failures.append((name, str(err)))
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
        existing = [p for p in (dest, *(dest.with_suffix(c) for c in companions)) if p.exists()]
        if skip_existing and dest.is_file():
            plan.skipped.append(Job(source, dest))
            continue
        if existing and not overwrite:
            plan.failures.append(
                (name, f"output {existing[0]} exists (pass --overwrite to replace it)")
            )
            continue
        if dest.is_dir():
            plan.failures.append((name, f"output {dest} is a folder"))
            continue
        seen[resolved] = name
        seen_source[resolved] = source
        plan.jobs.append(Job(source, dest))
