"""Two-talker separation (pre-training for extraction): PIT loss, S-output nets, training, and
multiplicative speaker adaptation."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from conftest import synth_voice
from test_train import corpus_dir, read_log, tiny_config  # noqa: F401 - fixture

from puresound_cli import data as D
from puresound_cli.checkpoint import load_checkpoint, load_model
from puresound_cli.losses import pit_align, si_sdr
from puresound_cli.nets import ConvTasNet, ConvTasNetConfig, Extractor, ExtractorConfig
from puresound_cli.train import train


def test_pit_align_finds_the_permutation() -> None:
    a = torch.from_numpy(synth_voice(0.3, 120, seed=1))
    b = torch.from_numpy(synth_voice(0.3, 230, seed=2))
    reference = torch.stack([torch.stack([a, b]), torch.stack([a, b])])  # (2, 2, T)
    estimate = torch.stack([torch.stack([b, a]), torch.stack([a, b])]) + 0.01
    aligned = pit_align(estimate, reference)
    assert torch.allclose(aligned, reference + 0.01)
    three = torch.stack([a, b, a.flip(0)])[None]  # any number of talkers
    assert torch.allclose(pit_align(three[:, [2, 0, 1]], three), three)


def test_separator_has_one_output_per_talker() -> None:
    config = dataclasses.replace(ConvTasNetConfig.tiny(), sources=2)
    model = ConvTasNet(config)
    assert model.task == "separate"
    for length in (1, 17, 1001):
        assert model(torch.randn(3, 1, length)).shape == (3, 2, length)
    single = ConvTasNet(ConvTasNetConfig.tiny())  # the same weights but for the output layer
    assert single(torch.randn(1, 1, 50)).shape == (1, 1, 50)


def test_mixer_gives_both_talkers(corpus_dir) -> None:  # noqa: F811
    bank = D.load_speech([corpus_dir / "speech"], 16000)
    mixer = D.DynamicMixer(bank, [], D.MixConfig(task="separate", segment_seconds=0.5), seed=0)
    for i in range(8):
        example = mixer.example(i)
        assert example.reference.shape == (2, 8000) and example.present
        assert example.enrollment is None
        # noise-free mixtures are exactly the sum of the two references
        if not np.allclose(example.mixture, example.reference.sum(0), atol=1e-6):
            continue
        assert example.sources[0] != example.sources[1]
    batch = D.collate([mixer.example(i) for i in range(3)])
    assert batch["reference"].shape == (3, 2, 8000) and batch["mixture"].shape == (3, 1, 8000)


def test_separation_trains_and_releases(corpus_dir, tmp_path) -> None:  # noqa: F811
    config = tiny_config(corpus_dir, tmp_path / "run", task="separate", max_steps=6,
                         valid_every=3, lr=1e-2)  # fmt: skip
    release = train(config)
    model = load_model(release)
    assert model.task == "separate"
    losses = read_log(tmp_path / "run", "train")
    assert sorted(losses) == list(range(1, 7)) and all(np.isfinite(v) for v in losses.values())
    valid = read_log(tmp_path / "run", "valid")
    assert valid[6] < valid[3] + 1.0  # no blow-up
    meta = load_checkpoint(release)["meta"]
    assert meta["output_calibration"]["items"] > 0


def test_multiplicative_adaptation() -> None:
    """conditioning "multiply": x * (1 + W e) after conditioned blocks; W starts at zero, so a
    warm-started extractor begins as its separator, and the speaker term gets gradients."""
    torch.manual_seed(0)
    base = ExtractorConfig.tiny()
    separator = dataclasses.replace(
        base.separator, conditioning="multiply", conditioned_blocks="first"
    )
    model = Extractor(dataclasses.replace(base, separator=separator))
    adapt = [n for n, _ in model.named_parameters() if ".adapt." in n]
    assert adapt == ["separator.masker.adapt.0.scale.weight"]
    mixture = torch.from_numpy(synth_voice(0.3, 120, seed=1) + synth_voice(0.3, 220, seed=2))
    x = mixture[None, None]
    e1 = torch.from_numpy(synth_voice(1.0, 110, seed=3))[None, None]
    e2 = torch.from_numpy(synth_voice(1.0, 240, seed=4))[None, None]
    assert torch.allclose(model(x, e1), model(x, e2))  # zero W: no speaker effect yet
    loss = -si_sdr(model(x, e1), x).mean()
    loss.backward()
    weight = dict(model.named_parameters())["separator.masker.adapt.0.scale.weight"]
    assert weight.grad is not None and float(weight.grad.abs().sum()) > 0
    with torch.no_grad():
        weight.normal_(0, 0.1)
    assert not torch.allclose(model(x, e1), model(x, e2), atol=1e-5)
