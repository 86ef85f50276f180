"""apply.chunked / OverlapAdd: exact reconstruction, lengths, padding, streaming."""

from __future__ import annotations

import pytest
import torch

from puresound_cli.apply import OverlapAdd, chunked, triangular_window


def identity(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@pytest.mark.parametrize("length", [1, 2, 7, 99, 100, 101, 255, 1000, 1013])
@pytest.mark.parametrize(
    ("segment", "overlap"), [(1, 0), (2, 1), (10, 0), (10, 3), (64, 16), (100, 99), (333, 100)]
)
def test_identity_reconstructs_exactly(length: int, segment: int, overlap: int) -> None:
    wav = torch.randn(2, 3, length)
    out = chunked(identity, wav, segment, overlap)
    assert out.shape == wav.shape
    assert out.dtype == wav.dtype
    assert torch.equal(out, wav)


@pytest.mark.parametrize("length", [5, 50, 99, 100])
def test_input_shorter_than_segment_is_one_pass(length: int) -> None:
    torch.manual_seed(1)
    conv = torch.nn.Conv1d(1, 1, 9, padding=4)
    wav = torch.randn(3, 1, length)
    with torch.inference_mode():
        one_pass = conv(wav)
        out = chunked(conv, wav, segment=100, overlap=25)
    assert torch.allclose(out, one_pass, atol=1e-6, rtol=0)


def test_valid_length_padding_and_trim() -> None:
    seen: list[int] = []

    def fn(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[-1])
        assert x.shape[-1] % 16 == 0
        return x * 2

    wav = torch.randn(1, 1, 1001)
    out = chunked(fn, wav, segment=300, overlap=60, valid_length=lambda n: -(-n // 16) * 16)
    assert torch.allclose(out, wav * 2)
    assert all(n % 16 == 0 for n in seen)


def test_nonlinear_fn_close_to_one_pass_away_from_edges() -> None:
    """A local operator with overlap larger than its context matches the one-pass result."""
    conv = torch.nn.Conv1d(1, 1, 5, padding=2, bias=False)
    wav = torch.randn(1, 1, 5000)
    with torch.inference_mode():
        ref = conv(wav)
        out = chunked(conv, wav, segment=1000, overlap=200)
    # Crossfades only mix two estimates of the same samples, except within 2 samples of cuts.
    assert out.shape == ref.shape
    assert (out - ref).abs().mean() < 1e-2


@pytest.mark.parametrize("block", [1, 7, 64, 333, 5000])
def test_streaming_equals_one_shot(block: int) -> None:
    torch.manual_seed(3)
    conv = torch.nn.Conv1d(2, 2, 7, padding=3)
    wav = torch.randn(1, 2, 2345)
    with torch.inference_mode():
        ref = chunked(conv, wav, segment=256, overlap=64)
        stream = OverlapAdd(conv, 256, 64)
        parts = [stream.push(wav[..., i : i + block]) for i in range(0, wav.shape[-1], block)]
        parts.append(stream.flush())
    out = torch.cat(parts, dim=-1)
    assert out.shape == wav.shape
    assert torch.allclose(out, ref, atol=1e-6)


@pytest.mark.parametrize("block", [1, 100, 333, 2345])
def test_segment_start_is_where_each_segment_begins_in_the_input(block: int) -> None:
    """``segment_start`` names the input sample each segment ``fn`` gets starts at, however the
    input arrives (the extractor reads the tracker's scores of that stretch by it)."""
    wav = torch.arange(2345, dtype=torch.float32)[None, None]
    seen: list[tuple[int, float]] = []

    def record(segment: torch.Tensor) -> torch.Tensor:
        seen.append((stream.segment_start, float(segment[0, 0, 0])))
        return segment

    stream = OverlapAdd(record, 256, 64)
    for i in range(0, wav.shape[-1], block):
        stream.push(wav[..., i : i + block])
    stream.flush()
    # one hop (192) apart; the last full segment starts at 1920, flush runs the rest from 2112
    assert [start for start, _ in seen] == list(range(0, 2113, 192))
    assert all(start == first for start, first in seen)  # the segment's first sample is there


def test_window_strictly_positive() -> None:
    for n in (1, 2, 3, 10, 11):
        w = triangular_window(n)
        assert w.shape == (n,)
        assert (w > 0).all()


@pytest.mark.parametrize(("segment", "overlap"), [(0, 0), (10, 10), (10, -1), (10, 11)])
def test_bad_segment_overlap(segment: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunked(identity, torch.zeros(1, 1, 10), segment, overlap)


def test_bad_rank_and_bad_fn() -> None:
    with pytest.raises(ValueError, match="batch, channels, time"):
        chunked(identity, torch.zeros(10), 4, 1)
    with pytest.raises(ValueError, match="returned shape"):
        chunked(lambda x: x[..., :1], torch.zeros(1, 1, 10), 4, 1)


def test_empty_input() -> None:
    out = chunked(identity, torch.zeros(1, 1, 0), 4, 1)
    assert out.shape == (1, 1, 0)
