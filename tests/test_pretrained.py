"""pretrained.py: every registry entry resolves, matches its sha256 and loads; resolve logic."""

from __future__ import annotations

from pathlib import Path

import pytest

from puresound_cli import pretrained
from puresound_cli.errors import PuresoundError


@pytest.mark.parametrize("name", sorted(pretrained.REGISTRY))
def test_registered_model_resolves_and_loads(name: str) -> None:
    from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint

    entry = pretrained.REGISTRY[name]
    path = pretrained.resolve(name)
    assert pretrained.sha256sum(path) == entry.sha256
    assert (path.parent / "MODEL_CARD.md").is_file()
    model = model_from_checkpoint(load_checkpoint(path))
    assert model.task == entry.task
    assert model.sample_rate == entry.sample_rate


def test_defaults_name_registered_models() -> None:
    assert set(pretrained.DEFAULTS) == set(pretrained.TASKS)
    for task, name in pretrained.DEFAULTS.items():
        if name is not None:
            assert name in pretrained.REGISTRY
            assert pretrained.REGISTRY[name].task == task
            assert pretrained.default_model(task) == name


def test_entries_are_consistent() -> None:
    for name, entry in pretrained.REGISTRY.items():
        assert entry.name == name
        assert entry.task in pretrained.TASKS
        assert len(entry.sha256) == 64


@pytest.fixture
def fake_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary models/ root holding one fake model registered as 'fake'."""
    root = tmp_path / "models"
    (root / "fake").mkdir(parents=True)
    model = root / "fake" / "model.pt"
    model.write_bytes(b"weights" * 100)
    entry = pretrained.PretrainedModel(
        "fake", "enhance", "fake/model.pt", pretrained.sha256sum(model), 16000, 10, {"x": 1.0}
    )
    monkeypatch.setitem(pretrained.REGISTRY, "fake", entry)
    monkeypatch.setitem(pretrained.DEFAULTS, "enhance", "fake")
    monkeypatch.setattr(pretrained, "search_roots", lambda: [tmp_path / "nowhere", root])
    return model


def test_resolve_fake_entry(fake_registry: Path) -> None:
    assert pretrained.resolve("fake") == fake_registry
    assert pretrained.default_model("enhance") == "fake"
    assert "fake" in [m.name for m in pretrained.available_models()]


def test_resolve_truncated(fake_registry: Path) -> None:
    fake_registry.write_bytes(b"weights" * 50)
    with pytest.raises(PuresoundError, match="sha256 mismatch.*truncated"):
        pretrained.resolve("fake")


def test_resolve_lfs_pointer(fake_registry: Path) -> None:
    fake_registry.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"
    )
    with pytest.raises(PuresoundError, match="Git LFS pointer"):
        pretrained.resolve("fake")


def test_resolve_missing_file(fake_registry: Path) -> None:
    fake_registry.unlink()
    with pytest.raises(PuresoundError, match="not found"):
        pretrained.resolve("fake")


def test_resolve_unknown_name() -> None:
    with pytest.raises(PuresoundError, match="unknown model 'nope'"):
        pretrained.resolve("nope")


def test_default_model_unknown_task() -> None:
    with pytest.raises(ValueError):
        pretrained.default_model("dance")


def test_search_roots_prefer_package_then_checkout() -> None:
    roots = pretrained.search_roots()
    assert roots[0].name == "_models"
    assert roots[-1] == Path(pretrained.__file__).resolve().parent.parent / "models"
