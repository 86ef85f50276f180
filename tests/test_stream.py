"""Live streaming: block-by-block output equals one offline pass, for causal models."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import reframe

from puresound_cli.nets import ConvTasNet, ConvTasNetConfig, Extractor, ExtractorConfig
from puresound_cli.stream import StreamingSeparator, streamable


def causal_config(masker: str = "tcn", **kw) -> ConvTasNetConfig:
    return reframe(
        ConvTasNetConfig.tiny(kw.pop("speaker_dim", None)), masker, encoder="stft", window=64,
        hop=16, causal=True, mask_kind="complex_reim", mask_constraint="none", **kw,
    )  # fmt: skip


def run_stream(stream: StreamingSeparator, x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """Push (C, T) in random block sizes, as audio arrives from a pipe."""
    rng = torch.Generator().manual_seed(seed)
    outs, pos = [], 0
    while pos < x.shape[-1]:
        n = int(torch.randint(1, 300, (1,), generator=rng))
        outs.append(stream.push(x[:, pos : pos + n]))
        pos += n
    outs.append(stream.flush())
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("masker", ["tcn", "gated-tcn", "skim"])
@pytest.mark.parametrize("length", [1, 50, 4001])
def test_streamed_equals_offline(masker: str, length: int) -> None:
    torch.manual_seed(0)
    extra = {"chunk_frames": 4, "hidden_channels": 16, "repeats": 3} if masker == "skim" else {}
    model = ConvTasNet(causal_config(masker, **extra)).eval()
    x = 0.1 * torch.randn(2, length)
    with torch.no_grad():
        offline = model(x[:, None])[:, 0]
    streamed = run_stream(StreamingSeparator(model, channels=2), x)
    assert streamed.shape == offline.shape
    torch.testing.assert_close(streamed, offline, atol=1e-4, rtol=0)


@pytest.mark.parametrize("masker", ["tcn", "skim"])
def test_streamed_extraction_equals_offline(masker: str) -> None:
    torch.manual_seed(0)
    base = ExtractorConfig.tiny()
    extra = {"chunk_frames": 4, "hidden_channels": 16, "repeats": 2} if masker == "skim" else {}
    separator = causal_config(
        masker, speaker_dim=base.speaker.embed_dim, conditioning="film", **extra
    )
    model = Extractor(dataclasses.replace(base, separator=separator)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".condition." in name:
                p.normal_(0, 0.2)
        embedding = model.embed(torch.randn(1, 1, 3000))
        x = 0.1 * torch.randn(1, 3000)
        offline = model.separate(x[:, None], embedding)[:, 0]
    streamed = run_stream(StreamingSeparator(model, 1, embedding), x)
    torch.testing.assert_close(streamed, offline, atol=1e-4, rtol=0)


def test_latency_and_refusals() -> None:
    model = ConvTasNet(causal_config()).eval()
    stream = StreamingSeparator(model)
    assert stream.latency_samples == 64 - 16
    out = 0
    for _ in range(20):
        out += stream.push(torch.randn(1, 37)).shape[1]
        # everything but the latency (and the part of a hop not yet framed) is out
        assert out >= stream.received - stream.latency_samples - stream.hop
    offline = ConvTasNet(reframe(causal_config(), causal=False, kernel_size=3))
    assert "not causal" in (streamable(offline) or "")
    with pytest.raises(ValueError, match="causal"):
        StreamingSeparator(offline)
    assert "masker" in (streamable(ConvTasNet(causal_config("dprnn", chunk_frames=4))) or "")


def _wav_bytes(x: torch.Tensor, rate: int, subtype: str) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x.T.numpy(), rate, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16"])
def test_cli_stream_pipe(tmp_path, subtype: str) -> None:
    """puresound enhance - -o - --stream: a live pipe, output equal to one offline pass."""
    import io
    import os
    import subprocess
    import sys

    import soundfile as sf

    from puresound_cli.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = ConvTasNet(causal_config()).eval()
    save_checkpoint(tmp_path / "causal.pt", model)
    x = 0.1 * torch.randn(2, 5000)
    data = _wav_bytes(x, 16000, subtype)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "puresound_cli", "enhance", "-", "-o", "-", "--stream",
           "-m", str(tmp_path / "causal.pt")]  # fmt: skip
    done = subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    out, rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    assert rate == 16000 and out.shape == (5000, 2)
    heard = torch.from_numpy(sf.read(io.BytesIO(data), dtype="float32", always_2d=True)[0].T)
    with torch.no_grad():
        offline = model(heard[:, None])[:, 0]
    torch.testing.assert_close(torch.from_numpy(out.T.copy()), offline, atol=1e-4, rtol=0)
    refused = subprocess.run([*cmd[:-2], "-m", str(tmp_path / "none.pt")], input=data,
                             capture_output=True, env=env, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and refused.stderr.decode().count("\n") == 1


def test_train_causal_option_builds_a_streamable_model() -> None:
    from puresound_cli.nets import build
    from puresound_cli.train import TrainConfig, model_spec

    config = TrainConfig.from_dict({"task": "enhance", "speech_dirs": ["a"], "size": "tiny",
                                    "causal": True})  # fmt: skip
    arch, cfg = model_spec(config)
    assert streamable(build(arch, cfg)) is not None  # tiny is a learned filterbank: no STFT
    small = model_spec(dataclasses.replace(config, size="small"))
    assert streamable(build(*small)) is None


def test_cli_stream_without_model_uses_the_shipped_causal_enhancer() -> None:
    """enhance --stream with no -m streams through enhance-causal-16k, equal to its offline pass;
    extract --stream with no -m says that no causal extractor is shipped (one line, exit 2)."""
    import io
    import os
    import subprocess
    import sys

    import soundfile as sf

    from puresound_cli.checkpoint import load_model

    torch.manual_seed(0)
    x = 0.1 * torch.randn(1, 8000)
    data = _wav_bytes(x, 16000, "FLOAT")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "puresound_cli", "enhance", "-", "-o", "-", "--stream", "-q"]
    done = subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    out, _ = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    model = load_model("enhance-causal-16k")
    with torch.no_grad():
        offline = model(x[:, None])[:, 0]
    torch.testing.assert_close(torch.from_numpy(out.T.copy()), offline, atol=1e-4, rtol=0)
    extract = [*cmd[:3], "extract", "-", "-o", "-", "--stream", "--enroll", "/dev/null"]
    refused = subprocess.run(extract, input=data, capture_output=True, env=env, timeout=60)
    assert refused.returncode == 2 and "no causal extract model" in refused.stderr.decode()


def test_cli_stream_warns_on_truncation_and_ignored_options(tmp_path) -> None:
    """A stream shorter than its header says is reported as a truncated file is; options the
    stream cannot honour are named."""
    import os
    import subprocess
    import sys

    from puresound_cli.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "causal.pt", ConvTasNet(causal_config()).eval())
    data = _wav_bytes(0.1 * torch.randn(1, 4000), 16000, "PCM_16")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "puresound_cli", "enhance", "-", "-o", "-", "--stream",
           "-m", str(tmp_path / "causal.pt")]  # fmt: skip
    cut = data[: len(data) - 1001]  # 500 frames and a half missing
    done = subprocess.run([*cmd, "--segment", "2"], input=cut, capture_output=True, env=env,
                          timeout=120)  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "truncated stream" in err and "4000 frames" in err and "3499 frames" in err, err
    assert "--stream ignores --segment" in err
    whole = subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=120)
    assert "truncated" not in whole.stderr.decode() and "ignores" not in whole.stderr.decode()
