"""Training data: speech-folder scanning, Kaldi-style lists and on-the-fly (dynamic) mixing.

Two sources of training examples share one interface, ``example(index) -> Example``, so that the
batch stream (:class:`BatchStream`) and the validation set work the same for both:

- :class:`DynamicMixer` mixes examples on the fly from folders of clean speech (speaker labels from
  a ``speakers.tsv`` at a folder's root, else the parent folder's name) and folders of noise.
- :class:`KaldiListSource` reads pre-made mixtures from a folder of the seed's Kaldi-style lists
  (``wav2scp.txt``, ``wav2ref.txt``, ``ref2list.txt``, ``ref2spk.txt``, ...).

Every example is a pure function of ``(seed, index)``: a batch stream that restarts at step ``s``
yields the same batches as one that ran through ``s``, which makes resuming exact.

Speech is decoded once, resampled to the model rate with soxr and kept in memory as int16
(2.5 hours at 16 kHz take about 290 MB). Files that cannot be used are skipped and counted in a
:class:`DataReport`; a run with no usable data raises :class:`PuresoundError` at once.
"""

from __future__ import annotations

import csv
import logging
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset

from puresound_cli.errors import PuresoundError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
SPEAKERS_TSV = "speakers.tsv"
KALDI_SCP = "wav2scp.txt"
_TRAIN_STREAM = 0
_VALID_STREAM = 1


# ---------------------------------------------------------------------------------------------
# Bookkeeping
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Scanning and loading
# ---------------------------------------------------------------------------------------------


def is_kaldi_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds the seed's Kaldi-style lists (a ``wav2scp.txt``)."""
    return (Path(folder) / KALDI_SCP).is_file()


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
            for path in sorted(folder.rglob("*")):
                if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
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


