"""Registry of the shipped pretrained models, and their lookup with a sha256 check.

Each shipped model is ``models/<name>/model.pt`` plus ``MODEL_CARD.md`` in the repository, and
``puresound_cli/_models/<name>/...`` inside an installed wheel. Adding a model is one line in
:data:`REGISTRY` (and, if it becomes the default for its task, one in :data:`DEFAULTS`)::

    "extract-convtasnet-16k": PretrainedModel(
        "extract-convtasnet-16k", "extract", "extract-convtasnet-16k/model.pt",
        "<sha256>", 16000, 1_234_567, {"si_sdri_db": 12.3}),
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

from puresound_cli.errors import PuresoundError

TASKS = ("extract", "enhance")


@dataclass(frozen=True)
class PretrainedModel:
    """One shipped model.

    Attributes:
        name: registry name, also the folder under ``models/``.
        task: ``"extract"`` or ``"enhance"``.
        file: path relative to ``models/`` (e.g. ``"<name>/model.pt"``).
        sha256: hex digest of the file.
        sample_rate: the model's sample rate in Hz.
        params: number of parameters.
        metrics: dev-set scores from the model card (name -> value).
    """

    name: str
    task: str
    file: str
    sha256: str
    sample_rate: int = 16000
    params: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


REGISTRY: dict[str, PretrainedModel] = {
    "extract-convtasnet-16k": PretrainedModel(
        "extract-convtasnet-16k",
        "extract",
        "extract-convtasnet-16k/model.pt",
        "b57f1cdfe3dca2b5e4829f71681dc889984635809391b5cfb57a66aaf351879a",
        16000,
        2_942_504,
        {"dev_si_sdri_db": 4.13, "dev_absent_db": -55.19, "talk_selectivity_db": 19.2},
    ),
    "enhance-causal-16k": PretrainedModel(
        "enhance-causal-16k",
        "enhance",
        "enhance-causal-16k/model.pt",
        "3c7c7eb2c5f8ac0666782a7058357e80ae4a66e8a3975aa0dc66ae4a56541078",
        16000,
        5_402_759,
        {"dev_si_sdri_db": 4.70, "dev_pesq_gain": 0.15},
    ),
    "enhance-unet-16k": PretrainedModel(
        "enhance-unet-16k",
        "enhance",
        "enhance-unet-16k/model.pt",
        "e73e56e2e7a65699ee8b5124c729e6ea7a906061a20a3526ca85083863429e01",
        16000,
        908_327,
        {"dev_si_sdri_db": 7.39, "dev_pesq_gain": 0.37},
    ),
    "enhance-unet-nb-8k": PretrainedModel(
        "enhance-unet-nb-8k",
        "enhance",
        "enhance-unet-nb-8k/model.pt",
        "34bb423568650ca58dacbbc726fdabd3205c7dc8ac9b74a8b338f0ae8fa3751c",
        16000,
        908_327,
        {"dev_8k_si_sdri_db": 5.19, "dev_8k_pesq_nb": 2.40},
    ),
    "enhance-convtasnet-16k": PretrainedModel(
        "enhance-convtasnet-16k",
        "enhance",
        "enhance-convtasnet-16k/model.pt",
        "b17178817ac77417659680f99b09fd1169da0d0b951695b3899c4bf83a7e76f0",
        16000,
        2_277_559,
        {"dev_si_sdri_db": 4.26, "dev_pesq_gain": 0.13},
    ),
}
"""Shipped models by name; each has ``models/<name>/MODEL_CARD.md`` with its scores."""

DEFAULTS: dict[str, str | None] = {
    "extract": "extract-convtasnet-16k",
    "enhance": "enhance-unet-16k",
}
"""The model each task uses when ``--model`` is not given (None: nothing shipped yet)."""

STREAM_DEFAULTS: dict[str, str | None] = {
    "extract": None,
    "enhance": "enhance-causal-16k",
}
"""The causal model each task streams with (``--stream``) when ``--model`` is not given."""


NARROWBAND_RATE = 8000
"""Inputs at this sample rate or lower are narrow-band (telephone band: nothing above 4 kHz)."""

NARROWBAND_DEFAULTS: dict[str, str | None] = {
    "extract": None,
    "enhance": "enhance-unet-nb-8k",
}
"""The model each task uses offline on narrow-band inputs (at most :data:`NARROWBAND_RATE`)
when ``--model`` is not given: one trained for that band (None: the task's default serves)."""


def available_models() -> list[PretrainedModel]:
    """The registered models, sorted by task then name."""
    return sorted(REGISTRY.values(), key=lambda m: (m.task, m.name))


def default_model(task: str, streaming: bool = False) -> str | None:
    """The registered default model name for a task (``streaming``: its causal default), or
    None if there is none."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    name = (STREAM_DEFAULTS if streaming else DEFAULTS).get(task)
    return name if name in REGISTRY else None


def narrowband_model(task: str) -> str | None:
    """The registered model a task's offline default hands narrow-band inputs to, or None
    (the default itself serves them)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    name = NARROWBAND_DEFAULTS.get(task)
    return name if name in REGISTRY else None


def roles(name: str) -> list[str]:
    """What a registered model is the default for: ``"default"``, ``"--stream default"``,
    ``"narrow-band default"`` (an empty list: only by ``--model``)."""
    task = REGISTRY[name].task if name in REGISTRY else ""
    found = []
    for role, table in (("default", DEFAULTS), ("--stream default", STREAM_DEFAULTS),
                        ("narrow-band default", NARROWBAND_DEFAULTS)):  # fmt: skip
        if table.get(task) == name:
            found.append(role)
    return found


def search_roots() -> list[Path]:
    """Folders searched for model files, in order: the installed wheel's, then the checkout's."""
    roots: list[Path] = []
    try:
        packaged = importlib.resources.files("puresound_cli") / "_models"
        roots.append(Path(str(packaged)))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - zipped installs
        pass
    roots.append(Path(__file__).resolve().parent.parent / "models")
    return roots


def sha256sum(path: Path, block: int = 1 << 20) -> str:
    """Hex sha256 digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected_sha256: str) -> None:
    """Check a model file's sha256.

    Raises:
        PuresoundError: the digest differs, with a hint about Git LFS pointers and truncation.
    """
    actual = sha256sum(path)
    if actual != expected_sha256.lower():
        size = path.stat().st_size
        hint = (
            "it looks like a Git LFS pointer, not the weights (run `git lfs pull` or reinstall)"
            if size < 1024 and path.read_bytes().startswith(b"version https://git-lfs")
            else "the file is corrupt or truncated (re-download or reinstall)"
        )
        raise PuresoundError(
            f"{path}: sha256 mismatch (expected {expected_sha256[:12]}…, got {actual[:12]}…, "
            f"{size} bytes): {hint}"
        )


def resolve(name: str, check: bool = True) -> Path:
    """Find a registered model's file and verify its sha256.

    Args:
        name: a registry name.
        check: verify the sha256 (False: only find the file, e.g. to know which path a
            command reads; the load verifies it).

    Returns:
        The path of the (verified) checkpoint file.

    Raises:
        PuresoundError: unknown name, missing file, or hash mismatch.
    """
    entry = REGISTRY.get(name)
    if entry is None:
        known = ", ".join(sorted(REGISTRY)) or "none shipped yet"
        raise PuresoundError(
            f"unknown model {name!r} (registered models: {known}); pass a checkpoint path instead"
        )
    for root in search_roots():
        candidate = root / entry.file
        if candidate.is_file():
            if check:
                verify(candidate, entry.sha256)
            return candidate
    searched = ", ".join(str(r) for r in search_roots())
    raise PuresoundError(f"model {name!r}: file {entry.file} not found (searched {searched})")
