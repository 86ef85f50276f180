"""The narrow-band default: offline `enhance` without --model hands inputs at 8 kHz or lower
(telephone band) to the model trained for that band, and everything else to the default."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import mix_at_snr, synth_noise, synth_voice
from typer.testing import CliRunner

from puresound_cli import api, pretrained
from puresound_cli.cli import app
from puresound_cli.errors import PuresoundError
from puresound_cli.separate import Separator, load_separator


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two different tiny enhancers, saved as real checkpoints: "wide" and "narrow"."""
    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.nets import ConvTasNetConfig, build

    folder = tmp_path_factory.mktemp("nb-models")
    paths = {}
    for seed, name in enumerate(("wide", "narrow")):
        torch.manual_seed(seed)
        paths[name] = folder / name / "model.pt"
        paths[name].parent.mkdir()
        net = build("convtasnet", dataclasses.asdict(ConvTasNetConfig.tiny()))
        save_checkpoint(paths[name], net)
    return paths


@pytest.fixture
def as_defaults(registered: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Register both; "wide" as the enhance default, "narrow" as its narrow-band partner."""
    for name, path in registered.items():
        entry = pretrained.PretrainedModel(name, "enhance", f"{name}/model.pt",
                                           pretrained.sha256sum(path), 16000, 1)  # fmt: skip
        monkeypatch.setitem(pretrained.REGISTRY, name, entry)
    monkeypatch.setitem(pretrained.DEFAULTS, "enhance", "wide")
    monkeypatch.setitem(pretrained.NARROWBAND_DEFAULTS, "enhance", "narrow")
    root = next(iter(registered.values())).parent.parent
    monkeypatch.setattr(pretrained, "search_roots", lambda: [root])


def noisy(seconds: float, rate: int, seed: int = 3) -> np.ndarray:
    voice = synth_voice(seconds, 140.0, rate)
    return mix_at_snr(voice, synth_noise(seconds, rate, seed=seed), 5.0).astype(np.float32)


def test_registered_narrowband_defaults_are_enhancers() -> None:
    assert set(pretrained.NARROWBAND_DEFAULTS) == set(pretrained.TASKS)
    for task, name in pretrained.NARROWBAND_DEFAULTS.items():
        if name is not None and name in pretrained.REGISTRY:
            assert pretrained.REGISTRY[name].task == task == "enhance"
            assert pretrained.narrowband_model(task) == name
            assert "narrow-band default" in pretrained.roles(name)
    with pytest.raises(ValueError):
        pretrained.narrowband_model("separate")


def test_separator_picks_the_network_by_input_rate(as_defaults: None) -> None:
    sep = load_separator("enhance")
    assert sep.names == ("wide", "narrow") and sep.narrowband is not None
    for rate, name in [(8000, "narrow"), (6000, "narrow"), (11025, "wide"), (16000, "wide"),
                       (44100, "wide")]:  # fmt: skip
        assert sep.model_for(rate) is (sep.narrowband if name == "narrow" else sep.model)
    # an explicit model, or the live stream's causal default, takes every rate itself
    assert load_separator("enhance", model="wide").narrowband is None
    with pytest.raises(PuresoundError):
        load_separator("enhance", streaming=True)  # nothing causal registered in this test


def test_api_enhance_routes_8k_input_to_the_narrowband_model(registered: dict[str, Path]) -> None:
    from puresound_cli.checkpoint import load_separation_model

    wide, narrow = (load_separation_model(registered[k]) for k in ("wide", "narrow"))
    x8 = torch.from_numpy(noisy(1.0, 8000))
    routed = api.enhance(wide, x8, 8000, narrowband=narrow)
    assert torch.equal(routed, api.enhance(narrow, x8, 8000))
    assert not torch.allclose(routed, api.enhance(wide, x8, 8000), atol=1e-4)
    x16 = torch.from_numpy(noisy(1.0, 16000))
    wide_only = api.enhance(wide, x16, 16000)
    assert torch.equal(api.enhance(wide, x16, 16000, narrowband=narrow), wide_only)
    from puresound_cli.nets import ExtractorConfig, build

    extractor = build("extractor", dataclasses.asdict(ExtractorConfig.tiny()))
    with pytest.raises(ValueError, match="narrow-band"):
        Separator(wide, None, narrowband=extractor)


def test_cli_enhance_reports_and_uses_the_narrowband_model(
    as_defaults: None, tmp_path: Path
) -> None:
    runner = CliRunner()
    src8, src16 = tmp_path / "call.wav", tmp_path / "studio.wav"
    sf.write(src8, noisy(1.5, 8000), 8000)
    sf.write(src16, noisy(1.5, 16000), 16000)
    result = runner.invoke(app, ["enhance", str(src8), str(src16), "-o", str(tmp_path / "out"),
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    records = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())
               if "input" in r}  # fmt: skip
    assert records["call.wav"]["model"] == "narrow"
    assert records["studio.wav"]["model"] == "wide"
    assert "narrow-band model narrow" in result.stderr
    # the 8 kHz output is the narrow-band model's, not the default's
    explicit = {}
    for name in ("narrow", "wide"):
        dest = tmp_path / f"by-{name}.wav"
        done = runner.invoke(app, ["enhance", str(src8), "-o", str(dest), "-m", name])
        assert done.exit_code == 0, done.stderr
        explicit[name], _ = sf.read(dest, dtype="float32")
    routed, rate = sf.read(tmp_path / "out" / "call.wav", dtype="float32")
    assert rate == 8000
    np.testing.assert_array_equal(routed, explicit["narrow"])
    assert not np.allclose(routed, explicit["wide"], atol=1e-4)
    listed = runner.invoke(app, ["models"]).stdout
    assert "(narrow-band default)" in listed


def test_evaluate_scores_the_default_pair_as_enhance_runs_it(
    as_defaults: None, tmp_path: Path
) -> None:
    rate = 8000
    clean = synth_voice(1.5, 140.0, rate)
    sf.write(tmp_path / "ref.wav", clean, rate)
    sf.write(tmp_path / "in.wav", mix_at_snr(clean, synth_noise(1.5, rate, seed=5), 5.0), rate)
    (tmp_path / "pairs.tsv").write_text("input\treference\nin.wav\tref.wav\n")
    runner = CliRunner()
    scores = {}
    for args in ([], ["-m", "narrow"], ["-m", "wide"]):
        result = runner.invoke(app, ["evaluate", "--pairs", str(tmp_path / "pairs.tsv"), "--json",
                                     "--task", "enhance", *args])  # fmt: skip
        assert result.exit_code == 0, result.stderr
        scores[" ".join(args)] = json.loads(result.stdout.splitlines()[-1])["mean"]["si_sdr"]
    assert scores[""] == scores["-m narrow"] != scores["-m wide"]
