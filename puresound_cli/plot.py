"""Before/after spectrogram pictures (``--plot``; needs matplotlib)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from puresound_cli import audio
from puresound_cli.errors import PuresoundError


def plot_spectrograms(
    before: str | Path, after: str | Path, png: str | Path, max_seconds: float = 60.0
) -> Path:
    """Save a PNG with the spectrograms of ``before`` and ``after`` (first channel, first minute).

    Raises:
        PuresoundError: matplotlib is not installed.
    """
    plt = _pyplot()
    with warnings.catch_warnings():  # silent audio (log of 0), glyphs missing from the font
        warnings.simplefilter("ignore")
        return _plot(plt, before, after, Path(png), max_seconds)


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend.

    Raises:
        PuresoundError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise PuresoundError("--plot needs matplotlib: pip install 'puresound[plot]'") from err
    return plt


def _plot(plt: Any, before: str | Path, after: str | Path, out: Path, max_seconds: float) -> Path:
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    images = []
    for ax, path, title in zip(axes, (before, after), ("before", "after"), strict=True):
        with audio.AudioReader(path) as reader:
            limit = int(max_seconds * reader.samplerate)
            wav = next(reader.blocks(limit), np.zeros((1, 1), np.float32))[0]
            rate = reader.samplerate
        nfft = 1 << max(8, int(math.log2(rate * 0.032)))
        *_, image = ax.specgram(wav + 1e-9, NFFT=nfft, Fs=rate, noverlap=nfft // 2, cmap="magma")
        images.append(image)
        ax.set_title(f"{title}: {Path(path).name}")
        ax.set_ylabel("Hz")
    top = max(im.get_clim()[1] for im in images)
    for image in images:  # one dB scale for both, 80 dB range
        image.set_clim(top - 80.0, top)
    fig.colorbar(images[0], ax=axes, label="dB")
    axes[-1].set_xlabel("seconds")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_talk(
    wav: np.ndarray, sample_rate: int, track: Any, title: str, max_seconds: float = 600.0
) -> bytes:
    """PNG bytes of who talks when: the recording's waveform with the enrolled voice's talk
    segments shaded, and below it the tracker's score (cosine with the enrollment) against
    its opening and closing thresholds (first ``max_seconds``).

    Raises:
        PuresoundError: matplotlib is not installed.
    """
    import io

    plt = _pyplot()
    mono = np.asarray(wav, dtype=np.float32)
    mono = (mono.mean(axis=0) if mono.ndim == 2 else mono)[: int(max_seconds * sample_rate)]
    seconds = mono.size / sample_rate
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})  # fmt: skip
    step = max(1, mono.size // 20000)  # enough points for the eye
    t = np.arange(0, mono.size, step) / sample_rate
    top.plot(t, mono[::step], color="0.45", linewidth=0.4)
    for start, end in track.segments():
        if start < seconds:
            top.axvspan(start, min(end, seconds), color="tab:green", alpha=0.25, linewidth=0)
            bottom.axvspan(start, min(end, seconds), color="tab:green", alpha=0.15, linewidth=0)
    top.set_title(f"{title}: the enrolled voice talks {track.talk_seconds():.1f} s (green)")
    top.set_ylabel("amplitude")
    centres = np.arange(track.scores.size) * track.hop_seconds
    keep = centres <= seconds
    bottom.plot(centres[keep], track.scores[keep], color="tab:blue", linewidth=0.8)
    bottom.axhline(track.config.open_cosine, color="tab:red", linestyle="--", linewidth=0.8)
    bottom.axhline(track.config.close_cosine, color="tab:orange", linestyle=":", linewidth=0.8)
    bottom.set_ylabel("cosine")
    bottom.set_xlabel("seconds")
    bottom.set_xlim(0, max(seconds, 1e-3))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
