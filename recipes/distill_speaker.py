"""Pre-train an extractor's speaker net by distilling a pretrained speaker encoder into it.

Our corpus has few speakers with one utterance each, so the speaker net trained by AAM-softmax
alone generalises poorly. This recipe teaches it the embedding space of resemblyzer's GE2E
encoder (Apache-2.0; its weights ship inside its wheel and it runs offline). resemblyzer is used
ONLY here, at training time: the result is an ordinary puresound checkpoint, and the shipped
model never imports it. Install it in a separate environment, not in the project's .venv:

    python3 -m venv /tmp/rz && /tmp/rz/bin/pip install torch==2.13.0 soundfile soxr librosa \
        webrtcvad-wheels && /tmp/rz/bin/pip install --no-deps resemblyzer && \
        /tmp/rz/bin/pip install --no-deps -e .

Then, from the repo root (after recipes/prepare_data.py):

    /tmp/rz/bin/python recipes/distill_speaker.py --out runs/distilled.pt --steps 800
    (then recipes/warm_start.py and puresound train --config recipes/extract.toml, see
    recipes/README.md)

Each step draws random 1.5-4 s crops of the training speech (never a held-out speaker), embeds
them with the teacher (two 1.6 s windows per crop), and trains the student speaker net plus a
linear map to the teacher's 256 dimensions on 1 - cosine similarity. The separator weights of
--init (if given) are carried over unchanged.

Channel robustness (``--degrade P``): with probability P the student hears a degraded copy of
the crop (a room response, noise from --noise folders or coloured noise at 0-25 dB SNR, a
telephone channel: 300-3400 Hz with mu-law, A-law or GSM at 8 kHz, or an 8 kHz band limit, and a
random level) while the teacher hears the clean crop, so that the embedding follows the voice
and not the channel. The run writes ``--out`` and a resumable ``--out``.state.pt every
--save-every steps; rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from puresound_cli.audio import read_audio, resample
from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from puresound_cli.losses import AAMSoftmax
from puresound_cli.nets import ExtractorConfig, build

SR = 16000
PARTIAL = 160  # frames of one teacher window (1.6 s)


def load_speech(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    with open(folder / "speakers.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    wavs, speakers = [], []
    for r in rows:
        wav, sr, _ = read_audio(Path(folder, r["path"]))
        wav = resample(wav.mean(axis=0, keepdims=True), sr, SR)[0]
        if len(wav) >= 2 * SR:
            wavs.append(wav)
            speakers.append(r["speaker"])
    return wavs, speakers


def crops(
    wavs: list[np.ndarray],
    n: int,
    seconds: float,
    rng: np.random.Generator,
    picks: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` random crops of ``seconds``, from random files or from the files ``picks``."""
    length = int(seconds * SR)
    out = np.empty((n, length), dtype=np.float32)
    for i in range(n):
        wav = wavs[int(rng.integers(len(wavs))) if picks is None else int(picks[i])]
        if len(wav) < length:
            wav = np.tile(wav, length // len(wav) + 1)
        start = int(rng.integers(0, len(wav) - length + 1))
        crop = wav[start : start + length]
        out[i] = crop / (np.abs(crop).max() + 1e-6) * rng.uniform(0.1, 0.9)
    return out


def telephone_band(x: np.ndarray) -> np.ndarray:
    """300-3400 Hz band pass (FFT mask with 100 Hz raised-cosine edges), same length."""
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    low = np.clip((freqs - 250) / 100, 0, 1)
    high = np.clip((3450 - freqs) / 100, 0, 1)
    mask = np.sin(0.5 * np.pi * low) ** 2 * np.sin(0.5 * np.pi * high) ** 2
    return np.fft.irfft(spec * mask, x.size).astype(np.float32)


def degrade(
    x: np.ndarray, rng: np.random.Generator, noises: list[np.ndarray], rirs: list[np.ndarray]
) -> np.ndarray:
    """A copy of ``x`` through a random channel: room, noise, telephone or 8 kHz band, level."""
    from puresound_cli.data.signals import (
        CODECS,
        band_limit,
        colored_noise,
        convolve,
        fit,
        rms,
        telephone_codec,
    )

    y = x.astype(np.float32)
    if rirs and rng.random() < 0.4:
        y = convolve(y, rirs[int(rng.integers(len(rirs)))])
    if rng.random() < 0.5:
        use_file = noises and rng.random() < 0.7
        noise = fit(noises[int(rng.integers(len(noises)))], y.size, rng) if use_file else None
        noise = colored_noise(y.size, rng) if noise is None else noise
        snr = rng.uniform(0.0, 25.0)
        y = y + noise * (rms(y) / rms(noise) / 10 ** (snr / 20))
    channel = rng.random()
    y = y / (np.abs(y).max() + 1e-6) * 0.5
    if channel < 0.45:  # telephone: band pass and a codec
        y = telephone_band(y)
        y = telephone_codec(y, SR, CODECS[int(rng.integers(len(CODECS)))])
    elif channel < 0.65:
        y = band_limit(y, SR, 8000)
    return (y / (np.abs(y).max() + 1e-6) * rng.uniform(0.05, 0.9)).astype(np.float32)


def teacher_embed(teacher, batch: np.ndarray) -> torch.Tensor:
    """GE2E embeddings of (n, samples) crops: the mean of two 1.6 s windows (start and end)."""
    from resemblyzer.audio import wav_to_mel_spectrogram

    windows = []
    for wav in batch:
        mel = wav_to_mel_spectrogram(wav)  # (frames, 40) at 100 frames/s
        if len(mel) < PARTIAL:
            mel = np.pad(mel, ((0, PARTIAL - len(mel)), (0, 0)))
        windows += [mel[:PARTIAL], mel[-PARTIAL:]]
    with torch.no_grad():
        partial = teacher(torch.from_numpy(np.stack(windows)))  # (2n, 256), unit norm
    return F.normalize(partial.view(len(batch), 2, -1).mean(dim=1), dim=1)  # (n, 256)


def pick_by_voice(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` file indices: a voice drawn uniformly, then one of its files (so that a voice with
    thousands of files and one with a single file are drawn alike)."""
    return one_file_each(labels, rng.integers(int(labels.max()) + 1, size=n), rng)


def one_file_each(labels: np.ndarray, voices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A file index of each voice in ``voices``, drawn among that voice's files."""
    return np.array([rng.choice(np.flatnonzero(labels == v)) for v in voices])


def paired_picks(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` file indices, two by two of one voice (each a file of it drawn on its own: two
    recordings where the voice has several, else two crops of one); an odd ``n`` ends alone."""
    voices = np.repeat(rng.integers(int(labels.max()) + 1, size=(n + 1) // 2), 2)[:n]
    return one_file_each(labels, voices, rng)


def relational_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """1 - the correlation of the two cosine matrices over the distinct pairs of the batch: the
    student's cosines rank pairs as the teacher's do, on a scale of their own (its cosines
    between voices sit lower than GE2E's, a wider spread that verification does not lose)."""
    s = F.normalize(student, dim=1)
    off = ~torch.eye(len(s), dtype=torch.bool)
    s = (s @ s.T)[off]
    t = (teacher @ teacher.T)[off]  # teacher embeddings are unit vectors
    s, t = s - s.mean(), t - t.mean()
    return 1 - (s * t).sum() / (s.norm() * t.norm() + 1e-8)


def fit_head(model, teacher, wavs: list[np.ndarray], n: int, rng: np.random.Generator):  # noqa: ANN001, ANN201
    """A linear map from the student's embedding to the teacher's, fitted by least squares on
    ``n`` clean crops (a fresh head, trained by gradient, first drags the student towards it)."""
    student, target = [], []
    model.eval()  # running statistics stay as they are
    with torch.no_grad():
        for _ in range(0, n, 32):
            x = crops(wavs, 32, float(rng.uniform(1.5, 4.0)), rng)
            student.append(model.embed(torch.from_numpy(x).unsqueeze(1)))
            target.append(teacher_embed(teacher, x))
    a = torch.cat(student)
    a = torch.cat([a, torch.ones(len(a), 1)], dim=1)
    b = torch.cat(target)
    ridge = 1e-3 * torch.eye(a.shape[1])
    w = torch.linalg.solve(a.T @ a + ridge, a.T @ b)  # (D + 1, 256)
    head = torch.nn.Linear(model.embed_dim, 256)
    with torch.no_grad():
        head.weight.copy_(w[:-1].T)
        head.bias.copy_(w[-1])
        fitted = F.cosine_similarity(a @ w, b, dim=1).mean().item()
    print(f"head fitted on {len(a)} crops: cosine {fitted:.4f}", flush=True)
    model.train()
    return head


def load_noises(folders: list[Path]) -> list[np.ndarray]:
    from puresound_cli.data.noise import audio_files_below

    out = []
    for path in (p for f in folders for p in audio_files_below(f)):
        wav, sr, _ = read_audio(path)
        out.append(resample(wav.mean(axis=0, keepdims=True), sr, SR)[0])
    return out


def main() -> None:
    from resemblyzer import VoiceEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, nargs="+", default=[Path("runs/data/train-speech")])
    parser.add_argument("--noise", type=Path, nargs="*", default=[])
    parser.add_argument(
        "--init",
        type=Path,
        help="an extractor checkpoint (default: a fresh ExtractorConfig.small())",
    )
    parser.add_argument(
        "--head-from",
        type=Path,
        help="another run's .state.pt: its projection head (and student) continue here, with a "
        "fresh optimizer and schedule (use with --init of the same run's output)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--degrade", type=float, default=0.0, help="share of degraded crops")
    parser.add_argument("--rirs", type=int, default=200, help="simulated rooms (with --degrade)")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--aam", type=float, default=0.0,
        help="weight of a speaker-classification term (AAM softmax over the voices of --speech, "
        "on the student's embedding of what it hears); crops are then drawn voice by voice",
    )  # fmt: skip
    parser.add_argument("--aam-margin", type=float, default=0.2)
    parser.add_argument(
        "--relational", type=float, default=0.0,
        help="weight of a relational term: the student's own cosines between the crops of a "
        "batch (its raw embedding, the space the tracker scores in) matched to the teacher's; "
        "crops are then drawn in pairs of one voice, so that half the pairs share a voice",
    )  # fmt: skip
    parser.add_argument(
        "--fit-head", type=int, default=0,
        help="fit a fresh projection head by least squares on this many clean crops first",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    if args.init is None:
        ckpt: dict = {"meta": {}}
        model = build("extractor", dataclasses.asdict(ExtractorConfig.small()))
    else:
        ckpt = load_checkpoint(args.init)
        model = model_from_checkpoint(ckpt)
    if model.task != "extract":
        raise SystemExit(f"{args.init} is not an extraction model")
    teacher = VoiceEncoder("cpu", verbose=False)
    wavs, speakers = [], []
    for folder in args.speech:
        w, s = load_speech(folder)
        wavs += w
        speakers += [f"{folder}:{v}" for v in s]  # the same name in two folders: two voices
    voices = sorted(set(speakers))
    labels = np.array([voices.index(v) for v in speakers])
    print(f"{len(wavs)} files, {len(voices)} speakers", flush=True)
    noises = load_noises(args.noise) if args.degrade else []
    rirs = []
    if args.degrade and args.rirs:
        from puresound_cli.data.noise import rir_bank

        rirs = rir_bank(args.rirs, SR, "runs/cache", seed=args.seed)

    student = model.speaker
    student.train()
    head = torch.nn.Linear(model.embed_dim, 256)
    state_path = args.out.with_suffix(".state.pt")
    if args.fit_head and not args.head_from and not state_path.is_file():  # not when resuming
        head = fit_head(model, teacher, wavs, args.fit_head, np.random.default_rng(args.seed + 1))
    classifier = AAMSoftmax(model.embed_dim, len(voices), margin=args.aam_margin)
    params = list(student.parameters()) + list(head.parameters())
    params += list(classifier.parameters()) if args.aam else []
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps)
    probe_rng = np.random.default_rng(123)
    probe = crops(wavs, 64, 3.0, probe_rng)
    probe_degraded = np.stack([degrade(x, probe_rng, noises, rirs) for x in probe])
    with torch.no_grad():
        probe_target = teacher_embed(teacher, probe)
    first = 1
    if args.head_from and not state_path.is_file():  # continue another run's student and head
        earlier = torch.load(args.head_from, weights_only=False, map_location="cpu")
        student.load_state_dict(earlier["student"])
        head.load_state_dict(earlier["head"])
        print(f"student and head from {args.head_from} (step {earlier['step']})", flush=True)
    if state_path.is_file():  # resume
        state = torch.load(state_path, weights_only=False, map_location="cpu")
        student.load_state_dict(state["student"])
        head.load_state_dict(state["head"])
        if "classifier" in state:
            classifier.load_state_dict(state["classifier"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        rng = state["rng"]
        first = state["step"] + 1
        print(f"resumed at step {first}", flush=True)

    def probe_cosines() -> tuple[float, float]:
        student.eval()
        with torch.no_grad():
            out = []
            for x in (probe, probe_degraded):
                pred = head(model.embed(torch.from_numpy(x).unsqueeze(1)))
                out.append(F.cosine_similarity(pred, probe_target, dim=1).mean().item())
        student.train()
        return out[0], out[1]

    def save(step: int, cosines: tuple[float, float]) -> None:
        model.eval()
        meta = dict(ckpt.get("meta") or {})
        meta["speaker_distillation"] = {
            "teacher": "resemblyzer 0.1.4 VoiceEncoder (GE2E, Apache-2.0)",
            "steps": step,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "degrade": args.degrade,
            "aam": args.aam,
            "aam_margin": args.aam_margin,
            "relational": args.relational,
            "voices": len(voices),
            "speech": [str(f) for f in args.speech],
            "noise": [str(f) for f in args.noise],
            "probe_cosine": cosines[0],
            "probe_cosine_degraded": cosines[1],
        }
        save_checkpoint(args.out, model, meta=meta)
        state = {"student": student.state_dict(), "head": head.state_dict(), "step": step,
                 "classifier": classifier.state_dict(),
                 "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                 "rng": rng}  # fmt: skip
        torch.save(state, state_path.with_suffix(".tmp"))
        state_path.with_suffix(".tmp").replace(state_path)
        model.train()
        student.train()

    start = time.time()
    cosines = probe_cosines()
    for step in range(first, args.steps + 1):
        picks = pick_by_voice(labels, args.batch_size, rng) if args.aam else None
        if args.relational:
            picks = paired_picks(labels, args.batch_size, rng)
        clean = crops(wavs, args.batch_size, float(rng.uniform(1.5, 4.0)), rng, picks)
        target = teacher_embed(teacher, clean)
        heard = np.stack([degrade(x, rng, noises, rirs) if rng.random() < args.degrade else x
                          for x in clean])  # fmt: skip
        embedding = model.embed(torch.from_numpy(heard).unsqueeze(1))  # (B, D)
        loss = (1 - F.cosine_similarity(head(embedding), target, dim=1)).mean()
        if args.aam:
            assert picks is not None
            loss = loss + args.aam * classifier(embedding, torch.from_numpy(labels[picks]))
        if args.relational:
            loss = loss + args.relational * relational_loss(embedding, target)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == args.steps:
            cosines = probe_cosines()
            print(
                f"step {step} loss {loss.item():.4f} probe cosine {cosines[0]:.4f} "
                f"degraded {cosines[1]:.4f} ({time.time() - start:.0f} s)",
                flush=True,
            )
        if step % args.save_every == 0 or step == args.steps:
            save(step, cosines)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
