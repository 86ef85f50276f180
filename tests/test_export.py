"""`puresound export`: TorchScript and ONNX graphs that match PyTorch at any batch and length."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cli import _pin_terminal, models, run  # noqa: F401 - fixtures
from test_maskers import config_for

from puresound_cli import export as export_mod
from puresound_cli.errors import PuresoundError
from puresound_cli.export import export_model, real_arithmetic
from puresound_cli.nets import ConvTasNet, ConvTasNetConfig, Extractor, ExtractorConfig
from puresound_cli.nets.filterbanks import LogMel, STFTFilterbank
from puresound_cli.nets.maskers import MASKERS

onnxruntime = pytest.importorskip("onnxruntime")


def run_file(path: Path, *inputs: torch.Tensor) -> np.ndarray:
    """Run an exported file with its own runtime (not through puresound's checker)."""
    if path.suffix == ".onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return session.run(None, {n: x.numpy() for n, x in zip(names, inputs, strict=True)})[0]
    with torch.no_grad():
        return torch.jit.load(str(path))(*inputs).numpy()


def stft_config(kind: str, **kw) -> ConvTasNetConfig:
    constraint = "none" if kind == "complex_polar" else "relu"
    return dataclasses.replace(
        ConvTasNetConfig.tiny(kw.pop("speaker_dim", None)), encoder="stft", window=32, hop=8,
        mask_kind=kind, mask_constraint=constraint, **kw,
    )  # fmt: skip


def test_real_stft_matches_the_complex_one() -> None:
    torch.manual_seed(0)
    bank = STFTFilterbank(32, 8)
    wav = torch.randn(2, 1, 203)
    spec = bank.encode(wav)
    reim = bank.encode_reim(wav)
    torch.testing.assert_close(reim, torch.cat([spec.real, spec.imag], dim=1), atol=1e-5, rtol=0)
    torch.testing.assert_close(bank.decode_reim(reim, 203), bank.decode(spec, 203), atol=1e-5,
                               rtol=0)  # fmt: skip
    torch.testing.assert_close(bank.decode_reim(reim, 203), wav, atol=1e-5, rtol=0)
    mel = LogMel(16000, 400, 160, 40)
    wav = torch.randn(1, 1, 4000)
    expected = mel(wav)
    with real_arithmetic(mel):
        torch.testing.assert_close(mel(wav), expected, atol=1e-4, rtol=1e-4)
    assert not mel.stft.real_arithmetic  # restored after the block


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("masker", sorted(MASKERS))
def test_every_masker_exports_for_any_batch_and_length(
    masker: str, fmt: str, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = ConvTasNet(config_for(masker, causal=masker == "skim")).eval()
    path = tmp_path / f"model.{'onnx' if fmt == 'onnx' else 'pt'}"
    report = export_model(model, path, fmt)
    assert report.checked and report.max_error is not None
    assert report.max_error <= export_mod.TOLERANCE
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file is gone
    assert all(p.requires_grad for p in model.parameters())  # the caller's model as it was
    x = 0.1 * torch.randn(2, 1, 3001)  # neither the traced nor the checked shape
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(run_file(path, x), expected, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("kind", ["magnitude", "magnitude_reim", "complex_reim", "complex_polar"])
def test_stft_mask_kinds_export_to_onnx(kind: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ConvTasNet(stft_config(kind)).eval()
    report = export_model(model, tmp_path / "m.onnx")
    assert report.format == "onnx" and report.max_error is not None
    x = 0.1 * torch.randn(1, 1, 555)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(run_file(tmp_path / "m.onnx", x), expected,
                               atol=1e-4 * np.abs(expected).max())  # fmt: skip


@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_extractor_exports_with_its_speaker_net(suffix: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = ExtractorConfig.tiny()
    config = dataclasses.replace(config, separator=stft_config("complex_reim",
                                 speaker_dim=config.speaker.embed_dim))  # fmt: skip
    model = Extractor(config).eval()
    report = export_model(model, tmp_path / f"x{suffix}")
    assert report.inputs == ("mixture", "enrollment") and report.task == "extract"
    mix, enroll = 0.1 * torch.randn(2, 1, 1234), 0.1 * torch.randn(2, 1, 2345)
    with torch.no_grad():
        expected = model(mix, enroll).numpy()
        other = model(mix, enroll.flip(0)).numpy()  # the enrollment matters in the graph
    got = run_file(tmp_path / f"x{suffix}", mix, enroll)
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())
    assert np.abs(got - other).max() > 1e-3 * np.abs(expected).max()


def test_a_graph_that_differs_from_pytorch_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ConvTasNet(ConvTasNetConfig.tiny()).eval()
    real_load = torch.jit.load

    def off_by_a_little(path: str) -> object:  # the saved graph, with its output shifted
        loaded = real_load(path)
        return lambda *x: loaded(*x) + 0.01

    monkeypatch.setattr(torch.jit, "load", off_by_a_little)
    with pytest.raises(PuresoundError, match="differs from PyTorch"):
        export_model(model, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = ConvTasNet(ConvTasNetConfig.tiny()).eval()
    with pytest.raises(PuresoundError, match="suffix"):
        export_model(model, tmp_path / "m.bin")
    with pytest.raises(PuresoundError, match="no such folder"):
        export_model(model, tmp_path / "missing" / "m.pt")
    real_find_spec = export_mod.importlib.util.find_spec
    monkeypatch.setattr(export_mod.importlib.util, "find_spec",
                        lambda name: None if name == "onnx" else real_find_spec(name))  # fmt: skip
    with pytest.raises(PuresoundError, match=r"puresound\[onnx\]"):
        export_model(model, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_cli_export(run, models: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "extract.onnx"
    result = run("export", models["extract"], "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["path"] == str(out) and record["inputs"] == ["mixture", "enrollment"]
    assert record["checked"] and record["max_error"] <= export_mod.TOLERANCE
    before = out.read_bytes()
    again = run("export", models["enhance"], "-o", out)  # never clobbers
    assert again.exit_code == 1 and len(again.error_lines()) == 1
    assert "exists" in again.stderr and out.read_bytes() == before
    replaced = run("export", models["enhance"], "-o", out, "--overwrite", "-q")
    assert replaced.exit_code == 0 and out.read_bytes() != before
    script = run("export", models["enhance"], "-o", tmp_path / "e.ts")
    assert script.exit_code == 0 and "torchscript" in script.stderr
    bad = run("export", models["enhance"], "-o", tmp_path / "e.bin")
    assert bad.exit_code == 2 and "suffix" in bad.stderr and "Traceback" not in bad.stderr
    missing = run("export", tmp_path / "nope.pt", "-o", tmp_path / "n.pt")
    assert missing.exit_code == 1 and len(missing.error_lines()) == 1
    assert not (tmp_path / "n.pt").exists()
