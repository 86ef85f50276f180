"""Training: one frozen :class:`TrainConfig` and one readable :func:`train` loop.

``train(config)`` reads top to bottom: seed → data → model → optimizer/scheduler → resume →
loop (step, log, validation, checkpoint) → release checkpoint. It runs on one process or under
``torchrun`` (distributed data parallel: gloo on CPU, nccl on GPU; each rank draws its own shard of
the example stream; only rank 0 writes files).

A run folder holds ``last.pt`` (weights + optimizer, scheduler, RNG and step, written atomically
every ``checkpoint_every`` steps), ``best.pt`` (best validation loss), ``log.csv`` and, at the
end, ``model.pt``: the release checkpoint (best weights, output level calibrated on the
validation set, no optimizer state) that ``puresound extract/enhance --model RUN/model.pt``
accepts. Starting again on the same folder
continues from ``last.pt``: examples are a pure function of (seed, step), so a resumed run
follows the uninterrupted one.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from puresound_cli import data as D
from puresound_cli.errors import PuresoundError

log = logging.getLogger(__name__)

MODEL_SIZES = ("tiny", "small", "seed")
LOG_COLUMNS = (
    "step",
    "kind",
    "loss",
    "signal_loss",
    "speaker_loss",
    "lr",
    "si_sdri",
    "absent_db",
    "examples_per_s",
    "elapsed_s",
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; saved in every checkpoint as ``meta.train_config``.

    The ``puresound train`` options and the keys of ``--config FILE.toml`` are these field names
    (dashes for underscores on the command line).

    Attributes:
        task: "extract" (speaker net + conditioned masker) or "enhance" (masker only).
        speech_dirs: speech folders (``speakers.tsv`` or speaker-named subfolders), or folders of
            Kaldi-style lists (a ``wav2scp.txt``) with pre-made mixtures.
        noise_dirs: noise folders (synthetic coloured noise, hum and babble are added anyway).
        out: the run folder.
        model: size preset "tiny" | "small" | "seed" (the paper size).
        model_config: an explicit architecture config (``asdict`` of the nets' config) instead.
        sample_rate: the model rate; audio is resampled to it on load.
        batch_size: examples per step and rank.
        segment_seconds: example length.
        enroll_seconds: enrollment length (extract).
        max_steps: training steps.
        lr, weight_decay: AdamW settings.
        scheduler: "plateau" (halve the LR after ``plateau_patience`` validations without
            improvement) or "cosine" (cosine decay to 0 over ``max_steps`` after ``warmup_steps``).
        grad_clip: gradient norm clip (0 disables).
        speaker_loss_weight: weight (alpha) of the AAM-softmax speaker loss (extract).
        freeze_speaker: keep the speaker net as it starts (with ``init_from``, e.g. distilled):
            not trained, no speaker loss, its batch statistics fixed. Trained jointly from a
            separator that does not yet use it, the net drifts towards one embedding for every
            voice (measured: dev-speaker cosine 0.54 -> 0.98 in 900 steps).
        aam_margin, aam_scale: AAM-softmax margin and scale.
        spectral_loss_weight: weight of a multi-resolution STFT magnitude loss (0 disables).
        valid_every: steps between validations.
        valid_examples: size of the fixed validation set.
        valid_speakers: speakers held out for validation (default: ``valid_fraction`` of them).
        valid_fraction: share of speakers held out when ``valid_speakers`` is empty.
        checkpoint_every: steps between ``last.pt`` checkpoints.
        log_every: steps between training rows in ``log.csv``.
        early_stopping: stop after this many validations without improvement (0 disables).
        num_workers: DataLoader worker processes mixing examples (0 = in the training process).
        threads: torch CPU threads per process (0 = all cores, shared among ranks).
        seed: seeds weights, data stream and validation set.
        device: "auto" | "cpu" | "cuda" | "cuda:N" | "mps".
        amp: mixed precision on CUDA (bfloat16 where supported, else float16 with loss scaling).
        sir_db, snr_db: signal-to-interferer and signal-to-noise ranges in dB.
        noise_prob: chance of added noise (extract; enhance always adds noise).
        speed_prob: chance of speed perturbation per talker.
        absent_prob: share of target-absent examples.
        reverb_prob: chance of reverberation (needs ``rir_dirs`` or pyroomacoustics).
        rir_dirs: folders of impulse responses; without them RIRs are simulated once and cached.
        rir_count: size of the simulated RIR bank.
        rir_cache: cache folder of the simulated bank (default ``~/.cache/puresound``).
        min_seconds: files shorter than this are skipped.
        tensorboard: also log to ``RUN/tensorboard`` when tensorboard is installed.
        resume: continue from ``RUN/last.pt`` when it exists (else start afresh, overwriting).
        init_from: a checkpoint whose weights start a fresh run (fine-tuning a shipped model, or
            a pre-trained speaker net): every tensor whose name and shape match is copied, the
            rest keeps its initialisation. Ignored when the run resumes from ``RUN/last.pt``.
    """

    task: str = "extract"
    speech_dirs: tuple[str, ...] = ()
    noise_dirs: tuple[str, ...] = ()
    out: str = "runs/train"
    model: str = "small"
    model_config: dict[str, Any] | None = None
    sample_rate: int = 16000
    batch_size: int = 8
    segment_seconds: float = 4.0
    enroll_seconds: float = 3.0
    max_steps: int = 100_000
    lr: float = 1e-3
    weight_decay: float = 1e-2
    scheduler: str = "plateau"
    plateau_patience: int = 3
    warmup_steps: int = 0
    grad_clip: float = 5.0
    speaker_loss_weight: float = 1.0
    freeze_speaker: bool = False
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    spectral_loss_weight: float = 0.0
    valid_every: int = 500
    valid_examples: int = 64
    valid_speakers: tuple[str, ...] = ()
    valid_fraction: float = 0.05
    checkpoint_every: int = 200
    log_every: int = 20
    early_stopping: int = 10
    num_workers: int = 1
    threads: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    sir_db: tuple[float, float] = (-5.0, 5.0)
    snr_db: tuple[float, float] = (0.0, 15.0)
    noise_prob: float = 0.8
    speed_prob: float = 0.3
    absent_prob: float = 0.1
    reverb_prob: float = 0.0
    rir_dirs: tuple[str, ...] = ()
    rir_count: int = 200
    rir_cache: str = ""
    min_seconds: float = 1.0
    tensorboard: bool = True
    resume: bool = True
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.task not in ("extract", "enhance"):
            raise PuresoundError(f"task must be 'extract' or 'enhance', got {self.task!r}")
        if self.model_config is None and self.model not in MODEL_SIZES:
            raise PuresoundError(
                f"model must be one of {', '.join(MODEL_SIZES)}, got {self.model!r}"
            )
        if self.scheduler not in ("plateau", "cosine"):
            raise PuresoundError(f"scheduler must be 'plateau' or 'cosine', got {self.scheduler!r}")
        if not self.speech_dirs:
            raise PuresoundError("no speech folders given")
        for name in ("batch_size", "max_steps", "valid_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise PuresoundError(f"{name} must be at least 1")
        if self.segment_seconds <= 0 or self.enroll_seconds <= 0:
            raise PuresoundError("segment and enrollment lengths must be positive")


def config_from_dict(values: Mapping[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a mapping (a TOML table, CLI options), checking names.

    Lists become tuples; unknown keys raise :class:`PuresoundError`.
    """
    names = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise PuresoundError(f"unknown training option(s): {', '.join(unknown)}")
    clean = {}
    for key, value in values.items():
        if isinstance(value, list):
            value = tuple(str(v) if key.endswith("_dirs") else v for v in value)
        elif key.endswith("_dirs") and isinstance(value, (str, Path)):
            value = (str(value),)
        clean[key] = value
    return TrainConfig(**clean)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML file of training options (top level, or a ``[train]`` table)."""
    import tomllib

    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PuresoundError(f"cannot read config {path}: {exc}") from exc
    return dict(values.get("train", values))


@dataclass(frozen=True)
class TrainEvent:
    """What :func:`train` reports to an optional progress callback.

    Attributes:
        kind: "start" | "step" | "valid" | "end".
        step: steps done.
        max_steps: steps planned.
        metrics: numbers of this event (loss, lr, si_sdri, ...).
        message: a line of text (data summary at start, reason at the end).
    """

    kind: str
    step: int
    max_steps: int
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""


# ---------------------------------------------------------------------------------------------
# Pieces used by the loop
# ---------------------------------------------------------------------------------------------


def _set_sample_rate(cfg: dict[str, Any], sample_rate: int) -> dict[str, Any]:
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            value = _set_sample_rate(value, sample_rate)
        elif key == "sample_rate":
            value = sample_rate
        out[key] = value
    return out


def model_spec(config: TrainConfig) -> tuple[str, dict[str, Any]]:
    """(architecture name, architecture config dict) for a run."""
    from puresound_cli.nets import ConvTasNetConfig, ExtractorConfig

    arch = "extractor" if config.task == "extract" else "convtasnet"
    if config.model_config is not None:
        return arch, dict(config.model_config)
    cls = ExtractorConfig if config.task == "extract" else ConvTasNetConfig
    cfg = dataclasses.asdict(getattr(cls, config.model)())
    return arch, _set_sample_rate(cfg, config.sample_rate)


def stft_loss(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss: spectral convergence + log-magnitude L1 (3 resolutions).

    Shape:
        estimate, reference: (B, 1, T) -> scalar.
    """
    est, ref = estimate.flatten(1).float(), reference.flatten(1).float()
    total = est.new_zeros(())
    for n_fft in (512, 1024, 256):
        window = torch.hann_window(n_fft, device=est.device)
        hop = n_fft // 4
        e = torch.stft(est, n_fft, hop, window=window, return_complex=True)  # (B, F, frames)
        r = torch.stft(ref, n_fft, hop, window=window, return_complex=True)
        e, r = e.abs().clamp_min(1e-7), r.abs().clamp_min(1e-7)
        sc = torch.linalg.norm(r - e, dim=(1, 2)) / torch.linalg.norm(r, dim=(1, 2))
        total = total + sc.mean() + (e.log() - r.log()).abs().mean()
    return total / 3


def _rng_state() -> dict[str, Any]:
    np_state: Any = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(_tuples(state["python"]))
    name, key, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _init_weights(model: nn.Module, source: Mapping[str, torch.Tensor]) -> int:
    """Copy every tensor of ``source`` whose name and shape match into ``model``; return the count.

    Raises:
        PuresoundError: nothing matches (the checkpoint is for another architecture).
    """
    own = model.state_dict()
    matching = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise PuresoundError("init_from: no weight of that checkpoint fits this model")
    model.load_state_dict(matching, strict=False)
    return len(matching)


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise PuresoundError("CUDA requested but not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise PuresoundError("MPS requested but not available")
    return device


def _build_data(
    config: TrainConfig, report: D.DataReport, saved: Mapping[str, Any] | None = None
) -> tuple[Any, Any, dict[str, list[str]]]:
    """(training source, validation source, speaker split) for the configured folders.

    The split is ``{"train": class labels (sorted training speakers), "valid": held-out
    speakers}``; a resumed run passes the split saved in its checkpoint as ``saved``, so that
    its validation speakers stay held out (and the validation set the same) and the AAM-softmax
    class indices keep their meaning even when files were added or became unreadable. Speakers
    that are in neither saved list are not used.
    """
    saved_train = list(saved["train"]) if saved and saved.get("train") else None
    saved_valid = set(saved["valid"]) if saved and saved.get("valid") else None
    kaldi = [d for d in config.speech_dirs if D.is_kaldi_folder(d)]
    plain = [d for d in config.speech_dirs if not D.is_kaldi_folder(d)]
    if kaldi and plain:
        raise PuresoundError("mix either speech folders or Kaldi-style list folders, not both")
    if kaldi:
        entries = [e for d in kaldi for e in D.read_kaldi_lists(d, report)]
        named = sorted({e.speaker for e in entries if e.speaker})
        held = saved_valid if saved_valid is not None else set(config.valid_speakers)
        if not held and len(named) >= 3:  # hold out whole speakers, as for speech folders
            n = min(len(named) - 2, max(1, round(config.valid_fraction * len(named))))
            order = np.random.default_rng(config.seed).permutation(len(named))
            held = {named[i] for i in order[:n]}
        if not held:  # unknown speakers: hold out entries
            n = max(1, round(config.valid_fraction * len(entries)))
            order = np.random.default_rng(config.seed).permutation(len(entries))
            valid_keys = {entries[i].key for i in order[:n]}
            train_e = [e for e in entries if e.key not in valid_keys]
            valid_e = [e for e in entries if e.key in valid_keys]
        else:
            train_e = [e for e in entries if e.speaker not in held]
            valid_e = [e for e in entries if e.speaker in held]
        if saved_train is not None:
            train_e = [e for e in train_e if e.speaker in set(saved_train)]
        speakers = saved_train or sorted({e.speaker for e in train_e})
        if not train_e or not valid_e:
            raise PuresoundError("the lists leave no entries to train on or none to validate on")
        sources = [
            D.KaldiListSource(
                part,
                config.task,
                config.sample_rate,
                config.segment_seconds,
                config.enroll_seconds,
                seed=config.seed,
                speakers=speakers,
                stream=stream,
            )
            for stream, part in enumerate((train_e, valid_e))
        ]
        return sources[0], sources[1], {"train": speakers, "valid": sorted(held)}

    bank = D.load_speech(plain, config.sample_rate, config.min_seconds, report)
    if len(bank) == 0:
        raise PuresoundError(
            "no usable speech in " + ", ".join(map(str, plain)) + f" ({report.summary()})"
        )
    noise_report = D.DataReport()
    noises = D.load_noise(config.noise_dirs, config.sample_rate, noise_report)
    for reason, n in noise_report.skipped.items():
        report.skipped[reason] += n
    rirs: list[np.ndarray] = []
    if config.reverb_prob > 0:
        if config.rir_dirs:
            rirs = D.load_rirs(config.rir_dirs, config.sample_rate, report)
        else:
            cache = config.rir_cache or Path.home() / ".cache" / "puresound"
            rirs = D.rir_bank(config.rir_count, config.sample_rate, cache, config.seed)
    if saved_train is not None and saved_valid is not None:
        everyone = set(bank.speakers)
        train_spk, valid_spk = set(saved_train) & everyone, saved_valid & everyone
        unused = everyone - train_spk - valid_spk
        if unused:
            log.warning("%d speakers not in the resumed run's split are not used", len(unused))
        if not train_spk or not valid_spk:
            raise PuresoundError("the speakers of the run being resumed are no longer there")
        labels = saved_train
    else:
        train_spk, valid_spk = D.split_speakers(
            bank, config.valid_speakers, config.valid_fraction, config.seed
        )
        labels = sorted(train_spk)
    mix = D.MixConfig(
        task=config.task,
        segment_seconds=config.segment_seconds,
        enroll_seconds=config.enroll_seconds,
        sir_db=(float(config.sir_db[0]), float(config.sir_db[1])),
        snr_db=(float(config.snr_db[0]), float(config.snr_db[1])),
        noise_prob=config.noise_prob,
        speed_prob=config.speed_prob,
        reverb_prob=config.reverb_prob,
        absent_prob=config.absent_prob,
    )
    train_bank = bank.subset(train_spk)
    train_src = D.DynamicMixer(train_bank, noises, mix, config.seed, rirs, report, speakers=labels)
    # Validation: held-out speakers, no speed perturbation, its own random stream.
    valid_mix = dataclasses.replace(mix, speed_prob=0.0)
    valid_src = D.DynamicMixer(
        bank.subset(valid_spk) if len(valid_spk) >= 2 or config.task == "enhance" else bank,
        noises,
        valid_mix,
        config.seed,
        rirs,
        D.DataReport(),
        stream=1,
    )
    if len(valid_spk) < 2 and config.task == "extract":
        valid_src.targets = [s for s in valid_src.targets if s in valid_spk] or valid_src.targets
    return train_src, valid_src, {"train": list(labels), "valid": sorted(valid_spk)}


class _CsvLog:
    """Append-only CSV log that drops rows past ``start_step`` when a run resumes."""

    def __init__(self, path: Path, start_step: int) -> None:
        self.path = path
        rows: list[list[str]] = []
        if start_step > 0 and path.is_file():
            with open(path, newline="") as f:
                rows = [r for r in csv.reader(f)][1:]
            rows = [r for r in rows if r and r[0].isdigit() and int(r[0]) <= start_step]
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(LOG_COLUMNS)
            writer.writerows(rows)

    def write(self, **values: Any) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow(
                [
                    f"{values[c]:.6g}" if isinstance(values.get(c), float) else values.get(c, "")
                    for c in LOG_COLUMNS
                ]
            )


def _least_squares_gain(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per item of ``(batch, channels, time)``, the gain ``g`` minimising ``|g * est - ref|``."""
    return (est * ref).sum(dim=(1, 2)) / est.pow(2).sum(dim=(1, 2)).clamp_min(1e-12)


def _validate(
    model: nn.Module,
    batches: list[dict[str, Any]],
    signal_loss: Callable[..., torch.Tensor],
    device: torch.device,
    task: str,
    distributed: bool,
) -> dict[str, float]:
    """Validation loss, mean SI-SDR improvement (target present) and output level (absent).

    ``absent_db`` is the target-absent output level relative to the mixture as a released model
    would produce it: SI-SDR leaves the network's output level arbitrary, and the release scales
    it so that present speech keeps its level (:func:`calibrate_output_level`), so the level is
    measured after that scaling, here by the geometric mean of the present items'
    least-squares gains (without it, a network that is merely quiet overall would look good).
    """
    from puresound_cli.losses import energy_ratio_db, si_sdr

    # loss, n, sdri, n_present, absent_db, n_absent, sum of log10 |gain|, n gains
    sums = torch.zeros(8, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        for batch in batches:
            mix = batch["mixture"].to(device)
            ref = batch["reference"].to(device)
            present = batch["present"].to(device)
            if task == "extract":
                est = model(mix, batch["enrollment"].to(device))
            else:
                est = model(mix)
            est = est.float()
            sums[0] += float(signal_loss(est, ref, present)) * mix.shape[0]
            sums[1] += mix.shape[0]
            if present.any():
                gain = si_sdr(est[present], ref[present]) - si_sdr(mix[present], ref[present])
                sums[2] += float(gain.sum())
                sums[3] += int(present.sum())
                gains = _least_squares_gain(est[present], ref[present]).abs()
                ok = torch.isfinite(gains) & (gains > 0)
                sums[6] += float(torch.log10(gains[ok]).sum())
                sums[7] += int(ok.sum())
            if (~present).any():
                level = energy_ratio_db(est[~present], mix[~present])  # (n_absent,)
                sums[4] += float(level.sum())
                sums[5] += int((~present).sum())
    model.train()
    if distributed:
        dist.all_reduce(sums)
    total = sums.tolist()
    release_gain_db = 20 * total[6] / total[7] if total[7] else 0.0
    return {
        "loss": total[0] / max(total[1], 1.0),
        "si_sdri": total[2] / total[3] if total[3] else float("nan"),
        "absent_db": total[4] / total[5] + release_gain_db if total[5] else float("nan"),
    }


def calibrate_output_level(
    model: nn.Module, batches: list[dict[str, Any]]
) -> tuple[nn.Module, float, int]:
    """Set a model's output level so that speech keeps its input level.

    SI-SDR cannot see scale or sign, so a trained model's output level (even its polarity) is
    arbitrary. This takes the median least-squares gain ``<est, ref> / <est, est>`` over the
    target-present items of ``batches`` and folds it into the model's ``output_gain``.

    Returns:
        (the calibrated model in eval mode, the gain applied, the number of items used).
    """
    from puresound_cli.nets import with_output_gain

    device = next(model.parameters()).device
    gains: list[float] = []
    model.eval()
    with torch.no_grad():
        for batch in batches:
            mix, ref = batch["mixture"].to(device), batch["reference"].to(device)
            if "enrollment" in batch:
                est = model(mix, batch["enrollment"].to(device))
            else:
                est = model(mix)
            gains += _least_squares_gain(est.float(), ref)[batch["present"].to(device)].tolist()
    gains = [
        g for g in gains if math.isfinite(g) and g != 0
    ]  # the sign is as arbitrary as the level
    gain = float(np.median(gains)) if gains else 1.0
    return with_output_gain(model, gain), gain, len(gains)


class _Objective(nn.Module):
    """Model plus speaker loss as one module, so DDP syncs every trained parameter.

    ``forward(mixture, enrollment | None, labels) -> (estimate (B, 1, T), speaker loss scalar)``.
    With ``freeze_speaker`` the speaker net embeds in eval mode without a gradient.
    """

    def __init__(
        self, model: nn.Module, speaker_loss: nn.Module | None, freeze_speaker: bool = False
    ) -> None:
        super().__init__()
        self.model: Any = model
        self.speaker_loss = speaker_loss
        self.freeze_speaker = freeze_speaker

    def forward(
        self, mixture: torch.Tensor, enrollment: torch.Tensor | None, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if enrollment is None:
            return self.model(mixture), mixture.new_zeros(())
        if self.freeze_speaker:
            self.model.speaker.eval()
            with torch.no_grad():
                emb = self.model.embed(enrollment)  # (B, D)
        else:
            emb = self.model.embed(enrollment)  # (B, D)
        est = self.model.separate(mixture, emb)  # (B, 1, T)
        if self.speaker_loss is None:
            return est, mixture.new_zeros(())
        return est, self.speaker_loss(emb.float(), labels)


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


def train(config: TrainConfig, progress: Callable[[TrainEvent], None] | None = None) -> Path:
    """Train a model as configured and return the path of its release checkpoint.

    Args:
        config: the run's settings.
        progress: called with a :class:`TrainEvent` at start, after every step, after every
            validation and at the end (rank 0 only). The library itself never prints.

    Returns:
        ``RUN/model.pt``.

    Raises:
        PuresoundError: no usable data, bad options, a checkpoint that does not fit the config.
    """
    from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
    from puresound_cli.losses import AAMSoftmax, SignalLoss
    from puresound_cli.nets import build

    # -- processes, devices, seeds ------------------------------------------------------------
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    distributed = world_size > 1
    device = _device(config.device, local_rank)
    if distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    is_main = rank == 0
    emit = progress if (progress is not None and is_main) else (lambda event: None)
    random.seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    torch.manual_seed(config.seed)  # same initial weights on every rank
    run = Path(config.out)
    if is_main:
        run.mkdir(parents=True, exist_ok=True)
    last, best_path, release = run / "last.pt", run / "best.pt", run / "model.pt"
    ckpt = load_checkpoint(last) if config.resume and last.is_file() else None
    state = (ckpt.get("train_state") or {}) if ckpt is not None else {}

    # -- data ---------------------------------------------------------------------------------
    report = D.DataReport()
    train_src, valid_src, split = _build_data(config, report, state.get("speakers"))
    speakers = split["train"]
    valid_batches = D.validation_batches(
        valid_src, config.valid_examples, config.batch_size, rank, world_size
    )
    log.info("data: %s", report.summary())

    # -- model, losses ------------------------------------------------------------------------
    arch, arch_config = model_spec(config)
    try:
        model: Any = build(arch, arch_config).to(device)
    except (TypeError, ValueError) as exc:
        raise PuresoundError(f"bad model config: {exc}") from exc
    if int(model.sample_rate) != config.sample_rate:
        raise PuresoundError(
            f"model_config runs at {model.sample_rate} Hz but sample_rate is {config.sample_rate}"
        )
    signal_loss = SignalLoss()
    speaker_loss: nn.Module | None = None
    frozen = config.task == "extract" and config.freeze_speaker
    if frozen:
        model.speaker.requires_grad_(False)
    if config.task == "extract" and config.speaker_loss_weight > 0 and not frozen:
        with torch.no_grad():
            probe = torch.zeros(1, 1, config.sample_rate, device=device)
            embed_dim = model.embed(probe).shape[-1]
        speaker_loss = AAMSoftmax(
            embed_dim, max(1, len(speakers)), margin=config.aam_margin, scale=config.aam_scale
        ).to(device)
    objective: nn.Module = _Objective(model, speaker_loss, frozen)
    if distributed:
        objective = nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None
        )

    # -- optimizer, scheduler, mixed precision ------------------------------------------------
    params = [p for p in model.parameters() if p.requires_grad]
    if speaker_loss is not None:
        params += list(speaker_loss.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler: Any
    if config.scheduler == "cosine":

        def schedule(step: int) -> float:
            if step < config.warmup_steps:
                return (step + 1) / config.warmup_steps
            progress_ = (step - config.warmup_steps) / max(
                1, config.max_steps - config.warmup_steps
            )
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress_)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    else:
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=config.plateau_patience
        )
    use_amp = config.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    # -- resume, or start from another checkpoint's weights ------------------------------------
    step, best, bad_rounds = 0, math.inf, 0
    if config.init_from and not (config.resume and last.is_file()):
        copied = _init_weights(model, load_checkpoint(config.init_from)["state_dict"])
        log.info("init_from %s: %d of %d tensors copied", config.init_from, copied,
                 len(model.state_dict()))  # fmt: skip
    if ckpt is not None:
        if ckpt["arch"] != arch:
            raise PuresoundError(f"{last} holds a {ckpt['arch']} model, this run trains {arch}")
        try:
            model.load_state_dict(ckpt["state_dict"])
        except RuntimeError as exc:
            raise PuresoundError(f"{last} does not fit the configured model: {exc}") from exc
        if state:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            if speaker_loss is not None and state.get("speaker_loss"):
                speaker_loss.load_state_dict(state["speaker_loss"])
            _set_rng_state(state["rng"])
            step, best, bad_rounds = state["step"], state["best"], state["bad_rounds"]
        log.info("resumed %s at step %d", last, step)
    csv_log = _CsvLog(run / "log.csv", step) if is_main else None
    writer = None
    if config.tensorboard and is_main:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(run / "tensorboard"), purge_step=step or None)
        except ImportError:
            writer = None

    def meta(metrics: Mapping[str, float]) -> dict[str, Any]:
        return {
            "task": config.task,
            "train_config": dataclasses.asdict(config),
            "step": step,
            "metrics": dict(metrics),
            "speakers": len(speakers),
        }

    def save_last(metrics: Mapping[str, float]) -> None:
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "speaker_loss": speaker_loss.state_dict() if speaker_loss is not None else {},
            "rng": _rng_state(),
            "step": step,
            "best": best,
            "bad_rounds": bad_rounds,
            "speakers": split,
        }
        save_checkpoint(last, model, meta(metrics), train_state=state)

    # -- loop ---------------------------------------------------------------------------------
    stream = D.BatchStream(train_src, config.batch_size, step, rank, world_size)
    loader = iter(
        torch.utils.data.DataLoader(stream, batch_size=None, num_workers=config.num_workers)
    )
    emit(TrainEvent("start", step, config.max_steps, message=report.summary()))
    started, window_start, window_examples = time.time(), time.time(), 0
    valid_metrics: dict[str, float] = {}
    stop_reason = "max steps reached"
    bad_batches = 0
    objective.train()
    while step < config.max_steps:
        batch = next(loader)
        mix = batch["mixture"].to(device, non_blocking=True)
        ref = batch["reference"].to(device, non_blocking=True)
        present = batch["present"].to(device)
        enroll = batch["enrollment"].to(device) if config.task == "extract" else None
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            est, spk = objective(mix, enroll, batch["speaker"].to(device))
        est = est.float()
        sig = signal_loss(est, ref, present)
        loss = sig + config.speaker_loss_weight * spk.float()
        if config.spectral_loss_weight > 0 and present.any():
            loss = loss + config.spectral_loss_weight * stft_loss(est[present], ref[present])
        optimizer.zero_grad(set_to_none=True)
        # Skip a batch whose loss or gradients are not finite rather than corrupt the weights.
        # Under DDP every rank must take the same decision (a rank that skips the backward pass
        # alone would leave the others waiting in the gradient all-reduce forever).
        finite = torch.isfinite(loss.detach()).to(torch.float32)
        if distributed:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        ok = bool(finite.item())
        if ok:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # no-op without fp16 loss scaling
            max_norm = config.grad_clip if config.grad_clip > 0 else math.inf
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            # with loss scaling the scaler skips inf/NaN gradients itself (and lowers its scale);
            # the all-reduced gradients give every rank the same norm
            ok = scaler.is_enabled() or bool(torch.isfinite(norm))
            if ok:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.zero_grad(set_to_none=True)
        if config.scheduler == "cosine":
            scheduler.step()  # also for a skipped batch: the schedule follows the step count
        step += 1
        if ok:
            bad_batches = 0
            window_examples += mix.shape[0] * world_size
        else:
            bad_batches += 1
            log.warning("non-finite loss or gradients at step %d: batch skipped", step)
            if bad_batches >= 20:
                raise PuresoundError(
                    "loss or gradients not finite in 20 batches in a row; lower the learning rate"
                )

        # -- log ----------------------------------------------------------------------------
        lr = optimizer.param_groups[0]["lr"]
        metrics = {"loss": loss.item(), "signal_loss": sig.item(), "speaker_loss": spk.item()}
        emit(TrainEvent("step", step, config.max_steps, {**metrics, "lr": lr}))
        if ok and step % config.log_every == 0 and csv_log is not None:
            now = time.time()
            speed = window_examples / max(now - window_start, 1e-9)
            window_start, window_examples = now, 0
            csv_log.write(
                step=step,
                kind="train",
                lr=lr,
                examples_per_s=speed,
                elapsed_s=now - started,
                **metrics,
            )
            if writer is not None:
                for key, value in metrics.items():
                    writer.add_scalar(f"train/{key}", value, step)
                writer.add_scalar("train/lr", lr, step)

        # -- validation ---------------------------------------------------------------------
        stop = False
        if step % config.valid_every == 0 or step == config.max_steps:
            valid_metrics = _validate(
                model, valid_batches, signal_loss, device, config.task, distributed
            )
            if config.scheduler == "plateau":
                scheduler.step(valid_metrics["loss"])
            improved = valid_metrics["loss"] < best
            if improved:
                best, bad_rounds = valid_metrics["loss"], 0
                if is_main:
                    save_checkpoint(best_path, model, meta(valid_metrics))
            else:
                bad_rounds += 1
            if csv_log is not None:
                csv_log.write(
                    step=step,
                    kind="valid",
                    loss=valid_metrics["loss"],
                    lr=lr,
                    si_sdri=valid_metrics["si_sdri"],
                    absent_db=valid_metrics["absent_db"],
                    elapsed_s=time.time() - started,
                )
            if writer is not None:
                for key, value in valid_metrics.items():
                    writer.add_scalar(f"valid/{key}", value, step)
            emit(TrainEvent("valid", step, config.max_steps, dict(valid_metrics)))
            if config.early_stopping and bad_rounds >= config.early_stopping:
                stop, stop_reason = True, f"early stopping after {bad_rounds} validations"

        # -- checkpoint ---------------------------------------------------------------------
        if is_main and (step % config.checkpoint_every == 0 or step == config.max_steps or stop):
            save_last(valid_metrics)
        if stop:
            break
    del loader

    # -- release ------------------------------------------------------------------------------
    if distributed:
        dist.barrier()
    if is_main:
        final, final_meta = model, meta(valid_metrics)
        if best_path.is_file():
            best_ckpt = load_checkpoint(best_path)
            final, final_meta = model_from_checkpoint(best_ckpt).to(device), best_ckpt["meta"]
        final, gain, items = calibrate_output_level(final, valid_batches)
        final_meta = {**final_meta, "output_calibration": {"gain": gain, "items": items}}
        save_checkpoint(release, final, final_meta)
        if writer is not None:
            writer.close()
        emit(TrainEvent("end", step, config.max_steps, dict(valid_metrics), stop_reason))
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return release
