"""Regression tests for the break-it pass: data loss, silent wrong results, tracebacks, messages.

Each test drives the command line (CliRunner, or a real process where pipes, devices and signals
matter) the way the defect was found.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import synth_noise, synth_voice
from test_cli import _pin_terminal, models, noisy, run, write  # noqa: F401 - fixtures

from puresound_cli.errors import PuresoundError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}


def cli(*args: str | Path, **kw) -> subprocess.Popen:
    command = [sys.executable, "-m", "puresound_cli", *map(str, args)]
    return subprocess.Popen(command, cwd=ROOT, env=ENV, stderr=subprocess.PIPE, **kw)


# --------------------------------------------------------------------------- 1. stdout


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_to_a_full_disk_fails(models, tmp_path) -> None:
    src = write(tmp_path / "a.wav", noisy(2.0))
    with open("/dev/full", "wb") as full:
        proc = cli("enhance", src, "-o", "-", "-m", models["enhance"], stdout=full)
        _, err = proc.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert proc.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error:") and "space" in lines[0], lines


def test_stdout_closed_pipe_is_not_success(models, tmp_path) -> None:
    src = write(tmp_path / "a.wav", noisy(20.0))  # 640 kB: more than a pipe buffers
    proc = cli("enhance", src, "-o", "-", "-m", models["enhance"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert len(proc.stdout.read(100)) == 100  # like `| head -c 100`
    proc.stdout.close()
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.wait(timeout=120)
    assert proc.returncode != 0 and "pipe" in err, err


def test_dev_null_output_works(run, models, tmp_path) -> None:
    src = write(tmp_path / "a.wav", noisy(0.5))
    result = run("enhance", src, "-o", "/dev/null", "-m", models["enhance"])
    assert result.exit_code == 0, result.stderr


# --------------------------------------------------------------------------- 2, 3. clobbering


def test_existing_plot_is_refused_without_overwrite(tmp_path) -> None:
    from puresound_cli.jobs import plan_jobs

    src = write(tmp_path / "a.wav", noisy(0.3))
    (tmp_path / "out.png").write_bytes(b"keep")
    plan = plan_jobs([str(src)], str(tmp_path / "out.wav"), companions=(".png",))
    assert not plan.jobs and "out.png exists" in plan.failures[0][1]
    plan = plan_jobs([str(src)], str(tmp_path / "out.wav"), overwrite=True, companions=(".png",))
    assert len(plan.jobs) == 1
    assert (tmp_path / "out.png").read_bytes() == b"keep"


def test_output_created_by_another_run_is_not_replaced(tmp_path) -> None:
    """Two runs, one output: the one that finishes second fails and keeps the first's file."""
    from puresound_cli import load_model
    from puresound_cli.separate import Separator

    src = write(tmp_path / "a.wav", noisy(1.0))
    dest = tmp_path / "out.wav"
    separator = Separator(load_model("enhance-convtasnet-16k"), segment=0.25, overlap=0.05)

    def other_run_writes(done: float, total: float) -> None:
        if not dest.exists():
            dest.write_bytes(b"the other run's output")

    with pytest.raises(PuresoundError, match="not replaced"):
        separator.process_file(src, dest, progress=other_run_writes)
    assert dest.read_bytes() == b"the other run's output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "out.wav"]  # no temp left
    separator.process_file(src, dest, overwrite=True)
    assert sf.info(dest).frames == 16000


# --------------------------------------------------------------------------- 4. enrollment


