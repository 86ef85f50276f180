"""The multi-task training objective: signal loss on the waveform plus speaker classification.

``loss = signal + speaker_weight * AAM-softmax(embedding) + spectral_weight * multi-resolution
STFT`` (the seed's multi-task loss, with an optional spectral term). Model and losses form one
module so that DistributedDataParallel synchronises every trained parameter, the AAM class
weights included.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from puresound_cli import losses
from puresound_cli.errors import PuresoundError
from puresound_cli.train.config import TrainConfig


def _set_sample_rate(cfg: dict[str, Any], sample_rate: int) -> dict[str, Any]:
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            value = _set_sample_rate(value, sample_rate)
        elif key == "sample_rate":
            value = sample_rate
        out[key] = value
    return out


ARCHS = {"extract": "extractor", "enhance": "convtasnet", "separate": "convtasnet", "vad": "pvad"}


def model_spec(config: TrainConfig) -> tuple[str, dict[str, Any]]:
    """(architecture name, architecture config dict) for a run.

    Raises:
        PuresoundError: a size the task's network has no preset for.
    """
    from puresound_cli.nets import ConvTasNetConfig, ExtractorConfig, PersonalVADConfig
    from puresound_cli.nets.maskers import BACKBONES
    from puresound_cli.nets.migrate import migrate

    arch = ARCHS[config.task]
    if config.model_config is not None:
        return arch, migrate(arch, dict(config.model_config))[0]
    cls: Any = {"extractor": ExtractorConfig, "pvad": PersonalVADConfig}.get(arch, ConvTasNetConfig)
    if not hasattr(cls, config.size):
        raise PuresoundError(f"the {config.task} network has no {config.size!r} size")
    net = getattr(cls, config.size)()
    if config.task != "vad":  # the VAD's detector keeps its own masker (a small gated TCN)
        frame = net.separator if config.task == "extract" else net
        try:
            frame = frame.with_masker(BACKBONES[config.backbone].name, config.size)
        except ValueError as exc:
            raise PuresoundError(f"--backbone {config.backbone}: {exc}") from exc
        if config.causal:
            frame = dataclasses.replace(frame, causal=True)
        net = dataclasses.replace(net, separator=frame) if config.task == "extract" else frame
    cfg = dataclasses.asdict(net)
    if config.task == "separate":
        cfg["sources"] = 2
    return arch, _set_sample_rate(cfg, config.sample_rate)


class Objective(nn.Module):
    """Model plus losses; ``forward(batch) -> (total loss, detached parts)``.

    For a separator (several outputs, references ``(B, S, T)``) the signal loss is the
    permutation-invariant SI-SDR (each item's outputs matched to its talkers the best way).

    Args:
        model: an enhancer (``model(mixture)``) or an extractor (``embed`` + ``separate``).
        speaker_loss: AAM-softmax over the training speakers, or None (enhance, or no speaker
            term).
        freeze_speaker: the speaker net embeds in eval mode without a gradient (and without a
            speaker loss: pass ``speaker_loss=None``).
        speaker_weight: weight (alpha) of the speaker loss.
        spectral_weight: weight of the multi-resolution STFT loss (0 disables it).
        absent_floor_db: where the target-absent term stops pushing the output down (dB below
            the mixture; see :class:`puresound_cli.losses.SignalLoss`).

    The batch is a dict of tensors (see :func:`puresound_cli.data.collate`): mixture and
    reference (B, 1, T), present (B,), and for extraction enrollment (B, 1, E) and speaker (B,).
    The losses are computed in float32 whatever autocast the caller runs the network under.
    """

    def __init__(
        self,
        model: nn.Module,
        speaker_loss: nn.Module | None = None,
        freeze_speaker: bool = False,
        speaker_weight: float = 1.0,
        spectral_weight: float = 0.0,
        absent_floor_db: float = -20.0,
        compressed_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.model: Any = model
        self.speaker_loss = speaker_loss
        self.freeze_speaker = freeze_speaker
        self.speaker_weight = speaker_weight
        self.spectral_weight = spectral_weight
        self.compressed_weight = compressed_weight
        self.signal_loss = losses.SignalLoss(absent_floor=10 ** (absent_floor_db / 10))

    def forward(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mixture = batch["mixture"]
        enrollment = batch.get("enrollment")
        emb = None
        if self.model.task == "vad":
            return self._vad_loss(batch)
        if enrollment is None:
            est = self.model(mixture)  # (B, 1, T)
        else:
            emb = self._embed(enrollment)  # (B, D)
            est = self.model.separate(mixture, emb)  # (B, 1, T)
        with torch.autocast(mixture.device.type, enabled=False):
            # separation: PIT-aligned talkers as rows, so the losses below are permutation-free
            est, ref, _, present = losses.as_mono_rows(
                est.float(), batch["reference"], mixture, batch["present"]
            )
            signal = self.signal_loss(est, ref, present)
            speaker = est.new_zeros(())
            if self.speaker_loss is not None and emb is not None:
                speaker = self.speaker_loss(emb.float(), batch["speaker"])
            total = signal + self.speaker_weight * speaker
            if (self.spectral_weight > 0 or self.compressed_weight > 0) and bool(present.any()):
                e, r = est[present], ref[present]
                if self.spectral_weight > 0:
                    total = total + self.spectral_weight * losses.stft_loss(e, r)
                if self.compressed_weight > 0:
                    total = total + self.compressed_weight * losses.compressed_spectral_loss(e, r)
        parts = {"signal_loss": signal.detach(), "speaker_loss": speaker.detach()}
        return total, parts

    def _embed(self, enrollment: torch.Tensor) -> torch.Tensor:
        """The speaker embedding; a frozen speaker net embeds in eval mode, without gradient."""
        if not self.freeze_speaker:
            return self.model.embed(enrollment)  # (B, D)
        self.model.speaker.eval()
        with torch.no_grad():
            return self.model.embed(enrollment)

    def _vad_loss(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Personal VAD: binary cross-entropy of the frame logits against the target's activity."""
        from puresound_cli.nets.pvad import frame_labels

        logits = self.model.frame_logits(batch["mixture"], self._embed(batch["enrollment"]))
        with torch.autocast(logits.device.type, enabled=False):
            labels = frame_labels(batch["reference"], batch["present"], self.model.hop,
                                  logits.shape[-1])  # fmt: skip
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels)
        return loss, {"signal_loss": loss.detach(), "speaker_loss": loss.new_zeros(())}


