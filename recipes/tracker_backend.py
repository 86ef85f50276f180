"""A linear back end for the tracking net: LDA on its window embeddings of the training voices.

The tracking net was distilled from a GE2E teacher; its embedding still carries the channel and
the words (a telephone call puts every voice near cosine 0.7 of a telephone enrollment). Classic
speaker verification removes such nuisance with a linear back end fitted on labelled voices:
centre the unit-length embeddings, then project them on the directions that spread voices apart
relative to how much one voice spreads across crops and channels (linear discriminant analysis,
the within-voice scatter whitened). This recipe:

1. embeds ``--per-voice`` random 1.5 s windows of every training voice (never a held-out one),
   half of them through a random degraded channel (the tracking net's own distillation
   degradations: room, noise, telephone band and codecs, 8 kHz band, level);
2. fits LDA for each of ``--dims``;
3. scores the calibration and dev conversations (recipes/conversations.py) window by window,
   raw and through each back end (with the tracker's enrollment adaptation), picks thresholds on
   the calibration set by the shipped rule (recipes/calibrate_tracker.py: the fewest others'
   windows open while --keep of the target's windows, alone and overlapped, stay open) and
   reports the share of windows open per class on both sets.

``--variants WEIGHT ROUNDS`` also tries a stronger enrollment adaptation and ``--smooth K`` the
raw score median-filtered over K windows, each through the same calibration and report;
``--per-channel`` picks the shipped score's thresholds on each channel's conversations alone.

    .venv/bin/python recipes/tracker_backend.py --out runs/backend \\
        --speech runs/data/train-speech runs/data/debian/speech --noise runs/data/train-noise

Writes OUT/train.npz, OUT/calib.npz and OUT/dev.npz (embeddings, reused on a rerun) and
OUT/backend-D.npz (mean and projection per dimension), and prints the table.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import calibrate_tracker
import numpy as np
import soundfile as sf
import torch

from puresound_cli import load_model
from puresound_cli.enrollment import embed_recording
from puresound_cli.nets.contract import ExtractionModel
from puresound_cli.tracking import TrackConfig, window_embeddings

SR = 16000


def unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


def training_windows(
    model: ExtractionModel,
    folders: list[Path],
    noise: list[Path],
    rooms: list[Path],
    per_voice: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings ``(n, D)`` of random windows of every training voice, and their voice."""
    import distill_speaker

    rng = np.random.default_rng(seed)
    wavs: list[np.ndarray] = []
    speakers: list[str] = []
    for folder in folders:
        w, s = distill_speaker.load_speech(folder)
        wavs += w
        speakers += s
    noises = distill_speaker.load_noises(noise)
    rirs = distill_speaker.load_noises(rooms)  # real room responses, as the enhancer's run
    by_voice: dict[str, list[np.ndarray]] = {}
    for wav, speaker in zip(wavs, speakers, strict=True):
        by_voice.setdefault(speaker, []).append(wav)
    length = int(1.5 * SR)
    embeddings, labels = [], []
    for v, (_, files) in enumerate(sorted(by_voice.items())):
        crops = distill_speaker.crops(files, per_voice, 1.5, rng)[:, :length]
        heard = np.stack([
            distill_speaker.degrade(x, rng, noises, rirs) if k % 2 else x
            for k, x in enumerate(crops)
        ])  # fmt: skip
        with torch.inference_mode():
            e = model.track_embed(torch.from_numpy(heard)[:, None]).numpy()
        embeddings.append(unit(e))
        labels += [v] * len(heard)
        if v % 50 == 0:
            print(f"voice {v + 1}/{len(by_voice)}", flush=True)
    return np.concatenate(embeddings).astype(np.float32), np.array(labels)


