"""What one processed file reports: the CLI's log line and ``--json`` summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_RTF_SECONDS = 1.0
"""Shortest audio a real-time factor is reported for."""


@dataclass
class FileResult:
    """Summary of one processed file (the CLI prints it, ``--json`` serialises it); ``model``
    names the network that processed it, where the separator knows it."""

    input: str
    output: str
    sample_rate: int = 0
    channels: int = 0
    frames: int = 0
    format: str = ""
    subtype: str = ""
    seconds: float = 0.0
    elapsed: float = 0.0
    silent: bool = False
    model: str = ""

    @property
    def rtf(self) -> float | None:
        """Real-time factor: processing time / audio duration; None under :data:`MIN_RTF_SECONDS`
        of audio, where start-up costs make it meaningless (a 1-sample file gave 803)."""
        return self.elapsed / self.seconds if self.seconds >= MIN_RTF_SECONDS else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "input": self.input,
            "output": self.output,
            "status": "ok",
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "frames": self.frames,
            "seconds": round(self.seconds, 6),
            "format": self.format,
            "subtype": self.subtype,
            "elapsed": round(self.elapsed, 4),
            "rtf": None if self.rtf is None else round(self.rtf, 5),
            "silent": self.silent,
            "model": self.model or None,
        }
