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


CMU_ARCTIC = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "dev" / "cmu-arctic"


@pytest.mark.skipif(not CMU_ARCTIC.is_dir(), reason="no corpus (../shared/corpus/dev/cmu-arctic)")
def test_shipped_extract_model_follows_the_enrollment() -> None:
    """Two real voices never seen in training: the default model keeps the enrolled one."""
    import numpy as np
    import soundfile as sf
    import torch

    from puresound_cli import extract, load_model
    from puresound_cli.evaluate import si_sdr_db

    name = pretrained.default_model("extract")
    if name is None:
        pytest.skip("no extract model shipped")

    def read(stem: str) -> tuple[np.ndarray, int]:
        return sf.read(CMU_ARCTIC / f"cmu_arctic_us_{stem}.wav", dtype="float32")

    aew, rate = read("aew_a0001")
    axb, _ = read("axb_a0004")
    n = min(len(aew), len(axb))
    aew, axb = aew[:n], axb[:n] * np.sqrt(np.mean(aew[:n] ** 2) / np.mean(axb[:n] ** 2))
    mixture = torch.from_numpy(aew + axb)[None]  # 0 dB signal-to-interference
    model = load_model(name)
    outputs = {}
    for enrolled in ("aew_a0002", "axb_a0005"):
        enrollment, enrollment_rate = read(enrolled)
        enrollment = torch.from_numpy(enrollment)[None]
        out = extract(model, mixture, enrollment, rate, enrollment_rate=enrollment_rate)
        outputs[enrolled[:3]] = out[0].numpy()
    mixture_score = si_sdr_db(mixture[0].numpy(), aew)
    assert si_sdr_db(outputs["aew"], aew) > mixture_score + 1.0  # measured: +4.4 dB
    assert si_sdr_db(outputs["aew"], aew) > si_sdr_db(outputs["aew"], axb) + 3.0
    # enrolled with the other voice, it keeps that one instead
    assert si_sdr_db(outputs["axb"], axb) > si_sdr_db(outputs["axb"], aew) + 3.0


NOISE = CMU_ARCTIC.parents[1] / "noise" / "speech-commands" / "exercise_bike.flac"


# SI-SDR gain and output level measured on this item (2026-12-06 19:10): the default UNet
# +8.8 dB, -1.0 dB (stage 3's end +8.7, -1.1; its 180-minute weights +8.3, -0.9; stage 2 +6.0,
# -3.4); the TCN +7.2 dB, -1.7 dB.
@pytest.mark.skipif(not NOISE.is_file(), reason="no corpus (../shared/corpus/noise)")
@pytest.mark.parametrize("name", ["default", "enhance-convtasnet-16k"])
def test_shipped_enhance_model_removes_held_out_noise(name: str) -> None:
    """A real voice and a real noise, both held out from training, at 0 dB SNR."""
    import numpy as np
    import soundfile as sf
    import torch

    from puresound_cli import enhance, load_model
    from puresound_cli.evaluate import si_sdr_db

    if name == "default":
        name = pretrained.default_model("enhance")
        if name is None:
            pytest.skip("no enhance model shipped")
    speech, rate = sf.read(CMU_ARCTIC / "cmu_arctic_us_axb_a0004.wav", dtype="float32")
    noise, _ = sf.read(NOISE, dtype="float32", frames=len(speech))
    noise = noise * np.sqrt(np.mean(speech**2) / np.mean(noise**2))
    mixture = speech + noise
    out = enhance(load_model(name), torch.from_numpy(mixture)[None], rate)[0].numpy()
    assert si_sdr_db(out, speech) > si_sdr_db(mixture, speech) + 3.0
    level_db = 10 * np.log10(np.mean(out**2) / np.mean(speech**2))
    assert abs(level_db) < 3.0  # calibrated output level


def test_stream_defaults_are_registered_causal_models() -> None:
    from puresound_cli.checkpoint import load_checkpoint, model_from_checkpoint
    from puresound_cli.pretrained import resolve
    from puresound_cli.stream import streamable

    assert set(pretrained.STREAM_DEFAULTS) == set(pretrained.TASKS)
    for task, name in pretrained.STREAM_DEFAULTS.items():
        if name is None:
            continue
        assert pretrained.REGISTRY[name].task == task
        assert pretrained.default_model(task, streaming=True) == name
        model = model_from_checkpoint(load_checkpoint(resolve(name)))
        assert model.task == task and streamable(model) is None
