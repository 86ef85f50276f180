"""Build the dev set and the training view from ../shared/corpus, deterministically.

Usage (from the repo root):
    .venv/bin/python recipes/prepare_data.py --corpus ../shared/corpus --out runs/data

Writes:
    OUT/train-speech/speakers.tsv   every corpus speech file NOT held out (absolute paths), so
                                    `puresound train --speech OUT/train-speech` sees no dev speaker
    OUT/train-noise/                symlinks to the noise files NOT held out
    OUT/dev/extract.tsv             2-speaker mixtures at SIR U(-5, 5) dB, plus target-absent rows
    OUT/dev/enhance.tsv             held-out speech + held-out real noise at 0 and 5 dB SNR
    OUT/dev/enhance-8k.tsv          the same 5 dB items, resampled to 8 kHz (for the 8 kHz check)
    OUT/dev/*.wav                   the audio (16-bit, 16 kHz unless stated)
    OUT/heldout.json                which speakers and noise files are held out

Held out from training (never seen by a shipped model):
    - 30 LibriSpeech speakers whose utterance is at least 10 s (every 6th of those, sorted by id);
    - the mimic3 voices aew and axb, which are CMU ARCTIC speakers, so that
      ../shared/corpus/dev/cmu-arctic (real recordings of aew and axb) is an unseen-speaker test;
    - the real noise file speech-commands/exercise_bike.flac and every opensfx file whose number
      is a multiple of 5.
The LibriSpeech corpus has one utterance per speaker, so a dev target and its enrollment are cut
from disjoint parts of that utterance (enrollment: the last 4 s; target: up to 6 s from the start).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from puresound_cli.audio import read_audio, resample

SR = 16000
N_DEV_LIBRI = 30
ENROLL_S = 4.0
TARGET_MAX_S = 6.0
HELDOUT_MIMIC = {"mimic3-en_US_cmu-arctic_low-aew", "mimic3-en_US_cmu-arctic_low-axb"}


def read(path: Path) -> np.ndarray:
    """Mono float32 at 16 kHz."""
    wav, sr, _ = read_audio(path)
    return resample(wav.mean(axis=0, keepdims=True), sr, SR)[0]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)


def fit(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random n-sample crop of x, tiling x first when it is shorter."""
    if len(x) < n:
        x = np.tile(x, math.ceil(n / len(x)))
    start = int(rng.integers(0, len(x) - n + 1))
    return x[start : start + n]


