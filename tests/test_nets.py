"""Networks: exact lengths, mask kinds learn, conditioning matters, causality, sizes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from puresound_cli.nets import (
    ARCHITECTURES,
    ConvTasNet,
    ConvTasNetConfig,
    Extractor,
    ExtractorConfig,
    SpeakerNetConfig,
    build,
    count_parameters,
    flops_per_second,
)

LENGTHS = [1, 2, 17, 1001]
KINDS = [
    ("learned", "magnitude", "relu"),
    ("learned", "complex_polar", "none"),
    ("stft", "magnitude", "relu"),
    ("stft", "magnitude_reim", "sigmoid"),
    ("stft", "complex_reim", "none"),
    ("stft", "complex_polar", "none"),
]


def tiny(**changes: object) -> ConvTasNetConfig:
    base = ConvTasNetConfig.tiny()
    if changes.get("encoder") == "stft":
        changes.setdefault("window", 32)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("encoder", "kind", "constraint"), KINDS)
def test_exact_output_length(encoder: str, kind: str, constraint: str) -> None:
    model = ConvTasNet(tiny(encoder=encoder, mask_kind=kind, mask_constraint=constraint))
    for n in LENGTHS + [333]:
        out = model(torch.randn(2, 1, n))
        assert out.shape == (2, 1, n)
        assert model.valid_length(n) >= n


def test_extractor_lengths_and_api() -> None:
    model = Extractor(ExtractorConfig.tiny())
    assert model.task == "extract" and model.sample_rate == 16000
    for n in LENGTHS:
        emb = model.embed(torch.randn(2, 1, n))
        assert emb.shape == (2, 8)
        assert model.separate(torch.randn(2, 1, n), emb).shape == (2, 1, n)
        assert model(torch.randn(2, 1, n), torch.randn(2, 1, 50)).shape == (2, 1, n)


def test_build_round_trip() -> None:
    assert set(ARCHITECTURES) == {"convtasnet", "extractor"}
    cfg = ExtractorConfig.tiny()
    model = build("extractor", dataclasses.asdict(cfg))
    assert isinstance(model, Extractor) and model.config == cfg
    enh = build("convtasnet", dataclasses.asdict(ConvTasNetConfig.tiny()))
    assert isinstance(enh, ConvTasNet) and enh.task == "enhance"
    with pytest.raises(ValueError, match="unknown architecture"):
        build("unet", {})
    with pytest.raises(ValueError, match="unknown ConvTasNetConfig fields"):
        build("convtasnet", {"colour": 1})


def test_different_embeddings_give_different_outputs() -> None:
    model = ConvTasNet(ConvTasNetConfig.tiny(speaker_dim=8)).eval()
    mix = torch.randn(1, 1, 800)
    with torch.inference_mode():
        a = model(mix, torch.randn(1, 8))
        b = model(mix, torch.randn(1, 8))
    assert not torch.allclose(a, b)


def test_seed_parameter_count_within_two_percent() -> None:
    model = Extractor(ExtractorConfig.seed())
    assert abs(count_parameters(model) - 10_108_119) / 10_108_119 < 0.02


def test_flops_per_second_counts() -> None:
    model = ConvTasNet(ConvTasNetConfig.tiny())
    assert flops_per_second(model) > 0
    assert SpeakerNetConfig.tiny().embed_dim == ExtractorConfig.tiny().separator.speaker_dim