def test_short_or_non_speech_enrollment_is_refused(run, tmp_path) -> None:
    mix = write(tmp_path / "mix.wav", synth_voice(1.0, 120, seed=1) + synth_voice(1.0, 210, seed=2))
    cases = {
        "short.wav": synth_voice(0.3, 120, seed=3),
        "one.wav": np.array([0.1], dtype=np.float32),
        "white.wav": 0.1 * synth_noise(3.0, seed=4, color="white"),
    }
    for name, wav in cases.items():
        enroll = write(tmp_path / name, wav)
        out = tmp_path / f"out-{name}"
        result = run("extract", mix, "--enroll", enroll, "-o", out)
        assert result.exit_code != 0 and not out.exists(), (name, result.stderr)
        assert len(result.error_lines()) == 1 and "--force-enroll" in result.stderr, result.stderr
        assert "speech" in result.stderr
    result = run("extract", mix, "--enroll", tmp_path / "short.wav", "-o", tmp_path / "f.wav",
                 "--force-enroll")  # fmt: skip
    assert result.exit_code == 0 and "warning" in result.stderr, result.stderr
    long = write(tmp_path / "long.wav", synth_voice(3.0, 120, seed=5))
    result = run("extract", mix, "--enroll", long, "-o", tmp_path / "ok.wav")
    assert result.exit_code == 0 and "warning" not in result.stderr, result.stderr


# --------------------------------------------------------------------------- 5. evaluate


def test_evaluate_reads_the_task_and_warns_about_references(run, tmp_path) -> None:
    ex = ROOT / "models" / "examples"
    mixture, rate = sf.read(ex / "mixture.wav", dtype="float32")
    reference, _ = sf.read(ex / "reference.wav", dtype="float32")
    sf.write(tmp_path / "ref8k.wav", reference[::2], 8000)  # another rate (naive decimation)
    sf.write(tmp_path / "short.wav", reference[: rate * 3], rate)  # another length
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "input\treference\tenrollment\n"
        f"{ex / 'mixture.wav'}\t{tmp_path / 'ref8k.wav'}\t{ex / 'enrollment.wav'}\n"
        f"{ex / 'mixture.wav'}\t{tmp_path / 'short.wav'}\t{ex / 'enrollment.wav'}\n"
    )
    result = run("evaluate", "--pairs", pairs, "--json")  # no --task, no --model
    assert result.exit_code == 0, result.stderr
    assert "resampled" in result.stderr and "scored over the first 3.000 s" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert "mean" in lines[-1] and len(lines) == 3


def test_evaluate_names_a_bad_file_once(run, tmp_path) -> None:
    ex = ROOT / "models" / "examples"
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(f"{tmp_path / 'missing.wav'}\t{ex / 'reference.wav'}\n")
    result = run("evaluate", "--pairs", pairs, "--task", "enhance")
    assert result.exit_code == 1
    error = [line for line in result.stderr.splitlines() if "missing.wav" in line]
    assert len(error) == 1 and error[0].count("missing.wav") == 1, result.stderr


# --------------------------------------------------------------------------- 6. output names


def test_output_names_are_never_guessed_silently(run, models, tmp_path) -> None:
    a = write(tmp_path / "a.wav", noisy(0.3))
    b = write(tmp_path / "b.wav", noisy(0.3, seed=1))
    m = ("-m", models["enhance"])
    for name in ("x.m4a", "x.xyz"):
        result = run("enhance", a, "-o", tmp_path / "out" / name, *m)
        assert result.exit_code == 2 and "not an audio format" in result.stderr, result.stderr
        assert not (tmp_path / "out").exists()
    result = run("enhance", a, b, "-o", tmp_path / "multi.wav", *m)
    assert result.exit_code == 2 and "need an output folder" in result.stderr
    assert not (tmp_path / "multi.wav").exists()
    result = run("enhance", a, "-o", tmp_path / "newname", *m)
    assert result.exit_code == 0 and "creating the folder" in result.stderr
    assert (tmp_path / "newname" / "a.wav").is_file()


# --------------------------------------------------------------------------- 7. tracebacks


