"""train: the loss drops, resume matches an uninterrupted run, DDP, bad data, CLI, corpus smoke."""

from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import synth_noise, synth_voice

from puresound_cli.checkpoint import load_checkpoint, load_model
from puresound_cli.errors import PuresoundError
from puresound_cli.train import TrainConfig, load_config_file, train

SR = 16000
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """Six synthetic speakers (two files each, speakers.tsv) and one pink-noise file."""
    root = tmp_path_factory.mktemp("train-data")
    rows = ["path\tspeaker\tpassage"]
    for s, f0 in enumerate([100, 130, 170, 210, 250, 300]):
        (root / "speech" / f"spk{s}").mkdir(parents=True)
        for u in range(2):
            rel = f"spk{s}/u{u}.wav"
            sf.write(root / "speech" / rel, synth_voice(2.5, f0, seed=10 * s + u), SR)
            rows.append(f"{rel}\tspk{s}\tp{s}-{u}")
    (root / "speech" / "speakers.tsv").write_text("\n".join(rows) + "\n")
    (root / "noise").mkdir()
    sf.write(root / "noise" / "pink.wav", synth_noise(3.0, seed=5, color="pink"), SR)
    return root


def tiny_config(data: Path, out: Path, **kw) -> TrainConfig:
    values = {
        "task": "extract",
        "speech_dirs": (str(data / "speech"),),
        "noise_dirs": (str(data / "noise"),),
        "out": str(out),
        "size": "tiny",
        "batch_size": 4,
        "segment_seconds": 0.5,
        "enroll_seconds": 0.5,
        "max_steps": 8,
        "valid_every": 4,
        "checkpoint_every": 4,
        "log_every": 1,
        "valid_examples": 8,
        "valid_fraction": 0.34,
        "num_workers": 0,
        "threads": 1,
        "lr": 3e-3,
        "tensorboard": False,
    }
    values.update(kw)
    return TrainConfig(**values)


def read_log(run: Path, kind: str) -> dict[int, float]:
    with open(run / "log.csv", newline="") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f) if r["kind"] == kind}


def test_validation_loss_drops(corpus_dir, tmp_path):
    config = tiny_config(
        corpus_dir, tmp_path / "run", task="enhance", max_steps=40, valid_every=5, absent_prob=0.0
    )
    events = []
    release = train(config, progress=events.append)
    valid = read_log(tmp_path / "run", "valid")
    steps = sorted(valid)
    assert steps[0] == 5 and steps[-1] == 40
    assert min(valid[s] for s in steps[-3:]) < valid[steps[0]] - 0.5
    assert [e.kind for e in events][0] == "start" and events[-1].kind == "end"
    ckpt = load_checkpoint(release)
    assert "train_state" not in ckpt and ckpt["meta"]["train_config"]["task"] == "enhance"


class Killed(Exception):
    pass


def test_resume_matches_uninterrupted_run(corpus_dir, tmp_path):
    full = tiny_config(corpus_dir, tmp_path / "full", scheduler="cosine", max_steps=8)
    train(full)
    part = dataclasses.replace(full, out=str(tmp_path / "part"))

    def kill_at_step_6(event):
        if event.kind == "step" and event.step == 6:
            raise Killed  # like SIGKILL: steps 5-6 are lost, last.pt holds step 4

    with pytest.raises(Killed):
        train(part, progress=kill_at_step_6)
    assert load_checkpoint(tmp_path / "part" / "last.pt")["train_state"]["step"] == 4
    train(part)  # resumes from last.pt
    a, b = read_log(tmp_path / "full", "train"), read_log(tmp_path / "part", "train")
    assert sorted(a) == sorted(b) == list(range(1, 9))
    np.testing.assert_allclose([b[s] for s in a], [a[s] for s in a], rtol=1e-4, atol=1e-4)
    va, vb = read_log(tmp_path / "full", "valid"), read_log(tmp_path / "part", "valid")
    assert va[8] == pytest.approx(vb[8], rel=1e-4, abs=1e-4)


