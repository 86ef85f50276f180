"""Training losses: SI-SDR, the signal loss with a target-absent term, and AAM-softmax.

References:
    Le Roux et al., "SDR - half-baked or well done?", ICASSP 2019 (SI-SDR).
    Deng et al., "ArcFace: Additive angular margin loss for deep face recognition", CVPR 2019.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _flatten(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dim() == 3:
        if x.shape[1] != 1:
            raise ValueError(f"{name} must be mono (B, 1, T), got {tuple(x.shape)}")
        return x[:, 0]
    if x.dim() != 2:
        raise ValueError(f"{name} must be (B, 1, T) or (B, T), got {tuple(x.shape)}")
    return x


def least_squares_gain(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per row of ``(B, 1, T)`` or ``(B, T)``, the gain ``g`` minimising ``|g * est - ref|``."""
    est, ref = _flatten(estimate, "estimate"), _flatten(reference, "reference")
    return (est * ref).sum(-1) / est.pow(2).sum(-1).clamp_min(1e-12)


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB of zero-mean signals, one value per row.

    ``s = <e, r> r / |r|^2``, ``SI-SDR = 10 log10(|s|^2 / |e - s|^2)``.

    Args:
        estimate: (B, 1, T) or (B, T).
        reference: same shape as estimate.
        eps: keeps the ratio finite for silent signals.

    Returns:
        (B,) SI-SDR in dB.
    """
    est = _flatten(estimate, "estimate")
    ref = _flatten(reference, "reference")
    if est.shape != ref.shape:
        raise ValueError(f"shapes differ: {tuple(estimate.shape)} vs {tuple(reference.shape)}")
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)  # (B, 1)
    target = scale * ref  # (B, T)
    noise = est - target  # (B, T)
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))


def energy_ratio_db(
    estimate: torch.Tensor, mixture: torch.Tensor, floor: float = 0.0, eps: float = 1e-8
) -> torch.Tensor:
    """10 log10(|est|^2 / |mix|^2 + floor) per row (zero-mean): output level relative to input."""
    est = _flatten(estimate, "estimate")
    mix = _flatten(mixture, "mixture")
    est = est - est.mean(dim=-1, keepdim=True)
    mix = mix - mix.mean(dim=-1, keepdim=True)
    ratio = est.pow(2).sum(-1) / (mix.pow(2).sum(-1) + eps)
    return 10 * torch.log10(ratio + floor + eps)


def pit_align(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Reorder each item's outputs to the permutation of talkers with the best total SI-SDR.

    The choice is made without gradient; the returned tensor carries the estimate's gradient, so
    ``-si_sdr(pit_align(est, ref), ref)`` is the permutation-invariant (PIT) SI-SDR loss.

    Shape:
        estimate, reference: (B, S, T) -> (B, S, T)
    """
    import itertools

    batch, sources, length = estimate.shape
    if reference.shape != estimate.shape:
        raise ValueError(f"shapes differ: {tuple(estimate.shape)} vs {tuple(reference.shape)}")
    with torch.no_grad():
        est = estimate.detach().float().unsqueeze(2).expand(-1, -1, sources, -1)  # (B, S, S, T)
        ref = reference.float().unsqueeze(1).expand(-1, sources, -1, -1)
        pair = si_sdr(est.reshape(-1, length), ref.reshape(-1, length)).reshape(
            batch, sources, sources
        )  # pair[b, i, j]: output i against talker j
        perms = torch.tensor(list(itertools.permutations(range(sources))), device=pair.device)
        # score[b, p] = sum_j pair[b, perms[p, j], j]
        score = pair[:, perms, torch.arange(sources, device=pair.device)].sum(-1)  # (B, P)
        best = perms[score.argmax(dim=1)]  # (B, S): output for talker j
    return estimate.gather(1, best.unsqueeze(-1).expand(-1, -1, length))