def write_item(folder: Path, name: str, signals: dict[str, np.ndarray], sr: int = SR) -> dict:
    """Scale all signals by one gain so the input peaks at 0.9 (or below), write them as 16-bit."""
    peak = max(float(np.max(np.abs(s))) for s in signals.values()) + 1e-9
    gain = min(1.0, 0.9 / peak)
    paths = {}
    for key, sig in signals.items():
        path = folder / f"{name}-{key}.wav"
        sf.write(path, sig * gain, sr, subtype="PCM_16")
        paths[key] = path.name
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--out", type=Path, default=Path("runs/data"))
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    out = args.out
    rng = np.random.default_rng(args.seed)
    speech_root = corpus / "speech"

    with open(speech_root / "speakers.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    libri = sorted(
        (r for r in rows if r["source"] == "librispeech"),
        key=lambda r: int(r["speaker"].split("-")[1]),
    )
    long_enough = [r for r in libri if sf.info(speech_root / r["path"]).duration >= 10.0]
    dev_libri = long_enough[::6][:N_DEV_LIBRI]
    assert len(dev_libri) == N_DEV_LIBRI, len(dev_libri)
    heldout_speakers = {r["speaker"] for r in dev_libri} | HELDOUT_MIMIC

    # Training view: every speech file of a speaker that is not held out.
    train_speech = out / "train-speech"
    train_speech.mkdir(parents=True, exist_ok=True)
    kept = [r for r in rows if r["speaker"] not in heldout_speakers]
    with open(train_speech / "speakers.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["path", "speaker", "passage", "source"])
        for r in kept:
            w.writerow([str(speech_root / r["path"]), r["speaker"], r["passage"], r["source"]])

    noise_files = sorted((corpus / "noise").rglob("*.flac"))

    def is_heldout_noise(p: Path) -> bool:
        if p.name == "exercise_bike.flac":
            return True
        return p.parent.name == "opensfx" and int(p.stem) % 5 == 0

    dev_noise = [p for p in noise_files if is_heldout_noise(p)]
    train_noise = out / "train-noise"
    train_noise.mkdir(parents=True, exist_ok=True)
    for p in noise_files:
        if not is_heldout_noise(p):
            link = train_noise / f"{p.parent.name}-{p.name}"
            if not link.exists():
                os.symlink(p, link)

    dev = out / "dev"
    dev.mkdir(parents=True, exist_ok=True)
    utts = {r["speaker"]: read(speech_root / r["path"]) for r in dev_libri}
    speakers = [r["speaker"] for r in dev_libri]
    arctic = {p.stem: read(p) for p in sorted((corpus / "dev" / "cmu-arctic").glob("*.wav"))}

    def target_and_enroll(spk: str) -> tuple[np.ndarray, np.ndarray]:
        utt = utts[spk]
        enroll = utt[-int(ENROLL_S * SR) :]
        target = utt[: min(int(TARGET_MAX_S * SR), len(utt) - int((ENROLL_S + 0.5) * SR))]
        return target, enroll

    extract_rows: list[list[str]] = []
    for i, spk in enumerate(speakers):
        target, enroll = target_and_enroll(spk)
        other = speakers[(i + 1 + int(rng.integers(0, len(speakers) - 1))) % len(speakers)]
        interferer = fit(utts[other], len(target), rng)
        sir = float(rng.uniform(-5.0, 5.0))
        interferer = interferer * rms(target) / rms(interferer) / 10 ** (sir / 20)
        paths = write_item(
            dev,
            f"ext{i:02d}",
            {"mix": target + interferer, "ref": target, "enr": enroll},
        )
        extract_rows.append([paths["mix"], paths["ref"], paths["enr"], spk, other, f"{sir:.2f}"])

    # CMU ARCTIC (real aew/axb recordings): each utterance as target, enrolled with another
    # utterance of the same speaker, mixed with an utterance of the other speaker.
    names = sorted(arctic)
    for j, name in enumerate(names):
        spk = name.split("_")[3]
        same = [n for n in names if n.split("_")[3] == spk and n != name]
        diff = [n for n in names if n.split("_")[3] != spk]
        target = arctic[name]
        enroll = arctic[same[j % len(same)]]
        other = diff[j % len(diff)]
        interferer = fit(arctic[other], len(target), rng)
        sir = float(rng.uniform(-5.0, 5.0))
        interferer = interferer * rms(target) / rms(interferer) / 10 ** (sir / 20)
        paths = write_item(
            dev, f"arc{j:02d}", {"mix": target + interferer, "ref": target, "enr": enroll}
        )
        extract_rows.append([paths["mix"], paths["ref"], paths["enr"], spk, other, f"{sir:.2f}"])

    # Target absent: two held-out speakers talk, the enrollment is a third one.
    for k in range(15):
        a, b, c = (speakers[(3 * k + d) % len(speakers)] for d in range(3))
        first = utts[a][: int(TARGET_MAX_S * SR)]
        second = fit(utts[b], len(first), rng)
        sir = float(rng.uniform(-5.0, 5.0))
        second = second * rms(first) / rms(second) / 10 ** (sir / 20)
        _, enroll = target_and_enroll(c)
        paths = write_item(dev, f"abs{k:02d}", {"mix": first + second, "enr": enroll})
        extract_rows.append([paths["mix"], "", paths["enr"], c, f"{a}+{b}", "absent"])

    with open(dev / "extract.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["input", "reference", "enrollment", "target", "interferer", "sir_db"])
        w.writerows(extract_rows)

    # Enhancement: held-out speech in held-out real noise at 0 and 5 dB.
    noises = [read(p) for p in dev_noise]
    enhance_rows: list[list[str]] = []
    enhance_8k: list[list[str]] = []
    clean_items = [(spk, target_and_enroll(spk)[0]) for spk in speakers]
    clean_items += [(name, arctic[name]) for name in names]
    for i, (spk, clean) in enumerate(clean_items):
        for snr in (0, 5):
            k = int(rng.integers(0, len(noises)))
            noise = fit(noises[k], len(clean), rng)
            noise = noise * rms(clean) / rms(noise) / 10 ** (snr / 20)
            name = f"enh{i:02d}-{snr}db"
            paths = write_item(dev, name, {"noisy": clean + noise, "ref": clean})
            enhance_rows.append([paths["noisy"], paths["ref"], spk, dev_noise[k].name, str(snr)])
            if snr == 5:
                sig = {key: resample(read(dev / p)[None], SR, 8000)[0] for key, p in paths.items()}
                p8 = write_item(dev, name + "-8k", sig, sr=8000)
                enhance_8k.append([p8["noisy"], p8["ref"], spk, dev_noise[k].name, str(snr)])
    for fname, table in (("enhance.tsv", enhance_rows), ("enhance-8k.tsv", enhance_8k)):
        with open(dev / fname, "w", newline="") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n")
            w.writerow(["input", "reference", "speaker", "noise", "snr_db"])
            w.writerows(table)

    held = {
        "librispeech_speakers": speakers,
        "mimic3_speakers": sorted(HELDOUT_MIMIC),
        "noise_files": [str(p.relative_to(corpus)) for p in dev_noise],
        "train_files": len(kept),
        "train_speakers": len({r["speaker"] for r in kept}),
        "extract_items": len(extract_rows),
        "enhance_items": len(enhance_rows),
    }
    (out / "heldout.json").write_text(json.dumps(held, indent=2) + "\n")
    print(json.dumps({k: v for k, v in held.items() if not isinstance(v, list)}))


if __name__ == "__main__":
    main()
