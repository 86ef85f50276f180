"""The real command line, driven with CliRunner (and a few subprocesses), on tiny random models."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import mix_at_snr, synth_noise, synth_voice
from typer.testing import CliRunner

from puresound_cli import pretrained
from puresound_cli.cli import app

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _pin_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed rich width, no colours, one thread: stable output and a light CPU load."""
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("TERMINAL_WIDTH", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random enhance and extract checkpoints, saved as real format-1 files."""
    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.nets import ConvTasNetConfig, ExtractorConfig, build

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    paths = {}
    for task, arch, cfg in [
        ("enhance", "convtasnet", ConvTasNetConfig.tiny()),
        ("extract", "extractor", ExtractorConfig.tiny()),
    ]:
        paths[task] = folder / f"{task}.pt"
        save_checkpoint(paths[task], build(arch, dataclasses.asdict(cfg)))
    return paths


class Identity(torch.nn.Module):
    """A stand-in enhance 'network' that returns its input."""

    task = "enhance"
    sample_rate = 16000
    receptive_field_samples = 0
    lookahead_samples = 0

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def valid_length(self, n: int) -> int:
        return -(-n // 8) * 8

    def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        assert x.shape[-1] % 8 == 0
        return x.clone()


Run = Callable[..., "RunResult"]


class RunResult:
    def __init__(self, result) -> None:  # noqa: ANN001 - typer's Result
        self.exit_code: int = result.exit_code
        self.stdout_bytes: bytes = result.stdout_bytes
        self.stderr: str = result.stderr
        self.exception = result.exception

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode()

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def run() -> Run:
    """run(*args, input=None) -> RunResult via CliRunner (stdout and stderr kept apart)."""
    runner = CliRunner()

    def _run(*args: str | Path, input: bytes | None = None) -> RunResult:
        result = runner.invoke(app, [str(a) for a in args], input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return RunResult(result)

    return _run


def write(path: Path, data: np.ndarray, rate: int = 16000, subtype: str | None = None) -> Path:
    """Write (frames,) or (frames, channels) audio, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate, subtype=subtype)
    return path


def noisy(seconds: float = 0.5, rate: int = 16000, seed: int = 0) -> np.ndarray:
    return mix_at_snr(synth_voice(seconds, 130.0, rate, seed), synth_noise(seconds, rate, seed), 5)


def read(path: Path | bytes) -> tuple[np.ndarray, int]:
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    data, rate = sf.read(source, dtype="float32", always_2d=True)
    return data, rate


# --------------------------------------------------------------------------- help, version


def test_no_args_shows_help(run: Run) -> None:
    result = run()
    assert result.exit_code == 2
    assert "Usage" in result.stdout + result.stderr


def test_help_and_version(run: Run) -> None:
    for flag in ("-h", "--help"):
        result = run(flag)
        assert result.exit_code == 0
        for command in ("extract", "enhance", "models"):
            assert command in result.stdout
    for command in ("extract", "enhance"):
        result = run(command, "--help")
        assert result.exit_code == 0
        for option in ("--model", "--device", "--segment", "--overlap", "--overwrite", "--json"):
            assert option in result.stdout
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("puresound 0.")


def test_module_entry_point_and_lazy_imports() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "puresound_cli", "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    assert out.stdout.startswith("puresound ")
    code = "import sys, puresound_cli.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True)


# --------------------------------------------------------------------------- audio in, audio out


def test_enhance_44k_stereo_pcm16(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    left = noisy(0.7, 44100, seed=1)
    stereo = np.stack([left, 0.5 * noisy(0.7, 44100, seed=2)], axis=1)
    stereo = stereo[:30011]  # odd length
    src = write(tmp_path / "in.wav", stereo, 44100, "PCM_16")
    out = tmp_path / "out.wav"
    result = run("enhance", src, "-o", out, "--model", models["enhance"])
    assert result.exit_code == 0, result.stderr
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 30011)
    assert (info.format, info.subtype) == ("WAV", "PCM_16")
    data, _ = read(out)
    assert np.isfinite(data).all() and np.abs(data).max() > 0
    assert result.stdout == ""  # stdout is for audio and --json only


