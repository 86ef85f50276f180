"""Export a model to TorchScript or ONNX, checked against the PyTorch output before it is kept.

The exported graph is the network's offline forward pass, any batch and any length:

- enhancement (and two-talker separation): ``mixture`` (batch, 1, time) -> ``estimate``
  (batch, 1, time) (separation: (batch, 2, time));
- extraction: ``mixture`` (batch, 1, time), ``enrollment`` (batch, 1, enroll_time) ->
  ``estimate`` (batch, 1, time); the speaker net runs inside the graph.

Audio goes in at the model's sample rate, float32, without the CLI's level normalisation.
STFT models are traced with the STFT written as real arithmetic (a strided convolution with the
DFT basis and its weighted overlap-add inverse), since ONNX has no complex tensors; the same
graph is used for TorchScript. Tracing records the one code path that the example input takes,
so every export is run again at batch sizes and lengths other than the traced ones and compared
with the PyTorch model (``torch.jit.load`` / onnxruntime); a file that differs by more than
``TOLERANCE`` of the output peak is not written.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from puresound_cli.errors import PuresoundError
from puresound_cli.files import is_special, place_file
from puresound_cli.nets import Network
from puresound_cli.nets.filterbanks import STFTFilterbank
from puresound_cli.runtime import stdout_to_devnull

FORMATS = ("torchscript", "onnx")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript", ".jit": "torchscript"}
TOLERANCE = 1e-4
"""Largest difference from the PyTorch output accepted, relative to the output's peak."""
OPSET = 17
EXTRA = "pip install 'puresound[onnx]'"


