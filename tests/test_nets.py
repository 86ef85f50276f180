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
    assert set(ARCHITECTURES) == {"convtasnet", "extractor", "pvad"}
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


@pytest.mark.parametrize(("encoder", "kind", "constraint"), KINDS)
def test_each_mask_kind_learns_toy_masking(encoder: str, kind: str, constraint: str, voice, noise):
    from puresound_cli.losses import si_sdr

    target = torch.from_numpy(voice(0.25, 150.0, seed=1))[None, None].repeat(2, 1, 1)
    mixture = target + 2 * torch.from_numpy(noise(0.25, seed=2))[None, None]
    model = ConvTasNet(tiny(encoder=encoder, mask_kind=kind, mask_constraint=constraint))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = -si_sdr(model(mixture), target).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < losses[0] - 0.5, losses


@pytest.mark.parametrize("encoder", ["learned", "stft"])
def test_causal_model_ignores_the_future(encoder: str) -> None:
    def outputs(causal: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
        torch.manual_seed(0)
        cfg = tiny(encoder=encoder, causal=causal, mask_constraint="none", speaker_dim=8)
        model = ConvTasNet(cfg).eval()
        x = torch.randn(1, 1, 640)
        changed = x.clone()
        changed[..., 401:] = torch.randn(1, 1, 239)  # input after t = 400 changes
        emb = torch.randn(1, 8)
        with torch.inference_mode():
            return model(x, emb), model(changed, emb), 400 - model.lookahead_samples

    a, b, last = outputs(causal=True)
    assert last > 100
    torch.testing.assert_close(a[..., : last + 1], b[..., : last + 1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a[..., 500:], b[..., 500:])
    a, b, last = outputs(causal=False)  # gLN sees the whole signal: the same check must fail
    assert not torch.allclose(a[..., : last + 1], b[..., : last + 1], atol=1e-5, rtol=1e-5)


def test_receptive_field_lookahead_valid_length() -> None:
    seed = ConvTasNet(ConvTasNetConfig.seed())
    assert seed.receptive_field_samples == 2 * 3 * 255 * 16 + 32  # (P-1) R sum(2^x) hop + L
    assert seed.lookahead_samples == 2 * 3 * 255 // 2 * 16 + 31
    causal = ConvTasNet(dataclasses.replace(ConvTasNetConfig.seed(), causal=True))
    assert causal.lookahead_samples == 31
    for n in [1, 15, 16, 17, 32, 33, 1001]:
        v = seed.valid_length(n)
        assert v >= max(n, 32) and (v - 32) % 16 == 0 and v - 16 < max(n, 32)
        assert seed.valid_length(v) == v
    stft = ConvTasNet(tiny(encoder="stft"))
    assert stft.valid_length(9) == 16 and stft.valid_length(16) == 16


def test_film_conditioning() -> None:
    model = ConvTasNet(
        ConvTasNetConfig.tiny(speaker_dim=8).__class__(
            **{**dataclasses.asdict(ConvTasNetConfig.tiny(speaker_dim=8)), "conditioning": "film"}
        )
    ).eval()
    mix = torch.randn(1, 1, 500)
    with torch.inference_mode():
        a, b = model(mix, torch.randn(1, 8)), model(mix, torch.randn(1, 8))
    assert a.shape == (1, 1, 500) and not torch.allclose(a, b)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 2 * 2  # 2 repeats


@pytest.mark.parametrize("frontend", ["shared", "learned", "mel"])
def test_speaker_frontends(frontend: str) -> None:
    speaker = dataclasses.replace(
        SpeakerNetConfig.tiny(),
        frontend=frontend,
        encoder_channels=16,
        window=64 if frontend == "mel" else 16,
        hop=16,
        n_mels=12,
    )
    cfg = ExtractorConfig(ConvTasNetConfig.tiny(speaker_dim=8), speaker)
    model = Extractor(cfg).eval()
    with torch.inference_mode():
        e1 = model.embed(torch.randn(2, 1, 700))
        e2 = model.embed(torch.randn(2, 1, 3))
        out = model.separate(torch.randn(2, 1, 333), e1)
    assert e1.shape == e2.shape == (2, 8) and out.shape == (2, 1, 333)
    assert torch.isfinite(e1).all() and torch.isfinite(e2).all()
    assert (model.speaker.frontend is None) == (frontend == "shared")


def test_stft_exact_inverse_and_mel() -> None:
    from puresound_cli.nets.filterbanks import LogMel, STFTFilterbank, mel_matrix

    fb = STFTFilterbank(64, 16)
    for n in [1, 5, 64, 1001]:
        x = torch.randn(2, 1, n, dtype=torch.float64)
        torch.testing.assert_close(fb.decode(fb.encode(x), n), x)
    mel = mel_matrix(40, 512, 16000)
    assert mel.shape == (40, 257) and (mel >= 0).all() and (mel.sum(1) > 0).all()
    assert LogMel(16000, 400, 160, 40)(torch.randn(1, 1, 16000)).shape == (1, 40, 101)


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="needs encoder='stft'"):
        ConvTasNetConfig(mask_kind="complex_reim")
    with pytest.raises(ValueError, match="mask_constraint='none'"):
        ConvTasNetConfig(encoder="stft", mask_kind="complex_polar")
    with pytest.raises(ValueError, match="mask_kind"):
        ConvTasNetConfig(mask_kind="ideal")
    with pytest.raises(ValueError, match="speaker_dim"):
        ExtractorConfig(ConvTasNetConfig.tiny(speaker_dim=4), SpeakerNetConfig.tiny())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ConvTasNetConfig().hop = 3  # type: ignore[misc]
    model = ConvTasNet(ConvTasNetConfig.tiny(speaker_dim=8))
    with pytest.raises(ValueError, match=r"\(2, 100\)"):
        model(torch.zeros(2, 100), torch.zeros(2, 8))
    with pytest.raises(ValueError, match="embedding"):
        model(torch.zeros(2, 1, 100))
    with pytest.raises(ValueError, match=r"\(2, 7\)"):
        model(torch.zeros(2, 1, 100), torch.zeros(2, 7))


def test_small_config_is_cheap() -> None:
    assert flops_per_second(ConvTasNet(ConvTasNetConfig.small())) < 2.5e9
    assert count_parameters(ConvTasNet(ConvTasNetConfig.tiny())) < 50_000


def test_output_gain_scales_output_and_old_configs_load() -> None:
    base = ConvTasNet(ConvTasNetConfig.tiny()).eval()
    loud = ConvTasNet(dataclasses.replace(ConvTasNetConfig.tiny(), output_gain=3.5)).eval()
    loud.load_state_dict(base.state_dict())
    x = torch.randn(1, 1, 999)
    with torch.no_grad():
        assert torch.allclose(loud(x), 3.5 * base(x), atol=1e-6)
    older = dataclasses.asdict(ConvTasNetConfig.tiny())
    del older["output_gain"]  # a checkpoint written before the field existed
    assert build("convtasnet", older).config.output_gain == 1.0
    with pytest.raises(ValueError, match="output_gain"):
        ConvTasNetConfig(output_gain=0.0)


@pytest.mark.parametrize("conditioning", ["concat", "film"])
def test_embed_gain_scales_the_normalised_embedding(conditioning: str) -> None:
    """embed_gain g on the unit-norm embedding equals conditioning weights multiplied by g."""
    plain = dataclasses.replace(ConvTasNetConfig.tiny(speaker_dim=8), conditioning=conditioning)
    base = ConvTasNet(plain).eval()
    scaled = ConvTasNet(dataclasses.replace(plain, embed_gain=4.0)).eval()
    scaled.load_state_dict(base.state_dict())
    mix, emb = torch.randn(1, 1, 700), torch.randn(1, 8) * 50  # any norm: normalised first
    with torch.no_grad():
        before = base(mix, emb)
        assert not torch.allclose(scaled(mix, emb), before, atol=1e-4)
        state = base.state_dict()
        for name in state:
            if ".condition." in name:
                state[name] = state[name] * 4.0
        base.load_state_dict(state)
        torch.testing.assert_close(scaled(mix, emb), base(mix, emb))
    older = dataclasses.asdict(plain)
    del older["embed_gain"]  # a checkpoint written before the field existed
    assert build("convtasnet", older).config.embed_gain == 1.0
    assert ConvTasNetConfig.small(192).embed_gain == pytest.approx(192**0.5)
    assert ConvTasNetConfig.small().embed_gain == 1.0
    with pytest.raises(ValueError, match="embed_gain"):
        ConvTasNetConfig(embed_gain=0.0)
