"""More real voices with many recordings each, from Debian packages: a training view and a dev
set whose enrollments are *other recordings* of the target voice.

Sources (downloaded with ``apt-get download``, unpacked with ``dpkg-deb -x``; nothing at run
time of puresound itself):

| package | voice folder | licence |
|---|---|---|
| asterisk-core-sounds-en-wav | en_US_f_Allison | CC BY-SA 3.0 |
| asterisk-core-sounds-es-wav | es_MX_f_Allison | CC BY-SA 3.0 |
| asterisk-core-sounds-fr-wav | fr_CA_f_June | CC BY-SA 3.0 |
| asterisk-core-sounds-it-wav | it_IT_m_Carlo | CC BY-SA 3.0 |
| asterisk-core-sounds-ru-wav | ru_RU_f_IvrvoiceRU | CC BY-SA 3.0 |
| asterisk-prompt-it-menardi-wav | it_IT_f_Menardi | CC BY 3.0 |

About 550 studio prompts per package, 8 kHz mono. Labels: the speaker is the voice's name, so
the English and Mexican-Spanish Allison packages are ONE speaker (``asterisk-Allison``), five
voices in all. The languages translate one prompt list: a prompt's passage id is its path inside
the voice folder (``vm-goodbye``, ``digits/1``), the same in every language, so the mixer never
pairs a prompt with its own translation as target and interferer. The packages' ``silence/N``
prompts (N seconds of silence) and any prompt below -50 dBFS are left out: a silent "voice"
poisons training labels and makes a dev item meaningless.

Held out (never in the training view): June (fr) and Carlo (it), the dev voices. Dev mixtures:
a prompt of one held-out voice, another prompt (a different recording) of the same voice as the
enrollment, a prompt with another passage id of the other held-out voice as interferer at SIR
U(-5, 5) dB; plus the same kind of items from ../shared/corpus/dev/cmu-arctic (aew, axb: three
utterances each), whose TTS copies prepare_data.py removes from training.

Usage (from the repo root):
    .venv/bin/python recipes/debian_voices.py --out runs/data/debian [--cache runs/debs]
    puresound train ... --speech runs/data/train-speech runs/data/debian/speech
    puresound evaluate --pairs runs/data/debian/dev/extract-other-recording.tsv --model M

Writes OUT/speech/speakers.tsv (training view, absolute paths into the unpacked packages),
OUT/dev/*.wav + OUT/dev/extract-other-recording.tsv, OUT/sources.json (packages, versions,
licences).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import debs
import numpy as np
import soundfile as sf

from puresound_cli.audio import read_audio, resample

PACKAGES = {
    "asterisk-core-sounds-en-wav": "CC BY-SA 3.0",
    "asterisk-core-sounds-es-wav": "CC BY-SA 3.0",
    "asterisk-core-sounds-fr-wav": "CC BY-SA 3.0",
    "asterisk-core-sounds-it-wav": "CC BY-SA 3.0",
    "asterisk-core-sounds-ru-wav": "CC BY-SA 3.0",
    "asterisk-prompt-it-menardi-wav": "CC BY 3.0",
}
HELD_OUT = {"asterisk-June", "asterisk-Carlo"}
SR = 16000
N_DEV = 40
MIN_SECONDS = 1.5


def fetch(cache: Path) -> dict[str, dict[str, str]]:
    """Download and unpack every package into ``cache`` (kept: a second run downloads nothing)."""
    sources = {}
    for package, licence in PACKAGES.items():
        deb = debs.download(package, cache)
        debs.unpack(deb, cache / package)
        sources[package] = {"version": debs.version(deb), "licence": licence, "deb": deb.name}
    return sources


def voices(cache: Path) -> list[tuple[Path, str, str]]:
    """(wav path, speaker, passage) of every prompt: speaker from the voice folder's name."""
    rows = []
    for package in PACKAGES:
        for folder in sorted((cache / package / "usr/share/asterisk/sounds").iterdir()):
            name = folder.name.split("_")[-1]  # en_US_f_Allison -> Allison
            for wav in sorted(folder.rglob("*.wav")):
                passage = wav.relative_to(folder).with_suffix("").as_posix()
                if passage.startswith("silence/"):  # silence/1 .. silence/10: N s of silence
                    continue
                rows.append((wav.resolve(), f"asterisk-{name}", passage))
    return rows


