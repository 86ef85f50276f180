"""Pairs lists: the (input, reference[, enrollment]) files ``puresound evaluate`` scores.

The list is a tab-separated UTF-8 file: columns ``input``, ``reference`` and, for extraction,
``enrollment``; other columns are notes (``target``, ``sir_db``, ...). A header row naming the
columns is optional; with one, ``input`` and ``reference`` must be there and a column that looks
like a misspelt scored column (``ref``, ``Enrolment``) is an error, never a silent guess. Paths
are relative to the list's folder unless absolute. An empty reference marks a target-absent item.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from puresound_cli.errors import PuresoundError


@dataclass(frozen=True)
class Pair:
    """One list row: model input, clean reference (None: target absent), enrollment."""

    input: Path
    reference: Path | None
    enrollment: Path | None = None


def pairs_task(path: str | Path) -> str:
    """The task a pairs list is for: "extract" when its rows have an enrollment, else "enhance".

    Raises:
        PuresoundError: unreadable file or no rows.
    """
    pairs = read_pairs(path, "enhance")
    return "extract" if any(p.enrollment is not None for p in pairs) else "enhance"


COLUMNS = ("input", "reference", "enrollment")
"""The columns a pairs list is scored by; any other column is a note (target, sir_db, ...)."""


def _is_header(row: list[str]) -> bool:
    """A first row naming columns rather than files: it names a scored column, or a cell looks
    like a misspelt one, and no cell has an audio file's suffix."""
    from difflib import get_close_matches

    cells = [c.strip().lower() for c in row]
    if any(Path(c).suffix for c in cells):
        return False
    return any(c in COLUMNS or get_close_matches(c, COLUMNS, 1, 0.6) for c in cells)


def _header_columns(path: Path, row: list[str]) -> dict[str, int]:
    """Where each scored column is; a misspelt or missing one is an error, not a guess."""
    from difflib import get_close_matches

    header = [c.strip().lower() for c in row]
    for cell in header:
        close = get_close_matches(cell, COLUMNS, 1, 0.6)
        near = close or [c for c in COLUMNS if len(cell) >= 3 and c.startswith(cell)]
        if cell not in COLUMNS and near:
            raise PuresoundError(f"{path}: column {cell!r} is not one puresound reads; did you "
                                 f"mean {near[0]!r}? (columns: {', '.join(COLUMNS)})")  # fmt: skip
    for name in ("input", "reference"):
        if name not in header:
            raise PuresoundError(f"{path}: no {name!r} column (header: {', '.join(header)}); an "
                                 "empty reference cell marks a target-absent item")  # fmt: skip
    return {name: header.index(name) for name in COLUMNS if name in header}


def read_pairs(path: str | Path, task: str) -> list[Pair]:
    """Read a pairs list (see the module docstring).

    Raises:
        PuresoundError: unreadable file, no rows, or extraction rows without enrollment.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]
    except OSError as exc:
        raise PuresoundError(f"cannot read {path}: {exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PuresoundError(f"{path}: not a UTF-8 tab-separated text file ({exc})") from exc
    cols = {"input": 0, "reference": 1, "enrollment": 2}
    if rows and _is_header(rows[0]):
        cols = _header_columns(path, rows[0])
        rows = rows[1:]
    if not rows:
        raise PuresoundError(f"{path}: no items")

    def resolve(row: list[str], name: str) -> Path | None:
        i = cols.get(name)
        value = row[i].strip() if i is not None and i < len(row) else ""
        if not value:
            return None
        p = Path(value)
        return p if p.is_absolute() else path.parent / p

    pairs = []
    for n, row in enumerate(rows, start=1):
        item = resolve(row, "input")
        if item is None:
            raise PuresoundError(f"{path}: row {n} has no input")
        enroll = resolve(row, "enrollment")
        if task == "extract" and enroll is None:
            raise PuresoundError(f"{path}: row {n} has no enrollment (needed for extraction)")
        pairs.append(Pair(item, resolve(row, "reference"), enroll))
    return pairs