@dataclass(frozen=True)
class ExportReport:
    """What was written: the file, its format, inputs, and the check against PyTorch."""

    path: str
    format: str
    task: str
    sample_rate: int
    inputs: tuple[str, ...]
    checked: bool
    max_error: float | None  # relative to the output peak, over the check inputs

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def format_for(path: str | Path, fmt: str | None) -> str:
    """The export format: ``fmt`` if given, else from the file suffix.

    Raises:
        PuresoundError: unknown format, or no format and an unknown suffix.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise PuresoundError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise PuresoundError(
            f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; "
            "use .onnx or .pt/.ts, or pass --format"
        )
    return SUFFIXES[suffix]


@contextlib.contextmanager
def real_arithmetic(model: nn.Module) -> Iterator[None]:
    """Within the block, every STFT of ``model`` computes in real arithmetic."""
    banks = [m for m in model.modules() if isinstance(m, STFTFilterbank)]
    for bank in banks:
        bank.real_arithmetic = True
    try:
        yield
    finally:
        for bank in banks:
            bank.real_arithmetic = False


def input_names(model: Network) -> tuple[str, ...]:
    """The graph's inputs for a model's task."""
    task = model.task
    if task in ("enhance", "separate"):
        return ("mixture",)
    if task == "extract" and getattr(model, "selects", False):  # its choice is length-bound
        raise PuresoundError("cannot export a separate-then-select extractor (use extract)")
    if task == "extract":
        return ("mixture", "enrollment")
    raise PuresoundError(f"cannot export a {task} model")


def example_inputs(
    model: Network, batch: int, seconds: float, seed: int
) -> tuple[torch.Tensor, ...]:
    """Noise at speech level shaped as the graph's inputs (the enrollment 1.5x as long; lengths
    off any hop grid)."""
    rate = int(model.sample_rate)
    gen = torch.Generator().manual_seed(seed)
    shapes = {"mixture": int(seconds * rate) + 37, "enrollment": int(1.5 * seconds * rate) + 11}
    return tuple(
        0.1 * torch.randn(batch, 1, shapes[name], generator=gen) for name in input_names(model)
    )


def export_model(
    model: Network,
    path: str | Path,
    fmt: str | None = None,
    overwrite: bool = False,
    opset: int = OPSET,
) -> ExportReport:
    """Export ``model`` (eval mode, on the CPU) to ``path`` and check it against PyTorch.

    The file is built under a temporary name in the destination folder and moved into place
    only after the check passed; without ``overwrite`` an existing file is never replaced.

    Raises:
        PuresoundError: bad format or destination, a missing optional package, an export the
            tracer or exporter cannot handle, or a graph that differs from PyTorch.
    """
    fmt = format_for(path, fmt)
    path = Path(path)
    if path.is_dir():
        raise PuresoundError(f"{path}: is a folder; name the file to write")
    if is_special(path):
        raise PuresoundError(f"{path}: not a regular file (a device or pipe); not replaced")
    if path.exists() and not overwrite:
        raise PuresoundError(f"{path}: exists; kept it (pass --overwrite to replace it)")
    if fmt == "onnx" and importlib.util.find_spec("onnx") is None:
        raise PuresoundError(f"ONNX export needs the onnx package: {EXTRA}")
    if not path.parent.is_dir():
        raise PuresoundError(f"{path.parent}: no such folder")
    model = model.cpu().eval()
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:  # traced weights become constants only without autograd
        p.requires_grad_(False)
    try:
        return _export(model, path, fmt, overwrite, opset)
    finally:
        for p in trainable:
            p.requires_grad_(True)


def _export(model: Network, path: Path, fmt: str, overwrite: bool, opset: int) -> ExportReport:
    names = input_names(model)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # a read-only folder, /sys, /proc
        raise PuresoundError(f"{path}: cannot write here ({err.strerror or err})") from err
    os.close(fd)
    try:
        # batch 2 and a length off the hop grid: the traced path serves every batch and length
        example = example_inputs(model, batch=2, seconds=1.0, seed=0)
        with torch.no_grad(), real_arithmetic(model), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings: the check below is the test
            # attention as plain ops: ONNX has no fused transformer-layer kernel
            fastpath = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                if fmt == "torchscript":
                    _save_torchscript(model, example, tmp)
                else:
                    _save_onnx(model, example, names, tmp, opset)
            except (RuntimeError, TypeError, ValueError, torch.onnx.errors.OnnxExporterError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise PuresoundError(f"{fmt} export failed: {first}") from e
            finally:
                torch.backends.mha.set_fastpath_enabled(fastpath)
        run = _runner(fmt, tmp, names)
        max_error = None if run is None else _check(model, run)
        place_file(tmp, path, overwrite)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ExportReport(
        path=str(path),
        format=fmt,
        task=model.task,
        sample_rate=int(model.sample_rate),
        inputs=names,
        checked=max_error is not None,
        max_error=max_error,
    )


def _metadata(model: Network) -> dict[str, str]:
    return {
        "task": model.task,
        "sample_rate": str(int(model.sample_rate)),
        "inputs": ",".join(input_names(model)),
        "producer": "puresound",
        # the CLI's level rule, which the graph does not hold (see README, "Export")
        "input_level": "scale each input, and the enrollment, by 2**round(log2(10**(-25/20) / "
        "rms)) before the graph; divide the estimate by the input's factor",
    }


def _save_torchscript(model: Network, example: tuple[torch.Tensor, ...], path: str) -> None:
    traced = torch.jit.trace(model, example, check_trace=False)
    extra = {"puresound.json": json.dumps(_metadata(model))}
    torch.jit.save(traced, path, _extra_files=extra)


def _save_onnx(
    model: Network,
    example: tuple[torch.Tensor, ...],
    names: tuple[str, ...],
    path: str,
    opset: int,
) -> None:
    import onnx

    axes = {name: {0: "batch", 2: "enroll_time" if name == "enrollment" else "time"}
            for name in names}  # fmt: skip
    axes["estimate"] = {0: "batch", 2: "time"}
    with stdout_to_devnull():  # the exporter prints the whole graph on some errors
        torch.onnx.export(
            model, example, path, dynamo=False, opset_version=opset, input_names=list(names),
            output_names=["estimate"], dynamic_axes=axes,
        )  # fmt: skip
    graph = onnx.load(path)
    for key, value in _metadata(model).items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, path)


Runner = Any  # (inputs as float32 arrays) -> output array


def _runner(fmt: str, path: str, names: tuple[str, ...]) -> Runner | None:
    """A function running the exported file, or None when ONNX Runtime is not installed."""
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is frozen upstream
            loaded = torch.jit.load(path)

        def run_script(*inputs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return loaded(*(torch.from_numpy(x) for x in inputs)).numpy()

        return run_script
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])

    def run_onnx(*inputs: np.ndarray) -> np.ndarray:
        return session.run(None, dict(zip(names, inputs, strict=True)))[0]

    return run_onnx


def _check(model: Network, run: Runner) -> float:
    """Largest difference from PyTorch relative to the output peak, at batch sizes and lengths
    other than the traced ones.

    Raises:
        PuresoundError: above :data:`TOLERANCE`, or a wrong output shape.
    """
    worst = 0.0
    for batch, seconds, seed in ((1, 0.73, 1), (3, 2.31, 2)):
        inputs = example_inputs(model, batch, seconds, seed)
        with torch.no_grad():
            expected = model(*inputs).numpy()
        try:
            got = run(*(x.numpy() for x in inputs))
        except Exception as exc:  # noqa: BLE001 - a runtime's own error types
            raise PuresoundError(f"the exported graph does not run: {exc}") from exc
        if got.shape != expected.shape:
            raise PuresoundError(
                f"the exported graph gives shape {got.shape} where PyTorch gives "
                f"{expected.shape}: not written"
            )
        error = float(np.abs(got - expected).max() / max(float(np.abs(expected).max()), 1e-6))
        if error > TOLERANCE:
            raise PuresoundError(
                f"the exported graph differs from PyTorch by {error:.2g} of the output peak "
                f"(limit {TOLERANCE:g}, batch {batch}, {seconds} s): not written"
            )
        worst = max(worst, error)
    return worst
