"""audio.py: read/write round trips, formats, atomic writes, stdin/stdout, resampling."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from puresound_cli import audio
from puresound_cli.errors import PuresoundError


def test_roundtrip_float_wav(tmp_path: Path) -> None:
    wav = np.random.default_rng(0).uniform(-0.9, 0.9, (2, 1001)).astype(np.float32)
    path = tmp_path / "x.wav"
    audio.write_audio(path, wav, 22050, subtype="FLOAT")
    back, rate, info = audio.read_audio(path)
    assert rate == 22050
    assert info == {"format": "WAV", "subtype": "FLOAT"}
    np.testing.assert_array_equal(back, wav)


def test_write_rescale_and_clamp(tmp_path: Path) -> None:
    wav = np.array([[0.5, 2.0, -1.0]], dtype=np.float32)
    audio.write_audio(tmp_path / "r.wav", wav, 8000, subtype="PCM_24", clip="rescale")
    back, _, _ = audio.read_audio(tmp_path / "r.wav")
    np.testing.assert_allclose(back, wav / 2.0, atol=1e-6)
    audio.write_audio(tmp_path / "c.wav", wav, 8000, subtype="PCM_24", clip="clamp")
    back, _, _ = audio.read_audio(tmp_path / "c.wav")
    assert back.max() <= 1.0 and back.min() >= -1.0
    np.testing.assert_allclose(back[0, 0], 0.5, atol=1e-6)


def test_reader_blocks_and_scan(tmp_path: Path) -> None:
    wav = np.random.default_rng(1).normal(0, 0.1, (3, 5000)).astype(np.float32)
    path = tmp_path / "x.flac"
    sf.write(path, wav.T, 16000, subtype="PCM_24")
    with audio.AudioReader(path) as reader:
        assert (reader.channels, reader.samplerate, reader.format) == (3, 16000, "FLAC")
        stats = reader.scan()
        blocks = list(reader.blocks(block_frames=777))
    assert stats.frames == 5000
    assert all(b.shape[0] == 3 for b in blocks)
    full = np.concatenate(blocks, axis=1)
    assert full.shape == (3, 5000)
    assert stats.peak == pytest.approx(float(np.abs(full).max()))
    assert stats.rms == pytest.approx(float(np.sqrt(np.mean(full.astype(np.float64) ** 2))))


def test_bad_inputs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(PuresoundError, match="junk.wav: not a readable audio file"):
        audio.read_audio(junk)
    with pytest.raises(PuresoundError, match="file not found"):
        audio.read_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(PuresoundError, match="empty"):
        audio.read_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(PuresoundError, match="NaN or Inf"):
        audio.read_audio(nan)
    with audio.AudioReader(nan) as reader, pytest.raises(PuresoundError, match="NaN or Inf"):
        reader.scan()


def test_writer_is_atomic(tmp_path: Path) -> None:
    dest = tmp_path / "out.wav"
    dest.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with audio.AudioWriter(dest, 16000, 1, subtype="PCM_16") as writer:
            writer.write(np.zeros((1, 100), dtype=np.float32))
            raise KeyboardInterrupt
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    with pytest.raises(PuresoundError, match="not replaced"):  # no overwrite: never replaced
        with audio.AudioWriter(dest, 16000, 1, subtype="PCM_16") as writer:
            writer.write(np.full((1, 100), 0.25, dtype=np.float32))
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    with audio.AudioWriter(dest, 16000, 1, subtype="PCM_16", overwrite=True) as writer:
        writer.write(np.full((1, 100), 0.25, dtype=np.float32))
    assert sf.info(dest).frames == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_stdin_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    wav = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 300)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, wav.T, 8000, format="WAV", subtype="FLOAT")

    class FakeStream:
        def __init__(self, data: bytes = b"") -> None:
            self.buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", FakeStream(buf.getvalue()))
    back, rate, info = audio.read_audio("-")
    np.testing.assert_array_equal(back, wav)
    out = FakeStream()
    monkeypatch.setattr(sys, "stdout", out)
    audio.write_audio("-", back, rate, subtype=info["subtype"])
    data, rate2 = sf.read(io.BytesIO(out.buffer.getvalue()), dtype="float32", always_2d=True)
    assert rate2 == 8000
    np.testing.assert_array_equal(data.T, wav)
    monkeypatch.setattr(sys, "stdin", FakeStream(b""))
    with pytest.raises(PuresoundError, match="<stdin>: empty"):
        audio.read_audio("-")


def test_output_format_choice() -> None:
    assert audio.output_format("WAV", "PCM_16", "a/b.wav") == ("WAV", "PCM_16")
    assert audio.output_format("WAV", "PCM_24", "b.flac") == ("FLAC", "PCM_24")
    assert audio.output_format("WAV", "FLOAT", "b.flac")[0] == "FLAC"
    assert audio.output_format("FLAC", "PCM_16", "-") == ("WAV", "PCM_16")
    assert audio.output_format("OGG", "VORBIS", "-") == ("WAV", "FLOAT")
    assert audio.output_format("AIFF", "PCM_16", "x.unknown") == ("AIFF", "PCM_16")
    for fmt, sub in [("WAV", "PCM_16"), ("OGG", "VORBIS"), ("FLAC", "PCM_24")]:
        out_fmt, out_sub = audio.output_format(fmt, sub, None)
        assert sf.check_format(out_fmt, out_sub)


def test_audio_suffixes() -> None:
    suffixes = audio.audio_suffixes()
    assert {".wav", ".flac", ".ogg", ".aiff", ".aif"} <= suffixes
    assert ".raw" not in suffixes and ".txt" not in suffixes
    assert audio.is_audio_path("A/B.WAV") and not audio.is_audio_path("notes.txt")


@pytest.mark.parametrize(("sr_in", "sr_out"), [(44100, 16000), (8000, 16000), (16000, 16000)])
def test_resample_lengths_and_stream(sr_in: int, sr_out: int) -> None:
    t = np.arange(sr_in // 2) / sr_in
    wav = np.stack([np.sin(2 * np.pi * 440 * t), np.cos(2 * np.pi * 300 * t)]).astype(np.float32)
    out = audio.resample(wav, sr_in, sr_out)
    assert out.shape == (2, round(wav.shape[1] * sr_out / sr_in))
    stream = audio.StreamResampler(sr_in, sr_out, 2)
    parts = [stream.process(wav[:, i : i + 999]) for i in range(0, wav.shape[1], 999)]
    parts.append(stream.process(wav[:, :0], last=True))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), out, atol=1e-6)
    back = audio.resample(out, sr_out, sr_in)
    mid = slice(1000, wav.shape[1] - 1000)
    np.testing.assert_allclose(back[:, mid], wav[:, mid], atol=2e-3)


# --------------------------------------------------------------------------- regressions


@pytest.mark.parametrize(("subtype", "rate"), [("GSM610", 8000), ("G721_32", 16000)])
def test_unseekable_codec_scanned_then_read(tmp_path: Path, subtype: str, rate: int) -> None:
    """GSM and G.721 WAVs cannot seek: reading after a scan reopens the file instead."""
    path = tmp_path / "codec.wav"
    tone = 0.3 * np.sin(np.arange(rate // 2) * 0.05).astype(np.float32)
    sf.write(path, tone, rate, subtype=subtype)
    with audio.AudioReader(path) as reader:
        stats = reader.scan()
        again = reader.read()
        assert reader.scan().frames == stats.frames  # and a third pass
    assert again.shape == (1, stats.frames) and np.abs(again).max() > 0.1


def test_output_format_codecs_stay_in_their_container() -> None:
    # A codec subtype is never carried into another container (WAV can name MP3 but not write it).
    assert audio.output_format("MP3", "MPEG_LAYER_III", "-", 44100, 2) == ("WAV", "FLOAT")
    assert audio.output_format("MP3", "MPEG_LAYER_III", "o.wav", 44100, 2) == ("WAV", "FLOAT")
    assert audio.output_format("WAV", "IMA_ADPCM", "o.aiff", 16000, 1) == ("AIFF", "FLOAT")
    assert audio.output_format("WAV", "GSM610", "o.wav", 8000, 1) == ("WAV", "GSM610")
    # .opus means the Opus codec where its rates allow it, else Vorbis in the same container.
    assert audio.output_format("WAV", "PCM_16", "o.opus", 48000, 1) == ("OGG", "OPUS")
    assert audio.output_format("WAV", "PCM_16", "o.opus", 22050, 1) == ("OGG", "VORBIS")
    assert not audio.can_write("MP3", "MPEG_LAYER_III", 96000, 2)
    assert not audio.can_write("MP3", "MPEG_LAYER_III", 16000, 6)


def test_writer_errors_are_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file.wav"
    blocker.write_bytes(b"x")
    with pytest.raises(PuresoundError, match="file.wav is a file, not a folder"):
        audio.AudioWriter(blocker / "deeper" / "out.wav", 16000, 1)
    with pytest.raises(PuresoundError, match=r"out.mp3: cannot write MP3 .* 6 channel\(s\)"):
        audio.AudioWriter(tmp_path / "out.mp3", 16000, 6, "MP3", "MPEG_LAYER_III")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.wav"]  # no temp file left


class _FailingFile:
    """Stands in for a SoundFile on a full disk."""

    def write(self, data: np.ndarray) -> None:
        raise RuntimeError("System error.")

    def close(self) -> None:
        raise RuntimeError("System error.")


def test_write_and_close_failures_leave_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out.wav"
    with pytest.raises(PuresoundError, match="out.wav: write failed"):
        with audio.AudioWriter(dest, 16000, 1) as writer:
            writer._file.close()
            writer._file = _FailingFile()  # type: ignore[assignment]
            writer.write(np.zeros((1, 10), np.float32))
    # the failure happens when the file is finished (libsndfile flushes on close)
    with pytest.raises(PuresoundError, match="out.wav: write failed"):
        with audio.AudioWriter(dest, 16000, 1) as writer:
            writer._file.close()
            writer._file = _FailingFile()  # type: ignore[assignment]
    assert list(tmp_path.iterdir()) == []
