"""The model contract, and tests that fail when a network ignores its input.

Each test here was written against a mutation that every other test outside the corpus let pass:
the speaker embedding replaced by a constant, the tanh bound of the polar mask removed, and the
AAM speaker loss dropped from the training objective.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import synth_voice

from puresound_cli.losses import AAMSoftmax, compressed_spectral_loss, si_sdr, stft_loss
from puresound_cli.nets import (
    ConvTasNet,
    ConvTasNetConfig,
    Extractor,
    ExtractorConfig,
    build,
    migrate,
)
from puresound_cli.nets.contract import ExtractionModel, SeparationModel
from puresound_cli.nets.maskers import MASKERS
from puresound_cli.train import Objective

EXAMPLES = Path(__file__).resolve().parents[1] / "models" / "examples"


def test_every_network_meets_the_contract() -> None:
    enhancer = ConvTasNet(ConvTasNetConfig.tiny())
    extractor = Extractor(ExtractorConfig.tiny())
    assert isinstance(enhancer, SeparationModel) and not isinstance(enhancer, ExtractionModel)
    assert isinstance(extractor, ExtractionModel)
    for model in (enhancer, extractor):
        assert model.receptive_field_samples > 0
        assert model.valid_length(17) >= 17


def test_masker_registry_and_old_weight_names() -> None:
    assert ConvTasNetConfig.tiny().masker in MASKERS
    model = Extractor(ExtractorConfig.tiny())
    state = model.state_dict()
    config = dataclasses.asdict(model.config)
    old = {k.replace("separator.masker.", "separator."): v for k, v in state.items()}
    assert old.keys() != state.keys()
    new_state = migrate("extractor", config, old)[1]
    assert new_state is not None and new_state.keys() == state.keys()
    enhancer = ConvTasNet(ConvTasNetConfig.tiny())
    enhancer_state = enhancer.state_dict()
    old = {k.removeprefix("masker."): v for k, v in enhancer_state.items()}
    new = migrate("convtasnet", dataclasses.asdict(enhancer.config), old)[1]
    assert new is not None and new.keys() == enhancer_state.keys()


def test_extractor_output_follows_the_enrollment() -> None:
    """A tiny random extractor: two voices as enrollment must give two different outputs."""
    torch.manual_seed(0)
    model = Extractor(ExtractorConfig.tiny()).eval()
    mixture = torch.from_numpy(synth_voice(0.5, 120, seed=1) + synth_voice(0.5, 210, seed=2))
    low = torch.from_numpy(synth_voice(1.0, 110, seed=3))[None, None]
    high = torch.from_numpy(synth_voice(1.0, 230, seed=4))[None, None]
    with torch.no_grad():
        emb_low, emb_high = model.embed(low), model.embed(high)
        a = model(mixture[None, None], low)
        b = model(mixture[None, None], high)
    assert not torch.allclose(emb_low, emb_high, atol=1e-3)
    difference = float((a - b).pow(2).sum() / a.pow(2).sum())
    assert difference > 1e-4, difference


def test_shipped_extractor_follows_the_enrollment() -> None:
    """The shipped model on the bundled example: enrolled with the target it extracts the target;
    enrolled with the other talker (mixture - target) it does not."""
    from puresound_cli import extract, load_model

    mixture, rate = sf.read(EXAMPLES / "mixture.wav", dtype="float32")
    target, _ = sf.read(EXAMPLES / "reference.wav", dtype="float32")
    enrollment, enroll_rate = sf.read(EXAMPLES / "enrollment.wav", dtype="float32")
    model = load_model("extract-convtasnet-16k")
    right = extract(model, mixture, enrollment, rate, enrollment_rate=enroll_rate)
    wrong = extract(model, mixture, mixture - target, rate)
    ref = torch.from_numpy(target)[None]
    right_db, wrong_db = float(si_sdr(right[None], ref)), float(si_sdr(wrong[None], ref))
    # measured: +6.7 dB with the enrollment, far below 0 dB with the interferer's voice
    assert right_db > 4.0 and right_db - wrong_db > 8.0, (right_db, wrong_db)


def test_polar_mask_magnitude_is_bounded() -> None:
    """complex_polar: |mask| = tanh|m| < 1 however large the masker's output."""
    for encoder in ("stft", "learned"):
        config = dataclasses.replace(
            ConvTasNetConfig.tiny(), encoder=encoder, window=16, hop=8,
            mask_kind="complex_polar", mask_constraint="none",
        )  # fmt: skip
        model = ConvTasNet(config)
        channels = config.mask_channels // 2
        if encoder == "stft":
            rep = torch.ones(2, channels, 5, dtype=torch.complex64)
        else:
            rep = torch.ones(2, channels, 5)
        huge = 1e3 * torch.randn(2, 2 * channels, 5)
        out = model.apply_mask(rep, huge)
        assert float(out.abs().max()) <= 1.0 + 1e-6
        assert float(out.abs().max()) > 0.5  # a bound, not a collapse