def test_train_usage_errors_are_one_line(run, tmp_path) -> None:
    speech = tmp_path / "speech"
    speech.mkdir()
    afile = write(tmp_path / "taken.wav", noisy(0.1))
    bad = tmp_path / "bad.toml"
    bad.write_text('batch_size = "eight"\n')
    cases = [
        (("--out", afile), "is a file"),
        (("--out", tmp_path / "run", "--config", bad), "batch_size must be a whole number"),
        (("--out", tmp_path / "run", "--device", "tpu"), "unknown device 'tpu'"),
    ]
    for extra, needle in cases:
        result = run("train", "--task", "enhance", "--speech", speech, *extra)
        assert result.exit_code == 2, (extra, result.stderr)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert len(result.error_lines()) == 1 and needle in result.stderr, result.stderr


def test_train_model_option_is_deprecated(run, tmp_path) -> None:
    result = run("train", "--task", "enhance", "--model", "tiny", "--out", tmp_path / "r")
    assert result.exit_code == 2  # no --speech
    assert "deprecated" in result.stderr and "--size" in result.stderr
    result = run("train", "--help")
    assert "--size" in result.stdout and "--time-budget" in result.stdout


# --------------------------------------------------------------------------- 8. messages


def test_help_shows_no_type_after_flags(run) -> None:
    result = run("enhance", "--help")
    assert "<bool>" not in result.stdout and "--overwrite" in result.stdout


def test_flag_given_a_value_says_so(run, models, tmp_path) -> None:
    a = write(tmp_path / "a.wav", noisy(0.3))
    result = run("enhance", a, "-o", tmp_path / "o.wav", "--overwrite", "true", "-m",
                 models["enhance"])  # fmt: skip
    assert result.exit_code == 2
    assert "'true' is taken as an input: flags such as --overwrite take no value" in result.stderr
    result = run("enhance", a, "true", "-o", tmp_path / "folder", "-m", models["enhance"])
    assert result.exit_code == 1  # a.wav done, "true" failed
    assert "true: file not found (flags such as --overwrite take no value)" in result.stderr


def test_skipped_links_in_an_input_folder_are_reported(run, models, tmp_path) -> None:
    inp = tmp_path / "in"
    write(inp / "a.wav", noisy(0.3))
    other = tmp_path / "elsewhere"
    write(other / "b.wav", noisy(0.3))
    (inp / "linked").symlink_to(other, target_is_directory=True)
    (inp / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    result = run("enhance", inp, "-o", tmp_path / "out", "-m", models["enhance"])
    assert result.exit_code == 0, result.stderr
    assert "symlinked folder (not followed)" in result.stderr
    assert "dangling link" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_says_permission_denied(run, models, tmp_path) -> None:
    a = write(tmp_path / "a.wav", noisy(0.3))
    a.chmod(0)
    result = run("enhance", a, "-o", tmp_path / "o.wav", "-m", models["enhance"])
    assert result.exit_code == 1 and "permission denied" in result.stderr


def test_junk_model_file_gives_a_reason(run, tmp_path) -> None:
    a = write(tmp_path / "a.wav", noisy(0.3))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(1000))
    result = run("enhance", a, "-o", tmp_path / "o.wav", "-m", junk)
    assert result.exit_code != 0
    assert "not a PyTorch file" in result.stderr and "it: )" not in result.stderr


def test_no_rtf_for_a_one_sample_file(run, models, tmp_path) -> None:
    a = write(tmp_path / "a.wav", np.array([0.1], dtype=np.float32))
    result = run("enhance", a, "-o", tmp_path / "o.wav", "-m", models["enhance"], "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rtf"] is None and "RTF" not in result.stderr


def test_ignored_options_are_reported(run, models, tmp_path) -> None:
    a = write(tmp_path / "a.wav", noisy(0.3))
    result = run("enhance", a, "-o", tmp_path / "o.wav", "--suffix", "_x", "-m", models["enhance"])
    assert result.exit_code == 0 and "--suffix" in result.stderr and "ignored" in result.stderr
    result = run("enhance", "-", "-o", "-", "--json", "-m", models["enhance"],
                 input=(tmp_path / "a.wav").read_bytes())  # fmt: skip
    assert result.exit_code == 0 and "--json" in result.stderr