def test_every_channel_processed_independently(
    run: Run, models: dict[str, Path], tmp_path: Path
) -> None:
    a, b = noisy(0.4, seed=3), noisy(0.4, seed=4)
    src = write(tmp_path / "ab.wav", np.stack([a, b, a], axis=1), subtype="FLOAT")
    out = tmp_path / "ab_out.wav"
    assert run("enhance", src, "-o", out, "--model", models["enhance"]).exit_code == 0
    data, _ = read(out)
    assert data.shape == (a.shape[0], 3)
    np.testing.assert_allclose(data[:, 0], data[:, 2], atol=1e-6)
    assert not np.allclose(data[:, 0], data[:, 1])


@pytest.mark.parametrize(
    ("fmt_suffix", "subtype", "out_name", "expected"),
    [
        (".flac", "PCM_24", "o.flac", ("FLAC", "PCM_24")),
        (".aiff", "PCM_16", "o.aiff", ("AIFF", "PCM_16")),
        (".wav", "FLOAT", "o.flac", ("FLAC", "PCM_24")),  # FLAC holds no floats: fallback
        (".ogg", "VORBIS", "o.ogg", ("OGG", "VORBIS")),
    ],
)
def test_formats_and_subtypes(
    run: Run,
    models: dict[str, Path],
    tmp_path: Path,
    fmt_suffix: str,
    subtype: str,
    out_name: str,
    expected: tuple[str, str],
) -> None:
    src = write(tmp_path / f"in{fmt_suffix}", noisy(0.3, 8000), 8000, subtype)
    out = tmp_path / out_name
    result = run("enhance", src, "-o", out, "--model", models["enhance"])
    assert result.exit_code == 0, result.stderr
    info = sf.info(out)
    assert (info.format, info.subtype) == expected
    assert info.samplerate == 8000
    assert info.frames == sf.info(src).frames


