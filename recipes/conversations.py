"""A dev set of conversations: turn-taking dialogues of held-out voices, with who-talks-when.

Real meetings and calls are mostly one voice at a time: `extract` must keep the enrolled voice
where it talks and silence the others where they talk. This recipe builds such conversations
from voices that no training view holds, each target enrolled with *another recording* of its
voice:

- the two fish of Fish Fillets NG, Czech and Dutch (4 actors, ~650 lines each; Debian
  `fillets-ng-data-cs` and `fillets-ng-data-nl`, GPL-2), wideband;
- June (fr) and Carlo (it), held out by debian_voices.py (Debian `asterisk-core-sounds-fr-wav`,
  `-it-wav`, CC BY-SA 3.0), 8 kHz telephone;
- as other talkers only (one recording each): the 30 LibriSpeech speakers held out by
  prepare_data.py (../shared/corpus, CC BY 4.0), wideband.

A conversation has a target voice and 1-3 other talkers of the same channel (on the telephone
conversations the LibriSpeech talkers are band-limited to 8 kHz as the Asterisk voices are), 30-90 s
of turns of 1-3 lines each, pauses of 0.15-1 s between turns and interruptions, with 10-20 % of the
speech overlapped (conversations outside that range are drawn again). Half are clean; half have
each talker in a simulated room (exponential-decay responses, RT60 0.3-0.7 s) and held-out noise
(the corpus files prepare_data.py keeps out of training, or coloured noise) at 5-15 dB SNR.
Target-absent conversations hold 2-3 other talkers and an enrollment of a voice that never talks.

Usage (after prepare_data.py and debian_voices.py; from the repo root):

    .venv/bin/python recipes/conversations.py --out runs/data/conversations

Writes OUT/NNN-mix.wav, NNN-ref.wav (the target's image as it is in the mixture; absent: none),
NNN-enr.wav (3 other lines of the target voice, 4-10 s), NNN-segments.tsv (talker, start, end of
every line, trimmed of its leading and trailing silence) and OUT/conversations.tsv (one row per
conversation). recipes/score_conversations.py scores a model on them.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import debs
import numpy as np
import soundfile as sf

from puresound_cli.audio import read_audio, resample
from puresound_cli.data.signals import band_limit, colored_noise, convolve, fit, rms

SR = 16000
FILLETS = {"fillets-ng-data-cs": "cs", "fillets-ng-data-nl": "nl"}
FISH = {"m": "small fish", "v": "big fish"}
ASTERISK = {"asterisk-core-sounds-fr-wav": "June", "asterisk-core-sounds-it-wav": "Carlo"}
MIN_LINE, MAX_LINE = 0.8, 8.0  # seconds


@dataclass
class Voice:
    name: str
    channel: str  # "wide" or "phone"
    lines: list[Path]
    slices: bool = False  # one long recording per file: turns are cut from it
    span: tuple[float, float] = (0.0, 1.0)  # the part of a sliced recording to cut from


def fillets_voices(cache: Path) -> list[Voice]:
    out = []
    for package, lang in FILLETS.items():
        root = debs.unpack(debs.download(package, cache), cache / package)
        files = sorted((root / "usr/share/games/fillets-ng/sound").rglob("*.ogg"))
        for code in FISH:
            lines = [f for f in files if f.stem.split("-")[1:2] == [code]]
            lines = [f for f in lines if MIN_LINE <= sf.info(str(f)).duration <= MAX_LINE]
            out.append(Voice(f"fillets-{lang}-{code}", "wide", lines))
    return out


def asterisk_voices(cache: Path) -> list[Voice]:
    out = []
    for package, name in ASTERISK.items():
        root = debs.unpack(debs.download(package, cache), cache / package)
        files = sorted((root / "usr/share/asterisk/sounds").rglob("*.wav"))
        lines = [f for f in files if "/silence/" not in f.as_posix()]
        lines = [f for f in lines if MIN_LINE <= sf.info(str(f)).duration <= MAX_LINE]
        out.append(Voice(f"asterisk-{name}", "phone", lines))
    return out


def librispeech_voices(corpus: Path, data: Path) -> list[Voice]:
    held = json.loads((data / "heldout.json").read_text())["librispeech_speakers"]
    out = []
    with open(corpus / "speech" / "speakers.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["speaker"] in held:
                out.append(Voice(row["speaker"], "wide", [corpus / "speech" / row["path"]], True))
    return out


def training_voices(data: Path) -> tuple[list[Voice], list[Voice]]:
    """Voices of the training view, for calibrating on conversations without any dev voice:
    (targets, other talkers). Targets: the three Asterisk training voices (other recordings
    as enrollment) and 8 LibriSpeech speakers with at least 12 s (enrollment from the first
    30 % of their one recording, turns from the rest); other talkers: the other LibriSpeech
    speakers (wideband) of the training view."""
    targets, extras = [], []
    with open(data / "debian" / "speech" / "speakers.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for name in sorted({r["speaker"] for r in rows}):
        lines = [Path(r["path"]) for r in rows if r["speaker"] == name]
        lines = [p for p in lines if MIN_LINE <= sf.info(str(p)).duration <= MAX_LINE]
        targets.append(Voice(name, "phone", lines))
    with open(data / "train-speech" / "speakers.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["source"] == "librispeech"]
    for r in rows:
        path = Path(r["path"])
        if len(targets) < 11 and sf.info(str(path)).duration >= 12.0:
            targets.append(Voice(r["speaker"], "wide", [path], True, (0.3, 1.0)))
        else:
            extras.append(Voice(r["speaker"], "wide", [path], True))
    return targets, extras


def load(path: Path) -> np.ndarray:
    wav, rate, _ = read_audio(path)
    return resample(wav.mean(axis=0, keepdims=True), rate, SR)[0].astype(np.float32)


def trim(x: np.ndarray, floor_db: float = -35.0) -> tuple[int, int]:
    """First and last+1 sample of the 10 ms frames within ``floor_db`` of the loudest frame."""
    hop = SR // 100
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    energy = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    active = np.flatnonzero(energy > energy.max() + floor_db)
    if active.size == 0:
        return 0, x.size
    return int(active[0] * hop), int(min(x.size, (active[-1] + 1) * hop))


def room_response(rng: np.random.Generator, rt60: float) -> np.ndarray:
    """A synthetic room response: direct path, then exponentially decaying noise (RT60)."""
    n = int(SR * min(1.0, rt60 * 1.2))
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.002 * SR)] = 0.0
    direct = np.zeros(n)
    direct[0] = 1.0
    drr = 10 ** (rng.uniform(0.0, 8.0) / 20)  # direct-to-reverberant ratio 0-8 dB
    h = direct * drr * np.sqrt(np.sum(tail**2)) + tail
    return (h / np.abs(h).max()).astype(np.float32)


class LinePool:
    """Lines of one voice drawn without repeats; LibriSpeech files are cut into 2-6 s turns."""

    def __init__(self, voice: Voice, rng: np.random.Generator) -> None:
        self.voice, self.rng = voice, rng
        self.order = list(rng.permutation(len(voice.lines)))
        self.cache: dict[Path, np.ndarray] = {}

    def audio(self, path: Path) -> np.ndarray:
        if path not in self.cache:
            x = load(path)
            if self.voice.channel == "phone":
                x = band_limit(x, SR)
            self.cache[path] = x
        return self.cache[path]

    def draw(self) -> np.ndarray:
        if self.voice.slices:
            x = self.audio(self.voice.lines[0])
            a, b = (int(f * x.size) for f in self.voice.span)
            x = x[a:b]
            n = int(self.rng.uniform(2.0, 6.0) * SR)
            start = int(self.rng.integers(0, max(1, x.size - n)))
            x = x[start : start + n]
        else:
            if not self.order:
                self.order = list(self.rng.permutation(len(self.voice.lines)))
            x = self.audio(self.voice.lines[self.order.pop()])
        a, b = trim(x)
        return x[a:b]


def conversation(
    target: Voice | None,
    others: list[Voice],
    pools: dict[str, LinePool],
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], list[tuple[str, float, float]], float]:
    """Dry talker tracks (each the mixture's length), line segments and the overlapped share."""
    talkers = ([target] if target else []) + others
    seconds = rng.uniform(30.0, 90.0)
    placed: list[tuple[str, int, np.ndarray]] = []
    end, last = 0, ""
    while end < seconds * SR:
        choices = [v.name for v in talkers if v.name != last]
        name = choices[int(rng.integers(len(choices)))]
        start = end + int(rng.uniform(0.15, 1.0) * SR)
        if placed and rng.random() < 0.45:  # an interruption: start before the last turn ends
            prev_start = placed[-1][1]
            start = max(prev_start + int(0.5 * SR), end - int(rng.uniform(0.3, 1.5) * SR))
        for _ in range(int(rng.integers(1, 4))):
            line = pools[name].draw()
            placed.append((name, start, line))
            start += line.size + int(rng.uniform(0.1, 0.3) * SR)
        end = max(end, start)
        last = name
    length = max(s + x.size for _, s, x in placed) + int(0.3 * SR)
    tracks = {v.name: np.zeros(length, np.float32) for v in talkers}
    segments = []
    for name, start, line in placed:
        tracks[name][start : start + line.size] += line / rms(line)
        segments.append((name, start / SR, (start + line.size) / SR))
    hop = SR // 100
    active = np.zeros((len(talkers), length // hop), bool)
    for name, s, e in segments:
        active[[v.name for v in talkers].index(name), int(s * 100) : int(e * 100)] = True
    talking = active.sum(axis=0)
    overlap = float(np.sum(talking >= 2) / max(1, np.sum(talking >= 1)))
    return tracks, segments, overlap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/data/conversations"))
    parser.add_argument("--cache", type=Path, default=Path("runs/debs"))
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--data", type=Path, default=Path("runs/data"))
    parser.add_argument("--per-target", type=int, default=4, help="conversations per target")
    parser.add_argument("--absent", type=int, default=8, help="target-absent conversations")
    parser.add_argument(
        "--calibration",
        action="store_true",
        help="training-view voices only (for calibrating the tracker; seed 1)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(1 if args.calibration else 0)
    if args.calibration:
        targets, extras = training_voices(args.data)
    else:
        targets = fillets_voices(args.cache) + asterisk_voices(args.cache)
        extras = librispeech_voices(args.corpus, args.data)
    enroll_pools = {}
    for v in targets:  # enrollment lines: a fifth of each voice's lines, never in a conversation
        if v.slices:  # one recording: the enrollment is its first 30 %, turns the rest
            enroll_pools[v.name] = LinePool(
                Voice(v.name, v.channel, v.lines, True, (0.0, 0.3)), rng
            )
            continue
        order = rng.permutation(len(v.lines))
        cut = len(v.lines) // 5
        enrolling = Voice(v.name, v.channel, [v.lines[i] for i in order[:cut]])
        enroll_pools[v.name] = LinePool(enrolling, rng)
        v.lines = [v.lines[i] for i in order[cut:]]
    held_noise = json.loads((args.data / "heldout.json").read_text())["noise_files"]
    if args.calibration:  # training noise, never the held-out files
        from puresound_cli.data.noise import audio_files_below

        noises = [load(p) for p in audio_files_below(args.data / "train-noise")]
    else:
        noises = [load(args.corpus / p) for p in held_noise]
    noises = [n for n in noises if n.size >= SR]
    pools = {v.name: LinePool(v, rng) for v in targets + extras}
    phone_extras = [Voice(v.name, "phone", v.lines, True, v.span) for v in extras]
    for v in phone_extras:
        pools[v.name + "@phone"] = LinePool(v, rng)
    args.out.mkdir(parents=True, exist_ok=True)
    plan: list[tuple[Voice | None, Voice]] = []  # (target or None, the enrolled voice)
    for t in targets:
        plan += [(t, t)] * args.per_target
    for k in range(args.absent):
        t = targets[k % len(targets)]
        plan.append((None, t))
    rows = []
    for index, (target, enrolled) in enumerate(plan):
        channel = enrolled.channel
        same = [v for v in targets if v.channel == channel and v.name != enrolled.name]
        extra = phone_extras if channel == "phone" else extras
        n_others = int(rng.integers(1, 4)) if target else int(rng.integers(2, 4))
        while True:
            pick = [same[int(rng.integers(len(same)))]] if same and rng.random() < 0.7 else []
            rest = [extra[int(i)] for i in rng.choice(len(extra), n_others - len(pick), False)]
            others = pick + rest
            local = {v.name: pools[v.name + ("@phone" if v in phone_extras else "")]
                     for v in others}  # fmt: skip
            if target:
                local[target.name] = pools[target.name]
            tracks, segments, overlap = conversation(target, others, local, rng)
            if 0.10 <= overlap <= 0.20:
                break
        noisy = index % 2 == 1
        rt60 = rng.uniform(0.3, 0.7)
        images = {}
        for name, dry in tracks.items():
            level = 10 ** (rng.uniform(-3.0, 3.0) / 20)
            wet = convolve(dry, room_response(rng, rt60)) if noisy else dry
            images[name] = wet * level
        speech = sum(images.values())
        mixture = speech.copy()
        if noisy:
            noise = noises[int(rng.integers(len(noises)))] if rng.random() < 0.6 else None
            noise = (
                colored_noise(speech.size, rng) if noise is None else fit(noise, speech.size, rng)
            )
            if channel == "phone":
                noise = band_limit(noise, SR)
            snr = rng.uniform(5.0, 15.0)
            mixture = speech + noise * rms(speech) / rms(noise) / 10 ** (snr / 20)
        gain = 0.9 / (float(np.abs(mixture).max()) + 1e-9)
        name = f"{index:03d}"
        sf.write(args.out / f"{name}-mix.wav", mixture * gain, SR, subtype="FLOAT")
        if target:
            sf.write(args.out / f"{name}-ref.wav", images[target.name] * gain, SR, subtype="FLOAT")
        enroll_pool = enroll_pools[enrolled.name]
        parts = []
        if enroll_pool.voice.slices:  # the whole enrollment span of the one recording
            x = enroll_pool.audio(enrolled.lines[0])
            parts.append(x[: int(enroll_pool.voice.span[1] * x.size)])
        while sum(p.size for p in parts) < 4 * SR and len(parts) < 6:
            parts.append(enroll_pool.draw())
        enroll = np.concatenate([np.concatenate([p, np.zeros(SR // 5, np.float32)]) for p in parts])
        sf.write(args.out / f"{name}-enr.wav", enroll / (np.abs(enroll).max() + 1e-9) * 0.5, SR)
        with open(args.out / f"{name}-segments.tsv", "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(["talker", "start", "end"])
            for talker, s, e in segments:
                role = "target" if target and talker == target.name else talker
                writer.writerow([role, f"{s:.3f}", f"{e:.3f}"])
        rows.append([f"{name}-mix.wav", f"{name}-ref.wav" if target else "", f"{name}-enr.wav",
                     f"{name}-segments.tsv", enrolled.name, len(tracks), channel,
                     "noisy-reverb" if noisy else "clean", f"{mixture.size / SR:.1f}",
                     f"{overlap:.3f}"])  # fmt: skip
        print(f"{name}: {enrolled.name} {'present' if target else 'absent'}, {len(tracks)} "
              f"talkers, {mixture.size / SR:.0f} s, overlap {overlap:.2f}", flush=True)  # fmt: skip
    with open(args.out / "conversations.tsv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["input", "reference", "enrollment", "segments", "target", "talkers",
                         "channel", "condition", "seconds", "overlap"])  # fmt: skip
        writer.writerows(rows)


if __name__ == "__main__":
    main()
