"""Checkpoints: save -> load gives identical outputs; weights-only loading; clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from puresound_cli.checkpoint import (
    load_checkpoint,
    load_model,
    model_from_checkpoint,
    save_checkpoint,
)
from puresound_cli.errors import PuresoundError
from puresound_cli.nets import ConvTasNet, ConvTasNetConfig, Extractor, ExtractorConfig


def test_save_load_identical_outputs_extractor(tmp_path: Path) -> None:
    model = Extractor(ExtractorConfig.tiny()).eval()
    path = tmp_path / "run" / "model.pt"
    save_checkpoint(path, model, meta={"step": 3})
    ckpt = load_checkpoint(path)
    assert ckpt["format"] == 1 and ckpt["arch"] == "extractor" and ckpt["sample_rate"] == 16000
    assert ckpt["meta"]["task"] == "extract" and ckpt["meta"]["step"] == 3
    assert ckpt["meta"]["torch_version"] == torch.__version__
    assert "puresound_version" in ckpt["meta"] and "train_state" not in ckpt
    loaded = load_model(path)
    mix, enroll = torch.randn(2, 1, 999), torch.randn(2, 1, 500)
    with torch.inference_mode():
        assert torch.equal(model(mix, enroll), loaded(mix, enroll))
    assert not loaded.training
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left


def test_save_load_enhancer_with_train_state(tmp_path: Path) -> None:
    model = ConvTasNet(ConvTasNetConfig.tiny()).eval()
    opt = torch.optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "m.pt", model, train_state={"optimizer": opt.state_dict()})
    ckpt = load_checkpoint(tmp_path / "m.pt")
    assert ckpt["meta"]["task"] == "enhance" and "optimizer" in ckpt["train_state"]
    loaded = model_from_checkpoint(ckpt)
    x = torch.randn(1, 1, 321)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PuresoundError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(PuresoundError):
        load_model(tmp_path / "nope.pt")


def test_unknown_format(tmp_path: Path) -> None:
    torch.save({"format": 99, "arch": "convtasnet"}, tmp_path / "f.pt")
    with pytest.raises(PuresoundError, match="format 99"):
        load_checkpoint(tmp_path / "f.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "g.pt")
    with pytest.raises(PuresoundError, match="not a puresound checkpoint"):
        load_checkpoint(tmp_path / "g.pt")
    torch.save(
        {"format": 1, "arch": "resnet", "config": {}, "state_dict": {}, "sample_rate": 1},
        tmp_path / "h.pt",
    )
    with pytest.raises(PuresoundError, match="unknown architecture"):
        load_checkpoint(tmp_path / "h.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(PuresoundError):
        load_checkpoint(tmp_path / "garbage.pt")


class _Payload:
    """Unpickling this runs os.system: weights-only loading must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _CustomObject:
    def __init__(self) -> None:
        self.value = 1


def test_pickle_with_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "arch": "convtasnet", "payload": _Payload(marker)}, path)
    with pytest.raises(PuresoundError, match="weights-only"):
        load_checkpoint(path)
    assert not marker.exists()
    torch.save({"format": 1, "obj": _CustomObject()}, tmp_path / "custom.pt")
    with pytest.raises(PuresoundError, match="weights-only"):
        load_checkpoint(tmp_path / "custom.pt")


def test_mismatched_state_dict(tmp_path: Path) -> None:
    model = ConvTasNet(ConvTasNetConfig.tiny())
    save_checkpoint(tmp_path / "m.pt", model)
    ckpt = load_checkpoint(tmp_path / "m.pt")
    ckpt["config"]["hidden_channels"] = 7
    with pytest.raises(PuresoundError, match="does not match"):
        model_from_checkpoint(ckpt)


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(PuresoundError):
        load_model("no-such-model-name")


def test_compiled_wrapper_is_unwrapped(tmp_path: Path) -> None:
    model = ConvTasNet(ConvTasNetConfig.tiny())
    wrapper = torch.nn.DataParallel(model)
    save_checkpoint(tmp_path / "m.pt", wrapper)
    keys = load_checkpoint(tmp_path / "m.pt")["state_dict"].keys()
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in keys)