def test_extract_with_enrollment(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    mixture = synth_voice(0.6, 110.0, seed=1) + synth_voice(0.6, 220.0, seed=2)
    src = write(tmp_path / "mix.wav", mixture)
    enroll = write(tmp_path / "spk.flac", synth_voice(2.0, 110.0, 22050, seed=3), 22050)
    out = tmp_path / "target.wav"
    result = run("extract", src, "--enroll", enroll, "-o", out, "--model", models["extract"])
    assert result.exit_code == 0, result.stderr
    data, rate = read(out)
    assert rate == 16000 and data.shape == (mixture.shape[0], 1)


def test_enrollment_embedded_once(
    run: Run, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from puresound_cli import checkpoint

    calls = {"embed": 0, "separate": 0, "windows": 0}
    real_load = checkpoint.load_model

    def counting_load(name: str, device: str = "cpu") -> torch.nn.Module:
        model = real_load(name, device)
        embed, separate = model.embed, model.separate

        def counted_embed(x: torch.Tensor) -> torch.Tensor:
            # the enrollment is embedded once; the tracker's windows (batches) are not counted
            calls["embed"] += x.shape[-1] == 2 * 16000
            calls["windows"] += x.shape[0] if x.shape[-1] != 2 * 16000 else 0
            return embed(x)

        def counted_separate(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
            calls["separate"] += 1
            return separate(x, e)

        model.embed, model.separate = counted_embed, counted_separate
        return model

    monkeypatch.setattr(checkpoint, "load_model", counting_load)
    for name in ("a.wav", "b.wav", "c.wav"):
        write(tmp_path / "in" / name, noisy(0.5))
    enroll = write(tmp_path / "spk.wav", synth_voice(2.0, 110.0))
    result = run(
        "extract", tmp_path / "in", "-e", enroll, "-o", tmp_path / "out",
        "--model", models["extract"], "--segment", "0.2", "--overlap", "0.05", "--track",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert calls["embed"] == 1
    assert calls["separate"] >= 3 * 3  # several chunks per file, one embedding for all
    assert calls["windows"] == 3 * (int(0.5 / 0.2) + 1)  # the tracker: a window every 0.2 s


def test_stdin_to_stdout(run: Run, models: dict[str, Path]) -> None:
    buf = io.BytesIO()
    sf.write(buf, noisy(0.4, 22050), 22050, format="WAV", subtype="PCM_16")
    result = run(
        "enhance", "-", "-o", "-", "--model", models["enhance"], "--json", input=buf.getvalue()
    )
    assert result.exit_code == 0, result.stderr
    data, rate = read(result.stdout_bytes)  # stdout holds only the WAV (no JSON lines)
    assert rate == 22050 and data.shape == (int(0.4 * 22050), 1)
    assert sf.info(io.BytesIO(result.stdout_bytes)).subtype == "PCM_16"


def test_stdin_to_file_and_pipe_subprocess(models: dict[str, Path], tmp_path: Path) -> None:
    """A real shell-style pipeline: bytes in on stdin, WAV bytes out on stdout."""
    buf = io.BytesIO()
    sf.write(buf, noisy(0.3), 16000, format="WAV", subtype="FLOAT")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "puresound_cli",
        "enhance",
        "-",
        "-o",
        "-",
        "-m",
        str(models["enhance"]),
    ]
    proc = subprocess.run(cmd, input=buf.getvalue(), capture_output=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    data, rate = read(proc.stdout)
    assert rate == 16000 and data.shape == (4800, 1)


# --------------------------------------------------------------------------- chunking


@pytest.mark.parametrize(
    ("seconds", "segment", "overlap"),
    [
        (0.05, 1.0, 0.25),
        (0.3, 0.1, 0.02),
        (0.3001, 0.0123, 0.005),
        (1.0, 0.25, 0.0),
        (0.77, 0.2, 0.19),
    ],
)
def test_identity_network_through_cli_is_exact(
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seconds: float,
    segment: float,
    overlap: float,
) -> None:
    from puresound_cli import checkpoint

    monkeypatch.setattr(checkpoint, "load_model", lambda name, device="cpu": Identity())
    wav = np.random.default_rng(0).uniform(-0.8, 0.8, (int(seconds * 16000), 2)).astype(np.float32)
    src = write(tmp_path / "x.wav", wav, subtype="FLOAT")
    out = tmp_path / "y.wav"
    result = run(
        "enhance",
        src,
        "-o",
        out,
        "-m",
        "identity",
        "--segment",
        str(segment),
        "--overlap",
        str(overlap),
    )
    assert result.exit_code == 0, result.stderr
    back, _ = read(out)
    np.testing.assert_array_equal(back, wav)


def test_identity_processor_many_lengths_and_blocks(tmp_path: Path) -> None:
    """The streaming file path (blocks, gain, overlap-add) reconstructs exactly."""
    from puresound_cli.separate import Separator

    rng = np.random.default_rng(1)
    for length in (1, 7, 160, 1599, 1600, 1601, 4097):
        wav = rng.uniform(-0.5, 0.5, (length, 1)).astype(np.float32)
        src = write(tmp_path / f"x{length}.wav", wav, subtype="FLOAT")
        for segment, overlap, block in [(0.1, 0.025, 333), (0.01, 0.0, 50), (0.05, 0.049, 4096)]:
            proc = Separator(Identity(), segment=segment, overlap=overlap, block_frames=block)
            out = tmp_path / f"y{length}.wav"
            proc.process_file(src, out)
            back, _ = read(out)
            np.testing.assert_array_equal(back, wav)
            out.unlink()


def test_short_input_equals_one_pass(models: dict[str, Path]) -> None:
    from puresound_cli.api import enhance
    from puresound_cli.checkpoint import load_model
    from puresound_cli.separate import normalising_gain

    model = load_model(models["enhance"])
    wav = torch.from_numpy(noisy(0.3))[None]  # (1, T), shorter than one segment
    gain = normalising_gain(float(wav.double().pow(2).mean().sqrt()))
    with torch.inference_mode():
        one_pass = model((wav * gain)[None])[0] / gain
    out = enhance(model, wav, 16000, segment=10.0, overlap=2.5)
    assert out.shape == wav.shape
    torch.testing.assert_close(out, one_pass, atol=1e-6, rtol=1e-5)


def test_warns_when_overlap_below_receptive_field(
    run: Run, models: dict[str, Path], tmp_path: Path
) -> None:
    src = write(tmp_path / "x.wav", noisy(0.3))
    result = run(
        "enhance", src, "-o", tmp_path / "y.wav", "-m", models["enhance"], "--overlap", "0"
    )
    assert result.exit_code == 0
    assert "receptive" in result.stderr


# --------------------------------------------------------------------------- batches and bad input


def test_folder_with_bad_files(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "in"
    write(root / "good.wav", noisy(0.3))
    write(root / "sub" / "deep.flac", noisy(0.3, seed=5), subtype="PCM_16")
    write(root / "silent.wav", np.zeros(3000, dtype=np.float32), subtype="PCM_16")
    write(root / "empty.wav", np.zeros(0, dtype=np.float32))
    write(root / "nan.wav", np.array([0.1, np.nan, 0.3] * 100, dtype=np.float32), subtype="FLOAT")
    (root / "junk.wav").write_bytes(b"definitely not a RIFF file" * 20)
    (root / "notes.txt").write_text("not audio, and not an audio suffix: ignored")
    good = (root / "good.wav").read_bytes()
    (root / "trunc.wav").write_bytes(good[: len(good) // 2])  # readable part is processed
    write(tmp_path / "full.flac", noisy(2.0, seed=6))
    flac = (tmp_path / "full.flac").read_bytes()
    (root / "trunc.flac").write_bytes(flac[: len(flac) // 2])  # undecodable: an error
    out = tmp_path / "out"
    result = run("enhance", root, "-o", out, "-m", models["enhance"], "--json")
    assert result.exit_code == 1
    errors = result.error_lines()
    assert "Traceback" not in result.stderr
    for bad in ("empty.wav", "nan.wav", "junk.wav", "trunc.flac"):
        assert sum(bad in line for line in errors) == 1, result.stderr
    assert len(errors) == 4
    assert "truncated:" in result.stderr  # trunc.wav: a warning, the file is still processed
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert written == ["good.wav", "silent.wav", "sub", "sub/deep.flac", "trunc.wav"]
    silent, _ = read(out / "silent.wav")
    assert silent.shape == (3000, 1) and not silent.any()
    assert sf.info(out / "sub" / "deep.flac").subtype == "PCM_16"
    *records, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 8
    assert summary == {"summary": {"done": 4, "skipped": 0, "failed": 4}}
    assert {r["status"] for r in records} == {"ok", "error"}
    assert sum(r["status"] == "error" for r in records) == 4
    ok = [r for r in records if r["status"] == "ok"]
    assert all(r["frames"] > 0 and (r["rtf"] is None) == (r["seconds"] < 1) for r in ok)


def test_folder_without_audio(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hi")
    result = run("enhance", tmp_path / "docs", "-o", tmp_path / "out", "-m", models["enhance"])
    assert result.exit_code == 1
    assert result.error_lines() == [
        f"error: {tmp_path / 'docs'}: no audio files found in this folder"
    ]


def test_missing_input_other_files_processed(
    run: Run, models: dict[str, Path], tmp_path: Path
) -> None:
    src = write(tmp_path / "a.wav", noisy(0.2))
    result = run(
        "enhance", tmp_path / "missing.wav", src, "-o", tmp_path / "out", "-m", models["enhance"]
    )
    assert result.exit_code == 1
    assert len(result.error_lines()) == 1 and "missing.wav: file not found" in result.stderr
    assert (tmp_path / "out" / "a.wav").is_file()


def test_overwrite_refused_then_allowed(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    src = write(tmp_path / "a.wav", noisy(0.2))
    out = tmp_path / "b.wav"
    out.write_bytes(b"precious")
    result = run("enhance", src, "-o", out, "-m", models["enhance"])
    assert result.exit_code == 1
    assert "--overwrite" in result.error_lines()[0]
    assert out.read_bytes() == b"precious"
    result = run("enhance", src, "-o", out, "-m", models["enhance"], "--overwrite")
    assert result.exit_code == 0
    assert sf.info(out).frames == 3200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]  # no temp files left


def test_output_that_is_an_input_is_refused(
    run: Run, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "tree" / "a.wav", noisy(0.2))
    write(tmp_path / "tree" / "sub" / "b.wav", noisy(0.2, seed=1))
    before = {p: p.read_bytes() for p in (tmp_path / "tree").rglob("*.wav")}
    result = run("enhance", src, "-o", src, "-m", models["enhance"], "--overwrite")
    assert result.exit_code == 1 and "refusing to write over an input" in result.stderr
    monkeypatch.chdir(tmp_path)
    result = run("enhance", "tree", "-o", "./tree/../tree", "-m", models["enhance"], "--overwrite")
    assert result.exit_code == 1
    assert len(result.error_lines()) == 2
    assert all("refusing" in line for line in result.error_lines())
    assert before == {p: p.read_bytes() for p in (tmp_path / "tree").rglob("*.wav")}
    result = run(
        "enhance", "tree", "-o", "tree", "-m", models["enhance"], "--suffix", "_enh", "--quiet"
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "tree" / "sub" / "b_enh.wav").is_file()
    assert result.stderr == ""
    for _ in range(2):  # an output folder inside the input folder is not rescanned as input
        result = run("enhance", "tree", "-o", "tree/out", "-m", models["enhance"], "--overwrite")
        assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "tree" / "out" / "out").exists()
    assert (tmp_path / "tree" / "out" / "sub" / "b.wav").is_file()


def test_several_inputs_make_a_folder(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    a = write(tmp_path / "a.wav", noisy(0.2))
    b = write(tmp_path / "x" / "b.flac", noisy(0.2, seed=1))
    result = run("enhance", a, b, "-o", tmp_path / "out", "-m", models["enhance"])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "b.flac"]
    result = run("enhance", a, b, "-o", "-", "-m", models["enhance"])
    assert result.exit_code == 2
    assert result.error_lines() and "stdout" in result.error_lines()[0]
    result = run("enhance", a, b, "-o", a, "-m", models["enhance"])
    assert result.exit_code == 2 and "need an output folder" in result.error_lines()[0]


def test_usage_errors(
    run: Run, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(pretrained.DEFAULTS, "enhance", None)  # as if no model were shipped
    src = write(tmp_path / "a.wav", noisy(0.2))
    cases = [
        (("extract", src, "-o", tmp_path / "o.wav", "-m", models["extract"]), "--enroll"),
        (("enhance", src, "-m", models["enhance"]), "--output"),
        (("enhance", src, "-o", tmp_path / "o.wav"), "--model"),  # no default for the task
        (("enhance", src, "-o", tmp_path / "o.wav", "-m", models["enhance"],
          "--segment", "1", "--overlap", "1"), "--overlap"),
    ]  # fmt: skip
    for args, needle in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert len(result.error_lines()) == 1 and needle in result.error_lines()[0]
    result = run(
        "enhance", src, "-o", tmp_path / "o.wav", "-m", models["enhance"], "--device", "tpu"
    )
    assert result.exit_code == 2
    if not torch.cuda.is_available():
        result = run(
            "enhance", src, "-o", tmp_path / "o.wav", "-m", models["enhance"], "--device", "cuda"
        )
        assert result.exit_code == 2 and "CUDA" in result.stderr
    assert not (tmp_path / "o.wav").exists()


def test_bad_models(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    src = write(tmp_path / "a.wav", noisy(0.2))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(os.urandom(500))
    enroll = write(tmp_path / "spk.wav", synth_voice(0.5, 100.0))
    cases = [
        (("enhance", src, "-o", tmp_path / "o.wav", "-m", "no-such-model"), "no-such-model"),
        (("enhance", src, "-o", tmp_path / "o.wav", "-m", corrupt), "corrupt.pt"),
        (("enhance", src, "-o", tmp_path / "o.wav", "-m", models["extract"]), "extract"),
        (
            ("extract", src, "-e", enroll, "-o", tmp_path / "o.wav", "-m", models["enhance"]),
            "enhance",
        ),
    ]
    for args, needle in cases:
        result = run(*args)
        assert result.exit_code == 1, (args, result.stderr)
        assert len(result.error_lines()) == 1 and needle in result.error_lines()[0], result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "o.wav").exists()


def test_bad_enrollments(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    src = write(tmp_path / "a.wav", noisy(0.2))
    silent = write(tmp_path / "silent.wav", np.zeros(8000, dtype=np.float32))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"junk" * 100)
    for enroll, needle in [
        (silent, "silent"),
        (junk, "not a readable audio file"),
        (tmp_path / "nope.wav", "not found"),
    ]:
        result = run(
            "extract", src, "-e", enroll, "-o", tmp_path / "o.wav", "-m", models["extract"]
        )
        assert result.exit_code == 1, result.stderr
        lines = result.error_lines()
        assert len(lines) == 1 and needle in lines[0] and enroll.name in lines[0], result.stderr
    assert not (tmp_path / "o.wav").exists()


def test_debug_shows_traceback(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "junk.wav").write_bytes(b"junk" * 100)
    result = run(
        "enhance",
        tmp_path / "junk.wav",
        "-o",
        tmp_path / "o.wav",
        "-m",
        models["enhance"],
        "--debug",
    )
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_interrupt_leaves_no_partial_output(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from puresound_cli import checkpoint

    class Interrupting(Identity):
        def forward(self, x: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "load_model", lambda name, device="cpu": Interrupting())
    src = write(tmp_path / "a.wav", noisy(0.5))
    result = run(
        "enhance",
        src,
        "-o",
        tmp_path / "out" / "b.wav",
        "-m",
        "x",
        "--segment",
        "0.1",
        "--overlap",
        "0.01",
    )
    assert result.exit_code == 130
    assert list((tmp_path / "out").iterdir()) == []


def test_default_model_from_registry(
    run: Run, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = pretrained.PretrainedModel(
        "tiny-enhance", "enhance", models["enhance"].name, pretrained.sha256sum(models["enhance"]),
        16000, 1234, {"si_sdri_db": 1.5},
    )  # fmt: skip
    monkeypatch.setitem(pretrained.REGISTRY, entry.name, entry)
    monkeypatch.setitem(pretrained.DEFAULTS, "enhance", entry.name)
    monkeypatch.setitem(pretrained.NARROWBAND_DEFAULTS, "enhance", None)
    monkeypatch.setattr(pretrained, "search_roots", lambda: [models["enhance"].parent])
    src = write(tmp_path / "a.wav", noisy(0.2))
    result = run("enhance", src, "-o", tmp_path / "o.wav")
    assert result.exit_code == 0, result.stderr
    result = run("models")
    assert result.exit_code == 0
    assert "tiny-enhance" in result.stdout and "si_sdri_db 1.50" in result.stdout
    assert "(default)" in result.stdout
    records = [json.loads(line) for line in run("models", "--json").stdout.splitlines()]
    record = next(r for r in records if r["name"] == "tiny-enhance")
    assert record["default"] is True


def test_models_empty_registry(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained, "REGISTRY", {})
    result = run("models")
    assert result.exit_code == 0
    assert "No pretrained models" in result.stdout


def test_plot_without_matplotlib(
    run: Run, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    src = write(tmp_path / "a.wav", noisy(0.3))
    out = tmp_path / "o.wav"
    result = run("enhance", src, "-o", out, "-m", models["enhance"], "--plot")
    assert result.exit_code == 2
    assert len(result.error_lines()) == 1 and "matplotlib" in result.error_lines()[0]
    assert not out.exists()


def test_plot(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    src = write(tmp_path / "a.wav", np.stack([noisy(0.3), noisy(0.3, seed=1)], axis=1))
    out = tmp_path / "o.wav"
    result = run("enhance", src, "-o", out, "-m", models["enhance"], "--plot")
    assert result.exit_code == 0, result.stderr
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_progress_bar_only_on_a_terminal(
    run: Run, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "in" / "a.wav", noisy(0.3))
    write(tmp_path / "in" / "b.wav", noisy(0.3, seed=1))
    result = run("enhance", src.parent, "-o", tmp_path / "o1", "-m", models["enhance"])
    assert result.exit_code == 0
    assert "━" not in result.stderr  # stderr is not a terminal here: no bar
    assert result.stderr.count(" -> ") == 2  # one summary line per file
    assert "RTF" not in result.stderr  # 0.3 s files: no real-time factor (meaningless)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich now treats stderr as a terminal
    result = run("enhance", src.parent, "-o", tmp_path / "o2", "-m", models["enhance"])
    assert result.exit_code == 0, result.stderr
    assert "━" in result.stderr and result.stdout == ""
    result = run("enhance", src.parent, "-o", tmp_path / "o3", "-m", models["enhance"], "-q")
    assert result.exit_code == 0 and result.stderr == ""


def test_library_extract_embedding_reuse(models: dict[str, Path]) -> None:
    """The tensor API behind the CLI: one embedding serves any number of mixtures."""
    from puresound_cli.api import enhance, extract
    from puresound_cli.checkpoint import load_model
    from puresound_cli.enrollment import embed_speaker
    from puresound_cli.errors import PuresoundError

    model = load_model(models["extract"])
    mixture = torch.from_numpy(np.stack([noisy(0.4, 8000), noisy(0.4, 8000, seed=1)]))  # (2, T)
    enrollment = torch.from_numpy(synth_voice(0.5, 110.0, 22050))
    emb = embed_speaker(model, enrollment, 22050)
    assert emb.shape == (1, model.embed_dim)
    a = extract(model, mixture, enrollment, 8000, enrollment_rate=22050)
    b = extract(model, mixture, emb, 8000)
    assert a.shape == b.shape == mixture.shape
    assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(PuresoundError, match="silent"):
        embed_speaker(model, torch.zeros(8000), 16000)
    with pytest.raises(PuresoundError, match="not an 'enhance' model"):
        enhance(model, mixture, 8000)


@pytest.mark.parametrize(
    ("field_seconds", "segment", "overlap", "expected"),
    [
        (2.04, None, None, (10.0, 2.5)),  # small(): the plain defaults
        (8.19, None, None, (34.0, 8.5)),  # long context: overlap covers it, 4 overlaps a segment
        (8.19, 6.0, None, (6.0, 1.5)),  # short segment asked for: a quarter of it overlaps
        (8.19, None, 1.0, (10.0, 1.0)),
        (0.0, 3.0, 2.0, (3.0, 2.0)),
    ],
)
def test_model_aware_chunk_defaults(
    field_seconds: float,
    segment: float | None,
    overlap: float | None,
    expected: tuple[float, float],
) -> None:
    from puresound_cli.apply import chunk_seconds

    model = Identity()
    model.receptive_field_samples = int(field_seconds * 16000)
    assert chunk_seconds(model, segment, overlap) == expected
    with pytest.raises(ValueError):
        chunk_seconds(model, 1.0, 1.0)


# ------------------------------------------------------------------ regressions (break-it pass)


def test_extreme_float_levels_stay_finite(
    run: Run, models: dict[str, Path], tmp_path: Path
) -> None:
    """Float files at 1e-40 (subnormal) or 3e38 once overflowed the level gain: NaN/inf out."""
    quiet = (noisy(0.2) * 1e-40).astype(np.float32)
    loud = np.zeros(3200, np.float32)
    loud[10], loud[11] = 3e38, -3e38
    for name, data in [("quiet.wav", quiet), ("loud.wav", loud)]:
        src = write(tmp_path / name, data, subtype="FLOAT")
        out = tmp_path / f"out_{name}"
        result = run("enhance", src, "-o", out, "-m", models["enhance"])
        assert result.exit_code == 0, result.stderr
        back, _ = read(out)
        assert back.shape == (data.shape[0], 1) and np.isfinite(back).all(), name
        assert "RuntimeWarning" not in result.stderr


def test_codec_inputs(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    """GSM (cannot seek: was 'cannot decode') and MP3 (WAV+MP3 cannot be written) inputs."""
    gsm = write(tmp_path / "gsm.wav", noisy(0.3, 8000), 8000, "GSM610")
    result = run("enhance", gsm, "-o", tmp_path / "gsm_out.wav", "-m", models["enhance"])
    assert result.exit_code == 0, result.stderr
    info = sf.info(tmp_path / "gsm_out.wav")
    assert (info.subtype, info.frames) == ("GSM610", sf.info(gsm).frames)

    mp3 = tmp_path / "in.mp3"
    sf.write(mp3, noisy(0.3, 16000), 16000, format="MP3")
    frames = sf.info(mp3).frames
    result = run("enhance", "-", "-o", "-", "-m", models["enhance"], input=mp3.read_bytes())
    assert result.exit_code == 0, result.stderr
    out_info = sf.info(io.BytesIO(result.stdout_bytes))
    assert (out_info.format, out_info.subtype, out_info.frames) == ("WAV", "FLOAT", frames)
    result = run("enhance", mp3, "-o", tmp_path / "mp3_out.wav", "-m", models["enhance"])
    assert result.exit_code == 0, result.stderr
    assert sf.info(tmp_path / "mp3_out.wav").subtype == "FLOAT"


def test_unwritable_outputs_one_line(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    src = write(tmp_path / "a.wav", noisy(0.2))
    six = write(tmp_path / "six.wav", np.tile(noisy(0.2)[:, None], (1, 6)))
    cases = [
        ((src, "-o", src / "out.wav"), "a.wav is a file, not a folder"),
        ((six, "-o", tmp_path / "six.mp3"), "cannot write MP3"),  # MP3 holds 2 channels at most
    ]
    for args, needle in cases:
        result = run("enhance", *args, "-m", models["enhance"])
        assert result.exit_code == 1, result.stderr
        lines = result.error_lines()
        assert len(lines) == 1 and needle in lines[0] and ".part" not in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "six.wav"]


def test_log_lines_are_not_wrapped_in_pipes(
    run: Run, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr to a pipe or log file: one plain line per message, however narrow the console."""
    monkeypatch.setenv("COLUMNS", "40")
    src = write(tmp_path / "x.wav", noisy(0.3))
    result = run(
        "enhance", src, "-o", tmp_path / "y.wav", "-m", models["enhance"], "--overlap", "0"
    )
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].endswith("(raise --overlap)"), result.stderr
    assert all(line == line.rstrip() for line in result.stderr.splitlines())


def test_empty_arguments_and_stdin_twice(
    run: Run, models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """'' used to mean the current folder: -o '' wrote there, INPUT '' scanned it."""
    monkeypatch.chdir(tmp_path)
    src = write(tmp_path / "a.wav", noisy(0.2))
    cases = [
        ("enhance", src, "-o", "", "-m", models["enhance"]),
        ("enhance", "", "-o", "out", "-m", models["enhance"]),
        ("enhance", src, "-o", "o.wav", "-m", ""),
        ("extract", "-", "-e", "-", "-o", "o.wav", "-m", models["extract"]),
    ]
    for args in cases:
        result = run(*args, input=src.read_bytes())
        assert result.exit_code == 2 and len(result.error_lines()) == 1, (args, result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_model_folder(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    src = write(tmp_path / "a.wav", noisy(0.2))
    empty = tmp_path / "empty_model"
    empty.mkdir()
    result = run("enhance", src, "-o", tmp_path / "o.wav", "-m", empty)
    assert result.exit_code == 1 and "is a folder, not a checkpoint" in result.error_lines()[0]
    shipped_like = tmp_path / "my-model"
    shipped_like.mkdir()
    (shipped_like / "model.pt").write_bytes(models["enhance"].read_bytes())
    result = run("enhance", src, "-o", tmp_path / "o.wav", "-m", shipped_like)
    assert result.exit_code == 0, result.stderr


def test_same_names_from_two_folders(run: Run, models: dict[str, Path], tmp_path: Path) -> None:
    """Same basename from two folders: the second is refused, never written over the first;
    the same file given twice is processed once."""
    a = write(tmp_path / "d1" / "x.wav", noisy(0.2, seed=1))
    b = write(tmp_path / "d2" / "x.wav", noisy(0.2, 22050, seed=2), 22050)
    out = tmp_path / "out"
    result = run("enhance", a, b, "-o", out, "-m", models["enhance"])
    assert result.exit_code == 1
    lines = result.error_lines()
    assert len(lines) == 1 and str(b) in lines[0] and "same file name" in lines[0], result.stderr
    assert sf.info(out / "x.wav").samplerate == 16000  # the first input's output, intact
    again = tmp_path / "again"
    result = run("enhance", a, tmp_path / "d1" / ".." / "d1" / "x.wav", "-o", again,
                 "-m", models["enhance"])  # fmt: skip
    assert result.exit_code == 0 and result.stderr.count("->") == 1, result.stderr
    assert [p.name for p in again.iterdir()] == ["x.wav"]