def build_objective(
    config: TrainConfig, n_speakers: int, device: torch.device
) -> tuple[Any, Objective, list[nn.Parameter]]:
    """(model, objective, trained parameters) of a run, on ``device``."""
    from puresound_cli.losses import AAMSoftmax
    from puresound_cli.nets import build

    arch, arch_config = model_spec(config)
    try:
        model: Any = build(arch, arch_config).to(device)
    except (TypeError, ValueError) as exc:
        raise PuresoundError(f"bad model config: {exc}") from exc
    if int(model.sample_rate) != config.sample_rate:
        raise PuresoundError(
            f"model_config runs at {model.sample_rate} Hz but sample_rate is {config.sample_rate}"
        )
    speaker_loss: nn.Module | None = None
    frozen = config.task in ("extract", "vad") and config.freeze_speaker
    if frozen:
        model.speaker.requires_grad_(False)
    if config.task == "extract" and config.speaker_loss_weight > 0 and not frozen:
        with torch.no_grad():
            probe = torch.zeros(1, 1, config.sample_rate, device=device)
            embed_dim = model.embed(probe).shape[-1]
        speaker_loss = AAMSoftmax(
            embed_dim, max(1, n_speakers), margin=config.aam_margin, scale=config.aam_scale
        ).to(device)
    objective = Objective(
        model,
        speaker_loss,
        frozen,
        config.speaker_loss_weight,
        config.spectral_loss_weight,
        config.absent_floor_db,
        config.compressed_loss_weight,
    )
    params = [p for p in objective.parameters() if p.requires_grad]
    return model, objective, params