def lda(x: np.ndarray, y: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), projection (dims, D)): centred LDA with the within-voice scatter whitened."""
    mean = x.mean(axis=0)
    xc = x - mean
    voices = np.unique(y)
    means = np.stack([xc[y == v].mean(axis=0) for v in voices])
    within = sum(np.cov(xc[y == v].T, bias=True) for v in voices) / len(voices)
    between = np.cov(means.T, bias=True)
    within = within + 1e-4 * np.trace(within) / within.shape[0] * np.eye(within.shape[0])
    # the generalised problem between v = value * within v, through within = L L^T
    inverse = np.linalg.inv(np.linalg.cholesky(within))
    _, vectors = np.linalg.eigh(inverse @ between @ inverse.T)  # ascending values
    vectors = inverse.T @ vectors  # within-orthonormal: the within-voice scatter whitened
    return mean.astype(np.float32), vectors[:, ::-1][:, :dims].T.astype(np.float32)


def conversation_windows(model: ExtractionModel, listing: Path, config: TrackConfig) -> dict:
    """Unit window embeddings, frame labels and enrollment embeddings of a conversation list."""
    import window_scores

    rows = calibrate_tracker.read_rows(listing)
    windows, labels, items, enrolls = [], [], [], []
    for i, row in enumerate(rows):
        mix, rate = sf.read(listing.parent / row["input"], dtype="float32")
        assert rate == model.sample_rate
        w = window_embeddings(model, window_scores.at_level(mix), config).numpy()
        centres = (np.arange(len(w)) * config.hop_seconds * 100).astype(int)
        who = window_scores.labels(listing.parent / row["segments"], mix.size // 160 + 1)
        enr, enr_rate = sf.read(listing.parent / row["enrollment"], dtype="float32")
        e = embed_recording(model, enr[None], enr_rate, track=True).numpy()
        windows.append(w)
        labels.append(who[np.minimum(centres, who.size - 1)])
        items.append(np.full(len(w), i))
        enrolls.append(unit(e)[0])
    return {"windows": np.concatenate(windows), "labels": np.concatenate(labels),
            "items": np.concatenate(items), "enrolls": np.stack(enrolls)}  # fmt: skip


def score(
    data: dict,
    config: TrackConfig,
    backend: tuple[np.ndarray, np.ndarray] | None,
    weight: float = 1.0,
    rounds: int = 1,
) -> np.ndarray:
    """(3, n) rows (score, label, item) as recipes/calibrate_tracker.py reads them. The
    enrollment adaptation is the tracker's (``config.adapt_cosine``) with the recording's own
    mean given ``weight`` against the enrollment's 1 and repeated ``rounds`` times
    (1, 1: exactly :func:`puresound_cli.tracking.scores_of`)."""
    w, e = data["windows"], data["enrolls"]
    if backend is not None:
        mean, projection = backend
        w, e = (w - mean) @ projection.T, (e - mean) @ projection.T
    w, e = unit(w), unit(e)
    out = np.zeros(len(w), np.float32)
    for i in range(len(e)):
        mine = w[data["items"] == i]
        target = e[i]
        for _ in range(rounds if config.adapt_cosine is not None else 0):
            confident = mine @ target >= config.adapt_cosine
            if confident.sum() * config.hop_seconds < config.adapt_seconds:
                break
            target = unit(e[i] + weight * unit(mine[confident].mean(axis=0)))
        out[data["items"] == i] = mine @ target
    return np.stack([out, data["labels"].astype(np.float32), data["items"].astype(np.float32)])


def smoothed(scores: np.ndarray, k: int) -> np.ndarray:
    """``scores`` rows (score, label, item) with each recording's scores median-filtered over
    ``k`` windows (odd; the edges repeated); k 1: unchanged."""
    out = scores.copy()
    for item in np.unique(scores[2]):
        mine = scores[2] == item
        padded = np.pad(scores[0][mine], (k // 2, k // 2), mode="edge")
        out[0][mine] = np.median(np.lib.stride_tricks.sliding_window_view(padded, k), axis=1)
    return out


def channel_rows(scores: np.ndarray, rows: list[dict], channel: str) -> tuple[np.ndarray, list]:
    """The windows and rows of the conversations of one ``channel`` ("wide", "phone"), items
    renumbered."""
    keep = [i for i, row in enumerate(rows) if row["channel"] == channel]
    out = scores[:, np.isin(scores[2], keep)].copy()
    out[2] = np.searchsorted(keep, out[2])
    return out, [rows[i] for i in keep]


def pick(
    scores: np.ndarray, rows: list[dict], keep: float, keep_overlap: float
) -> tuple[TrackConfig, dict] | None:
    """recipes/calibrate_tracker.py's pick on this recipe's grid (from the scores' 2nd
    percentile, close 0, 0.05 or 0.1 below open)."""
    found = calibrate_tracker.pick(scores, rows, keep, keep_overlap, low_percentile=2.0,
                                   gaps=(0.0, 0.05, 0.1))  # fmt: skip
    return None if found is None else found[:2]


def cached(path: Path, make) -> dict:  # noqa: ANN001 - make: () -> dict of arrays
    if not path.exists():
        np.savez(path, **make())
    return dict(np.load(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="extract-convtasnet-16k")
    parser.add_argument("--speech", type=Path, nargs="+", required=True)
    parser.add_argument("--noise", type=Path, nargs="*", default=[])
    parser.add_argument("--rooms", type=Path, nargs="*", default=[Path("runs/data/rirs/train")])
    parser.add_argument("--per-voice", type=int, default=24)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--adapt", type=float, nargs="+", default=[0.8])
    parser.add_argument("--keep", type=float, default=0.9)
    parser.add_argument(
        "--variants",
        type=float,
        nargs=2,
        action="append",
        default=[],
        metavar=("WEIGHT", "ROUNDS"),
        help="also the raw score with a stronger adaptation (repeatable)",
    )
    parser.add_argument("--per-channel", action="store_true", help="also per-channel thresholds")
    parser.add_argument("--smooth", type=int, nargs="*", default=[],
                        help="also the raw score median-filtered over K windows (odd)")  # fmt: skip
    parser.add_argument(
        "--calib", type=Path, default=Path("runs/data/conversations-calib/conversations.tsv")
    )
    parser.add_argument(
        "--dev", type=Path, default=Path("runs/data/conversations/conversations.tsv")
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if any(k < 1 or k % 2 == 0 for k in args.smooth):
        parser.error("--smooth takes odd window counts")
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.model).eval()
    config = TrackConfig.for_model(model)

    def make_train() -> dict:
        x, y = training_windows(model, args.speech, args.noise, args.rooms, args.per_voice,
                                args.seed)  # fmt: skip
        return {"x": x, "y": y}

    train = cached(args.out / "train.npz", make_train)
    sets = {name: cached(args.out / f"{name}.npz",
                         lambda listing=listing: conversation_windows(model, listing, config))
            for name, listing in (("calib", args.calib), ("dev", args.dev))}  # fmt: skip
    rows = {"calib": calibrate_tracker.read_rows(args.calib),
            "dev": calibrate_tracker.read_rows(args.dev)}  # fmt: skip
    open_shares, report = calibrate_tracker.open_shares, calibrate_tracker.report
    print(f"{len(train['x'])} training windows, {len(np.unique(train['y']))} voices")
    backends: dict[str, tuple[np.ndarray, np.ndarray] | None] = {"raw": None}
    for dims in args.dims:
        backends[f"lda{dims}"] = lda(train["x"], train["y"], dims)
        np.savez(args.out / f"backend-{dims}.npz", mean=backends[f"lda{dims}"][0],
                 projection=backends[f"lda{dims}"][1])  # fmt: skip
    arms = [(name, b, adapt, 1.0, 1, 1) for name, b in backends.items() for adapt in args.adapt]
    arms += [("raw", None, 0.8, w, int(r), 1) for w, r in args.variants]
    arms += [("raw", None, 0.8, 1.0, 1, k) for k in args.smooth]
    for name, backend, adapt, weight, rounds, k in arms:
        tc = replace(config, adapt_cosine=adapt if adapt > 0 else None)
        calib, dev = (smoothed(score(sets[s], tc, backend, weight, rounds), k)
                      for s in ("calib", "dev"))  # fmt: skip
        found = pick(calib, rows["calib"], args.keep, args.keep)
        line = f"{name} adapt {adapt} weight {weight} rounds {rounds} median of {k}: "
        if found is None:
            print(line + f"no threshold keeps {args.keep:.0%}")
            continue
        chosen, shares = found
        shown = open_shares(dev, rows["dev"], chosen)
        line += f"open {chosen.open_cosine:.2f} close {chosen.close_cosine:.2f}\n"
        line += f"  calib {report(shares)}\n  dev   {report(shown)}\n  dev, best possible:"
        for overlap in (0.8, 0.9):  # thresholds chosen on the dev set itself: the score's limit
            limit = pick(dev, rows["dev"], args.keep, overlap)
            if limit is not None:
                line += f" {overlap:.0%} overlapped open: others {limit[1]['others']:.3f}, "
                line += f"absent {limit[1]['absent']:.3f};"
        print(line, flush=True)
    if args.per_channel:  # the shipped score, thresholds picked on each channel's calls alone
        calib, dev = (score(sets[s], config, None) for s in ("calib", "dev"))
        for channel in ("wide", "phone"):
            c_scores, c_rows = channel_rows(calib, rows["calib"], channel)
            d_scores, d_rows = channel_rows(dev, rows["dev"], channel)
            found = pick(c_scores, c_rows, args.keep, args.keep)
            if found is None:
                continue
            chosen, shares = found
            shown = open_shares(d_scores, d_rows, chosen)
            print(f"{channel}: open {chosen.open_cosine:.2f} close {chosen.close_cosine:.2f}\n"
                  f"  calib {report(shares)}\n  dev   {report(shown)}")  # fmt: skip


if __name__ == "__main__":
    main()
