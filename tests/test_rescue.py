"""The tracker's level rescue: where the enrolled voice surely talks, a separator that drops it
is raised back to the input's level; nowhere else, never by more than the cap, without clicks,
and the same through a file (blocks, look-ahead) as in memory."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import SAMPLE_RATE, synth_voice
from test_tracking import LOW, PitchExtractor, turns

from puresound_cli.separate import Separator
from puresound_cli.talk import LevelMeter
from puresound_cli.tracking import TrackConfig

FIRST = slice(SAMPLE_RATE // 2, 5 * SAMPLE_RATE // 2)  # inside the low voice's turn
SECOND = slice(7 * SAMPLE_RATE // 2, 11 * SAMPLE_RATE // 2)  # inside the high voice's turn


def level_db(y: np.ndarray, x: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(y.astype(np.float64) ** 2) / np.sum(x**2)))


def quiet_extractor(db: float) -> PitchExtractor:
    """A separator that keeps every voice ``db`` dB down (one that drops a lone target)."""
    model = PitchExtractor()
    with torch.no_grad():
        model.scale.fill_(10 ** (db / 20))
    return model


def separator(model: PitchExtractor, **tracker: float) -> Separator:
    enrollment = torch.from_numpy(synth_voice(2.0, LOW, seed=7))[None, None]
    config = TrackConfig(window_seconds=1.0, hop_seconds=0.1, **tracker)
    return Separator(
        model, model.embed(enrollment), segment=0.5, overlap=0.1, tracker=config, block_frames=1500
    )  # many small output blocks through a file


@pytest.mark.parametrize(("rescue", "cap", "kept"), [(None, 12.0, -20.0), (0.8, 30.0, 0.0),
                                                     (0.8, 6.0, -14.0)])  # fmt: skip
def test_rescue_raises_the_sure_target_to_the_input_level_up_to_the_cap(rescue, cap, kept):
    mix = turns()[None]
    sep = separator(quiet_extractor(-20.0), rescue_cosine=rescue, rescue_cap_db=cap)
    out = sep.process(mix, SAMPLE_RATE)
    assert abs(level_db(out[0, FIRST], mix[0, FIRST]) - kept) < 1.0
    assert level_db(out[0, SECOND], mix[0, SECOND]) < -35  # the other voice stays silenced


def test_rescue_never_lowers_a_separator_that_keeps_the_target():
    mix = turns()[None]
    plain = separator(quiet_extractor(0.0)).process(mix, SAMPLE_RATE)
    rescued = separator(quiet_extractor(0.0), rescue_cosine=0.8).process(mix, SAMPLE_RATE)
    assert np.max(np.abs(rescued)) > 0.1
    assert np.all(np.abs(rescued) >= np.abs(plain) - 1e-6)
    assert abs(level_db(rescued[0, FIRST], plain[0, FIRST])) < 0.5


def test_rescued_file_equals_rescued_memory_and_has_no_clicks(tmp_path):
    mix = turns()[None]
    sep = separator(quiet_extractor(-20.0), rescue_cosine=0.8, rescue_cap_db=30.0)
    memory = sep.process(mix, SAMPLE_RATE)
    sf.write(tmp_path / "mix.wav", mix[0], SAMPLE_RATE, subtype="FLOAT")
    sep.process_file(tmp_path / "mix.wav", tmp_path / "out.wav")
    written, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == SAMPLE_RATE and written.shape == (mix.shape[1],)
    np.testing.assert_allclose(written, memory[0], atol=1e-6)
    # the rescue's gain moves slowly: no output step beyond the input's own largest one
    assert np.max(np.abs(np.diff(written))) <= np.max(np.abs(np.diff(mix[0]))) * 1.05 + 1e-6


def test_level_meter_in_pieces_equals_the_direct_rms():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SAMPLE_RATE * 2 + 50).astype(np.float32)  # a partial last frame
    meter = LevelMeter(SAMPLE_RATE)
    for piece in np.array_split(x, [100, 2000, 2001, 17000]):
        meter.push(piece)
    centres = np.array([0.0, 0.5, 1.0, 2.0])
    got = meter.rms(centres, 0.4)
    spans = [(0, 3200), (4800, 11200), (12800, 19200), (28800, 32050)]
    want = [np.sqrt(np.mean(x[a:b].astype(np.float64) ** 2)) for a, b in spans]
    np.testing.assert_allclose(got, want, rtol=1e-9)