def test_sigterm_exits_143_and_leaves_nothing(models, tmp_path) -> None:
    src = write(tmp_path / "long.wav", noisy(300.0))  # seconds of work, even on a fast machine
    out = tmp_path / "out"
    proc = cli("enhance", src, "-o", out / "o.wav", "-m", models["enhance"], "--segment", "0.25",
               "--overlap", "0.05", stdout=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:  # the writer has started
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    assert "terminated" in err.decode()
    assert not out.exists() or list(out.iterdir()) == []


# --------------------------------------------------------------------------- round 3 (#25)


def _vad_case(tmp_path: Path) -> tuple[Path, Path]:
    mix = write(tmp_path / "x.wav", synth_voice(2.0, 120.0, seed=1))
    enroll = write(tmp_path / "e.wav", synth_voice(2.0, 120.0, seed=2))
    return mix, enroll


def test_no_command_writes_over_any_of_its_inputs(run, models, tmp_path) -> None:
    """Inputs, enrollments and models are never outputs, even with --overwrite."""
    mix, enroll = _vad_case(tmp_path)
    model = tmp_path / "m.pt"
    model.write_bytes(Path(models["extract"]).read_bytes())
    before = {p: p.read_bytes() for p in (mix, enroll, model)}
    for target in (mix, enroll, model):
        result = run("vad", mix, "--enroll", enroll, "-m", model, "-o", target, "--overwrite")
        assert result.exit_code == 2 and "refusing to write over" in result.stderr, result.stderr
    for target, role in ((enroll, "enrollment"), (model, "model")):
        result = run("extract", mix, "-e", enroll, "-m", model, "-o", target, "--overwrite",
                     "--force-enroll")  # fmt: skip
        assert result.exit_code == 1 and f"over the {role}" in result.stderr, result.stderr
    result = run("export", model, "-o", model, "--overwrite")
    assert result.exit_code == 1 and "over the model" in result.stderr, result.stderr
    assert {p: p.read_bytes() for p in (mix, enroll, model)} == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_output_is_written_into_never_replaced(run, models, tmp_path) -> None:
    import stat
    import threading

    mix, enroll = _vad_case(tmp_path)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    result = run("export", models["enhance"], "-o", fifo, "--overwrite", "--format", "torchscript")
    assert result.exit_code == 1 and "not a regular file" in result.stderr, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = run("vad", mix, "--enroll", enroll, "-m", models["extract"], "-o", fifo,
                 "--overwrite")  # fmt: skip
    reader.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO
    assert received and received[0].startswith(b"file\tstart\tend")


def test_model_files_that_are_not_checkpoints_are_named(run, models, tmp_path) -> None:
    a = write(tmp_path / "a.wav", noisy(0.3))
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(Path(models["enhance"]).read_bytes()[:3000])
    log = tmp_path / "log.csv"
    log.write_text("step,kind\n1,train\n")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"\x08\x07" * 50)
    for path, needle in ((truncated, "truncated"), (log, "not a PyTorch file"), (onnx, "ONNX")):
        result = run("enhance", a, "-o", tmp_path / "o.wav", "-m", path)
        assert result.exit_code == 1 and needle in result.stderr, result.stderr
        assert len(result.error_lines()) == 1 and "Traceback" not in result.stderr


def test_export_into_an_unwritable_folder_is_one_line(run, models, tmp_path) -> None:
    result = run("export", models["enhance"], "-o", "/proc/x.pt")
    assert result.exit_code == 1 and len(result.error_lines()) == 1, result.stderr
    assert "cannot write" in result.stderr or "no such folder" in result.stderr


