"""Live streaming: block-by-block output equals one offline pass, for causal models."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from puresound_cli.nets import ConvTasNet, ConvTasNetConfig, Extractor, ExtractorConfig
from puresound_cli.stream import StreamingSeparator, streamable


def causal_config(masker: str = "tcn", **kw) -> ConvTasNetConfig:
    return dataclasses.replace(
        ConvTasNetConfig.tiny(kw.pop("speaker_dim", None)), encoder="stft", window=64, hop=16,
        causal=True, masker=masker, mask_kind="complex_reim", mask_constraint="none", **kw,
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


@pytest.mark.parametrize("masker", ["tcn", "gated-tcn"])
@pytest.mark.parametrize("length", [1, 50, 4001])
def test_streamed_equals_offline(masker: str, length: int) -> None:
    torch.manual_seed(0)
    model = ConvTasNet(causal_config(masker)).eval()
    x = 0.1 * torch.randn(2, length)
    with torch.no_grad():
        offline = model(x[:, None])[:, 0]
    streamed = run_stream(StreamingSeparator(model, channels=2), x)
    assert streamed.shape == offline.shape
    torch.testing.assert_close(streamed, offline, atol=1e-4, rtol=0)


def test_streamed_extraction_equals_offline() -> None:
    torch.manual_seed(0)
    base = ExtractorConfig.tiny()
    separator = causal_config(speaker_dim=base.speaker.embed_dim, conditioning="film")
    model = Extractor(dataclasses.replace(base, separator=separator)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "film" in name:
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
    offline = ConvTasNet(dataclasses.replace(causal_config(), causal=False, kernel_size=3))
    assert "not causal" in (streamable(offline) or "")
    with pytest.raises(ValueError, match="causal"):
        StreamingSeparator(offline)
    assert "masker" in (streamable(ConvTasNet(causal_config("dprnn", chunk_frames=4))) or "")
