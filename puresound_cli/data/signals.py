"""Signal helpers for mixing: level, crops, synthetic noises and convolution (numpy, mono)."""

from __future__ import annotations

import math

import numpy as np


def rms(x: np.ndarray) -> float:
    """Root mean square (float64), plus 1e-9 so that dividing by it is always safe."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-9


def fit(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random n-sample crop of x, tiling x first when it is shorter."""
    if x.size < n:
        x = np.tile(x, math.ceil(n / max(1, x.size)))
    start = int(rng.integers(0, x.size - n + 1))
    return x[start : start + n]


def place(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """x (at most n samples) at a random offset in n samples of silence."""
    if x.size >= n:
        return x[:n]
    out = np.zeros(n, dtype=np.float32)
    start = int(rng.integers(0, n - x.size + 1))
    out[start : start + x.size] = x
    return out


def colored_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with a random spectral slope between white (0) and brown (-6 dB/octave), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spec.size, dtype=np.float64)
    freqs[0] = 1.0
    spec /= freqs ** (rng.uniform(0.0, 2.0) / 2.0)
    noise = np.fft.irfft(spec, n)
    return (noise / rms(noise)).astype(np.float32)


def hum_noise(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 or 60 Hz and harmonics) over faint white noise, unit RMS."""
    t = np.arange(n) / sample_rate
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    hum = sum(
        rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
        for k in range(1, 8)
    )
    hum = hum + 0.05 * rng.standard_normal(n)
    return (hum / rms(hum)).astype(np.float32)


def convolve(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Linear convolution cut to len(x) (FFT)."""
    n = x.size + rir.size - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(rir, size), size)[: x.size]
    return y.astype(np.float32)