def test_shards_are_disjoint_and_complete(run, models, tmp_path) -> None:
    from puresound_cli.inputs import in_shard, parse_shard

    names = [f"sub{i % 3}/f{i}.wav" for i in range(200)]
    parts = [{n for n in names if in_shard(n, k, 4)} for k in range(1, 5)]
    assert set().union(*parts) == set(names) and sum(map(len, parts)) == len(names)
    assert all(20 < len(p) < 80 for p in parts)  # roughly even
    for bad in ("0/4", "5/4", "x", "1/0", "2"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    for i in range(6):
        write(tmp_path / "in" / f"sub{i % 2}" / f"f{i}.wav", noisy(0.2, seed=i))
    outputs = []
    for k in (1, 2, 3):
        out = tmp_path / f"out{k}"
        result = run("enhance", tmp_path / "in", "-o", out, "-m", models["enhance"],
                     "--shard", f"{k}/3")  # fmt: skip
        assert result.exit_code == 0, result.stderr
        outputs.append({p.relative_to(out) for p in out.rglob("*.wav")})
    assert set().union(*outputs) == {Path(f"sub{i % 2}/f{i}.wav") for i in range(6)}
    assert sum(map(len, outputs)) == 6  # each file in exactly one shard
    result = run("enhance", tmp_path / "in", "-o", tmp_path / "x", "--shard", "4/3")
    assert result.exit_code == 2 and "K <= N" in result.stderr


def test_skip_existing_continues_an_interrupted_batch(run, models, tmp_path) -> None:
    for i in range(3):
        write(tmp_path / "in" / f"f{i}.wav", noisy(0.2, seed=i))
    out = tmp_path / "out"
    write(out / "f1.wav", np.zeros(100, np.float32))  # finished before the interruption
    kept = (out / "f1.wav").read_bytes()
    args = ("enhance", tmp_path / "in", "-o", out, "-m", models["enhance"], "--json")
    result = run(*args, "--skip-existing")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1] == {"summary": {"done": 2, "skipped": 1, "failed": 0}}
    assert (out / "f1.wav").read_bytes() == kept  # the finished output is kept as it was
    result = run(*args, "--skip-existing")  # all done: nothing to do, still success
    assert json.loads(result.stdout.splitlines()[-1])["summary"] == {
        "done": 0, "skipped": 3, "failed": 0}  # fmt: skip
    result = run(*args)  # without --skip-existing: an existing output is a failure
    assert result.exit_code == 1
    result = run(*args, "--skip-existing", "--overwrite")
    assert result.exit_code == 2


def test_export_failure_prints_nothing_on_stdout(models, tmp_path) -> None:
    pytest.importorskip("onnx")
    proc = cli("export", models["enhance"], "-o", tmp_path / "m.onnx", "--opset", "99", "--json",
               stdout=subprocess.PIPE)  # fmt: skip
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and out == b"", out[:200]
    assert "opset" in err.decode()


def test_a_missing_model_is_exit_1_in_every_command(run, tmp_path) -> None:
    a = write(tmp_path / "a.wav", noisy(0.3))
    e = write(tmp_path / "e.wav", synth_voice(2.0, 120.0, seed=2))
    (tmp_path / "p.tsv").write_text("input\treference\na.wav\ta.wav\n")
    missing = tmp_path / "none.pt"
    for args in (
        ("enhance", a, "-o", tmp_path / "o.wav", "-m", missing),
        ("extract", a, "-e", e, "-o", tmp_path / "o.wav", "-m", missing),
        ("vad", a, "-e", e, "-m", missing),
        ("export", missing, "-o", tmp_path / "m.pt"),
        ("evaluate", "--pairs", tmp_path / "p.tsv", "-m", missing),
    ):
        result = run(*args)
        assert result.exit_code == 1, (args[0], result.stderr)
        assert len(result.error_lines()) == 1 and "none.pt" in result.stderr, result.stderr


def test_help_metavars_read_as_a_shell_user_expects(run) -> None:
    for command in ("extract", "enhance", "vad"):
        text = run(command, "--help").stdout
        assert "<list[str]>" not in text, command
    text = run("extract", "--help").stdout
    assert "NAME|PATH" in text and "K/N" in text and "SPK" in text
