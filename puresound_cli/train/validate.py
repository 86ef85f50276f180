"""Validation during training, and the release's output-level calibration."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from puresound_cli.losses import least_squares_gain
from puresound_cli.nets import ConvTasNet, Extractor, PersonalVAD


def validate(
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
    from puresound_cli.losses import as_mono_rows, energy_ratio_db, si_sdr

    if isinstance(model, PersonalVAD):
        return validate_vad(model, batches, device, distributed)

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
            est, ref, mix, present = as_mono_rows(est.float(), ref, mix, present)  # separation
            sums[0] += float(signal_loss(est, ref, present)) * mix.shape[0]
            sums[1] += mix.shape[0]
            if present.any():
                gain = si_sdr(est[present], ref[present]) - si_sdr(mix[present], ref[present])
                sums[2] += float(gain.sum())
                sums[3] += int(present.sum())
                gains = least_squares_gain(est[present], ref[present]).abs()
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


def validate_vad(
    vad: PersonalVAD, batches: list[dict[str, Any]], device: torch.device, distributed: bool
) -> dict[str, float]:
    """Personal VAD: binary cross-entropy and frame accuracy against the target's activity."""
    from puresound_cli.nets.pvad import frame_labels

    sums = torch.zeros(4, dtype=torch.float64)  # loss * frames, frames, correct, batches
    vad.eval()
    with torch.no_grad():
        for batch in batches:
            mix = batch["mixture"].to(device)
            logits = vad(mix, batch["enrollment"].to(device)).float()
            labels = frame_labels(batch["reference"].to(device), batch["present"].to(device),
                                  vad.hop, logits.shape[-1])  # fmt: skip
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
            sums[0] += float(loss)
            sums[1] += labels.numel()
            sums[2] += float(((logits > 0).float() == labels).sum())
    vad.train()
    if distributed:
        dist.all_reduce(sums)
    frames = max(float(sums[1]), 1.0)
    nan = float("nan")
    return {"loss": float(sums[0]) / frames, "si_sdri": nan, "absent_db": nan,
            "accuracy": float(sums[2]) / frames}  # fmt: skip


def calibrate_output_level(
    model: ConvTasNet | Extractor, batches: list[dict[str, Any]]
) -> tuple[ConvTasNet | Extractor, float, int]:
    """Set a model's output level so that speech keeps its input level.

    SI-SDR cannot see scale or sign, so a trained model's output level (even its polarity) is
    arbitrary. This takes the median least-squares gain ``<est, ref> / <est, est>`` over the
    target-present items of ``batches`` and folds it into the model's ``output_gain``.

    Returns:
        (the calibrated model in eval mode, the gain applied, the number of items used).
    """
    from puresound_cli.losses import as_mono_rows
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
            est, ref, mix, present = as_mono_rows(
                est.float(), ref, mix, batch["present"].to(device)
            )
            gains += least_squares_gain(est, ref)[present].tolist()
    gains = [
        g for g in gains if math.isfinite(g) and g != 0
    ]  # the sign is as arbitrary as the level
    gain = float(np.median(gains)) if gains else 1.0
    return with_output_gain(model, gain), gain, len(gains)


def write_release(
    release: Path,
    model: nn.Module,
    meta: dict[str, Any],
    best_path: Path,
    valid_batches: list[dict[str, Any]],
) -> None:
    """Write ``model.pt``: the best weights (``best_path`` when it exists, else ``model``) with
    the output level calibrated on the validation batches, and no optimizer state."""
    from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

    device = next(model.parameters()).device
    final: nn.Module = model
    final_meta = meta
    if best_path.is_file():
        best_ckpt = load_checkpoint(best_path)
        final, final_meta = model_from_checkpoint(best_ckpt).to(device), best_ckpt["meta"]
    if isinstance(final, ConvTasNet | Extractor):  # a VAD has no output level to calibrate
        final, gain, items = calibrate_output_level(final, valid_batches)
        final_meta = {**final_meta, "output_calibration": {"gain": gain, "items": items}}
    save_checkpoint(release, final, final_meta)
