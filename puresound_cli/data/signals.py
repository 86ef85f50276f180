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


def pause_gain(n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A gain of n samples: 0 on one random span of 25-75 % of them, 1 elsewhere, with 20 ms
    raised-cosine fades inside the span (a talker's pause; see ``MixConfig.pause_prob``)."""
    length = int(rng.uniform(0.25, 0.75) * n)
    start = int(rng.integers(0, n - length + 1))
    gain = np.ones(n, np.float32)
    gain[start : start + length] = 0.0
    fade = min(int(0.02 * sample_rate), length // 2)
    if fade > 0:
        down = (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))).astype(np.float32)
        gain[start : start + fade] = down
        gain[start + length - fade : start + length] = down[::-1]
    return gain


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


def band_limit(x: np.ndarray, sample_rate: int, band_rate: int = 8000) -> np.ndarray:
    """``x`` as heard through a ``band_rate`` channel: resampled down and back (same length)."""
    import soxr

    if band_rate >= sample_rate:
        return x
    low = soxr.resample(x, sample_rate, band_rate, quality="HQ")
    back = np.asarray(soxr.resample(low, band_rate, sample_rate, quality="HQ"), dtype=np.float32)
    return np.pad(back, (0, max(0, x.size - back.size)))[: x.size]


CODECS = ("ULAW", "ALAW", "GSM610")
"""Telephone codecs soundfile encodes (8 kHz WAV subtypes)."""


def telephone_codec(x: np.ndarray, sample_rate: int, codec: str) -> np.ndarray:
    """``x`` encoded with a telephone codec at 8 kHz and decoded back to ``sample_rate``."""
    import io

    import soundfile as sf
    import soxr

    low = np.asarray(soxr.resample(x, sample_rate, 8000, quality="HQ"), dtype=np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(low, -1.0, 1.0), 8000, format="WAV", subtype=codec)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    back = np.asarray(soxr.resample(decoded, 8000, sample_rate, quality="HQ"), dtype=np.float32)
    return np.pad(back, (0, max(0, x.size - back.size)))[: x.size]


def telephone_channel(
    mixture: np.ndarray,
    reference: np.ndarray,
    enroll: np.ndarray | None,
    rng: np.random.Generator,
    sample_rate: int,
    bandlimit_prob: float,
    codec_prob: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """An example heard through a telephone channel, each draw from ``rng``.

    With ``bandlimit_prob`` the mixture and the reference (every row of a separation
    reference) are band-limited, and with ``codec_prob`` of that the mixture is also encoded; the
    enrollment draws its own band limit. A target-absent reference (the mixture itself) follows
    the mixture.
    """
    if rng.random() < bandlimit_prob:
        codec = CODECS[int(rng.integers(len(CODECS)))] if rng.random() < codec_prob else ""
        same = reference is mixture
        rows = [band_limit(r, sample_rate) for r in np.atleast_2d(reference)]
        reference = np.stack(rows).reshape(reference.shape).astype(np.float32)
        if codec:
            mixture = telephone_codec(mixture, sample_rate, codec)
        else:
            mixture = band_limit(mixture, sample_rate)
        if same:
            reference = mixture
    if enroll is not None and rng.random() < bandlimit_prob:
        enroll = band_limit(enroll, sample_rate)
    return mixture, reference, enroll
