"""The four ways to apply a mask to the encoder representation (the seed's mask kinds).

- "magnitude": one real mask per bin on the magnitude, phase kept (learned features: |x| m
  sign(x) = m x);
- "magnitude_reim": the masker sees re/im, the mask is still one real value per bin;
- "complex_reim": a complex ratio mask (re and im halves of the mask), complex multiplication;
- "complex_polar": a complex mask with magnitude bounded by tanh: tanh|m| e^{j angle m}.

References:
    Williamson et al., "Complex ratio masking for monaural speech separation", TASLP 2016.
    Hu et al., "DCCRN: Deep complex convolution recurrent network", Interspeech 2020 (polar mask).
"""

from __future__ import annotations

import torch

MASK_KINDS = ("magnitude", "magnitude_reim", "complex_reim", "complex_polar")
CONSTRAINTS = ("relu", "sigmoid", "none")


def constrain(mask: torch.Tensor, constraint: str) -> torch.Tensor:
    """A masker's raw output under its mask constraint: "relu", "sigmoid" or "none"."""
    if constraint == "relu":
        return torch.relu(mask)
    return torch.sigmoid(mask) if constraint == "sigmoid" else mask


def apply_mask(
    kind: str, rep: torch.Tensor, mask: torch.Tensor, reim: bool = False
) -> torch.Tensor:
    """Masked representation.

    Args:
        kind: one of :data:`MASK_KINDS`.
        rep: encoder output: real (B, N, frames) for a learned filterbank, complex (B, F, frames)
            for the STFT, or with ``reim`` an STFT held as real numbers, (B, 2F, frames) (real
            parts, then imaginary parts: for exporters without complex types).
        mask: (B, N or F, frames) for the magnitude kinds, (B, 2 N or 2 F, frames) (real halves
            first) for the complex kinds.

    Returns:
        The masked representation, shaped like ``rep``.
    """
    if reim:
        return _apply_reim(kind, rep, mask)
    if torch.is_complex(rep):  # STFT: complex float32 (torch.complex has no bfloat16)
        mask = mask.float()
    if kind in ("magnitude", "magnitude_reim"):
        return rep * mask  # |x| m e^{j angle x} = m x  (learned: |x| m sign x = m x)
    m_re, m_im = _complex_mask(kind, mask)
    if torch.is_complex(rep):
        return rep * torch.complex(m_re, m_im)  # complex multiplication
    return rep * m_re  # real features: real part of the rotated value


def _complex_mask(kind: str, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(re, im) of a complex kind's mask, (B, C, frames) each; polar: magnitude tanh-bounded."""
    m_re, m_im = mask.chunk(2, dim=1)
    if kind == "complex_polar":
        norm = torch.sqrt(m_re.pow(2) + m_im.pow(2) + 1e-8)
        scale = torch.tanh(norm) / norm  # tanh|m| e^{j angle m} = scale * m
        m_re, m_im = m_re * scale, m_im * scale
    return m_re, m_im


def reim_magnitude(rep: torch.Tensor) -> torch.Tensor:
    """|X| of an STFT held as real numbers: (B, 2F, frames) -> (B, F, frames)."""
    re, im = rep.chunk(2, dim=1)
    return torch.sqrt(re.pow(2) + im.pow(2))


def _apply_reim(kind: str, rep: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if kind in ("magnitude", "magnitude_reim"):
        return rep * torch.cat([mask, mask], dim=1)
    re, im = rep.chunk(2, dim=1)
    m_re, m_im = _complex_mask(kind, mask)
    return torch.cat([re * m_re - im * m_im, re * m_im + im * m_re], dim=1)
