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
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise PuresoundError("--plot needs matplotlib: pip install 'puresound[plot]'") from err
    with warnings.catch_warnings():  # silent audio (log of 0), glyphs missing from the font
        warnings.simplefilter("ignore")
        return _plot(plt, before, after, Path(png), max_seconds)


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
