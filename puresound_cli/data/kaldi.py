"""The seed's Kaldi-style lists: pre-made mixtures read on demand."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from puresound_cli.audio import read_mono
from puresound_cli.data.batches import TRAIN_STREAM, Example
from puresound_cli.data.signals import fit, rms
from puresound_cli.data.speech import DataReport
from puresound_cli.errors import PuresoundError

log = logging.getLogger("puresound_cli.data")

KALDI_SCP = "wav2scp.txt"


def is_kaldi_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds the seed's Kaldi-style lists (a ``wav2scp.txt``)."""
    return (Path(folder) / KALDI_SCP).is_file()


def _read_kv(path: Path) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if parts:
                table[parts[0]] = parts[1:]
    return table


@dataclass(frozen=True)
class KaldiEntry:
    """One pre-made example from Kaldi-style lists."""

    key: str
    mixture: Path
    reference: Path | None
    enrollments: tuple[Path, ...]
    speaker: str


def read_kaldi_lists(folder: str | Path, report: DataReport | None = None) -> list[KaldiEntry]:
    """Read the seed's Kaldi-style lists (``<key> <value ...>`` per line).

    ``wav2scp.txt`` (key -> mixture) is required; ``wav2ref.txt`` (key -> clean target),
    ``ref2list.txt`` (key -> enrollment files), ``ref2spk.txt`` (key -> speaker), ``wav2spk.txt``
    and ``ref2vad.txt`` are optional. Relative paths are taken from the folder. Keys missing from
    an optional list are skipped and counted when that list exists.
    """
    folder = Path(folder)
    report = report if report is not None else DataReport()
    if not (folder / KALDI_SCP).is_file():
        raise PuresoundError(f"{folder} has no {KALDI_SCP}")

    def path(p: str) -> Path:
        return Path(p) if Path(p).is_absolute() else folder / p

    tables = {
        name: _read_kv(folder / f"{name}.txt")
        for name in ("wav2scp", "wav2ref", "ref2list", "ref2spk")
        if (folder / f"{name}.txt").is_file()
    }
    entries = []
    for key, value in sorted(tables["wav2scp"].items()):
        if not value:
            report.skip("bad list line", f"{folder}: {key}")
            continue
        if any(key not in t for n, t in tables.items() if n != "wav2scp"):
            report.skip("key missing from a list", f"{folder}: {key}")
            continue
        ref = tables.get("wav2ref", {}).get(key)
        entries.append(
            KaldiEntry(
                key=key,
                mixture=path(value[0]),
                reference=path(ref[0]) if ref else None,
                enrollments=tuple(path(p) for p in tables.get("ref2list", {}).get(key, [])),
                speaker=(tables.get("ref2spk", {}).get(key) or [""])[0],
            )
        )
    report.files += len(entries)
    return entries


class KaldiListSource:
    """Examples from pre-made mixtures: random crops of (mixture, reference) plus enrollment.

    Files are read on demand (a list may be far larger than memory); a file that cannot be read
    makes the example fall back to another entry, and the failure is logged.

    Args:
        entries: from :func:`read_kaldi_lists`.
        task: "extract" or "enhance".
        sample_rate, segment_seconds, enroll_seconds: as for :class:`MixConfig`.
        seed: the stream's seed.
        speakers: class labels (sorted speaker ids); by default those of ``entries``.
    """

    def __init__(
        self,
        entries: Sequence[KaldiEntry],
        task: str,
        sample_rate: int,
        segment_seconds: float,
        enroll_seconds: float = 3.0,
        seed: int = 0,
        speakers: Sequence[str] | None = None,
        stream: int = TRAIN_STREAM,
    ) -> None:
        if not entries:
            raise PuresoundError("no usable entries in the Kaldi-style lists")
        if any(e.reference is None for e in entries):
            raise PuresoundError("training from Kaldi-style lists needs wav2ref.txt")
        if task == "extract" and any(not e.enrollments for e in entries):
            raise PuresoundError("extraction from Kaldi-style lists needs ref2list.txt")
        self.entries = list(entries)
        self.task = task
        self.sample_rate = sample_rate
        self.segment = int(round(segment_seconds * sample_rate))
        self.enroll = int(round(enroll_seconds * sample_rate))
        self.seed = seed
        self.stream = stream
        self.speakers = sorted(speakers if speakers is not None else {e.speaker for e in entries})
        self.speaker_index = {s: i for i, s in enumerate(self.speakers)}
        self.failures = 0

    def example(self, index: int) -> Example:
        rng = np.random.default_rng([self.seed, self.stream, index])
        for _ in range(10):
            entry = self.entries[int(rng.integers(0, len(self.entries)))]
            try:
                return self._load(entry, rng)
            except Exception as exc:  # noqa: BLE001 - skip and count, never crash a long run
                self.failures += 1
                log.warning("skipped %s (%s: %s)", entry.key, exc.__class__.__name__, exc)
        raise PuresoundError("ten list entries in a row could not be read")

    def _load(self, entry: KaldiEntry, rng: np.random.Generator) -> Example:
        assert entry.reference is not None
        mix = read_mono(entry.mixture, self.sample_rate)
        ref = read_mono(entry.reference, self.sample_rate)
        n = min(mix.size, ref.size)
        if n == 0:
            raise ValueError("empty file")
        start = int(rng.integers(0, n - self.segment + 1)) if n > self.segment else 0
        mix = mix[start : start + self.segment]
        ref = ref[start : start + self.segment]
        pad = self.segment - mix.size
        mix, ref = np.pad(mix, (0, pad)), np.pad(ref, (0, pad))
        present = rms(ref) > 1e-5
        enroll = None
        if self.task == "extract":
            path = entry.enrollments[int(rng.integers(0, len(entry.enrollments)))]
            enroll = fit(read_mono(path, self.sample_rate), self.enroll, rng)
        label = self.speaker_index.get(entry.speaker, -1) if self.task == "extract" else -1
        return Example(mix, ref if present else mix.copy(), present, enroll, label)