def test_release_checkpoint_extracts(corpus_dir, tmp_path):
    from puresound_cli.api import extract

    release = train(tiny_config(corpus_dir, tmp_path / "run", max_steps=2, valid_every=2))
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"last.pt", "best.pt", "model.pt"}
    model = load_model(release)
    assert model.task == "extract"
    mix = synth_voice(1.0, 120) + synth_voice(1.0, 250, seed=4)
    out = extract(model, mix, synth_voice(1.0, 120, seed=9), SR)
    assert out.shape == (SR,) and torch.isfinite(out).all()


def test_early_stopping(corpus_dir, tmp_path):
    events = []
    config = tiny_config(
        corpus_dir, tmp_path / "run", task="enhance", lr=0.0, max_steps=20, valid_every=2
    )
    config = dataclasses.replace(config, early_stopping=1)
    train(config, progress=events.append)
    assert events[-1].kind == "end" and events[-1].step == 4
    assert "early stopping" in events[-1].message
    assert (tmp_path / "run" / "model.pt").is_file()


def test_no_usable_data_stops_at_once(tmp_path):
    speech = tmp_path / "speech" / "spk"
    speech.mkdir(parents=True)
    (speech / "broken.wav").write_bytes(b"not audio")
    config = TrainConfig(speech_dirs=(str(tmp_path / "speech"),), out=str(tmp_path / "run"))
    with pytest.raises(PuresoundError, match="no usable speech.*1 unreadable file"):
        train(config)


