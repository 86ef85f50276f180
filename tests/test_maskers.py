"""Every masker of the registry: length, training, causality, conditioning, checkpoints."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import reframe, synth_voice

from puresound_cli.losses import si_sdr
from puresound_cli.nets import ConvTasNet, ConvTasNetConfig, Extractor, ExtractorConfig, build
from puresound_cli.nets.maskers import MASKERS


def config_for(masker: str, **kw) -> ConvTasNetConfig:
    base = ConvTasNetConfig.tiny(kw.pop("speaker_dim", None))
    return reframe(base.with_masker(masker, "tiny"), **kw)


@pytest.mark.parametrize("masker", sorted(MASKERS))
def test_keeps_length_and_trains(masker: str) -> None:
    torch.manual_seed(0)
    model = ConvTasNet(config_for(masker))
    for length in (1, 17, 1001):
        assert model(torch.randn(2, 1, length)).shape == (2, 1, length)
    clean = torch.from_numpy(synth_voice(0.25, 150, seed=1))[None, None]
    noisy = clean + 0.3 * torch.randn_like(clean)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = -si_sdr(model(noisy), clean).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("masker", sorted(m for m, cls in MASKERS.items() if cls.causal_ok))
def test_causal_means_causal(masker: str) -> None:
    """Output before t does not change when the input after t (+ one window) changes."""
    torch.manual_seed(0)
    config = config_for(masker, causal=True)
    model = ConvTasNet(config).eval()
    x = torch.randn(1, 1, 2000)
    y = x.clone()
    cut = 1200
    y[..., cut:] = torch.randn(1, 1, 800)
    with torch.no_grad():
        a, b = model(x), model(y)
    keep = cut - config.window  # the encoder's one-window lookahead
    torch.testing.assert_close(a[..., :keep], b[..., :keep])
    assert not torch.allclose(a[..., cut:], b[..., cut:])
    assert model.lookahead_samples == config.window - 1


@pytest.mark.parametrize("masker", sorted(MASKERS))
@pytest.mark.parametrize("conditioning", ["film", "multiply"])
def test_conditioned_masker_follows_the_embedding(masker: str, conditioning: str) -> None:
    torch.manual_seed(0)
    base = ExtractorConfig.tiny()
    separator = config_for(  # no ReLU: a tiny random net can mask everything to zero
        masker, speaker_dim=base.speaker.embed_dim, conditioning=conditioning,
        mask_constraint="none",
    )  # fmt: skip
    model = Extractor(dataclasses.replace(base, separator=separator))
    with torch.no_grad():  # conditioning weights may start at zero: give them a value
        for name, p in model.named_parameters():
            if ".condition." in name or ".adapt." in name:
                p.normal_(0, 0.2)
    x = torch.randn(1, 1, 800)
    e1, e2 = torch.randn(1, model.embed_dim), torch.randn(1, model.embed_dim)
    with torch.no_grad():
        assert not torch.allclose(model.separate(x, e1), model.separate(x, e2), atol=1e-5)


@pytest.mark.parametrize("masker", sorted(MASKERS))
def test_two_talker_separator_and_checkpoint(masker: str, tmp_path) -> None:
    from puresound_cli.checkpoint import load_model, save_checkpoint

    model = build("convtasnet", dataclasses.asdict(config_for(masker, sources=2))).eval()
    x = torch.randn(1, 1, 500)
    save_checkpoint(tmp_path / "m.pt", model)
    again = load_model(tmp_path / "m.pt")
    with torch.no_grad():
        assert model(x).shape == (1, 2, 500)
        torch.testing.assert_close(again(x), model(x))
    assert again.config.masker == masker


def test_every_masker_describes_itself() -> None:
    """The table is the one list: names, presets, backbone names, streaming and CLI help."""
    from puresound_cli.cli.train_options import backbone_names
    from puresound_cli.nets.maskers import BACKBONES, streaming_maskers

    listed = backbone_names().split("|")
    assert sorted(listed) == sorted(BACKBONES) and listed[0] == "convtasnet"
    for name, cls in MASKERS.items():
        assert cls.name == name and BACKBONES[cls.backbone] is cls
        assert dataclasses.is_dataclass(cls.Config)
        tiny = cls.Config.preset("tiny")
        with pytest.raises(dataclasses.FrozenInstanceError):
            tiny.__setattr__(dataclasses.fields(tiny)[0].name, 1)
        frame = ConvTasNetConfig.tiny().with_masker(name, "tiny")
        assert frame.context_frames > 0 and frame.masker_config == tiny
        assert ConvTasNet(frame)(torch.randn(1, 1, 300)).shape == (1, 1, 300)
        with pytest.raises(ValueError, match="no 'huge' size"):
            cls.Config.preset("huge")
    assert set(streaming_maskers()) == {"tcn", "gated-tcn", "skim"}
    with pytest.raises(ValueError, match="masker_config"):
        dataclasses.replace(ConvTasNetConfig.tiny(), masker="dprnn")  # keeps the TCN's config
    with pytest.raises(ValueError, match="cannot be causal"):
        dataclasses.replace(ConvTasNetConfig.tiny().with_masker("tdanet", "tiny"), causal=True)
