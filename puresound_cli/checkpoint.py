"""Single-file checkpoints: format version, architecture, config, weights and metadata.

Files hold only primitives and tensors and are always read with
``torch.load(weights_only=True)``, so loading never runs code from the file.

Schema::

    {"format": 1, "arch": "convtasnet" | "extractor", "config": asdict(cfg),
     "state_dict": {...}, "sample_rate": int,
     "meta": {"puresound_version", "torch_version", "task", ...},
     "train_state": {...}  # optional, resume only}
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from puresound_cli.errors import PuresoundError

if TYPE_CHECKING:
    from puresound_cli.nets import ConvTasNet, Extractor, Network, PersonalVAD
    from puresound_cli.nets.contract import SeparationModel

FORMAT = 1


def _unwrap(model: nn.Module) -> Network:
    """The network inside DataParallel/DDP (``.module``) and torch.compile (``._orig_mod``).

    Raises:
        ValueError: not a registered architecture.
    """
    from puresound_cli.nets import ARCHITECTURES

    while True:
        compiled = getattr(model, "_orig_mod", None)  # torch.compile's wrapper
        if isinstance(compiled, nn.Module):
            model = compiled
        elif isinstance(model, nn.DataParallel | nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            break
    for model_cls, _ in ARCHITECTURES.values():
        if isinstance(model, model_cls):
            return model
    raise ValueError(f"{type(model).__name__} is not a registered architecture")


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    meta: dict[str, Any] | None = None,
    train_state: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        path: destination file.
        model: a ConvTasNet or Extractor (wrappers are unwrapped).
        meta: extra metadata (train_config, step, metrics ...); primitives only.
        train_state: optimizer / scheduler state for resuming; left out of release files.
    """
    from puresound_cli import __version__
    from puresound_cli.nets import arch_name

    net = _unwrap(model)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "arch": arch_name(net),
        "config": dataclasses.asdict(net.config),
        "state_dict": state,
        "sample_rate": int(net.sample_rate),
        "meta": {
            "puresound_version": __version__,
            "torch_version": str(torch.__version__),
            "task": net.task,
            **(meta or {}),
        },
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(ckpt, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint (weights only, on the CPU).

    Raises:
        PuresoundError: missing file, unreadable file, a pickle that needs code, or a file that
            is not a format-1 puresound checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise PuresoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, zipfile errors ...
        what = _other_file_kind(path)
        if what:
            raise PuresoundError(f"{path}: {what}; --model takes a puresound checkpoint") from exc
        raise PuresoundError(
            f"{path} is not a loadable puresound checkpoint "
            f"(weights-only load refused it: {_reason(exc)})"
        ) from exc
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise PuresoundError(f"{path} is not a puresound checkpoint (no 'format' key)")
    if ckpt["format"] != FORMAT:
        raise PuresoundError(
            f"{path} has checkpoint format {ckpt['format']!r}; this puresound reads format {FORMAT}"
        )
    from puresound_cli.nets import ARCHITECTURES, migrate

    missing = [k for k in ("arch", "config", "state_dict", "sample_rate") if k not in ckpt]
    if missing:
        raise PuresoundError(f"{path} lacks checkpoint keys: {', '.join(missing)}")
    if ckpt["arch"] not in ARCHITECTURES:
        raise PuresoundError(f"{path} has unknown architecture {ckpt['arch']!r}")
    if isinstance(ckpt["state_dict"], dict) and isinstance(ckpt["config"], dict):
        try:  # older files: config and weights in today's layout
            ckpt["config"], ckpt["state_dict"] = migrate(
                ckpt["arch"], ckpt["config"], ckpt["state_dict"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PuresoundError(
                f"{path}: an older checkpoint that does not migrate: {exc}"
            ) from exc
    ckpt.setdefault("meta", {})
    return ckpt


def _other_file_kind(path: Path) -> str | None:
    """What a file that torch.load refused is, when it is plainly not a checkpoint."""
    import zipfile

    if path.suffix.lower() == ".onnx":
        return "an ONNX export, not a checkpoint"
    if not zipfile.is_zipfile(path):
        return "not a PyTorch file (a truncated or partial file, or another kind of file)"
    with zipfile.ZipFile(path) as archive:
        if any("/code/" in name for name in archive.namelist()):
            return "a TorchScript export, not a checkpoint (run it with torch.jit.load)"
    return None


def _reason(exc: BaseException) -> str:
    """The informative part of a torch.load error, never empty.

    The weights-only unpickler's own line when it names something (a class it refuses to
    import); otherwise what the file is not.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error" in line:
            detail = line.split("error:", 1)[1].strip() or (
                lines[i + 1] if i + 1 < len(lines) else ""
            )
            if detail and not detail.startswith("Unsupported operand"):
                return detail
            return f"not a PyTorch file ({detail})" if detail else "not a PyTorch file"
    if isinstance(exc, KeyError) or not lines:
        return "not a PyTorch file"
    return lines[0]


def model_from_checkpoint(ckpt: dict[str, Any]) -> Network:
    """Build the model a checkpoint describes, load its weights and put it in eval mode.

    Raises:
        PuresoundError: a config or state_dict that does not fit the architecture.
    """
    from puresound_cli.nets import build

    try:
        model = build(ckpt["arch"], ckpt["config"])
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise PuresoundError(f"checkpoint does not match its architecture: {exc}") from exc
    return model.eval()


def model_file(name_or_path: str | Path, check: bool = True) -> Path:
    """The checkpoint file a ``--model`` argument names: a path, a folder holding a
    ``model.pt``, or a registered pretrained name (its sha256 verified unless ``check`` is
    False: a command that only needs the path does not hash the weights a second time).

    Raises:
        PuresoundError: not a file and not a known model name.
    """
    path = Path(name_or_path)
    if path.is_dir():  # a model folder (models/<name>/, a run folder): its model.pt
        if not (path / "model.pt").is_file():
            raise PuresoundError(f"{name_or_path} is a folder, not a checkpoint file (.pt)")
        return path / "model.pt"
    if path.exists():
        return path
    try:
        from puresound_cli import pretrained
    except ImportError:
        raise PuresoundError(f"no such model file: {name_or_path}") from None
    return pretrained.resolve(str(name_or_path), check)


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> Network:
    """Load a model from a checkpoint path, a folder holding a ``model.pt``, or a registered
    pretrained name (eval mode): an enhancer or separator (``ConvTasNet``, a
    :class:`~puresound_cli.nets.contract.SeparationModel`), an extractor (``Extractor``, an
    :class:`~puresound_cli.nets.contract.ExtractionModel`) or a personal VAD (``PersonalVAD``,
    a :class:`~puresound_cli.nets.contract.VADModel`).

    Raises:
        PuresoundError: not a file and not a known model name, or a bad checkpoint.
    """
    return model_from_checkpoint(load_checkpoint(model_file(name_or_path))).to(device)


def load_separation_model(
    name_or_path: str | Path, device: str | torch.device = "cpu"
) -> ConvTasNet | Extractor:
    """:func:`load_model` for a network that outputs audio (enhancer, separator, extractor).

    Raises:
        PuresoundError: as :func:`load_model`, or a personal VAD.
    """
    from puresound_cli.nets import PersonalVAD

    net = load_model(name_or_path, device)
    if isinstance(net, PersonalVAD):
        raise PuresoundError(f"{name_or_path} is a 'vad' model, which outputs no audio")
    return net


def check_task(model: SeparationModel, task: str) -> None:
    """Raise a PuresoundError if ``model`` is not for ``task`` (``"enhance"``/``"extract"``)."""
    actual = model.task
    if actual != task:
        raise PuresoundError(
            f"this is an {actual!r} model, not an {task!r} model; use `puresound {actual}` "
            f"or pass an {task} checkpoint with --model"
        )


def load_vad_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> PersonalVAD:
    """:func:`load_model` for a personal VAD.

    Raises:
        PuresoundError: as :func:`load_model`, or another kind of model.
    """
    from puresound_cli.nets import PersonalVAD

    net = load_model(name_or_path, device)
    if not isinstance(net, PersonalVAD):
        raise PuresoundError(f"{name_or_path} is an {net.task!r} model, not a vad model")
    return net
