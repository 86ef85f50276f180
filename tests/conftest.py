"""Shared fixtures: seeding and synthetic signals built in memory (no corpus, no network)."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SAMPLE_RATE = 16000


def reframe(config: Any, masker: str | None = None, size: str = "tiny", **changes: Any) -> Any:
    """A ConvTasNetConfig with another masker (at a size preset) and frame or masker fields
    changed by name (``hidden_channels=8`` goes to the masker's config, ``causal=True`` to the
    frame)."""
    if masker is not None and masker != config.masker:
        config = config.with_masker(masker, size)
    names = {f.name for f in dataclasses.fields(config.masker_config)}
    own = {k: changes.pop(k) for k in list(changes) if k in names}
    options = dataclasses.replace(config.masker_config, **own)
    return dataclasses.replace(config, masker_config=options, **changes)


def synth_voice(
    seconds: float,
    f0: float,
    sample_rate: int = SAMPLE_RATE,
    seed: int = 0,
    harmonics: int = 12,
) -> np.ndarray:
    """A harmonic 'voice': a vibrato pitch track with formant-like harmonic weights and syllable AM.

    Returns float32 (frames,) peaking near 0.5.
    """
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sample_rate)))
    t = np.arange(n) / sample_rate
    pitch = f0 * (1.0 + 0.05 * np.sin(2 * math.pi * (3.0 + rng.random()) * t))
    phase = 2 * math.pi * np.cumsum(pitch) / sample_rate
    formants = rng.uniform(300, 3000, size=3)
    wav = np.zeros(n)
    for k in range(1, harmonics + 1):
        freq = k * f0
        if freq > sample_rate / 2 - 200:
            break
        weight = sum(1.0 / (1.0 + ((freq - f) / 200.0) ** 2) for f in formants) + 0.05
        wav += weight * np.sin(k * phase + rng.uniform(0, 2 * math.pi))
    syllables = 0.55 + 0.45 * np.sin(2 * math.pi * (4.0 + rng.random()) * t + rng.uniform(0, 6))
    wav *= np.clip(syllables, 0.0, None)
    peak = np.max(np.abs(wav)) or 1.0
    return (0.5 * wav / peak).astype(np.float32)


def synth_noise(
    seconds: float, sample_rate: int = SAMPLE_RATE, seed: int = 0, color: str = "white"
):
    """White or pink noise, float32 (frames,), unit RMS scaled to 0.1."""
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sample_rate)))
    noise = rng.standard_normal(n)
    if color == "pink":
        spec = np.fft.rfft(noise)
        freqs = np.arange(spec.shape[0], dtype=np.float64)
        freqs[0] = 1.0
        noise = np.fft.irfft(spec / np.sqrt(freqs), n)
    noise = noise / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return (0.1 * noise).astype(np.float32)


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """signal + noise scaled so that the signal-to-noise ratio is snr_db."""
    p_s = float(np.mean(signal**2)) + 1e-12
    p_n = float(np.mean(noise**2)) + 1e-12
    return (signal + noise * math.sqrt(p_s / (p_n * 10 ** (snr_db / 10)))).astype(np.float32)


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass


@pytest.fixture
def voice() -> Callable[..., np.ndarray]:
    return synth_voice


@pytest.fixture
def noise() -> Callable[..., np.ndarray]:
    return synth_noise


@pytest.fixture
def two_speakers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mixture, target, enrollment): a low voice as target, a high voice as interferer, 1.5 s."""
    target = synth_voice(1.5, 110.0, seed=1)
    interferer = synth_voice(1.5, 220.0, seed=2)
    enrollment = synth_voice(1.0, 110.0, seed=3)
    return (target + interferer).astype(np.float32), target, enrollment


@pytest.fixture
def write_wav(tmp_path: Path) -> Callable[..., Path]:
    """write_wav(name, data (frames,) or (frames, ch), sample_rate=16000, subtype=None) -> path."""
    import soundfile as sf

    def _write(name: str, data: np.ndarray, sample_rate: int = SAMPLE_RATE, subtype=None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, sample_rate, subtype=subtype)
        return path

    return _write
