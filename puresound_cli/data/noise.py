"""Noise clips and room impulse responses: loaded from folders, or simulated and cached."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from puresound_cli.audio import audio_suffixes
from puresound_cli.data.speech import DataReport, load_audio_files, to_float
from puresound_cli.errors import PuresoundError


def audio_files_below(folder: Path) -> list[Path]:
    """Every audio file below ``folder`` (recursive, sorted)."""
    suffixes = audio_suffixes()
    return [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in suffixes and p.is_file()]


def load_noise(
    folders: Sequence[str | Path], sample_rate: int, report: DataReport | None = None
) -> list[np.ndarray]:
    """Decode every audio file below some folders as int16 noise clips (at least 0.1 s)."""
    report = report if report is not None else DataReport()
    paths: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            report.skip("missing noise folder", str(folder))
            continue
        found = audio_files_below(folder)
        if not found:
            report.skip("empty noise folder", str(folder))
        paths += found
    return [a for _, a in load_audio_files(paths, sample_rate, 0.1, report)]


def simulate_rirs(n: int, sample_rate: int, seed: int = 0) -> list[np.ndarray]:
    """Simulate ``n`` room impulse responses in random shoebox rooms with pyroomacoustics.

    Raises:
        PuresoundError: pyroomacoustics is not installed (``pip install 'puresound[rir]'``).
    """
    try:
        import pyroomacoustics as pra
    except ImportError as exc:
        raise PuresoundError(
            "reverberation needs pyroomacoustics: pip install 'puresound[rir]' "
            "(or give --rir folders of impulse responses, or set reverb probability 0)"
        ) from exc
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < n:
        dims = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4)])
        rt60 = rng.uniform(0.15, 0.8)
        try:
            absorption, max_order = pra.inverse_sabine(rt60, dims)
        except ValueError:
            continue
        room = pra.ShoeBox(
            dims, fs=sample_rate, materials=pra.Material(absorption), max_order=min(max_order, 20)
        )
        src = rng.uniform(0.5, dims - 0.5)
        mic = rng.uniform(0.5, dims - 0.5)
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], dtype=np.float32)[: int(sample_rate * 1.0)]
        out.append(rir)
    return out


def rir_bank(n: int, sample_rate: int, cache_dir: str | Path, seed: int = 0) -> list[np.ndarray]:
    """A bank of simulated RIRs, made once and cached as ``cache_dir/rirs-{sr}-{n}-{seed}.npz``."""
    cache = Path(cache_dir) / f"rirs-{sample_rate}-{n}-{seed}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]
    rirs = simulate_rirs(n, sample_rate, seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, *rirs)
    tmp.replace(cache)
    return rirs


def load_rirs(
    folders: Sequence[str | Path], sample_rate: int, report: DataReport | None = None
) -> list[np.ndarray]:
    """Measured or pre-made impulse responses from folders of audio files (float32)."""
    report = report if report is not None else DataReport()
    paths = [p for f in map(Path, folders) for p in audio_files_below(f)]
    return [to_float(a) for _, a in load_audio_files(paths, sample_rate, 0.0, report)]
