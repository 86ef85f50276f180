"""Front ends: a learned 1-D conv filterbank, an STFT with exact inverse, and a log-mel filterbank.

References:
    Luo & Mesgarani, "Conv-TasNet", IEEE/ACM TASLP 2019 (learned encoder/decoder).
    Slaney, "Auditory Toolbox", 1998 / O'Shaughnessy 1987 (the mel scale used by ``mel_matrix``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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
        if n <= self.window:
            return self.window
        return n + (self.window - n) % self.hop  # modulo, not ceil: traces for export

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
        With ``real_arithmetic`` (set by ``puresound_cli.export``) both work on real
        (B, 2F, frames) tensors instead (:meth:`encode_reim`, :meth:`decode_reim`).
    """

    window_fn: torch.Tensor

    def __init__(self, window: int, hop: int) -> None:
        super().__init__()
        self.window = window
        self.hop = hop
        self.real_arithmetic = False  # set by ``puresound_cli.export``: no complex tensors
        self.register_buffer("window_fn", torch.hann_window(window), persistent=False)

    @property
    def bins(self) -> int:
        return self.window // 2 + 1

    def valid_length(self, n: int) -> int:
        """Smallest multiple of the hop >= n."""
        return max(n + (-n) % self.hop, self.hop)  # modulo, not ceil: traces for export

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        if self.real_arithmetic:
            return self.encode_reim(wav)
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
        if self.real_arithmetic:
            return self.decode_reim(spec, length)
        wav = torch.istft(
            spec, self.window, self.hop, window=self.window_fn, center=True, length=length
        )  # (B, length)
        return wav.unsqueeze(1)  # (B, 1, length)

    def _bases(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(analysis, synthesis) DFT bases, (2F, 1, window) each: cos rows, then -sin rows."""
        n = self.window
        angle = (
            2 * math.pi * torch.arange(self.bins, dtype=torch.float64)[:, None]
            * torch.arange(n, dtype=torch.float64) / n
        )  # (F, N)  # fmt: skip
        w = self.window_fn.to(torch.float64)
        weight = torch.full((self.bins, 1), 2.0, dtype=torch.float64)  # one-sided spectrum
        weight[0] = 1.0
        if n % 2 == 0:
            weight[-1] = 1.0  # Nyquist bin
        cos, sin = torch.cos(angle), torch.sin(angle)
        analysis = torch.cat([cos * w, -sin * w])
        synthesis = torch.cat([weight * cos, -weight * sin]) * w / n
        return analysis[:, None].to(like), synthesis[:, None].to(like)

    def encode_reim(self, wav: torch.Tensor) -> torch.Tensor:
        """The STFT of :meth:`encode` in real arithmetic (a strided conv with the DFT basis),
        for exporters without complex tensors (ONNX).

        Shape:
            (B, 1, T) -> (B, 2F, frames): real parts, then imaginary parts.
        """
        analysis, _ = self._bases(wav)
        half = self.window // 2
        return F.conv1d(F.pad(wav, (half, half)), analysis, stride=self.hop)

    def decode_reim(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """The inverse of :meth:`encode_reim` (``torch.istft``'s weighted overlap-add).

        Shape:
            (B, 2F, frames), length -> (B, 1, length)
        """
        _, synthesis = self._bases(spec)
        frames = F.conv_transpose1d(spec, synthesis, stride=self.hop)  # (B, 1, samples)
        square = self.window_fn.to(spec).pow(2)[None, None]  # (1, 1, N)
        envelope = F.conv_transpose1d(torch.ones_like(spec[:1, :1]), square, stride=self.hop)
        half = self.window // 2
        return (frames / envelope.clamp_min(1e-11))[..., half : half + length]


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
        spec = self.stft.encode(wav)  # complex (B, F, frames), or (B, 2F, frames) when exported
        if torch.is_complex(spec):
            power = spec.abs().pow(2)
        else:
            re, im = spec.chunk(2, dim=1)
            power = re.pow(2) + im.pow(2)
        return torch.log(torch.matmul(self.mel, power) + 1e-6)  # (B, n_mels, frames)
