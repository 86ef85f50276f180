"""Resampling with soxr (high quality): whole signals, or block by block as a stream."""

from __future__ import annotations

import numpy as np


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample (channels, frames) float32 with soxr (high quality).

    The output has ``round(frames * sr_out / sr_in)`` frames (soxr's rounding).
    """
    if sr_in == sr_out:
        return wav
    import soxr

    out = soxr.resample(np.ascontiguousarray(wav.T, dtype=np.float32), sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)


class StreamResampler:
    """Block-by-block soxr resampling (high quality); gives the same samples as :func:`resample`.

    Args:
        sr_in: input rate.
        sr_out: output rate.
        channels: channel count of the blocks.
    """

    def __init__(self, sr_in: int, sr_out: int, channels: int) -> None:
        self.identity = sr_in == sr_out
        if not self.identity:
            import soxr

            self._stream = soxr.ResampleStream(
                sr_in, sr_out, channels, dtype="float32", quality="HQ"
            )

    def process(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample a (channels, n) block; pass ``last=True`` with the final block to flush."""
        if self.identity:
            return block
        out = self._stream.resample_chunk(
            np.ascontiguousarray(block.T, dtype=np.float32), last=last
        )
        return np.ascontiguousarray(out.T)
