"""Personal VAD: frame labels, the network, training, and ``puresound vad``."""

from __future__ import annotations

import csv
import json

import numpy as np
import torch
from conftest import synth_voice
from test_train import corpus_dir, tiny_config  # noqa: F401 - fixture

from puresound_cli.checkpoint import load_model
from puresound_cli.nets import PersonalVAD, PersonalVADConfig
from puresound_cli.nets.pvad import frame_labels
from puresound_cli.train import train


def test_frame_labels_follow_the_target() -> None:
    ref = torch.zeros(2, 1, 1600)
    ref[0, 0, 800:1200] = 0.5  # target talks in the middle
    labels = frame_labels(ref, torch.tensor([True, True]), hop=100, frames=17)
    assert labels.shape == (2, 17)
    assert labels[0, 9:11].eq(1).all() and labels[0, :7].eq(0).all() and labels[0, 13:].eq(0).all()
    assert labels[1].eq(0).all()  # silent reference: nothing active
    absent = frame_labels(ref, torch.tensor([False, True]), hop=100, frames=17)
    assert absent[0].eq(0).all()


def test_network_shapes_and_enrollment_dependence() -> None:
    torch.manual_seed(0)
    model = PersonalVAD(PersonalVADConfig.tiny())
    mix = torch.randn(2, 1, 1000)
    assert model(mix, torch.randn(2, 1, 3000)).shape == (2, 1000 // model.hop + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "film" in name:
                p.normal_(0, 0.2)
        a = model.frame_logits(mix[:1], torch.randn(1, model.embed_dim))
        b = model.frame_logits(mix[:1], torch.randn(1, model.embed_dim))
    assert not torch.allclose(a, b)


def test_vad_trains_and_releases(corpus_dir, tmp_path) -> None:  # noqa: F811
    config = tiny_config(corpus_dir, tmp_path / "run", task="vad", max_steps=6, valid_every=3,
                         absent_prob=0.3)  # fmt: skip
    release = train(config)
    model = load_model(release)
    assert model.task == "vad"
    with open(tmp_path / "run" / "log.csv", newline="") as f:
        valid = [r for r in csv.DictReader(f) if r["kind"] == "valid"]
    assert [int(r["step"]) for r in valid] == [3, 6]
    assert all(0 <= float(r["accuracy"]) <= 1 for r in valid)


def test_vad_command_writes_segments(tmp_path) -> None:
    import soundfile as sf
    from typer.testing import CliRunner

    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.cli import app

    torch.manual_seed(0)
    model = PersonalVAD(PersonalVADConfig.tiny())
    with torch.no_grad():  # a detector that says "active" wherever the mixture is loud
        model.head.weight.zero_()
        model.head.bias.fill_(5.0)
    save_checkpoint(tmp_path / "vad.pt", model)
    voice = synth_voice(2.0, 120, seed=1)
    sf.write(tmp_path / "mix.wav", voice, 16000)
    sf.write(tmp_path / "spk.wav", synth_voice(2.0, 120, seed=2), 16000)
    runner = CliRunner()
    args = ["vad", str(tmp_path / "mix.wav"), "--enroll", str(tmp_path / "spk.wav"),
            "--model", str(tmp_path / "vad.pt")]  # fmt: skip
    result = runner.invoke(app, [*args, "-o", "-"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "file\tstart\tend"
    start, end = map(float, lines[1].split("\t")[1:])
    assert start == 0.0 and abs(end - 2.0) < 0.05
    result = runner.invoke(app, [*args, "--json"])
    record = json.loads(result.stdout.strip().splitlines()[0])
    assert record["input"].endswith("mix.wav") and record["segments"][0][0] == 0.0
    table = tmp_path / "segments.tsv"
    table.write_text("keep me\n")
    result = runner.invoke(app, [*args, "-o", str(table)])  # never clobbers
    assert result.exit_code == 2 and "exists" in result.output
    assert table.read_text() == "keep me\n"
    result = runner.invoke(app, [*args, "-o", str(table), "--overwrite"])
    assert result.exit_code == 0 and table.read_text() == "\n".join(lines) + "\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    result = runner.invoke(app, [*args[:4], "-o", "-", "-m", str(tmp_path / "spk.wav")])
    assert result.exit_code == 1 and "spk.wav" in result.output  # not a model: one line, as enhance
    np.testing.assert_array_less(0, end)


def test_extract_with_vad_silences_where_the_target_is_absent(tmp_path) -> None:
    import soundfile as sf
    from typer.testing import CliRunner

    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.cli import app

    torch.manual_seed(0)
    for name, bias in (("on", 8.0), ("off", -8.0)):  # detectors that always / never hear it
        model = PersonalVAD(PersonalVADConfig.tiny())
        with torch.no_grad():
            model.head.weight.zero_()
            model.head.bias.fill_(bias)
        save_checkpoint(tmp_path / f"vad-{name}.pt", model)
    mix = synth_voice(2.0, 120, seed=1) + synth_voice(2.0, 230, seed=2)
    sf.write(tmp_path / "mix.wav", mix, 16000)
    sf.write(tmp_path / "spk.wav", synth_voice(3.0, 120, seed=3), 16000)
    runner = CliRunner()
    base = ["extract", str(tmp_path / "mix.wav"), "--enroll", str(tmp_path / "spk.wav"),
            "--no-track"]  # the personal VAD's gate alone  # fmt: skip
    outputs = {}
    for name in ("plain", "on", "off"):
        extra = [] if name == "plain" else ["--vad", str(tmp_path / f"vad-{name}.pt")]
        result = runner.invoke(app, [*base, "-o", str(tmp_path / f"{name}.wav"), *extra])
        assert result.exit_code == 0, result.output
        outputs[name], _ = sf.read(tmp_path / f"{name}.wav", dtype="float32")
    np.testing.assert_allclose(outputs["on"], outputs["plain"], atol=1e-6)
    ratio = np.sum(outputs["off"] ** 2) / np.sum(outputs["plain"] ** 2)
    assert 10 * np.log10(ratio) < -35  # the -40 dB floor
    result = runner.invoke(app, [*base, "-o", str(tmp_path / "x.wav"), "--vad",
                                 str(tmp_path / "missing.pt")])  # fmt: skip
    assert result.exit_code == 1 and "--vad" in result.output


def test_streaming_vad_equals_offline_and_prints_segments(tmp_path) -> None:
    import io
    import os
    import subprocess
    import sys

    import soundfile as sf

    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.vad import segments
    from puresound_cli.vad_stream import SegmentTracker, StreamingVAD

    torch.manual_seed(0)
    model = PersonalVAD(PersonalVADConfig.tiny()).eval()
    x = 0.1 * torch.randn(3001)
    embedding = torch.randn(1, model.embed_dim)
    with torch.no_grad():
        offline = torch.sigmoid(model.frame_logits(x[None, None], embedding))[0].numpy()
    stream = StreamingVAD(model, embedding)
    pieces = [stream.push(x[i : i + 97].numpy()) for i in range(0, 3001, 97)]
    streamed = np.concatenate([*pieces, stream.flush()])
    np.testing.assert_allclose(streamed, offline, atol=1e-5)
    tracker = SegmentTracker(0.1)  # the same rules as the offline segments, fed in pieces
    probs = np.array([0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0.0])
    found = tracker.push(probs[:3]) + tracker.push(probs[3:17]) + tracker.push(probs[17:])
    found += tracker.flush()
    assert found == segments(probs, 0.1) and len(found) == 2

    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(5.0)
    save_checkpoint(tmp_path / "vad.pt", model)
    sf.write(tmp_path / "spk.wav", synth_voice(2.0, 120, seed=2), 16000)
    buf = io.BytesIO()
    sf.write(buf, synth_voice(1.5, 120, seed=1), 16000, format="WAV", subtype="PCM_16")
    cmd = [sys.executable, "-m", "puresound_cli", "vad", "-", "--stream", "--enroll",
           str(tmp_path / "spk.wav"), "-m", str(tmp_path / "vad.pt")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, input=buf.getvalue(), capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().strip().splitlines()
    assert lines[0] == "file\tstart\tend" and lines[1].startswith("<stdin>\t0.000\t")
    assert abs(float(lines[1].split("\t")[2]) - 1.5) < 0.05


def test_vad_json_into_a_file_is_not_dropped(tmp_path) -> None:
    import soundfile as sf
    from typer.testing import CliRunner

    from puresound_cli.cli import app

    sf.write(tmp_path / "mix.wav", synth_voice(2.0, 120, seed=1), 16000)
    sf.write(tmp_path / "spk.wav", synth_voice(2.0, 120, seed=2), 16000)
    out = tmp_path / "segs.jsonl"
    args = ["vad", str(tmp_path / "mix.wav"), "--enroll", str(tmp_path / "spk.wav"), "--json",
            "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"OMP_NUM_THREADS": "1"})
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the file has it
    record = json.loads(out.read_text().splitlines()[0])
    assert record["input"].endswith("mix.wav") and "segments" in record
