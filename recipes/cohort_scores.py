"""Window embeddings of conversations and a cohort of training voices: is a normalised score a
better "is the enrolled voice talking?" than the raw cosine?

The tracker opens where a window's cosine with the enrollment passes one fixed threshold. Some
recordings make every voice look alike to the tracking net (a telephone channel, a noisy room):
there the other talkers score as high as the target does elsewhere. Score normalisation against
a cohort of other voices (as speaker verification does with S-norm) asks instead "does this
window match the enrollment better than it matches voices in general?".

This writes, for each conversation of a list (``recipes/conversations.py``), the enrollment's
tracking embedding (as ``extract`` computes it), the tracking embeddings of every window of the
mixture (at the separator's level), who talks at each window's centre (0 nobody, 1 the target,
2 others, 3 both), and the talkers' names; plus a cohort: windows of every training voice, clean
and through an 8 kHz band limit, each with its speaker (``--cohort-from`` reuses another dump's
cohort). ``--compare CALIB DEV`` then sets each scoring rule's threshold on the calibration dump
(at least 90 % of the target's windows open, alone and overlapped; per window, no hysteresis)
and prints the share of windows it opens on both dumps: the raw cosine (after the enrollment's
adaptation, as ``extract`` does), the cosine less the mean of its top-N cohort cosines, S-norm
against the cohort (the conversation's own talkers left out of it), and the cosine less the
best cosine with the recording's other voices (spherical k-means of its windows, the cluster
nearest the enrollment taken as the target's).

    python recipes/cohort_scores.py --list runs/data/conversations-calib/conversations.tsv \\
        --out runs/trk2/calib-emb.npz
    python recipes/cohort_scores.py --list runs/data/conversations/conversations.tsv \\
        --cohort-from runs/trk2/calib-emb.npz --out runs/trk2/dev-emb.npz
    python recipes/cohort_scores.py --compare runs/trk2/calib-emb.npz runs/trk2/dev-emb.npz
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from window_scores import HOP, at_level, labels, talkers

from puresound_cli.audio import read_audio, resample
from puresound_cli.data.signals import band_limit
from puresound_cli.separate import load_separator
from puresound_cli.tracking import TrackConfig, window_embeddings


def cohort(net, folders: list[Path], seconds: float, crops: int, seed: int):  # type: ignore[no-untyped-def]
    """(embeddings (C, D), speakers (C,), band-limited flags (C,)) of ``crops`` windows of each
    training voice, each clean and band-limited."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[Path]] = {}
    for folder in folders:
        with open(folder / "speakers.tsv", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                by_speaker.setdefault(row["speaker"], []).append(Path(folder, row["path"]))
    rate, width = net.sample_rate, int(seconds * net.sample_rate)
    windows, speakers, narrow = [], [], []
    for speaker in sorted(by_speaker):
        files = by_speaker[speaker]
        for _ in range(crops):
            wav, sr, _ = read_audio(files[int(rng.integers(len(files)))])
            wav = resample(wav.mean(axis=0, keepdims=True), sr, rate)[0]
            if wav.size < width:
                continue
            start = int(rng.integers(0, wav.size - width + 1))
            crop = wav[start : start + width].astype(np.float32)
            for limited in (False, True):
                windows.append(at_level(band_limit(crop, rate) if limited else crop))
                speakers.append(speaker)
                narrow.append(limited)
    embeddings = []
    with torch.inference_mode():
        for i in range(0, len(windows), 32):
            x = torch.from_numpy(np.stack(windows[i : i + 32]))[:, None]
            embeddings.append(torch.nn.functional.normalize(net.track_embed(x), dim=1))
    return torch.cat(embeddings).numpy(), np.array(speakers), np.array(narrow)


def load_dump(path: Path) -> list[dict[str, np.ndarray]]:
    """The conversations of a dump, each with the cohort less its own talkers."""
    d = np.load(path)
    cohort_e, speakers = d["cohort"], d["cohort_speakers"]
    items = []
    for i in range(int(d["items"])):
        keep = ~np.isin(speakers, d[f"talkers{i}"])
        items.append({"W": d[f"windows{i}"], "label": d[f"label{i}"], "e": d[f"enroll{i}"],
                      "C": cohort_e[keep]})  # fmt: skip
    return items


def adapted_scores(windows: np.ndarray, e: np.ndarray, adapt: float = 0.8) -> np.ndarray:
    """Window cosines after the enrollment's adaptation (``tracking.adapted``, 3 s at 0.2 s)."""
    s = windows @ e
    if (s >= adapt).sum() * 0.2 >= 3.0:
        own = windows[s >= adapt].mean(axis=0)
        e = e + own / np.linalg.norm(own)
        s = windows @ (e / np.linalg.norm(e))
    return s


def kmeans(w: np.ndarray, k: int, iters: int = 20) -> np.ndarray:
    """Unit centroids of a spherical k-means (k-means++ start, seed 0)."""
    rng = np.random.default_rng(0)
    c = [w[int(rng.integers(len(w)))]]
    for _ in range(k - 1):
        far = np.maximum(1 - np.max(w @ np.array(c).T, axis=1), 0) ** 2
        c.append(w[rng.choice(len(w), p=far / far.sum())])
    centres = np.array(c)
    for _ in range(iters):
        nearest = np.argmax(w @ centres.T, axis=1)
        for j in range(k):
            if (nearest == j).any():
                v = w[nearest == j].sum(axis=0)
                centres[j] = v / np.linalg.norm(v)
    return centres


def rule_scores(item: dict[str, np.ndarray], rule: str, n: int) -> np.ndarray:
    w, e, c = item["W"], item["e"], item["C"]
    s = adapted_scores(w, e)
    if rule == "raw":
        return s
    if rule == "clusters":  # less the best match among the recording's other voices
        centres = kmeans(w, n)
        others = np.delete(centres, int(np.argmax(centres @ e)), axis=0)
        return s - np.max(w @ others.T, axis=1)
    top_w = -np.sort(-(w @ c.T), axis=1)[:, :n]
    if rule == "margin":
        return s - top_w.mean(axis=1)
    top_e = -np.sort(-(c @ e))[:n]
    return 0.5 * ((s - top_e.mean()) / top_e.std() + (s - top_w.mean(1)) / top_w.std(1))


def compare(calibration: Path, dev: Path) -> None:
    sets = {"calibration": load_dump(calibration), "dev": load_dump(dev)}
    for rule, n in [("raw", 0), ("margin", 20), ("margin", 50), ("snorm", 20), ("snorm", 50),
                    ("clusters", 3), ("clusters", 6)]:  # fmt: skip
        threshold = None
        for name, items in sets.items():
            s = np.concatenate([rule_scores(item, rule, n) for item in items])
            lab = np.concatenate([item["label"] for item in items])
            absent = np.concatenate([np.full(item["label"].size, not (item["label"] & 1).any())
                                     for item in items])  # fmt: skip
            if threshold is None:
                threshold = min(np.quantile(s[lab == 1], 0.1), np.quantile(s[lab == 3], 0.1))
            opened = s >= threshold
            print(f"{rule} {n:3d} {name:11s} threshold {threshold:6.2f}: open target "
                  f"{opened[lab == 1].mean():.1%}, overlapped {opened[lab == 3].mean():.1%}, "
                  f"others {opened[lab == 2].mean():.1%}, "
                  f"target-absent talk {opened[absent & (lab > 0)].mean():.1%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, help="a conversation list")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("CALIB", "DEV"))
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--cohort-speech", type=Path, nargs="+",
        default=[Path("runs/data/train-speech"), Path("runs/data/debian/speech")],
    )  # fmt: skip
    parser.add_argument("--cohort-from", type=Path, help="reuse this dump's cohort")
    parser.add_argument("--crops", type=int, default=2, help="cohort windows per voice")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if args.list is None or args.out is None:
        parser.error("--list and --out (or --compare)")
    torch.set_num_threads(1)
    with open(args.list, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    folder = args.list.parent
    out: dict[str, np.ndarray] = {}
    for index, row in enumerate(rows):
        mix, rate = sf.read(folder / row["input"], dtype="float32")
        separator = load_separator("extract", args.model, folder / row["enrollment"], track=True)
        net, embedding = separator.extractor, separator.track_embedding
        assert net is not None and embedding is not None and rate == net.sample_rate
        config = TrackConfig.for_model(net)
        windows = window_embeddings(net, at_level(mix), config)
        who = labels(folder / row["segments"], mix.size // HOP + 1)
        centres = (np.arange(windows.shape[0]) * config.hop_seconds * 100).astype(int)
        out[f"windows{index}"] = windows.numpy()
        out[f"label{index}"] = who[np.minimum(centres, who.size - 1)]
        out[f"enroll{index}"] = torch.nn.functional.normalize(embedding.float(), dim=1).numpy()[0]
        out[f"talkers{index}"] = np.array(
            sorted(talkers(folder / row["segments"]) | {row["target"]})
        )
        print(f"{index + 1}/{len(rows)} {row['input']}", flush=True)
    if args.cohort_from:
        previous = np.load(args.cohort_from)
        for key in ("cohort", "cohort_speakers", "cohort_narrow"):
            out[key] = previous[key]
    else:
        e, s, n = cohort(net, args.cohort_speech, config.window_seconds, args.crops, seed=0)
        out.update(cohort=e, cohort_speakers=s, cohort_narrow=n)
    np.savez(args.out, items=np.array(len(rows)), **out)


if __name__ == "__main__":
    main()
