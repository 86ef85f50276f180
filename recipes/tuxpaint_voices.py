"""Narrated stamp descriptions from Debian's ``tuxpaint-stamps-default`` (GPL-2) as training
voices, labelled by voice: about 7,000 short readings in 14 languages by one or two narrators per
language.

File names say the language, not the narrator, and a wrong label poisons extraction training
(two "speakers" that are one voice become target and interferer). So every reading is embedded
with the shipped extractor's speaker net, each language's readings are split into two clusters
(cosine k-means) and kept as two narrators only when the clusters are clearly apart (centroid
cosine below ``--split-below``) and each holds at least 10 % of the readings; then narrators of
different languages whose centroids are closer than ``--merge-above`` are merged into one
speaker (one person reading two languages). The passage id is the stamp, the same in every
language, so a description and its translation are never target and interferer.

Usage (from the repo root):
    .venv/bin/python recipes/tuxpaint_voices.py --out runs/data/tuxpaint [--cache runs/debs]

Writes OUT/speech/speakers.tsv (absolute paths into the unpacked package), OUT/clusters.json
(per language: readings, narrators found, centroid cosines) and OUT/sources.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import debs
import numpy as np

PACKAGE = "tuxpaint-stamps-default"
LICENCE = "GPL-2 (Tux Paint stamps, New Breed Software and contributors)"
NAME = re.compile(r"^(?P<stamp>.+)_desc_(?P<lang>[a-z]{2}(_[A-Z]{2})?)\.ogg$")
MIN_SECONDS = 1.0


def unpack(cache: Path) -> tuple[Path, str]:
    deb = debs.download(PACKAGE, cache)
    root = debs.unpack(deb, cache / PACKAGE)
    return root / "usr/share/tuxpaint/stamps", debs.version(deb)


def two_means(x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-means with k = 2 on unit rows: (labels, centroids)."""
    rng = np.random.default_rng(seed)
    centroids = x[rng.choice(len(x), 2, replace=False)]
    labels = np.zeros(len(x), dtype=int)
    for _ in range(50):
        labels = np.argmax(x @ centroids.T, axis=1)
        new = np.stack([x[labels == k].mean(0) if (labels == k).any() else centroids[k]
                        for k in range(2)])  # fmt: skip
        new /= np.linalg.norm(new, axis=1, keepdims=True)
        if np.allclose(new, centroids):
            break
        centroids = new
    return labels, centroids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/data/tuxpaint"))
    parser.add_argument("--cache", type=Path, default=Path("runs/debs"))
    parser.add_argument("--split-below", type=float, default=0.6)
    parser.add_argument("--merge-above", type=float, default=0.85)
    args = parser.parse_args()
    from puresound_cli import load_model
    from puresound_cli.audio import read_audio
    from puresound_cli.enrollment import embed_speaker

    stamps, version = unpack(args.cache)
    model = load_model("extract-convtasnet-16k")
    by_lang: dict[str, list[tuple[Path, str, np.ndarray]]] = {}
    for path in sorted(stamps.rglob("*_desc_*.ogg")):
        match = NAME.match(path.name)
        if not match:
            continue
        try:
            wav, rate, _ = read_audio(path)
        except Exception:  # noqa: BLE001 - undecodable: left out
            continue
        if wav.shape[1] < MIN_SECONDS * rate:
            continue
        emb = embed_speaker(model, wav, rate)[0].numpy()
        stamp = path.relative_to(stamps).parent.as_posix() + "/" + match["stamp"]
        by_lang.setdefault(match["lang"], []).append((path, stamp, emb / np.linalg.norm(emb)))
    narrators: dict[str, np.ndarray] = {}  # narrator id -> centroid
    label: dict[Path, str] = {}
    report = {}
    for lang, items in sorted(by_lang.items()):
        x = np.stack([e for _, _, e in items])
        labels, centroids = two_means(x) if len(items) >= 20 else (np.zeros(len(items), int), x)
        share = np.bincount(labels, minlength=2) / len(items)
        apart = float(centroids[0] @ centroids[1]) if len(centroids) == 2 else 1.0
        split = len(items) >= 20 and apart < args.split_below and share.min() >= 0.1
        if not split:
            labels = np.zeros(len(items), int)
        for k in sorted(set(labels.tolist())):
            centre = x[labels == k].mean(0)
            narrators[f"{lang}-{k}"] = centre / np.linalg.norm(centre)
        for (path, _, _), k in zip(items, labels, strict=True):
            label[path] = f"{lang}-{k}"
        report[lang] = {"readings": len(items), "narrators": 2 if split else 1,
                        "centroid_cosine": round(apart, 3)}  # fmt: skip
    merged = {name: name for name in narrators}  # union of narrators with close centroids
    names = sorted(narrators)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if float(narrators[a] @ narrators[b]) > args.merge_above:
                merged[b] = merged[a]
    (args.out / "speech").mkdir(parents=True, exist_ok=True)
    with open(args.out / "speech" / "speakers.tsv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "speaker", "passage"])
        for items in by_lang.values():
            for path, stamp, _ in items:
                writer.writerow([str(path.resolve()), f"tuxpaint-{merged[label[path]]}",
                                 f"tuxpaint/{stamp}"])  # fmt: skip
    report["merged"] = {b: a for b, a in merged.items() if a != b}
    pairs = sorted(((float(narrators[a] @ narrators[b]), a, b) for i, a in enumerate(names)
                    for b in names[i + 1 :]), reverse=True)  # fmt: skip
    report["closest_narrators"] = [[round(c, 3), a, b] for c, a, b in pairs[:6]]
    (args.out / "clusters.json").write_text(json.dumps(report, indent=2) + "\n")
    sources = {PACKAGE: {"version": version, "licence": LICENCE}}
    (args.out / "sources.json").write_text(json.dumps(sources, indent=2) + "\n")
    speakers = sorted(set(merged.values()))
    print(f"{sum(len(v) for v in by_lang.values())} readings, {len(speakers)} speakers: "
          f"{', '.join(speakers)}")  # fmt: skip


if __name__ == "__main__":
    main()
