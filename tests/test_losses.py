"""Losses: SI-SDR closed form, the target-absent term, AAM-softmax learning."""

from __future__ import annotations

import math

import pytest
import torch

from puresound_cli.losses import (
    AAMSoftmax,
    SignalLoss,
    compressed_spectral_loss,
    energy_ratio_db,
    si_sdr,
    stft_loss,
)


def _orthogonal_pair(n: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    """A zero-mean reference and zero-mean noise exactly orthogonal to it."""
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(n, generator=g, dtype=torch.float64)
    ref -= ref.mean()
    noise = torch.randn(n, generator=g, dtype=torch.float64)
    noise -= noise.mean()
    noise -= (noise @ ref) / (ref @ ref) * ref
    return ref, noise


@pytest.mark.parametrize("a", [0.5, 1.0, 3.0])
def test_si_sdr_closed_form(a: float) -> None:
    ref, noise = _orthogonal_pair()
    noise = 0.3 * noise
    estimate = a * ref + noise
    expected = 10 * math.log10(a**2 * float(ref @ ref) / float(noise @ noise))
    got = si_sdr(estimate[None, None], ref[None, None])
    assert got.shape == (1,)
    assert got.item() == pytest.approx(expected, abs=1e-6)
    # scale invariance and (B, T) input
    assert si_sdr((7 * estimate)[None], ref[None]).item() == pytest.approx(expected, abs=1e-6)


def test_si_sdr_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        si_sdr(torch.zeros(2, 1, 10), torch.zeros(2, 1, 11))
    with pytest.raises(ValueError, match="mono"):
        si_sdr(torch.zeros(2, 2, 10), torch.zeros(2, 2, 10))


def test_signal_loss_present_is_negative_si_sdr() -> None:
    ref, noise = _orthogonal_pair()
    est = (ref + 0.1 * noise).float()[None, None].repeat(2, 1, 1)
    ref3 = ref.float()[None, None].repeat(2, 1, 1)
    loss = SignalLoss()(est, ref3, torch.tensor([True, True]))
    assert loss.item() == pytest.approx(-si_sdr(est, ref3).mean().item(), abs=1e-4)


def test_signal_loss_absent_term_pushes_to_silence() -> None:
    mixture = torch.randn(1, 1, 1000)
    loss_fn = SignalLoss(absent_floor=0.0)
    absent = torch.tensor([False])
    assert loss_fn(mixture, mixture, absent).item() == pytest.approx(0.0, abs=1e-4)
    assert loss_fn(0.1 * mixture, mixture, absent).item() == pytest.approx(-20.0, abs=1e-3)
    floored = SignalLoss(absent_floor=0.01)(torch.zeros(1, 1, 1000), mixture, absent)
    assert floored.item() == pytest.approx(-20.0, abs=1e-3)
    # gradient descent on a gain lowers the output level
    gain = torch.tensor(1.0, requires_grad=True)
    opt = torch.optim.SGD([gain], lr=0.01)
    before = loss_fn(gain * mixture, mixture, absent)
    before.backward()
    opt.step()
    assert 0.0 < gain.item() < 0.95
    assert loss_fn(gain * mixture, mixture, absent).item() < before.item()
    assert energy_ratio_db(0.1 * mixture, mixture).item() == pytest.approx(-20.0, abs=1e-3)


def test_signal_loss_mixed_batch_and_threshold() -> None:
    ref, noise = _orthogonal_pair(1000)
    ref, noise = ref.float(), noise.float()
    good = (ref + 0.001 * noise)[None, None]  # about 60 dB
    bad = (ref + 1.0 * noise)[None, None]
    est = torch.cat([good, bad, bad])
    reference = torch.cat([ref[None, None]] * 2 + [bad])  # row 2 absent: reference = mixture
    present = torch.tensor([True, True, False])
    # the absent row is judged at the present rows' released level: geometric mean of their
    # least-squares gains (about 1 and 0.5 here)
    gains = [float((e * ref).sum() / e.pow(2).sum()) for e in (good, bad)]
    absent = torch.tensor([10 * math.log10(gains[0] * gains[1])])
    per_row = [-si_sdr(good, ref[None, None]), -si_sdr(bad, ref[None, None]), absent]
    plain = SignalLoss(absent_floor=0.0)(est, reference, present)
    assert plain.item() == pytest.approx(torch.cat(per_row).mean().item(), abs=1e-3)
    thresholded = SignalLoss(threshold=-30.0, absent_floor=0.0)(est, reference, present)
    assert thresholded.item() == pytest.approx((per_row[1] + absent).mean().item() / 2, abs=1e-3)
    # every row above the threshold: fall back to all rows
    assert SignalLoss(threshold=100.0)(good, ref[None, None]).item() < -50


def test_aam_softmax_learns_toy_problem() -> None:
    torch.manual_seed(0)
    centres = torch.randn(4, 16)
    labels = torch.arange(4).repeat_interleave(8)
    embeddings = centres[labels] + 0.3 * torch.randn(32, 16)
    head = AAMSoftmax(16, 4, margin=0.2, scale=30.0)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = head(embeddings, labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(ValueError, match="embeddings"):
        head(torch.zeros(2, 15), torch.zeros(2, dtype=torch.long))


def test_signal_loss_judges_absent_rows_at_the_released_level() -> None:
    """A network that is merely quiet must not meet the absent term: absent outputs are scaled
    by the gain that brings the present outputs to their references' level."""
    torch.manual_seed(0)
    loss_fn = SignalLoss(absent_floor=1e-3)
    ref, mix = torch.randn(2, 1, 4000), torch.randn(2, 1, 4000)
    present = torch.tensor([True, False])
    reference = torch.cat([ref[:1], mix[1:]])
    for quiet in (1.0, 0.01, -0.001):  # overall output level (and polarity) of the network
        est = quiet * torch.cat([ref[:1], 0.1 * mix[1:]])  # absent output 20 dB below the mix
        loss = loss_fn(est, reference, present)
        # present row: -SI-SDR of a perfect estimate (about -80); absent row: -20 dB
        expected = (-si_sdr(est[:1], ref[:1]).item() + 10 * math.log10(0.01 + 1e-3)) / 2
        assert loss.item() == pytest.approx(expected, abs=0.01)
    # blind to the overall level, gradient included: scaling every output changes nothing
    est = torch.cat([ref[:1] + 0.3 * mix[:1], 0.1 * mix[1:]]).requires_grad_(True)
    loss_fn(est, reference, present).backward()
    assert est.grad is not None
    assert float((est.grad * est.detach()).sum()) == pytest.approx(0.0, abs=1e-3)
    only_absent = SignalLoss(absent_floor=0.0)(0.01 * mix[1:], mix[1:], present[1:])
    assert only_absent.item() == pytest.approx(-40.0, abs=1e-3)  # no present row: gain 1


def _speechlike(n: int = 8000, seed: int = 0) -> torch.Tensor:
    """(2, 1, n): two rows of harmonics with a slow envelope (not white: spectra have shape)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 16000
    rows = []
    for f0 in (120.0, 210.0):
        wave = sum(torch.sin(2 * math.pi * f0 * k * t + float(torch.rand(1, generator=g)) * 6)
                   / k for k in range(1, 12))  # fmt: skip
        rows.append(wave * (1.2 + torch.sin(2 * math.pi * 3 * t)))
    return torch.stack(rows)[:, None]


def test_compressed_spectral_loss_measures_level_shape_and_phase() -> None:
    ref = _speechlike()
    noise = 0.3 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(3))
    assert float(compressed_spectral_loss(ref, ref)) < 1e-8
    noisy = float(compressed_spectral_loss(ref + noise, ref))
    assert noisy > 1e-3
    # the reference's level is divided out: the same error at any level scores the same
    louder = float(compressed_spectral_loss(10 * (ref + noise), 10 * ref))
    assert louder == pytest.approx(noisy, rel=1e-4)
    # the estimate's level is not: half the level is an error
    assert float(compressed_spectral_loss(0.5 * ref, ref)) > 1e-3
    # a phase error (inverted sign) is seen by the complex share only
    assert float(compressed_spectral_loss(-ref, ref, complex_share=0.0)) < 1e-8
    assert float(compressed_spectral_loss(-ref, ref)) > 0.1
    # finite gradients near a match and from silence (|X| ** 0.3 is steep at 0)
    est = ref.clone()
    est.requires_grad_(True)
    loss = compressed_spectral_loss(est, ref + 0.01 * noise)
    loss.backward()
    assert est.grad is not None and bool(torch.isfinite(est.grad).all())
    silent = torch.zeros_like(ref, requires_grad=True)
    compressed_spectral_loss(silent, ref).backward()
    assert silent.grad is not None and bool(torch.isfinite(silent.grad).all())


def test_spectral_losses_fall_as_the_estimate_improves() -> None:
    ref = _speechlike(seed=1)
    noise = torch.randn(ref.shape, generator=torch.Generator().manual_seed(4))
    for loss in (stft_loss, compressed_spectral_loss):
        values = [float(loss(ref + a * noise, ref)) for a in (1.0, 0.3, 0.1)]
        assert values[0] > values[1] > values[2], (loss.__name__, values)
