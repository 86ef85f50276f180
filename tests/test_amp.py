"""bfloat16 autocast: every encoder and mask kind runs under it, and the loss matches float32.

CPU autocast reproduces what failed on CUDA (``torch.complex`` refuses bfloat16 masks).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import synth_voice

from puresound_cli.losses import si_sdr
from puresound_cli.nets import ConvTasNet, ConvTasNetConfig, Extractor, ExtractorConfig

KINDS = [
    ("learned", "magnitude", "relu"),
    ("learned", "complex_polar", "none"),
    ("stft", "magnitude", "relu"),
    ("stft", "magnitude_reim", "sigmoid"),
    ("stft", "complex_reim", "none"),
    ("stft", "complex_polar", "none"),
]


@pytest.mark.parametrize(("encoder", "kind", "constraint"), KINDS)
def test_bf16_autocast_runs_and_matches_float32(encoder: str, kind: str, constraint: str) -> None:
    torch.manual_seed(0)
    config = dataclasses.replace(
        ConvTasNetConfig.tiny(), encoder=encoder, window=32, hop=16,
        mask_kind=kind, mask_constraint=constraint,
    )  # fmt: skip
    model = ConvTasNet(config)
    clean = torch.from_numpy(synth_voice(0.5, 140, seed=1))[None, None]
    noisy = clean + 0.1 * torch.randn_like(clean)
    with torch.no_grad():
        full = -si_sdr(model(noisy), clean).mean()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(noisy)
    assert out.shape == noisy.shape and torch.isfinite(out).all()
    half = -si_sdr(out.float(), clean).mean()
    half.backward()  # gradients flow through the autocast graph
    assert abs(half.item() - full.item()) < 0.5, (half.item(), full.item())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bf16_autocast_extractor() -> None:
    torch.manual_seed(0)
    model = Extractor(ExtractorConfig.small())
    mixture = torch.from_numpy(synth_voice(1.0, 120, seed=1) + synth_voice(1.0, 200, seed=2))
    enrollment = torch.from_numpy(synth_voice(1.0, 120, seed=3))[None, None]
    with torch.no_grad():
        full = model(mixture[None, None], enrollment)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(mixture[None, None], enrollment)
    assert torch.isfinite(half).all()
    agreement = float(si_sdr(half.float(), full))
    assert agreement > 15.0, agreement  # bfloat16 keeps about 3 significant digits
    assert np.isfinite(agreement)