def audible(path: Path) -> bool:
    """Whether a prompt holds sound at all: RMS at least -50 dBFS (speech prompts sit near
    -25; Asterisk's silence prompts near -90)."""
    wav, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return wav.size > 0 and rms(wav.mean(axis=1)) >= 10 ** (-50 / 20)


def load(path: Path) -> np.ndarray:
    wav, rate, _ = read_audio(path)
    return resample(wav.mean(axis=0, keepdims=True), rate, SR)[0]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def dev_items(pools: dict[str, list[tuple[Path, str]]], n: int, rng: np.random.Generator):
    """(target, enrollment, interferer, sir) with target and enrollment of one voice, other
    recordings and other passages, and an interferer of the other voice with another passage."""
    speakers = sorted(pools)
    for k in range(n):
        target_spk = speakers[k % len(speakers)]
        other_spk = speakers[(k + 1) % len(speakers)]
        own = pools[target_spk]
        i, j = rng.choice(len(own), size=2, replace=False)
        (t_path, t_pass), (e_path, e_pass) = own[i], own[j]
        others = [p for p, q in pools[other_spk] if q not in (t_pass, e_pass)]
        yield target_spk, t_path, e_path, others[int(rng.integers(len(others)))], rng.uniform(-5, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/data/debian"))
    parser.add_argument("--cache", type=Path, default=Path("runs/debs"))
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    args = parser.parse_args()
    sources = fetch(args.cache)
    rows = voices(args.cache)
    long_enough = [r for r in rows if sf.info(str(r[0])).duration >= MIN_SECONDS and audible(r[0])]
    train = [r for r in long_enough if r[1] not in HELD_OUT]
    (args.out / "speech").mkdir(parents=True, exist_ok=True)
    with open(args.out / "speech" / "speakers.tsv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "speaker", "passage"])
        writer.writerows([str(p), s, q] for p, s, q in train)

    rng = np.random.default_rng(0)
    pools: dict[str, list[tuple[Path, str]]] = {}
    for path, speaker, passage in long_enough:
        if speaker in HELD_OUT:
            pools.setdefault(speaker, []).append((path, passage))
    arctic = args.corpus / "dev" / "cmu-arctic"
    for wav in sorted(arctic.rglob("*.wav")) if arctic.is_dir() else []:
        speaker = next((s for s in ("aew", "axb") if s in wav.as_posix()), None)
        if speaker:
            pools.setdefault(f"arctic-{speaker}", []).append((wav, wav.stem))
    dev = args.out / "dev"
    dev.mkdir(parents=True, exist_ok=True)
    table = []
    groups = [{k: v for k, v in pools.items() if k in HELD_OUT}]
    groups.append({k: v for k, v in pools.items() if k.startswith("arctic-")})
    for group, n in zip(groups, (N_DEV, 6), strict=True):
        if len(group) < 2:
            continue
        for speaker, t_path, e_path, i_path, sir in dev_items(group, n, rng):
            target, enroll, interferer = load(t_path), load(e_path), load(i_path)
            interferer = np.resize(interferer, target.size)  # tiled or cut to the target
            interferer *= rms(target) / rms(interferer) / 10 ** (sir / 20)
            mixture = target + interferer
            gain = min(1.0, 0.9 / (float(np.abs(mixture).max()) + 1e-9))
            name = f"{len(table):03d}"
            for key, sig in (("mix", mixture), ("ref", target), ("enr", enroll)):
                sf.write(dev / f"{name}-{key}.wav", sig * (gain if key != "enr" else 1.0), SR)
            table.append([f"{name}-mix.wav", f"{name}-ref.wav", f"{name}-enr.wav", speaker,
                          f"{sir:.2f}"])  # fmt: skip
    with open(dev / "extract-other-recording.tsv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["input", "reference", "enrollment", "target", "sir_db"])
        writer.writerows(table)
    (args.out / "sources.json").write_text(json.dumps(sources, indent=2) + "\n")
    voices_in = sorted({s for _, s, _ in train})
    print(f"training view: {len(train)} prompts, voices {', '.join(voices_in)}")
    print(f"dev: {len(table)} mixtures with other-recording enrollment in {dev}")


if __name__ == "__main__":
    main()