def read_mono(
    path: str | Path, sample_rate: int, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """Read a file (or a frame range of it) as float32 mono at ``sample_rate``.

    ``start``/``stop`` are frames at the file's own rate. Raises whatever soundfile raises for an
    unreadable file.
    """
    import soundfile as sf

    wav, sr = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    if sr != sample_rate and wav.size:
        import soxr

        wav = soxr.resample(wav, sr, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(wav, dtype=np.float32)


def _to_int16(wav: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak > 1.0:
        wav = wav / peak
    return np.round(wav * 32767.0).astype(np.int16)


def _to_float(wav: np.ndarray) -> np.ndarray:
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
        out.append((i, _to_int16(wav)))
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


def load_noise(
    folders: Sequence[str | Path], sample_rate: int, report: DataReport | None = None
) -> list[np.ndarray]:
    """Decode every audio file below some folders as int16 noise clips (at least 0.1 s)."""
    report = report if report is not None else DataReport()
    paths: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            report.skip("missing noise folder", str(folder))
            continue
        found = [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in AUDIO_SUFFIXES]
        if not found:
            report.skip("empty noise folder", str(folder))
        paths += found
    return [a for _, a in load_audio_files(paths, sample_rate, 0.1, report)]


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
        n = min(len(everyone) - 2, max(1, round(valid_fraction * len(everyone))))
        order = np.random.default_rng(seed).permutation(len(bank.speakers))
        valid = {bank.speakers[i] for i in order[:n]}
    return everyone - valid, valid


# ---------------------------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------------------------


@dataclass
class Example:
    """One training example (numpy, float32, mono).

    Attributes:
        mixture: (T,) the model input.
        reference: (T,) the desired output; equals ``mixture`` when the target is absent.
        present: whether the target speaks in the mixture.
        enrollment: (E,) clean speech of the target speaker (extract only).
        speaker: the target speaker's class index (extract only; -1 when unknown).
        sources: indices of the target and interferer utterances in the bank (-1: none), for
            checks and debugging.
        enrollment_source: index of the enrollment's utterance in the bank (-1: none).
    """

    mixture: np.ndarray
    reference: np.ndarray
    present: bool = True
    enrollment: np.ndarray | None = None
    speaker: int = -1
    sources: tuple[int, int] = (-1, -1)
    enrollment_source: int = -1


def collate(examples: Sequence[Example]) -> dict[str, Any]:
    """Stack examples into a batch of tensors.

    Shape:
        mixture, reference: (B, 1, T); enrollment: (B, 1, E); speaker: (B,) long;
        present: (B,) bool.
    """
    import torch

    batch: dict[str, Any] = {
        "mixture": torch.from_numpy(np.stack([e.mixture for e in examples]))[:, None],
        "reference": torch.from_numpy(np.stack([e.reference for e in examples]))[:, None],
        "present": torch.tensor([e.present for e in examples], dtype=torch.bool),
        "speaker": torch.tensor([e.speaker for e in examples], dtype=torch.long),
    }
    enrollments = [e.enrollment for e in examples if e.enrollment is not None]
    if enrollments:
        batch["enrollment"] = torch.from_numpy(np.stack(enrollments))[:, None]
    return batch


@dataclass(frozen=True)
class MixConfig:
    """How dynamic mixing draws examples. Ranges are (low, high), drawn uniformly.

    Attributes:
        task: "extract" (target + interferer + noise, with enrollment) or "enhance"
            (speech + noise).
        segment_seconds: length of each example.
        enroll_seconds: enrollment length (shorter audio is tiled to it).
        enroll_min_seconds: the least real enrollment audio; a speaker with a single file needs
            this much plus ``min_target_seconds`` in it.
        min_target_seconds: the least target audio in a crop cut from a shared file.
        sir_db: target-to-interferer ratio range (extract): the ratio of the mean powers of the
            target (as heard in the mixture: speed-perturbed, reverberant when reverb applies)
            and the interferer over the whole segment, silences and zero padding included.
        snr_db: speech-to-noise ratio range: mean power of all speech in the mixture (target
            plus interferer; for a target-absent example the interferer alone) over the
            noise's, over the whole segment.
        noise_prob: chance of adding noise (always added for enhance).
        noise_kinds: relative weights of noise kinds: "file", "colored", "hum", "babble".
        level_db: RMS level range of the mixture in dBFS (random gain). One gain scales the
            mixture and the reference, lowered when needed so that the mixture peaks at 0.99 at
            most: nothing is ever clipped, so the reference stays exactly consistent with the
            mixture. The enrollment gets its own level from the same range, peak-limited the
            same way.
        speed_prob: chance of speed perturbation of each talker; ``speed_range`` its factor.
            The target's factor applies to the target in the mixture, to the reference and to
            the enrollment (a perturbed voice is one consistent "new" voice).
        reverb_prob: chance of convolving talkers with a room impulse response.
        reverb_reference: target for reverberant examples: "early" (the target convolved with
            the direct path plus 50 ms of the same impulse response, aligned on its peak: the
            reference is dereverberated, not dry) or "full" (the reverberant target itself).
        absent_prob: share of target-absent examples (reference = mixture, present False).
    """

    task: str = "extract"
    segment_seconds: float = 4.0
    enroll_seconds: float = 3.0
    enroll_min_seconds: float = 1.5
    min_target_seconds: float = 1.0
    sir_db: tuple[float, float] = (-5.0, 5.0)
    snr_db: tuple[float, float] = (0.0, 15.0)
    noise_prob: float = 0.8
    noise_kinds: tuple[tuple[str, float], ...] = (
        ("file", 0.5),
        ("colored", 0.2),
        ("hum", 0.05),
        ("babble", 0.25),
    )
    level_db: tuple[float, float] = (-35.0, -15.0)
    speed_prob: float = 0.3
    speed_range: tuple[float, float] = (0.9, 1.1)
    reverb_prob: float = 0.0
    reverb_reference: str = "early"
    absent_prob: float = 0.1


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-9


def _fit(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random n-sample crop of x, tiling x first when it is shorter."""
    if x.size < n:
        x = np.tile(x, math.ceil(n / max(1, x.size)))
    start = int(rng.integers(0, x.size - n + 1))
    return x[start : start + n]


def _place(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """x (at most n samples) at a random offset in n samples of silence."""
    if x.size >= n:
        return x[:n]
    out = np.zeros(n, dtype=np.float32)
    start = int(rng.integers(0, n - x.size + 1))
    out[start : start + x.size] = x
    return out


def colored_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with a random spectral slope between white (0) and brown (-6 dB/octave), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spec.size, dtype=np.float64)
    freqs[0] = 1.0
    spec /= freqs ** (rng.uniform(0.0, 2.0) / 2.0)
    noise = np.fft.irfft(spec, n)
    return (noise / _rms(noise)).astype(np.float32)


def hum_noise(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 or 60 Hz and harmonics) over faint white noise, unit RMS."""
    t = np.arange(n) / sample_rate
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    hum = sum(
        rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
        for k in range(1, 8)
    )
    hum = hum + 0.05 * rng.standard_normal(n)
    return (hum / _rms(hum)).astype(np.float32)


def convolve(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Linear convolution cut to len(x) (FFT)."""
    n = x.size + rir.size - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(rir, size), size)[: x.size]
    return y.astype(np.float32)


class DynamicMixer:
    """Mixes training examples on the fly from a :class:`SpeechBank` and noise clips.

    Extract: target crop + one interferer (another speaker whose passage is neither the
    target's nor the enrollment's) at a SIR + noise at an SNR. The enrollment comes from a file
    of the target speaker with another passage; when the speaker only has files of one passage
    (one file, or several readings of the same words) it is cut from a time span that does not
    overlap the target crop's, so it never holds the target's words. A share of examples has no
    target: the reference is the mixture (interferer + noise) and the enrollment is still of the
    (absent) target speaker. Enhance: speech + noise (babble from other speakers counts as noise).

    Args:
        bank: speech to draw targets, interferers and babble from.
        noises: int16 noise clips (may be empty: synthetic noise is used then).
        config: mixing options.
        seed: the stream's seed; ``example(i)`` depends only on (seed, i).
        rirs: float32 room impulse responses for reverberation (needed if ``reverb_prob`` > 0).
        report: where speakers without enough audio for enrollment plus target are counted.
        stream: 0 for training, 1 for validation (different random streams from one seed).
        speakers: the class labels (sorted speaker ids; ``Example.speaker`` is an index into
            them); by default the bank's speakers. A resumed run passes its saved list so that
            the AAM-softmax classes keep their meaning.
    """

    def __init__(
        self,
        bank: SpeechBank,
        noises: Sequence[np.ndarray],
        config: MixConfig,
        seed: int = 0,
        rirs: Sequence[np.ndarray] = (),
        report: DataReport | None = None,
        stream: int = _TRAIN_STREAM,
        speakers: Sequence[str] | None = None,
    ) -> None:
        if config.task not in ("extract", "enhance"):
            raise ValueError(f"task must be 'extract' or 'enhance', got {config.task!r}")
        if config.reverb_prob > 0 and not rirs:
            raise PuresoundError("reverberation requested but no room impulse responses given")
        report = report if report is not None else DataReport()
        self.bank = bank
        self.noises = list(noises)
        self.config = config
        self.seed = seed
        self.stream = stream
        self.rirs = list(rirs)
        self.sample_rate = bank.sample_rate
        sr = self.sample_rate
        self.segment = int(round(config.segment_seconds * sr))
        self.enroll = int(round(config.enroll_seconds * sr))
        self.enroll_min = min(self.enroll, int(round(config.enroll_min_seconds * sr)))
        self.min_target = int(round(config.min_target_seconds * sr))
        self.speakers = sorted(speakers) if speakers is not None else list(bank.speakers)
        self.speaker_index = {s: i for i, s in enumerate(self.speakers)}
        # Speakers usable as targets, and their files usable as target: for extraction a file
        # needs a file of another passage for enrollment, or room for a disjoint enrollment.
        self.targets: list[str] = []
        self.target_files: dict[str, list[int]] = {}
        for speaker in bank.speakers:
            files = bank.by_speaker[speaker]
            if config.task == "extract" and len({bank.utterances[f].passage for f in files}) < 2:
                files = [f for f in files if bank.lengths[f] >= self.enroll_min + self.min_target]
            if files:
                self.targets.append(speaker)
                self.target_files[speaker] = files
            else:
                report.skip("speaker with too little audio for enrollment plus target", speaker)
        if not self.targets:
            raise PuresoundError("no usable speech: no speaker has enough audio for training")
        if config.task == "extract" and len(bank.speakers) < 2:
            raise PuresoundError("extraction needs at least two speakers")
        kinds = [(k, w) for k, w in config.noise_kinds if w > 0 and (k != "file" or self.noises)]
        self.noise_kinds = [k for k, _ in kinds]
        weights = np.array([w for _, w in kinds], dtype=np.float64)
        self.noise_weights = weights / weights.sum() if weights.size else weights

    # -- helpers ------------------------------------------------------------------------------

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.stream, index])

    def _audio(self, utt: int) -> np.ndarray:
        return _to_float(self.bank.audio[utt])

    def _resample_speed(self, x: np.ndarray, factor: float) -> np.ndarray:
        """Speed change by resampling (pitch and tempo, as sox 'speed'): len(x) / factor samples."""
        if factor == 1.0 or x.size <= 1:
            return x
        import soxr

        y = soxr.resample(x, self.sample_rate * factor, self.sample_rate, quality="LQ")
        return np.asarray(y, dtype=np.float32)

    def _other(self, rng: np.random.Generator, speaker: str, passages: set[str]) -> int | None:
        """A random utterance of another speaker whose passage is none of ``passages``."""
        utts = self.bank.utterances
        for _ in range(50):
            i = int(rng.integers(0, len(utts)))
            if utts[i].speaker != speaker and utts[i].passage not in passages:
                return i
        pool = [i for i, u in enumerate(utts) if u.speaker != speaker and u.passage not in passages]
        return int(rng.choice(pool)) if pool else None

    def _speed(self, rng: np.random.Generator) -> float:
        c = self.config
        return float(rng.uniform(*c.speed_range)) if rng.random() < c.speed_prob else 1.0

    def _perturb(self, x: np.ndarray, factor: float, n: int) -> np.ndarray:
        """Speed change by resampling (pitch and tempo, as sox 'speed'), then exactly n samples."""
        x = self._resample_speed(x, factor)
        if x.size >= n:
            return x[:n]
        return np.pad(x, (0, n - x.size))

    def _crop(self, utt: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """A random n-sample crop of an utterance, zero-padded at a random offset if shorter."""
        x = self.bank.audio[utt]  # int16: crop first, convert only the crop
        if x.size <= n:
            return _place(_to_float(x), n, rng)
        start = int(rng.integers(0, x.size - n + 1))
        return _to_float(x[start : start + n])

    def _enrollment(self, x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
        """An enrollment of exactly ``enroll`` samples from x at the target's speed factor."""
        need = int(math.ceil(self.enroll * factor))
        if x.size > need:
            start = int(rng.integers(0, x.size - need + 1))
            x = x[start : start + need]
        return _fit(self._resample_speed(x, factor), self.enroll, rng)

    def _talker(self, utt: int, rng: np.random.Generator) -> np.ndarray:
        factor = self._speed(rng)
        need = int(math.ceil(self.segment * factor))
        return self._perturb(self._crop(utt, need, rng), factor, self.segment)

    def target_and_enrollment(
        self, speaker: str, rng: np.random.Generator
    ) -> tuple[
        int, np.ndarray, np.ndarray | None, tuple[int, int] | None, tuple[int, int] | None, int
    ]:
        """Draw a target crop and (extract) an enrollment crop of one speaker.

        The enrollment comes from a file of another passage when the speaker has one. Otherwise
        (one file, or several readings of the same words) target and enrollment are cut from
        disjoint time spans (of one file, or of two readings), so the enrollment never repeats
        the target's words. The target's speed factor applies to the enrollment too.

        Returns:
            (target utterance, target (segment,), enrollment (enroll,) or None, target span,
            enrollment span, enrollment utterance (-1 for enhance)); spans are (start, stop)
            sample ranges, returned only for the disjoint-span case (they never overlap).
        """
        factor = self._speed(rng)
        need = int(math.ceil(self.segment * factor))
        files = self.target_files[speaker]
        utt = int(rng.choice(files))
        if self.config.task == "enhance":
            target = self._perturb(self._crop(utt, need, rng), factor, self.segment)
            return utt, target, None, None, None, -1
        utts = self.bank.utterances
        passage = utts[utt].passage
        others = [f for f in self.bank.by_speaker[speaker] if utts[f].passage != passage]
        if others:
            e_utt = int(rng.choice(others))
            target = self._perturb(self._crop(utt, need, rng), factor, self.segment)
            return utt, target, self._enrollment(self._audio(e_utt), factor, rng), None, None, e_utt
        # Same words only: disjoint time spans of this file (or of another reading of it).
        readings = [f for f in files if f != utt]
        e_utt = int(rng.choice(readings)) if readings else utt
        x, y = self._audio(utt), self._audio(e_utt)
        size = min(x.size, y.size)
        t_len = min(need, size - self.enroll_min)
        if rng.random() < 0.5:  # enrollment before the target
            t0 = int(rng.integers(self.enroll_min, size - t_len + 1))
            e_len = min(int(math.ceil(self.enroll * factor)), t0)
            e0 = int(rng.integers(0, t0 - e_len + 1))
        else:  # enrollment after the target
            t0 = int(rng.integers(0, size - t_len - self.enroll_min + 1))
            e_len = min(int(math.ceil(self.enroll * factor)), size - t0 - t_len)
            e0 = int(rng.integers(t0 + t_len, size - e_len + 1))
        target = self._perturb(_place(x[t0 : t0 + t_len], need, rng), factor, self.segment)
        enroll = self._enrollment(y[e0 : e0 + e_len], factor, rng)
        return utt, target, enroll, (t0, t0 + t_len), (e0, e0 + e_len), e_utt

    def _noise(
        self, rng: np.random.Generator, exclude_speaker: str, passages: set[str]
    ) -> np.ndarray:
        n = self.segment
        kind = (
            str(rng.choice(self.noise_kinds, p=self.noise_weights))
            if self.noise_kinds
            else "colored"
        )
        if kind == "file":
            x = _fit(_to_float(self.noises[int(rng.integers(0, len(self.noises)))]), n, rng)
        elif kind == "hum":
            x = hum_noise(n, self.sample_rate, rng)
        elif kind == "babble":
            x = np.zeros(n, dtype=np.float32)
            for _ in range(int(rng.integers(3, 7))):
                other = self._other(rng, exclude_speaker, passages)
                if other is not None:
                    x += self._crop(other, n, rng) * float(rng.uniform(0.5, 1.0))
            if _rms(x) < 1e-6:
                x = colored_noise(n, rng)
        else:
            x = colored_noise(n, rng)
        return x / _rms(x)

    def _reverb(self, x: np.ndarray, rir: np.ndarray, early: bool) -> np.ndarray:
        rir = rir / (np.sqrt(np.sum(rir.astype(np.float64) ** 2)) + 1e-9)
        peak = int(np.argmax(np.abs(rir)))
        if early:
            rir = rir[: peak + int(0.05 * self.sample_rate)]
        y = convolve(np.concatenate([x, np.zeros(peak, np.float32)]), rir)
        return y[peak : peak + x.size]

    # -- the example --------------------------------------------------------------------------

    def example(self, index: int) -> Example:
        """The example number ``index`` of this stream (deterministic)."""
        c = self.config
        rng = self._rng(index)
        speaker = self.targets[int(rng.integers(0, len(self.targets)))]
        for _ in range(5):  # redraw near-silent target crops
            utt, target, enroll, _, _, e_utt = self.target_and_enrollment(speaker, rng)
            if _rms(target) > 1e-3:
                break
        utts = self.bank.utterances
        # words the interferer and babble must not say: the target's and the enrollment's
        said = {utts[utt].passage} | ({utts[e_utt].passage} if e_utt >= 0 else set())
        present = not (rng.random() < c.absent_prob)
        reverb = bool(self.rirs) and rng.random() < c.reverb_prob
        rir_pick = [int(rng.integers(0, len(self.rirs))) for _ in range(2)] if reverb else [0, 0]
        speech = target
        if reverb:
            speech = self._reverb(target, self.rirs[rir_pick[0]], early=False)
            if c.reverb_reference == "early":
                target = self._reverb(target, self.rirs[rir_pick[0]], early=True)
            else:
                target = speech
        if c.task == "extract":
            other = self._other(rng, speaker, said)
            if other is None:
                raise PuresoundError(
                    "no interferer possible: every other file is the same speaker or passage"
                )
            interferer = self._talker(other, rng)
            if reverb:
                interferer = self._reverb(interferer, self.rirs[rir_pick[1]], early=False)
            sir = float(rng.uniform(*c.sir_db))
            interferer = interferer * (_rms(speech) / _rms(interferer) / 10 ** (sir / 20))
            if not present:
                speech = np.zeros_like(speech)
                target = speech
            mixture = speech + interferer
            passages = said | {utts[other].passage}
            base = mixture
            sources = (utt, other)
        else:
            if not present:
                speech = np.zeros_like(speech)
                target = speech
            mixture = speech
            passages = said
            base = speech
            sources = (utt, -1)
        if c.task == "enhance" or not present or rng.random() < c.noise_prob:
            noise = self._noise(rng, speaker, passages)
            snr = float(rng.uniform(*c.snr_db))
            level = _rms(base) if _rms(base) > 1e-6 else 0.05
            mixture = mixture + noise * (level / 10 ** (snr / 20))
        gain = 10 ** (float(rng.uniform(*c.level_db)) / 20) / _rms(mixture)
        peak = float(np.max(np.abs(mixture))) * gain
        if peak > 0.99:
            gain *= 0.99 / peak
        mixture = (mixture * gain).astype(np.float32)
        reference = mixture if not present else (target * gain).astype(np.float32)
        if enroll is not None:
            e_gain = 10 ** (float(rng.uniform(*c.level_db)) / 20) / _rms(enroll)
            e_peak = float(np.max(np.abs(enroll))) * e_gain
            if e_peak > 0.99:  # limit, never clip: clipping distorts the voice to identify
                e_gain *= 0.99 / e_peak
            enroll = (enroll * e_gain).astype(np.float32)
        label = self.speaker_index[speaker] if c.task == "extract" else -1
        return Example(mixture, reference, present, enroll, label, sources, e_utt)


# ---------------------------------------------------------------------------------------------
# Kaldi-style lists (pre-made mixtures)
# ---------------------------------------------------------------------------------------------


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
        stream: int = _TRAIN_STREAM,
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
        present = _rms(ref) > 1e-5
        enroll = None
        if self.task == "extract":
            path = entry.enrollments[int(rng.integers(0, len(entry.enrollments)))]
            enroll = _fit(read_mono(path, self.sample_rate), self.enroll, rng)
        label = self.speaker_index.get(entry.speaker, -1) if self.task == "extract" else -1
        return Example(mix, ref if present else mix.copy(), present, enroll, label)


# ---------------------------------------------------------------------------------------------
# Streams and validation sets
# ---------------------------------------------------------------------------------------------


class BatchStream(IterableDataset):
    """An endless, deterministic stream of collated batches for one rank.

    Batch ``s`` of rank ``r`` holds examples ``(s * world_size + r) * batch_size + j``. DataLoader
    workers take every ``num_workers``-th step and the loader interleaves them round-robin, so
    the order is the same with any worker count, and ``start_step`` resumes the stream exactly.
    Use it with ``DataLoader(stream, batch_size=None, num_workers=...)``.
    """

    def __init__(
        self, source: Any, batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        super().__init__()
        self.source = source
        self.batch_size = batch_size
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size

    def batch(self, step: int) -> dict[str, Any]:
        """The batch of training step ``step`` for this rank."""
        base = (step * self.world_size + self.rank) * self.batch_size
        return collate([self.source.example(base + j) for j in range(self.batch_size)])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        step = self.start_step + worker
        while True:
            yield self.batch(step)
            step += workers


def validation_batches(
    source: Any, n_examples: int, batch_size: int, rank: int = 0, world_size: int = 1
) -> list[dict[str, Any]]:
    """A fixed validation set: examples ``0..n_examples-1`` of ``source``, this rank's share."""
    mine = list(range(rank, n_examples, world_size))
    return [
        collate([source.example(i) for i in mine[k : k + batch_size]])
        for k in range(0, len(mine), batch_size)
    ]


# ---------------------------------------------------------------------------------------------
# Room impulse responses
# ---------------------------------------------------------------------------------------------


def simulate_rirs(n: int, sample_rate: int, seed: int = 0) -> list[np.ndarray]:
    """Simulate ``n`` room impulse responses in random shoebox rooms with pyroomacoustics.

    Raises:
        PuresoundError: pyroomacoustics is not installed (``pip install 'puresound[rir]'``).
    """
    try:
        import pyroomacoustics as pra
    except ImportError as exc:
        raise PuresoundError(
            "reverberation needs pyroomacoustics: pip install 'puresound[rir]' "
            "(or give --rir folders of impulse responses, or set reverb probability 0)"
        ) from exc
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < n:
        dims = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4)])
        rt60 = rng.uniform(0.15, 0.8)
        try:
            absorption, max_order = pra.inverse_sabine(rt60, dims)
        except ValueError:
            continue
        room = pra.ShoeBox(
            dims, fs=sample_rate, materials=pra.Material(absorption), max_order=min(max_order, 20)
        )
        src = rng.uniform(0.5, dims - 0.5)
        mic = rng.uniform(0.5, dims - 0.5)
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], dtype=np.float32)[: int(sample_rate * 1.0)]
        out.append(rir)
    return out


def rir_bank(n: int, sample_rate: int, cache_dir: str | Path, seed: int = 0) -> list[np.ndarray]:
    """A bank of simulated RIRs, made once and cached as ``cache_dir/rirs-{sr}-{n}-{seed}.npz``."""
    cache = Path(cache_dir) / f"rirs-{sample_rate}-{n}-{seed}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]
    rirs = simulate_rirs(n, sample_rate, seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, *rirs)
    tmp.replace(cache)
    return rirs


def load_rirs(
    folders: Sequence[str | Path], sample_rate: int, report: DataReport | None = None
) -> list[np.ndarray]:
    """Measured or pre-made impulse responses from folders of audio files (float32)."""
    report = report if report is not None else DataReport()
    paths = [
        p
        for f in map(Path, folders)
        for p in sorted(f.rglob("*"))
        if p.suffix.lower() in AUDIO_SUFFIXES
    ]
    return [_to_float(a) for _, a in load_audio_files(paths, sample_rate, 0.0, report)]
