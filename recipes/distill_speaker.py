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


def crops(wavs: list[np.ndarray], n: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    length = int(seconds * SR)
    out = np.empty((n, length), dtype=np.float32)
    for i in range(n):
        wav = wavs[int(rng.integers(len(wavs)))]
        if len(wav) < length:
            wav = np.tile(wav, length // len(wav) + 1)
        start = int(rng.integers(0, len(wav) - length + 1))
        crop = wav[start : start + length]
        out[i] = crop / (np.abs(crop).max() + 1e-6) * rng.uniform(0.1, 0.9)
    return out


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


def main() -> None:
    from resemblyzer import VoiceEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, default=Path("runs/data/train-speech"))
    parser.add_argument(
        "--init",
        type=Path,
        help="an extractor checkpoint (default: a fresh ExtractorConfig.small())",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
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
    wavs, speakers = load_speech(args.speech)
    print(f"{len(wavs)} files, {len(set(speakers))} speakers", flush=True)

    student = model.speaker
    student.train()
    head = torch.nn.Linear(model.embed_dim, 256)
    params = list(student.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps)
    probe = torch.from_numpy(crops(wavs, 64, 3.0, np.random.default_rng(123)))
    with torch.no_grad():
        probe_target = teacher_embed(teacher, probe.numpy())

    start = time.time()
    for step in range(1, args.steps + 1):
        batch = crops(wavs, args.batch_size, float(rng.uniform(1.5, 4.0)), rng)
        target = teacher_embed(teacher, batch)
        pred = head(model.embed(torch.from_numpy(batch).unsqueeze(1)))  # (B, 256)
        loss = (1 - F.cosine_similarity(pred, target, dim=1)).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == args.steps:
            student.eval()
            with torch.no_grad():
                probe_pred = head(model.embed(probe.unsqueeze(1)))
                probe_cos = F.cosine_similarity(probe_pred, probe_target, dim=1).mean().item()
            student.train()
            print(
                f"step {step} loss {loss.item():.4f} probe cosine {probe_cos:.4f} "
                f"({time.time() - start:.0f} s)",
                flush=True,
            )
    model.eval()
    meta = dict(ckpt.get("meta") or {})
    meta["speaker_distillation"] = {
        "teacher": "resemblyzer 0.1.4 VoiceEncoder (GE2E, Apache-2.0)",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "speech": str(args.speech),
        "probe_cosine": probe_cos,
    }
    save_checkpoint(args.out, model, meta=meta)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