def test_config_file_and_unknown_keys(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('task = "enhance"\nspeech_dirs = ["a", "b"]\nsnr_db = [0.0, 5.0]\n')
    config = TrainConfig.from_dict({**load_config_file(toml), "max_steps": 3})
    assert config.speech_dirs == ("a", "b") and config.snr_db == (0.0, 5.0)
    assert config.max_steps == 3
    with pytest.raises(PuresoundError, match="unknown training option"):
        TrainConfig.from_dict({"speech_dirs": ["a"], "learning_rate": 1.0})
    with pytest.raises(PuresoundError):
        TrainConfig(task="isolate", speech_dirs=("a",))


def test_cli_train_with_config_and_override(corpus_dir, tmp_path):
    from typer.testing import CliRunner

    from puresound_cli.cli import app

    toml = tmp_path / "c.toml"
    toml.write_text(
        f'task = "enhance"\nspeech_dirs = ["{corpus_dir / "speech"}"]\nmodel = "tiny"\n'
        "max_steps = 50\nbatch_size = 2\nsegment_seconds = 0.5\nvalid_examples = 4\n"
        "num_workers = 0\nthreads = 1\ntensorboard = false\n"
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["train", "--config", str(toml), "--out", str(run), "--max-steps", "2", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert load_checkpoint(run / "model.pt")["meta"]["step"] == 2
    result = CliRunner().invoke(app, ["train", "--out", str(run)])
    assert result.exit_code == 2  # no --task / --speech


def test_parse_setting_reads_toml_values_and_plain_strings() -> None:
    from puresound_cli.train import parse_setting

    assert parse_setting("sample_rate=8000") == ("sample_rate", 8000)
    assert parse_setting(" snr_db = [0.0, 5.0] ") == ("snr_db", [0.0, 5.0])
    assert parse_setting("causal=true") == ("causal", True)
    assert parse_setting('task="separate"') == ("task", "separate")
    assert parse_setting("out=runs/a b=c") == ("out", "runs/a b=c")  # not TOML: a plain string
    for bad in ("sample_rate", "=8000", ""):
        with pytest.raises(PuresoundError, match="KEY=VALUE"):
            parse_setting(bad)


def test_cli_train_set_any_option(corpus_dir, tmp_path):
    """``train --set KEY=VALUE`` reaches options without a flag of their own, over --config;
    an unknown key, a wrong type or a key also given by its flag is a usage error (exit 2)."""
    from typer.testing import CliRunner

    from puresound_cli.cli import app

    toml = tmp_path / "c.toml"
    toml.write_text(
        f'task = "enhance"\nspeech_dirs = ["{corpus_dir / "speech"}"]\nsize = "tiny"\n'
        "batch_size = 2\nsegment_seconds = 0.5\nvalid_examples = 4\nnum_workers = 0\n"
        "threads = 1\ntensorboard = false\nsnr_db = [0.0, 15.0]\nmax_steps = 50\n"
    )
    run = tmp_path / "run"
    base = ["train", "--config", str(toml), "--out", str(run), "-q"]
    sets = ["--set", "max_steps=2", "--set", "snr_db=[3.0, 4.0]", "--set", "sample_rate=8000"]
    result = CliRunner().invoke(app, [*base, *sets])
    assert result.exit_code == 0, result.output
    meta = load_checkpoint(run / "model.pt")["meta"]
    assert meta["step"] == 2 and meta["train_config"]["sample_rate"] == 8000
    assert tuple(meta["train_config"]["snr_db"]) == (3.0, 4.0)
    for bad, said in (
        (["--set", "learning_rate=1"], "unknown training option"),
        (["--set", "batch_size=two"], "batch_size must be a whole number"),
        (["--set", "max_steps=2", "--max-steps", "3"], "given by its own flag"),
        (["--set", "max_steps"], "KEY=VALUE"),
    ):
        result = CliRunner().invoke(app, [*base[:-3], "--out", str(tmp_path / "bad"), *bad])
        assert result.exit_code == 2 and said in result.output, result.output
        assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_torchrun_two_processes_one_writer(corpus_dir, tmp_path):
    script = tmp_path / "ddp.py"
    config = tiny_config(corpus_dir, tmp_path / "run", max_steps=3, valid_every=3)
    script.write_text(
        "from puresound_cli.train import TrainConfig, train\n"
        f"train(TrainConfig(**{dataclasses.asdict(config)!r}))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run([*cmd, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == [".lock", "best.pt", "last.pt", "log.csv", "model.pt"]  # .lock: rank 0's
    train_rows = read_log(tmp_path / "run", "train")
    with open(tmp_path / "run" / "log.csv") as f:
        assert len(f.read().splitlines()) == 1 + 3 + 1  # header, 3 train rows, 1 valid row
    assert sorted(train_rows) == [1, 2, 3]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]["step"] == 3


@pytest.mark.skipif(not (CORPUS / "speech" / "speakers.tsv").is_file(), reason="no corpus")
def test_corpus_smoke(tmp_path):
    config = TrainConfig(
        task="extract",
        speech_dirs=(str(CORPUS / "speech"),),
        noise_dirs=(str(CORPUS / "noise"),),
        out=str(tmp_path / "run"),
        size="tiny",
        batch_size=2,
        segment_seconds=0.5,
        enroll_seconds=1.0,
        max_steps=2,
        valid_examples=2,
        num_workers=0,
        threads=1,
        tensorboard=False,
    )
    events = []
    release = train(config, progress=events.append)
    assert "485 speakers" in events[0].message
    assert load_model(release).task == "extract"


def test_init_from_copies_matching_weights(corpus_dir, tmp_path):
    """A fresh run started --init-from a checkpoint begins from its weights (lr 0 keeps them)."""
    first = train(tiny_config(corpus_dir, tmp_path / "a", max_steps=2, valid_every=2))
    source = load_checkpoint(first)["state_dict"]
    second = train(
        tiny_config(corpus_dir, tmp_path / "b", max_steps=1, lr=0.0, init_from=str(first))
    )
    copied = load_checkpoint(second)["state_dict"]
    assert source.keys() == copied.keys()
    # parameters only: batch-norm running statistics move on any training forward pass
    weights = [k for k in source if "running_" not in k and "num_batches" not in k]
    assert all(torch.equal(source[k], copied[k]) for k in weights)
    fresh = load_checkpoint(train(tiny_config(corpus_dir, tmp_path / "c", max_steps=1, lr=0.0)))
    assert not all(torch.equal(source[k], fresh["state_dict"][k]) for k in weights)


def test_freeze_speaker_trains_only_the_separator(corpus_dir, tmp_path):
    """freeze_speaker: the speaker net (batch statistics included) ends as it started."""
    first = train(tiny_config(corpus_dir, tmp_path / "a", max_steps=2, valid_every=2))
    source = load_checkpoint(first)["state_dict"]
    run = tmp_path / "b"
    train(tiny_config(corpus_dir, run, max_steps=3, init_from=str(first), freeze_speaker=True))
    last = load_checkpoint(run / "last.pt")
    trained = last["state_dict"]
    speaker = [k for k in source if k.startswith("speaker.")]
    separator = [k for k in source if k.startswith("separator.") and k.endswith("weight")]
    assert speaker and all(torch.equal(source[k], trained[k]) for k in speaker)
    assert any(not torch.equal(source[k], trained[k]) for k in separator)
    assert read_log(run, "train")  # no speaker loss to log, still a training log
    assert all(float(row) == 0.0 for row in _column(run, "speaker_loss"))


def _column(run: Path, name: str) -> list[str]:
    with open(run / "log.csv", newline="") as f:
        return [r[name] for r in csv.DictReader(f) if r["kind"] == "train"]


def test_init_from_other_architecture_is_refused(corpus_dir, tmp_path):
    enhancer = train(tiny_config(corpus_dir, tmp_path / "e", task="enhance", max_steps=1))
    other = dict(load_checkpoint(enhancer))
    other["state_dict"] = {"unrelated.weight": torch.zeros(3)}
    bad = tmp_path / "bad.pt"
    torch.save(other, bad)
    with pytest.raises(PuresoundError, match="init_from"):
        train(tiny_config(corpus_dir, tmp_path / "f", max_steps=1, init_from=str(bad)))


def test_resume_keeps_the_speaker_split_when_the_data_changes(corpus_dir, tmp_path):
    """Validation speakers and AAM class labels are saved and restored, not recomputed."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(corpus_dir, data)
    config = tiny_config(data, tmp_path / "run", max_steps=4)
    train(config)
    saved = load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]["speakers"]
    assert saved["train"] == sorted(saved["train"]) and not set(saved["train"]) & set(
        saved["valid"]
    )
    # a new speaker appears: a fresh split would move speakers between training and validation
    (data / "speech" / "spk6").mkdir()
    sf.write(data / "speech" / "spk6" / "u0.wav", synth_voice(2.5, 330, seed=77), SR)
    with open(data / "speech" / "speakers.tsv", "a") as f:
        f.write("spk6/u0.wav\tspk6\tp6-0\n")
    train(dataclasses.replace(config, max_steps=6))
    resumed = load_checkpoint(tmp_path / "run" / "last.pt")
    assert resumed["train_state"]["step"] == 6
    assert resumed["train_state"]["speakers"] == saved
    assert resumed["train_state"]["speaker_loss"]["weight"].shape[0] == len(saved["train"])


def test_validation_speakers_never_reach_the_training_stream(corpus_dir):
    from puresound_cli import data as D
    from puresound_cli.train import build_data

    config = tiny_config(corpus_dir, corpus_dir / "unused", valid_fraction=0.34)
    train_src, valid_src, split = build_data(config, D.DataReport())
    valid = set(split["valid"])
    assert valid and set(split["train"]) == set(train_src.speakers)
    assert not valid & {u.speaker for u in train_src.bank.utterances}
    for i in range(40):
        ex = train_src.example(i)
        names = [train_src.bank.utterances[k].speaker for k in (*ex.sources, ex.enrollment_source)]
        assert not valid & set(names)
        assert train_src.speakers[ex.speaker] == names[0]
    for i in range(8):
        ex = valid_src.example(i)
        assert valid_src.bank.utterances[ex.sources[0]].speaker in valid


def test_kaldi_validation_holds_out_whole_speakers(tmp_path):
    from puresound_cli import data as D
    from puresound_cli.train import build_data

    folder = tmp_path / "lists"
    folder.mkdir()
    tables: dict[str, list[str]] = {"wav2scp": [], "wav2ref": [], "ref2list": [], "ref2spk": []}
    for k in range(12):
        spk = k % 4
        sf.write(folder / f"t{k}.wav", synth_voice(0.6, 120 + 40 * spk, seed=k), SR)
        for name, value in (("wav2scp", f"t{k}.wav"), ("wav2ref", f"t{k}.wav")):
            tables[name].append(f"m{k} {value}")
        tables["ref2list"].append(f"m{k} t{(k + 4) % 12}.wav")
        tables["ref2spk"].append(f"m{k} s{spk}")
    for name, lines in tables.items():
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    config = TrainConfig(speech_dirs=(str(folder),), valid_fraction=0.25, segment_seconds=0.5)
    train_src, valid_src, split = build_data(config, D.DataReport())
    train_spk = {e.speaker for e in train_src.entries}
    valid_spk = {e.speaker for e in valid_src.entries}
    assert valid_spk and train_spk and not train_spk & valid_spk
    assert split == {"train": sorted(train_spk), "valid": sorted(valid_spk)}


def test_non_finite_loss_or_gradients_skip_the_batch(corpus_dir, tmp_path, monkeypatch):
    """A NaN gradient (finite loss) must not reach the weights; a skipped batch at a
    validation/checkpoint step still validates and checkpoints."""
    from puresound_cli import losses

    calls = {"n": 0}

    class Faulty(losses.SignalLoss):
        def __call__(self, estimate, reference, target_present=None):
            loss = super().__call__(estimate, reference, target_present)
            if not estimate.requires_grad:  # validation
                return loss
            calls["n"] += 1
            if calls["n"] == 2:  # finite loss, NaN gradients
                estimate.register_hook(lambda g: torch.full_like(g, float("nan")))
            if calls["n"] == 4:  # non-finite loss at the last step
                return loss * float("nan")
            return loss

    monkeypatch.setattr(losses, "SignalLoss", Faulty)
    config = tiny_config(
        corpus_dir, tmp_path / "run", task="enhance", max_steps=4, valid_every=2, checkpoint_every=2
    )
    train(config)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["train_state"]["step"] == 4
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )
    assert sorted(read_log(tmp_path / "run", "valid")) == [2, 4]
    assert sorted(read_log(tmp_path / "run", "train")) == [1, 3]
    assert all(np.isfinite(v) for v in read_log(tmp_path / "run", "valid").values())


def test_calibrate_output_level_restores_reference_level():
    """The release gain is the median least-squares gain over target-present items."""
    from puresound_cli.nets import ConvTasNet, ConvTasNetConfig
    from puresound_cli.train import calibrate_output_level

    model = ConvTasNet(ConvTasNetConfig.tiny()).eval()
    mix = torch.randn(4, 1, 800)
    with torch.no_grad():
        est = model(mix)
    present = torch.tensor([True, True, True, False])
    ref = 2.5 * est
    ref[3] = mix[3]  # target absent: the reference is the mixture, left out of the gain
    batch = {"mixture": mix, "reference": ref, "present": present}
    calibrated, gain, items = calibrate_output_level(model, [batch])
    assert items == 3 and gain == pytest.approx(2.5, rel=1e-4)
    with torch.no_grad():
        assert torch.allclose(calibrated(mix), ref[:3].new_tensor(2.5) * est, atol=1e-5)
    assert calibrated.config.output_gain == pytest.approx(2.5, rel=1e-4)
    flipped = {**batch, "reference": -ref}  # a model that learned the opposite polarity
    _, gain, _ = calibrate_output_level(model, [flipped])
    assert gain == pytest.approx(-2.5, rel=1e-4)


def test_validation_absent_level_is_measured_at_the_released_output_level():
    """A network's raw output level is arbitrary; absent_db must not depend on it."""
    from puresound_cli.losses import SignalLoss
    from puresound_cli.train import validate

    class Scaled(torch.nn.Module):
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, mixture: torch.Tensor) -> torch.Tensor:
            return self.scale * mixture

    torch.manual_seed(0)
    target, noise = torch.randn(4, 1, 4000), torch.randn(4, 1, 4000)
    present = torch.tensor([True, True, False, False])
    mixture = target + noise
    reference = torch.where(present[:, None, None], target, mixture)
    batches = [{"mixture": mixture, "reference": reference, "present": present}]
    results = [
        validate(Scaled(scale), batches, SignalLoss(), torch.device("cpu"), "enhance", False)
        for scale in (1.0, 0.1)
    ]
    assert results[0]["absent_db"] == pytest.approx(results[1]["absent_db"], abs=1e-4)
    # calibrated like a release: the gain <mix, target> / <mix, mix> (about 1/2 here) is applied
    gains = [float((mixture[i] * target[i]).sum() / mixture[i].pow(2).sum()) for i in (0, 1)]
    expected = 20 * float(np.mean(np.log10(gains)))
    assert results[0]["absent_db"] == pytest.approx(expected, abs=1e-3)
    assert results[0]["si_sdri"] == pytest.approx(results[1]["si_sdri"], abs=1e-4)


def test_amp_bf16_training_step_on_cpu(corpus_dir, tmp_path):
    """amp = "bf16" trains under CPU autocast (what CUDA runs), with finite losses and weights."""
    config = tiny_config(corpus_dir, tmp_path / "run", max_steps=2, valid_every=2, amp="bf16")
    train(config)
    losses_ = read_log(tmp_path / "run", "train")
    assert sorted(losses_) == [1, 2] and all(np.isfinite(v) for v in losses_.values())
    ckpt = load_checkpoint(tmp_path / "run" / "model.pt")
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )


def test_amp_option_values():
    assert TrainConfig.from_dict({"speech_dirs": ["a"], "amp": True}).amp == "auto"
    assert TrainConfig.from_dict({"speech_dirs": ["a"], "amp": False}).amp == "off"
    with pytest.raises(PuresoundError, match="amp"):
        TrainConfig.from_dict({"speech_dirs": ["a"], "amp": "fp8"})


def test_config_types_are_checked():
    with pytest.raises(PuresoundError, match="batch_size must be a whole number.*eight"):
        TrainConfig.from_dict({"speech_dirs": ["a"], "batch_size": "eight"})
    with pytest.raises(PuresoundError, match="sir_db"):
        TrainConfig.from_dict({"speech_dirs": ["a"], "sir_db": [1.0]})
    config = TrainConfig.from_dict({"speech_dirs": "a", "lr": 1, "model": "tiny"})
    assert config.speech_dirs == ("a",) and config.lr == 1.0 and config.size == "tiny"


def test_time_budget_ends_on_time_with_the_schedule_done(corpus_dir, tmp_path):
    """--time-budget: the run stops within 5 % of the budget, model.pt written inside it, with
    the cosine schedule run down to (nearly) zero."""
    import time

    budget_min = 0.25
    config = tiny_config(
        corpus_dir, tmp_path / "run", max_steps=100_000, valid_every=40, checkpoint_every=40,
        time_budget_minutes=budget_min, task="enhance", snapshot_minutes=(0.05, 0.15, 10.0),
    )  # fmt: skip
    events = []
    start = time.monotonic()
    release = train(config, progress=events.append)
    took = time.monotonic() - start
    assert release.is_file()
    snaps = [load_checkpoint(tmp_path / "run" / f"at-{m}min.pt")["meta"] for m in (0.05, 0.15)]
    assert snaps[0]["elapsed_minutes"] >= 0.05 and snaps[1]["elapsed_minutes"] >= 0.15
    assert 0 < snaps[0]["step"] < snaps[1]["step"]
    assert not (tmp_path / "run" / "at-10min.pt").exists()
    assert 0.95 * budget_min * 60 <= took <= 1.05 * budget_min * 60, took
    assert "time budget" in events[-1].message
    with open(tmp_path / "run" / "log.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "train"]
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] > 0.5 * config.lr and lrs[-1] < 0.05 * config.lr, (lrs[0], lrs[-1])
    assert all(a >= b - 1e-12 for a, b in zip(lrs, lrs[1:], strict=False))  # decays by time
    elapsed = [float(r["elapsed_s"]) for r in rows]
    assert elapsed == sorted(elapsed) and elapsed[-1] < budget_min * 60


def test_elapsed_time_continues_after_resume(corpus_dir, tmp_path):
    config = tiny_config(corpus_dir, tmp_path / "run", max_steps=4)
    train(config)
    train(dataclasses.replace(config, max_steps=8))
    with open(tmp_path / "run" / "log.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "train"]
    elapsed = [float(r["elapsed_s"]) for r in rows]
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    assert elapsed == sorted(elapsed), elapsed


def test_torchrun_time_budget_stops_every_rank_together(corpus_dir, tmp_path):
    """Ranks follow rank 0's clock: same schedule, same last step (a rank that stopped alone
    would leave the other waiting in the gradient all-reduce until the timeout)."""
    script = tmp_path / "ddp.py"
    config = tiny_config(
        corpus_dir, tmp_path / "run", max_steps=100_000, valid_every=50, checkpoint_every=50,
        time_budget_minutes=0.15, task="enhance",
    )  # fmt: skip
    script.write_text(
        "from puresound_cli.train import TrainConfig, train\n"
        f"train(TrainConfig(**{dataclasses.asdict(config)!r}))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run([*cmd, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["train_state"]["elapsed_s"] <= 0.15 * 60
    assert (tmp_path / "run" / "model.pt").is_file()


def test_cli_train_backbone(corpus_dir, tmp_path):
    """train --backbone dprnn: the checkpoint records the masker; an old-style run still loads."""
    from typer.testing import CliRunner

    from puresound_cli.cli import app

    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--task", "extract", "--speech", str(corpus_dir / "speech"), "--out", str(run),
        "--size", "tiny", "--backbone", "dprnn", "--max-steps", "2", "--batch-size", "2",
        "--segment-seconds", "0.5", "--num-workers", "0", "--threads", "1", "-q",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    model = load_model(run / "model.pt")
    assert model.config.separator.masker == "dprnn"
    result = CliRunner().invoke(app, ["train", "--task", "extract", "--speech",
                                      str(corpus_dir / "speech"), "--out", str(tmp_path / "x"),
                                      "--backbone", "transformer"])  # fmt: skip
    assert result.exit_code == 2 and "backbone must be one of" in result.output


def test_resumed_budget_run_keeps_its_validation_time(corpus_dir, tmp_path):
    config = tiny_config(corpus_dir, tmp_path / "run", task="enhance", max_steps=3,
                         valid_every=100, time_budget_minutes=0.5)  # fmt: skip
    train(config)
    first = load_checkpoint(tmp_path / "run" / "last.pt")["train_state"]
    assert first["valid_s"] > 0 and first["step"] == 3
    train(dataclasses.replace(config, max_steps=5))
    with open(tmp_path / "run" / "log.csv", newline="") as f:
        valid_steps = [int(r["step"]) for r in csv.DictReader(f) if r["kind"] == "valid"]
    assert valid_steps == [0, 3, 5]  # the timing validation ran once, not again on resume


def test_cli_train_vad_reports_frame_accuracy(corpus_dir, tmp_path):
    """A personal VAD has no waveform to score: its validation line gives frame accuracy."""
    from typer.testing import CliRunner

    from puresound_cli.cli import app

    result = CliRunner().invoke(app, [
        "train", "--task", "vad", "--speech", str(corpus_dir / "speech"), "--out",
        str(tmp_path / "run"), "--size", "tiny", "--max-steps", "2", "--batch-size", "2",
        "--segment-seconds", "0.5", "--num-workers", "0", "--threads", "1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stderr.splitlines() if "valid loss" in x]
    assert lines and all("frame accuracy" in x and "SI-SDRi" not in x for x in lines), lines


def test_absent_floor_reaches_the_loss():
    from puresound_cli.train.objective import build_objective

    config = TrainConfig(speech_dirs=("s",), task="enhance", absent_floor_db=-30.0)
    _, objective, _ = build_objective(config, 0, torch.device("cpu"))
    assert objective.signal_loss.absent_floor == pytest.approx(1e-3)
    est, mix = torch.full((1, 1000), 1e-3), torch.ones(1, 1000)
    absent = torch.tensor([False])
    # -60 dB output: the term sits near the -30 dB floor (it would stop at -20 with the default)
    assert objective.signal_loss(est, mix, absent).item() == pytest.approx(-29.96, abs=0.05)


def test_a_budget_that_ends_before_the_first_step_writes_no_model(corpus_dir, tmp_path):
    """``--time-budget 0.01`` used to write the untrained weights as model.pt and exit 0."""
    config = tiny_config(corpus_dir, tmp_path / "run", task="enhance", time_budget_minutes=1e-4)
    with pytest.raises(PuresoundError, match="before the first training step"):
        train(config)
    assert not (tmp_path / "run" / "model.pt").exists()


def test_a_run_folder_takes_one_training_process(corpus_dir, tmp_path):
    """Two runs into one folder interleaved log.csv; the second is refused, naming the first,
    and a lock left by a process that ended is taken over."""
    from puresound_cli.train.lock import RunLock

    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("pid 999999 on elsewhere, started long ago\n")  # stale: not held
    with RunLock(run):
        held = (run / ".lock").read_text()
        assert f"pid {os.getpid()}" in held
        child = subprocess.run(
            [sys.executable, "-m", "puresound_cli", "train", "--task", "enhance", "--speech",
             str(corpus_dir / "speech"), "--noise", str(corpus_dir / "noise"), "--out", str(run),
             "--size", "tiny", "--max-steps", "1"],  # fmt: skip
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        assert child.returncode != 0
        errors = [line for line in child.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and f"pid {os.getpid()}" in errors[0], child.stderr
        assert not (run / "log.csv").exists()
    config = tiny_config(corpus_dir, run, task="enhance", max_steps=2, valid_every=2)
    train(config)  # the lock is free again
    assert (run / "model.pt").is_file()


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("noise_prob", 7.0, "noise_prob"),
        ("threads", -1, "threads"),
        ("sir_db", (10.0, -10.0), "sir_db"),
        ("sample_rate", 123, "sample_rate"),
        ("time_budget_minutes", float("inf"), "time_budget_minutes"),
        ("lr", -1.0, "lr"),
        ("lr", float("nan"), "lr"),
        ("snapshot_minutes", (5.0, -1.0), "snapshot_minutes"),
    ],
)
def test_every_option_is_range_checked(corpus_dir, tmp_path, key, value, needle):
    with pytest.raises(PuresoundError, match=needle):
        tiny_config(corpus_dir, tmp_path / "run", **{key: value})


def test_cli_range_errors_are_one_line(corpus_dir, tmp_path):
    from typer.testing import CliRunner

    from puresound_cli.cli import app

    base = ["train", "--task", "enhance", "--speech", str(corpus_dir / "speech"),
            "--out", str(tmp_path / "run")]  # fmt: skip
    for extra in (["--time-budget", "inf"], ["--lr", "-1"], ["--lr", "nan"]):
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert "Traceback" not in result.output and "error:" in result.output
    toml = tmp_path / "c.toml"
    toml.write_text(f'task = "enhance"\nspeech_dirs = ["{corpus_dir / "speech"}"]\n'
                    "time_budget_minutes = nan\n")  # fmt: skip
    result = CliRunner().invoke(app, ["train", "--config", str(toml), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "time_budget_minutes" in result.output


def test_resuming_with_another_backbone_says_which_option(corpus_dir, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(corpus_dir, run, task="enhance", max_steps=1, valid_every=1))
    with pytest.raises(PuresoundError) as info:
        train(tiny_config(corpus_dir, run, task="enhance", max_steps=2, backbone="dprnn"))
    message = str(info.value)
    assert "backbone 'convtasnet' -> 'dprnn'" in message and len(message) < 300


def test_a_backbone_without_the_size_is_a_config_error() -> None:
    """Refused when the config is read (a usage error, no run folder made), not in the run."""
    with pytest.raises(PuresoundError, match="backbone unet has no 'seed' size"):
        TrainConfig(speech_dirs=("s",), task="separate", size="seed", backbone="unet")
    assert TrainConfig(speech_dirs=("s",), task="vad", size="seed", backbone="unet").size == "seed"
