"""Checkpoints written before maskers had their own configs load and compute what they did.

``tests/legacy/`` holds tiny checkpoints (one per masker and conditioning kind, random weights,
conditioning layers made non-zero) and their outputs, written by the code before the masker
contract (``make_fixtures.py`` there, run at that commit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import pytest
import torch

from puresound_cli.checkpoint import load_checkpoint, load_model, save_checkpoint
from puresound_cli.nets import ConvTasNetConfig, migrate
from puresound_cli.nets.maskers import MASKERS

LEGACY = Path(__file__).resolve().parent / "legacy"
EXPECTED = torch.load(LEGACY / "expected.pt", weights_only=True)
NAMES = sorted(k for k in EXPECTED if k not in ("x", "enr"))


def _exact(tensors: Iterable[torch.Tensor]) -> list[tuple[tuple[int, ...], bytes]]:
    """Tensors as sorted (shape, bytes): equal lists hold the same values bit for bit."""
    return sorted((tuple(t.shape), t.detach().cpu().numpy().tobytes()) for t in tensors)


@pytest.mark.parametrize("name", NAMES)
def test_legacy_checkpoint_loads_and_computes_the_same(name: str, tmp_path: Path) -> None:
    raw = torch.load(LEGACY / f"{name}.pt", weights_only=True)
    frame = raw["config"].get("separator", raw["config"].get("detector", raw["config"]))
    assert "masker_config" not in frame and "hidden_channels" in frame  # the old layout
    model = load_model(LEGACY / f"{name}.pt")
    x, enr = EXPECTED["x"], EXPECTED["enr"]
    with torch.no_grad():
        out = model(x) if name == "enhance-tcn" else model(x, enr)
    # to float rounding: the fixtures were computed on another CPU, whose kernels round
    # differently (bit for bit on the machine that wrote them, not on an Intel Xeon)
    assert torch.allclose(out, EXPECTED[name], rtol=0, atol=1e-6), name
    if name.startswith("tcn") or name == "enhance-tcn":  # only names changed: every weight
        assert _exact(raw["state_dict"].values()) == _exact(model.state_dict().values())
    save_checkpoint(tmp_path / "new.pt", model)  # saved again: today's layout, same output
    again = load_checkpoint(tmp_path / "new.pt")
    frame = again["config"].get("separator", again["config"].get("detector", again["config"]))
    assert "masker_config" in frame and "hidden_channels" not in frame
    assert migrate(again["arch"], again["config"], again["state_dict"])[0] == again["config"]
    with torch.no_grad():
        out2 = load_model(tmp_path / "new.pt")(*([x] if name == "enhance-tcn" else [x, enr]))
    assert torch.equal(out, out2)


def test_conditioning_weights_are_named_once() -> None:
    """The old per-masker names are gone from every conditioned masker."""
    for name, cls in MASKERS.items():
        size = "tiny"
        frame = ConvTasNetConfig.tiny(8).with_masker(name, size)
        frame = dataclasses.replace(frame, conditioning="film")
        keys = list(cls(frame).state_dict())
        assert any(".condition" in k or k.startswith("condition") for k in keys), name
        assert not any("film" in k or "embed_proj" in k for k in keys), name