def as_mono_rows(
    estimate: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor, present: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Separation outputs as single-talker rows: (B, S, T) -> (B * S, 1, T), PIT-aligned.

    One-output batches come back unchanged, so every loss and score can treat both alike.
    """
    sources = estimate.shape[1]
    if sources == 1:
        return estimate, reference, mixture, present
    aligned = pit_align(estimate, reference)
    rows = estimate.shape[0] * sources
    return (
        aligned.reshape(rows, 1, -1),
        reference.reshape(rows, 1, -1),
        mixture.repeat_interleave(sources, dim=0),
        present.repeat_interleave(sources, dim=0),
    )


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


def compressed_spectral_loss(
    estimate: torch.Tensor,
    reference: torch.Tensor,
    power: float = 0.3,
    complex_share: float = 0.3,
    n_fft: int = 512,
) -> torch.Tensor:
    """Compressed spectral loss: MSE of STFT magnitudes raised to ``power``, blended with the MSE
    of the compressed complex spectra (magnitude ** power with the original phase).

    The loss Braun and Tashev ("A consolidated view of loss functions for supervised deep
    learning-based speech enhancement", 2021) found to track PESQ best: power 0.3, 30 % complex
    term. Both signals are divided by the reference's RMS first, so every row weighs the same
    whatever its level; the estimate's level still counts (it is not rescaled to fit).

    Shape:
        estimate, reference: (B, 1, T) -> scalar.
    """
    est, ref = estimate.flatten(1).float(), reference.flatten(1).float()
    rms = ref.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-5)
    window = torch.hann_window(n_fft, device=est.device)
    spectra = [
        torch.stft(x / rms, n_fft, n_fft // 4, window=window, return_complex=True)
        for x in (est, ref)
    ]
    # magnitude with a floor inside the root: finite gradients of |X| ** power at silence
    mags = [(s.real.square() + s.imag.square() + 1e-8).sqrt() for s in spectra]
    compressed = [m.pow(power) for m in mags]
    magnitude = (compressed[0] - compressed[1]).square().mean()
    phase_e, phase_r = spectra[0] / mags[0], spectra[1] / mags[1]
    complex_err = (compressed[0] * phase_e - compressed[1] * phase_r).abs().square().mean()
    return complex_share * complex_err + (1 - complex_share) * magnitude


class SignalLoss:
    """Negative SI-SDR for rows with the target present; an energy term for target-absent rows.

    For absent rows the reference holds the mixture and the term is
    ``10 log10(|g est|^2 / |mix|^2 + absent_floor)``, which pushes the output towards silence
    (down to about ``10 log10(absent_floor)`` dB). All kept rows are averaged.

    ``g`` is the level the released model will have: SI-SDR leaves the network's output level
    free, and the release scales the output so that present speech keeps its level. So ``g`` is
    the geometric mean of the present rows' least-squares gains ``|<est, ref>| / |est|^2``
    (1 when the batch has no present row), with its gradient: the term is then blind to the
    network's overall level, as SI-SDR is, and can only be lowered by making absent outputs
    quieter than present ones. Without it, a network whose output is simply quiet meets the
    absent term at the floor and learns nothing from it: the shipped extractor's raw output ended
    33 dB below its target, where its absent term sits at the -20 dB floor whatever the output.

    Args:
        threshold: the seed's option: present rows whose loss (-SI-SDR) is already <= threshold
            (e.g. -30 for items above 30 dB) are left out; if none remain, all rows are used.
        absent_floor: floor of the absent term (0.01 = -20 dB, the seed's regulariser).
        eps: numerical floor.
    """

    def __init__(
        self, threshold: float | None = None, absent_floor: float = 0.01, eps: float = 1e-8
    ) -> None:
        self.threshold = threshold
        self.absent_floor = absent_floor
        self.eps = eps

    def __call__(
        self,
        estimate: torch.Tensor,
        reference: torch.Tensor,
        target_present: torch.Tensor | None = None,
    ) -> torch.Tensor:
        batch = estimate.shape[0]
        if target_present is None:
            target_present = torch.ones(batch, dtype=torch.bool, device=estimate.device)
        present = target_present.to(device=estimate.device, dtype=torch.bool).reshape(-1)
        if present.numel() != batch:
            raise ValueError(f"target_present must be (B,) with B={batch}, got {present.numel()}")
        losses = torch.empty(batch, dtype=estimate.dtype, device=estimate.device)
        keep = torch.ones(batch, dtype=torch.bool, device=estimate.device)
        if present.any():
            sdr_loss = -si_sdr(estimate[present], reference[present], self.eps)
            losses[present] = sdr_loss
            if self.threshold is not None:
                keep[present] = sdr_loss.detach() > self.threshold
        if (~present).any():
            gain = estimate.new_ones(())
            if present.any():
                g = least_squares_gain(estimate[present], reference[present]).abs()
                g = g[torch.isfinite(g) & (g > 0)]
                if g.numel():
                    gain = g.log().mean().exp()
            losses[~present] = energy_ratio_db(
                gain * estimate[~present], reference[~present], self.absent_floor, self.eps
            )
        if not keep.any():
            keep = torch.ones_like(keep)
        return losses[keep].mean()


class AAMSoftmax(nn.Module):
    """Additive angular margin softmax (ArcFace) for speaker classification.

    Args:
        embed_dim: embedding size D.
        n_classes: number of training speakers.
        margin: angular margin m in radians.
        scale: logit scale s.

    Shape:
        embeddings (B, D), labels (B,) int64 -> scalar cross-entropy
    """

    def __init__(
        self, embed_dim: int, n_classes: int, margin: float = 0.2, scale: float = 30.0
    ) -> None:
        super().__init__()
        self.margin = margin
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(n_classes, embed_dim))
        nn.init.xavier_normal_(self.weight, gain=1.0)
        self.cos_m, self.sin_m = math.cos(margin), math.sin(margin)
        self.threshold = math.cos(math.pi - margin)  # beyond it cos(theta + m) is not monotonic
        self.fallback = math.sin(math.pi - margin) * margin

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scaled cosine logits with the margin added to the true class: (B, n_classes)."""
        if embeddings.dim() != 2 or embeddings.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"embeddings must be (B, {self.weight.shape[1]}), got {tuple(embeddings.shape)}"
            )
        cosine = F.linear(F.normalize(embeddings, dim=1), F.normalize(self.weight, dim=1))
        sine = torch.sqrt((1.0 - cosine.pow(2)).clamp(1e-7, 1.0))
        with_margin = cosine * self.cos_m - sine * self.sin_m  # cos(theta + m)
        with_margin = torch.where(cosine > self.threshold, with_margin, cosine - self.fallback)
        one_hot = F.one_hot(labels, cosine.shape[1]).to(cosine.dtype)  # (B, n_classes)
        return self.scale * (one_hot * with_margin + (1.0 - one_hot) * cosine)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(embeddings, labels), labels)
