"""Speech folders: scanning with speaker and passage labels, decoding, and the speaker split.

Speech is decoded once, resampled to the model rate and kept in memory as int16 (2.5 hours at
16 kHz take about 290 MB). Files that cannot be used are skipped and counted in a
:class:`DataReport`.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from puresound_cli.audio import audio_suffixes, read_mono
from puresound_cli.errors import PuresoundError

log = logging.getLogger("puresound_cli.data")

SPEAKERS_TSV = "speakers.tsv"


@dataclass
class DataReport:
    """What was loaded and what was skipped (reason -> count), for logs and the run summary."""

    files: int = 0
    seconds: float = 0.0
    speakers: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def skip(self, reason: str, what: str) -> None:
        """Count one skipped item (and keep a few examples for the message)."""
        self.skipped[reason] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{reason}: {what}")
        log.warning("skipped (%s): %s", reason, what)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        text = f"{self.files} files, {self.seconds / 3600:.2f} h, {self.speakers} speakers"
        if self.skipped:
            text += "; skipped " + ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items()))
        return text


@dataclass(frozen=True)
class Utterance:
    """One speech file: where it is, who speaks and which words (passage) are said."""

    path: Path
    speaker: str
    passage: str


def scan_speech(folders: Sequence[str | Path], report: DataReport | None = None) -> list[Utterance]:
    """List the speech files of some folders with their speaker and passage labels.

    A folder with a ``speakers.tsv`` at its root (tab-separated, header ``path speaker passage``;
    paths relative to the TSV's folder or absolute) takes its labels from it. Otherwise every
    audio file below the folder counts, its parent folder's name is the speaker and each file is
    its own passage.

    Args:
        folders: speech folders.
        report: where missing folders, empty folders and missing files are counted.

    Returns:
        The utterances, sorted by path.
    """
    report = report if report is not None else DataReport()
    found: dict[Path, Utterance] = {}
    for folder in map(Path, folders):
        if not folder.is_dir():
            report.skip("missing folder", str(folder))
            continue
        tsv = folder / SPEAKERS_TSV
        before = len(found)
        if tsv.is_file():
            for utt in _read_speakers_tsv(tsv, report):
                found.setdefault(utt.path, utt)
        else:
            suffixes = audio_suffixes()
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in suffixes and path.is_file():
                    rel = path.relative_to(folder)
                    speaker = path.parent.name if path.parent != folder else folder.name
                    found.setdefault(path, Utterance(path, speaker, f"{folder.name}/{rel}"))
        if len(found) == before:
            report.skip("empty folder", str(folder))
    return sorted(found.values(), key=lambda u: str(u.path))


def _read_speakers_tsv(tsv: Path, report: DataReport) -> Iterator[Utterance]:
    with open(tsv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows:
        return
    header = [c.strip().lower() for c in rows[0]]
    if "path" in header and "speaker" in header:
        col = {name: header.index(name) for name in header}
        rows = rows[1:]
    else:  # no header: path, speaker[, passage]
        col = {"path": 0, "speaker": 1, "passage": 2}
    for row in rows:
        if not row or not row[0].strip() or row[0].startswith("#"):
            continue
        try:
            rel = row[col["path"]].strip()
            speaker = row[col["speaker"]].strip()
        except IndexError:
            report.skip("bad speakers.tsv row", f"{tsv}: {row}")
            continue
        passage_col = col.get("passage")
        passage = (
            row[passage_col].strip() if passage_col is not None and passage_col < len(row) else ""
        )
        path = Path(rel) if Path(rel).is_absolute() else tsv.parent / rel
        if not path.is_file():
            report.skip("missing file", str(path))
            continue
        yield Utterance(path, speaker, passage or f"{tsv.parent.name}/{rel}")


def to_int16(wav: np.ndarray) -> np.ndarray:
    """float32 samples as int16 (divided by the peak first when it exceeds 1)."""
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak > 1.0:
        wav = wav / peak
    return np.round(wav * 32767.0).astype(np.int16)


def to_float(wav: np.ndarray) -> np.ndarray:
    """int16 samples back to float32 in [-1, 1]."""
    return wav.astype(np.float32) / 32767.0


def load_audio_files(
    paths: Sequence[str | Path], sample_rate: int, min_seconds: float, report: DataReport
) -> list[tuple[int, np.ndarray]]:
    """Decode files into int16 at ``sample_rate``; unreadable, silent or short ones are skipped.

    Returns:
        (position in ``paths``, int16 samples) for every usable file.
    """
    out = []
    for i, path in enumerate(paths):
        try:
            wav = read_mono(path, sample_rate)
        except Exception as exc:  # noqa: BLE001 - any decoder error means "unreadable"
            report.skip("unreadable file", f"{path} ({exc.__class__.__name__})")
            continue
        if wav.size < min_seconds * sample_rate:
            report.skip("too short file", str(path))
            continue
        if not np.isfinite(wav).all() or float(np.max(np.abs(wav))) < 1e-4:
            report.skip("silent or invalid file", str(path))
            continue
        out.append((i, to_int16(wav)))
        report.files += 1
        report.seconds += wav.size / sample_rate
    return out


@dataclass
class SpeechBank:
    """Decoded utterances of some speakers, grouped for sampling.

    Attributes:
        utterances: labels of each loaded file.
        audio: int16 samples of each file at ``sample_rate``.
        speakers: sorted speaker ids; a speaker's class index is its position here.
    """

    utterances: list[Utterance]
    audio: list[np.ndarray]
    sample_rate: int

    def __post_init__(self) -> None:
        self.speakers = sorted({u.speaker for u in self.utterances})
        self.speaker_index = {s: i for i, s in enumerate(self.speakers)}
        self.by_speaker: dict[str, list[int]] = {s: [] for s in self.speakers}
        for i, u in enumerate(self.utterances):
            self.by_speaker[u.speaker].append(i)
        self.lengths = np.array([a.size for a in self.audio], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.utterances)

    def subset(self, speakers: set[str]) -> SpeechBank:
        """The utterances of some speakers (audio shared, not copied)."""
        keep = [i for i, u in enumerate(self.utterances) if u.speaker in speakers]
        return SpeechBank(
            [self.utterances[i] for i in keep], [self.audio[i] for i in keep], self.sample_rate
        )


def load_speech(
    folders: Sequence[str | Path],
    sample_rate: int,
    min_seconds: float = 1.0,
    report: DataReport | None = None,
) -> SpeechBank:
    """Scan and decode speech folders into a :class:`SpeechBank` (bad files skipped, counted)."""
    report = report if report is not None else DataReport()
    utts = scan_speech(folders, report)
    loaded = load_audio_files([u.path for u in utts], sample_rate, min_seconds, report)
    bank = SpeechBank([utts[i] for i, _ in loaded], [a for _, a in loaded], sample_rate)
    report.speakers = len(bank.speakers)
    return bank


def hold_out(names: Sequence[str], fraction: float, seed: int, keep: int = 2) -> set[str]:
    """The one hold-out rule: ``fraction`` of ``names`` (at least one, leaving ``keep``), seeded.

    Args:
        names: sorted speaker ids (or list keys) to choose from.
        fraction: share to hold out.
        seed: the run's seed (the same seed holds out the same names).
        keep: how many names must stay in training.

    Returns:
        The held-out names (empty when fewer than ``keep + 1`` names are given).
    """
    n = min(len(names) - keep, max(1, round(fraction * len(names))))
    order = np.random.default_rng(seed).permutation(len(names))
    return {names[i] for i in order[: max(0, n)]}


def split_speakers(
    bank: SpeechBank,
    valid_speakers: Sequence[str] = (),
    valid_fraction: float = 0.05,
    seed: int = 0,
) -> tuple[set[str], set[str]]:
    """Split speakers into training and validation sets.

    Listed ``valid_speakers`` are held out; otherwise ``valid_fraction`` of the speakers (at least
    one, leaving at least two for training) chosen with a fixed seed.

    Returns:
        (training speakers, validation speakers).
    """
    everyone = set(bank.speakers)
    if valid_speakers:
        valid = {s for s in valid_speakers if s in everyone}
        if not valid:
            raise PuresoundError("none of the validation speakers occurs in the speech folders")
    else:
        if len(everyone) < 3:
            raise PuresoundError(
                f"need at least 3 speakers (2 to train on, 1 to validate), found {len(everyone)}"
            )
        valid = hold_out(bank.speakers, valid_fraction, seed)
    return everyone - valid, valid
