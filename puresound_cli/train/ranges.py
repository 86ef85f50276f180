"""The range of every numeric training option, checked once for the CLI, TOML files and the
library alike (``noise_prob = 7``, ``threads = -1``, ``lr = nan`` or ``sir_db = [10, -10]``
were accepted and trained nonsense)."""

from __future__ import annotations

import math
from typing import Any

from puresound_cli.errors import PuresoundError

# name: (lowest, highest, whether the lowest value itself is allowed)
RANGES: dict[str, tuple[float, float, bool]] = {
    "sample_rate": (4000, 192_000, True),
    "batch_size": (1, 1_000_000, True),
    "segment_seconds": (0.0, 600.0, False),
    "enroll_seconds": (0.0, 600.0, False),
    "max_steps": (1, 10**12, True),
    "time_budget_minutes": (0.0, 1e7, True),
    "lr": (0.0, 10.0, True),
    "weight_decay": (0.0, 10.0, True),
    "plateau_patience": (0, 10**6, True),
    "warmup_steps": (0, 10**12, True),
    "grad_clip": (0.0, 1e9, True),
    "speaker_loss_weight": (0.0, 1e6, True),
    "aam_margin": (0.0, 1.0, True),
    "aam_scale": (0.0, 1e4, False),
    "spectral_loss_weight": (0.0, 1e6, True),
    "compressed_loss_weight": (0.0, 1e6, True),
    "valid_every": (1, 10**12, True),
    "valid_examples": (1, 10**9, True),
    "valid_fraction": (0.0, 1.0, False),
    "checkpoint_every": (1, 10**12, True),
    "log_every": (1, 10**12, True),
    "early_stopping": (0, 10**6, True),
    "num_workers": (0, 1024, True),
    "threads": (0, 4096, True),
    "noise_prob": (0.0, 1.0, True),
    "speed_prob": (0.0, 1.0, True),
    "absent_prob": (0.0, 1.0, True),
    "absent_talkers": (1, 2, True),
    "absent_floor_db": (-200.0, 0.0, True),
    "pause_prob": (0.0, 1.0, True),
    "solo_prob": (0.0, 1.0, True),
    "bandlimit_prob": (0.0, 1.0, True),
    "codec_prob": (0.0, 1.0, True),
    "reverb_prob": (0.0, 1.0, True),
    "rir_count": (1, 100_000, True),
    "min_seconds": (0.0, 600.0, True),
}
PAIRS = {"sir_db": (-100.0, 100.0), "snr_db": (-100.0, 100.0)}


def check_backbone(config: Any) -> None:
    """Raise a one-line PuresoundError for a backbone that is not a masker's, or that has no
    preset of the configured size (the VAD and an explicit ``model_config`` take none)."""
    from puresound_cli.nets.maskers import BACKBONES

    if config.backbone not in BACKBONES:
        names = ", ".join(BACKBONES)
        raise PuresoundError(f"backbone must be one of {names}, got {config.backbone!r}")
    presets = BACKBONES[config.backbone].Config.PRESETS
    if config.model_config is None and config.task != "vad" and config.size not in presets:
        raise PuresoundError(f"backbone {config.backbone} has no {config.size!r} size "
                             f"(it has {', '.join(presets)})")  # fmt: skip


def check_ranges(config: Any) -> None:
    """Raise a one-line PuresoundError for the first option outside its range."""
    for name, (low, high, low_ok) in RANGES.items():
        value = getattr(config, name)
        inside = math.isfinite(value) and (value >= low if low_ok else value > low)
        if not inside or value > high:
            bound = "[" if low_ok else "("
            raise PuresoundError(f"{name} must be in {bound}{low:g}, {high:g}], got {value!r}")
    if config.absent_floor_db >= 0:
        raise PuresoundError(f"absent_floor_db must be below 0, got {config.absent_floor_db!r}")
    for minutes in config.snapshot_minutes:
        if not (math.isfinite(minutes) and minutes > 0):
            raise PuresoundError(f"snapshot_minutes must be positive minutes, got {minutes!r}")
    for name, (low, high) in PAIRS.items():
        lo, hi = getattr(config, name)
        if not (math.isfinite(lo) and math.isfinite(hi) and low <= lo <= hi <= high):
            raise PuresoundError(
                f"{name} must be [low, high] with {low:g} <= low <= high <= {high:g}, "
                f"got [{lo!r}, {hi!r}]"
            )