def _extraction_batch(n_speakers: int = 3) -> dict[str, torch.Tensor]:
    voices = [synth_voice(0.5, 100 + 60 * i, seed=i) for i in range(n_speakers)]
    mixture = np.stack([voices[i] + 0.5 * voices[(i + 1) % n_speakers] for i in range(3)])
    return {
        "mixture": torch.from_numpy(mixture)[:, None],
        "reference": torch.from_numpy(np.stack(voices[:3]))[:, None],
        "present": torch.ones(3, dtype=torch.bool),
        "enrollment": torch.from_numpy(np.stack(voices[:3]))[:, None],
        "speaker": torch.arange(3),
    }


def _speaker_grads(objective: Objective, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    objective.zero_grad(set_to_none=True)
    loss, parts = objective(batch)
    loss.backward()
    speaker = objective.model.speaker
    return [p.grad.clone() for p in speaker.parameters() if p.grad is not None]


def test_speaker_loss_reaches_the_speaker_net() -> None:
    """The multi-task objective: the AAM term adds to the speaker net's gradients."""
    torch.manual_seed(0)
    model = Extractor(ExtractorConfig.tiny())
    aam = AAMSoftmax(model.embed_dim, 3)
    batch = _extraction_batch()
    with_loss = _speaker_grads(Objective(model, aam, speaker_weight=1.0), batch)
    signal_only = _speaker_grads(Objective(model, aam, speaker_weight=0.0), batch)
    assert with_loss and len(with_loss) == len(signal_only)
    change = sum(float((a - b).abs().sum()) for a, b in zip(with_loss, signal_only, strict=True))
    assert change > 1e-6, change
    _, parts = Objective(model, aam)(batch)
    assert float(parts["speaker_loss"]) > 0
    frozen = Objective(model, None, freeze_speaker=True)
    model.speaker.requires_grad_(False)
    assert _speaker_grads(frozen, batch) == []


def test_spectral_terms_add_to_the_objective_with_their_weights() -> None:
    """``spectral_loss_weight`` and ``compressed_loss_weight`` each add their term, weighted."""
    torch.manual_seed(0)
    model = ConvTasNet(ConvTasNetConfig.tiny()).eval()
    batch = _extraction_batch()
    batch.pop("enrollment")
    with torch.no_grad():
        est = model(batch["mixture"]).float()
        plain, _ = Objective(model)(batch)
        both, _ = Objective(model, spectral_weight=2.0, compressed_weight=5.0)(batch)
    expected = plain + 2.0 * stft_loss(est, batch["reference"])
    expected = expected + 5.0 * compressed_spectral_loss(est, batch["reference"])
    assert float(both) == pytest.approx(float(expected), rel=1e-5)
    assert float(both) > float(plain) + 1e-3


def test_build_rejects_an_unknown_masker() -> None:
    config = dataclasses.asdict(ConvTasNetConfig.tiny())
    with pytest.raises(ValueError, match="masker"):
        build("convtasnet", {**config, "masker": "nope"})
