"""evaluate: closed-form SI-SDR, target-absent level, pairs-list parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import mix_at_snr, synth_noise, synth_voice
from torch import nn

from puresound_cli.errors import PuresoundError
from puresound_cli.evaluate import evaluate, read_pairs, score_item

SR = 16000


class Gain(nn.Module):
    """A stand-in enhancer: output = gain * input."""

    task = "enhance"
    sample_rate = SR
    receptive_field_samples = 0

    def __init__(self, gain: float) -> None:
        super().__init__()
        self.gain = gain

    def valid_length(self, n: int) -> int:
        return n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x


def orthogonal_pair(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A zero-mean speech-like signal and a zero-mean noise exactly orthogonal to it."""
    s = synth_voice(n / SR, 150, seed=1).astype(np.float64)
    s -= s.mean()
    noise = np.random.default_rng(0).standard_normal(n)
    noise -= noise.mean()
    noise -= s * (noise @ s) / (s @ s)
    noise *= 0.5 * np.sqrt((s @ s) / (noise @ noise))  # SNR = 20 log10(2) = 6.02 dB
    return s, noise


def test_closed_form_si_sdr(tmp_path):
    s, noise = orthogonal_pair(SR)
    sf.write(tmp_path / "mix.wav", (s + noise).astype(np.float32), SR, subtype="FLOAT")
    sf.write(tmp_path / "ref.wav", s.astype(np.float32), SR, subtype="FLOAT")
    sf.write(tmp_path / "noise.wav", noise.astype(np.float32), SR, subtype="FLOAT")
    (tmp_path / "pairs.tsv").write_text("input\treference\nmix.wav\tref.wav\nnoise.wav\t\n")
    result = evaluate(Gain(0.5), tmp_path / "pairs.tsv")
    expected = 10 * math.log10(4.0)  # ||s||^2 / ||n||^2, scale-invariant
    item, absent = result.items
    assert item.si_sdr == pytest.approx(expected, abs=1e-3)
    assert item.si_sdr_input == pytest.approx(expected, abs=1e-3)
    assert item.si_sdri == pytest.approx(0.0, abs=1e-4)
    assert math.isnan(item.absent_db)
    assert absent.absent_db == pytest.approx(20 * math.log10(0.5), abs=1e-3)
    assert math.isnan(absent.si_sdr)
    assert result.counts["si_sdr"] == 1 and result.counts["absent_db"] == 1
    assert result.mean["si_sdr"] == pytest.approx(expected, abs=1e-3)


def test_score_item_perfect_estimate():
    s, noise = orthogonal_pair(SR)
    score = score_item(s.copy(), s + noise, s, SR)
    assert score.si_sdr > 80 and score.si_sdri > 70


def test_read_pairs(tmp_path):
    (tmp_path / "a.tsv").write_text("m.wav\tr.wav\te.wav\n/abs/m2.wav\t\te2.wav\n")
    pairs = read_pairs(tmp_path / "a.tsv", "extract")
    assert pairs[0].input == tmp_path / "m.wav" and pairs[0].enrollment == tmp_path / "e.wav"
    assert str(pairs[1].input) == "/abs/m2.wav" and pairs[1].reference is None
    (tmp_path / "b.tsv").write_text("input\treference\nm.wav\tr.wav\n")
    with pytest.raises(PuresoundError, match="enrollment"):
        read_pairs(tmp_path / "b.tsv", "extract")
    (tmp_path / "c.tsv").write_text("input\treference\n")
    with pytest.raises(PuresoundError, match="no items"):
        read_pairs(tmp_path / "c.tsv", "enhance")


def test_wrong_task_and_missing_file(tmp_path):
    (tmp_path / "p.tsv").write_text("missing.wav\tref.wav\n")
    with pytest.raises(PuresoundError):
        evaluate(Gain(1.0), tmp_path / "p.tsv", task="extract")
    result = evaluate(Gain(1.0), tmp_path / "p.tsv")
    assert result.items[0].error and result.counts["si_sdr"] == 0


def test_perceptual_improvements_are_output_minus_input():
    """PESQ/STOI of the input are scored too, and the *_i columns are the differences."""
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    clean = synth_voice(3.0, 140.0, seed=4)
    noisy = mix_at_snr(clean, synth_noise(3.0, seed=6), 0.0)
    better = mix_at_snr(clean, synth_noise(3.0, seed=6), 15.0)
    item = score_item(better, noisy, clean, 16000)
    assert item.pesq > item.pesq_input and item.stoi > item.stoi_input
    assert item.pesq_i == pytest.approx(item.pesq - item.pesq_input)
    assert item.stoi_i == pytest.approx(item.stoi - item.stoi_input)


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("input\tref\n", "'ref'"),  # misspelt: was scored as target-absent
        ("input\treference\tEnrolment\n", "'enrolment'"),  # was scored as an enhance list
        ("input\tenrollment\n", "no 'reference' column"),
        ("mixture\treference\tenrollment\n", "no 'input' column"),
    ],
)
def test_misspelt_or_missing_columns_are_one_line_errors(tmp_path, header, needle):
    (tmp_path / "p.tsv").write_text(header + "m.wav\tr.wav\te.wav\n")
    with pytest.raises(PuresoundError, match=needle):
        read_pairs(tmp_path / "p.tsv", "extract")


def test_note_columns_are_allowed_and_binary_lists_refused(tmp_path):
    (tmp_path / "p.tsv").write_text("input\treference\tenrollment\ttarget\tsir_db\nm\tr\te\tx\t1\n")
    assert read_pairs(tmp_path / "p.tsv", "extract")[0].enrollment == tmp_path / "e"
    (tmp_path / "latin.tsv").write_bytes("input\treference\nm\xe9.wav\tr.wav\n".encode("latin-1"))
    with pytest.raises(PuresoundError, match="UTF-8"):
        read_pairs(tmp_path / "latin.tsv", "enhance")


def test_silent_reference_or_input_is_skipped_not_averaged(tmp_path):
    s, noise = orthogonal_pair(SR)
    sf.write(tmp_path / "mix.wav", s + noise, SR)
    sf.write(tmp_path / "ref.wav", s, SR)
    sf.write(tmp_path / "zero.wav", np.zeros_like(s), SR)
    (tmp_path / "p.tsv").write_text(
        "input\treference\nmix.wav\tref.wav\nmix.wav\tzero.wav\nzero.wav\tref.wav\n"
    )
    result = evaluate(Gain(1.0), tmp_path / "p.tsv")
    assert [bool(i.skipped) for i in result.items] == [False, True, True]
    assert not any(i.error for i in result.items)
    assert result.counts["si_sdri"] == 1
    assert result.mean["si_sdri"] == pytest.approx(result.items[0].si_sdri)
