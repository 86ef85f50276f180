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


def apply_mask(kind: str, rep: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked representation.

    Args:
        kind: one of :data:`MASK_KINDS`.
        rep: encoder output: real (B, N, frames) for a learned filterbank, complex (B, F, frames)
            for the STFT.
        mask: (B, N or F, frames) for the magnitude kinds, (B, 2 N or 2 F, frames) (real halves
            first) for the complex kinds.

    Returns:
        The masked representation, shaped like ``rep``.
    """
    if torch.is_complex(rep):  # STFT: complex float32 (torch.complex has no bfloat16)
        mask = mask.float()
    if kind in ("magnitude", "magnitude_reim"):
        return rep * mask  # |x| m e^{j angle x} = m x  (learned: |x| m sign x = m x)
    m_re, m_im = mask.chunk(2, dim=1)  # (B, C, frames) each
    if kind == "complex_polar":
        norm = torch.sqrt(m_re.pow(2) + m_im.pow(2) + 1e-8)
        scale = torch.tanh(norm) / norm  # tanh|m| e^{j angle m} = scale * m
        m_re, m_im = m_re * scale, m_im * scale
    if torch.is_complex(rep):
        return rep * torch.complex(m_re, m_im)  # complex multiplication
    return rep * m_re  # real features: real part of the rotated value
