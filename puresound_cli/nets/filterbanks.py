"""Front ends: a learned 1-D conv filterbank, an STFT with exact inverse, and a log-mel filterbank.

References:
    Luo & Mesgarani, "Conv-TasNet", IEEE/ACM TASLP 2019 (learned encoder/decoder).
    Slaney, "Auditory Toolbox", 1998 / O'Shaughnessy 1987 (the mel scale used by ``mel_matrix``).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LearnedFilterbank(nn.Module):
    """Learned analysis (Conv1d) and synthesis (ConvTranspose1d) filterbanks, without bias.

    Args:
        channels: number of filters N.
        window: filter length L in samples.
        hop: stride in samples (L / 2 in the paper).

    Shape:
        encode: (B, 1, T) -> (B, N, frames) with frames = (T - L) // hop + 1 (no padding)
        decode: (B, N, frames) -> (B, 1, (frames - 1) * hop + L)
    """

    def __init__(self, channels: int, window: int, hop: int) -> None:
        super().__init__()
        self.window = window
        self.hop = hop
        self.encoder = nn.Conv1d(1, channels, window, stride=hop, bias=False)
        self.decoder = nn.ConvTranspose1d(channels, 1, window, stride=hop, bias=False)

    def valid_length(self, n: int) -> int:
        """Smallest length >= n made of whole frames (at least one window)."""
        frames = max(0, math.ceil((n - self.window) / self.hop))
        return self.window + frames * self.hop

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return self.encoder(wav)  # (B, N, frames)

    def decode(self, features: torch.Tensor, length: int) -> torch.Tensor:
        return self.decoder(features)[..., :length]  # (B, 1, length)


class STFTFilterbank(nn.Module):
    """Hann-window STFT with an exact inverse (``torch.istft`` with ``length=``).

    Frames are centred with zero padding, so any length >= 1 works.

    Args:
        window: FFT size and window length in samples.
        hop: hop size in samples.

    Shape:
        encode: (B, 1, T) -> complex (B, F, frames), F = window // 2 + 1, frames = T // hop + 1
        decode: complex (B, F, frames), length -> (B, 1, length)
    """

    window_fn: torch.Tensor

    def __init__(self, window: int, hop: int) -> None:
        super().__init__()
        self.window = window
        self.hop = hop
        self.register_buffer("window_fn", torch.hann_window(window), persistent=False)

    @property
    def bins(self) -> int:
        return self.window // 2 + 1

    def valid_length(self, n: int) -> int:
        """Smallest multiple of the hop >= n."""
        return max(1, math.ceil(n / self.hop)) * self.hop

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        return torch.stft(
            wav.squeeze(1),
            self.window,
            self.hop,
            window=self.window_fn,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # (B, F, frames)

    def decode(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        wav = torch.istft(
            spec, self.window, self.hop, window=self.window_fn, center=True, length=length
        )  # (B, length)
        return wav.unsqueeze(1)  # (B, 1, length)


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """HTK mel scale: 2595 * log10(1 + f / 700)."""
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_matrix(n_mels: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    """Triangular mel filters with unit area (Slaney-style normalisation).

    Returns:
        (n_mels, n_fft // 2 + 1) float32 matrix mapping a power spectrum to mel bands.
    """
    bins = n_fft // 2 + 1
    fft_hz = torch.linspace(0.0, sample_rate / 2, bins, dtype=torch.float64)  # (F,)
    top = hz_to_mel(torch.tensor(sample_rate / 2, dtype=torch.float64))
    edges = mel_to_hz(torch.linspace(0.0, float(top), n_mels + 2, dtype=torch.float64))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1) each
    rising = (fft_hz - lower) / (centre - lower)  # (M, F)
    falling = (upper - fft_hz) / (upper - centre)  # (M, F)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights = weights * (2.0 / (upper - lower))  # equal area per band
    return weights.float()


class LogMel(nn.Module):
    """Log-mel filterbank: |STFT|^2 -> mel matrix -> log(. + 1e-6). Not trainable.

    Args:
        sample_rate: input sample rate in Hz.
        window: FFT size and window length in samples.
        hop: hop size in samples.
        n_mels: number of mel bands.

    Shape:
        (B, 1, T) -> (B, n_mels, T // hop + 1)
    """

    mel: torch.Tensor

    def __init__(self, sample_rate: int, window: int, hop: int, n_mels: int) -> None:
        super().__init__()
        self.stft = STFTFilterbank(window, hop)
        self.register_buffer("mel", mel_matrix(n_mels, window, sample_rate), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        power = self.stft.encode(wav).abs().pow(2)  # (B, F, frames)
        return torch.log(torch.matmul(self.mel, power) + 1e-6)  # (B, n_mels, frames)
