"""Separate, then select by voice: a two-talker separator's outputs chosen window by window."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import SAMPLE_RATE, synth_voice
from test_tracking import HIGH, LOW, PitchExtractor

from puresound_cli.losses import si_sdr
from puresound_cli.nets import ConvTasNetConfig, ExtractorConfig, SpeakerNetConfig, build
from puresound_cli.nets.select import best_path, select_voice

EMBED = PitchExtractor().embed  # energy in the two test voices' pitch bands


def swapped_outputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(low voice, high voice, outputs): the two voices trade outputs half way, as a PIT
    separator's talkers may over a long recording."""
    low = torch.from_numpy(synth_voice(4.0, LOW, seed=3))
    high = torch.from_numpy(synth_voice(4.0, HIGH, seed=4))
    half = low.numel() // 2
    first = torch.cat([low[:half], high[half:]])
    second = -0.3 * torch.cat([high[:half], low[half:]])  # a PIT output's own scale and sign
    return low, high, torch.stack([first, second])[None]  # (1, 2, T)


@pytest.mark.parametrize("pitch", ["low", "high"])
def test_the_enrolled_voice_is_followed_across_outputs(pitch):
    low, high, outputs = swapped_outputs()
    target = low if pitch == "low" else high
    enrollment = torch.from_numpy(synth_voice(2.0, LOW if pitch == "low" else HIGH, seed=5))
    embedding = EMBED(enrollment[None, None])
    with torch.no_grad():
        out = select_voice(outputs, (low + high)[None, None], embedding, EMBED, SAMPLE_RATE)
    assert out.shape == (1, 1, target.numel())
    assert float(si_sdr(out, target[None, None])) > 6.0  # the 1 s blend at the swap costs some
    # at the input's scale and sign, whichever output the voice was in
    assert float((out[0, 0] * target).sum()) > 0
    assert abs(20 * torch.log10(out.std() / target.std())) < 1.0
    other = high if pitch == "low" else low
    assert float(si_sdr(out, other[None, None])) < -10.0  # would pass if the choice ignored it


def test_no_click_where_the_choice_changes():
    t = torch.arange(4 * SAMPLE_RATE) / SAMPLE_RATE
    low = 0.5 * torch.sin(2 * torch.pi * LOW * t)
    high = 0.5 * torch.sin(2 * torch.pi * HIGH * t + 1.3)
    fade = (1 - torch.cos(torch.pi * ((t - 1.99) / 0.02).clamp(0, 1))) / 2  # 0 -> 1 in 20 ms
    outputs = torch.stack([low * (1 - fade) + high * fade, high * (1 - fade) + low * fade])
    slope = 2 * torch.pi * (LOW + HIGH) * 0.5 / SAMPLE_RATE  # the steepest step of both tones
    centres = (torch.arange(1, 8) * SAMPLE_RATE / 2).long()  # where the choice could cut
    assert (low[centres] - high[centres]).abs().min() > 0.1  # a hard cut there would jump
    embedding = EMBED(low[None, None])
    out = select_voice(outputs[None], (low + high)[None, None], embedding, EMBED, SAMPLE_RATE)[0, 0]
    assert out.diff().abs().max() <= 1.05 * slope  # the choice follows the tone and blends


def test_a_doubtful_choice_keeps_the_mixture():
    """Two voices the speaker net cannot tell apart (same pitch band): rather than risk the
    wrong one, the output keeps both; with no margin, or where neither sounds like the target,
    it picks one."""
    a = torch.from_numpy(synth_voice(3.0, LOW, seed=6))
    b = torch.from_numpy(synth_voice(3.0, LOW * 1.02, seed=7))
    outputs, mixture = torch.stack([a, b])[None], (a + b)[None, None]
    embedding = EMBED(torch.from_numpy(synth_voice(2.0, LOW, seed=5))[None, None])
    kept = select_voice(outputs, mixture, embedding, EMBED, SAMPLE_RATE, unsure_margin=0.1)
    assert float(si_sdr(kept, mixture)) > 20.0
    picked = select_voice(outputs, mixture, embedding, EMBED, SAMPLE_RATE, unsure_margin=0.0)
    assert float(si_sdr(picked, mixture)) < 10.0
    # neither voice is plausibly the target (cosines below the bar): no doubt, the pick stands
    unlike = select_voice(outputs, mixture, embedding, EMBED, SAMPLE_RATE, plausible=1.01)
    assert float(si_sdr(unlike, mixture)) < 10.0


def test_where_no_output_sounds_like_the_target_the_output_is_lowered():
    a = torch.from_numpy(synth_voice(3.0, LOW, seed=6))
    b = torch.from_numpy(synth_voice(3.0, LOW * 1.02, seed=7))
    outputs, mixture = torch.stack([a, b])[None], (a + b)[None, None]
    for pitch, lowered_by in ((HIGH, -20.0), (LOW, 0.0)):  # a stranger, then the target
        embedding = EMBED(torch.from_numpy(synth_voice(2.0, pitch, seed=5))[None, None])
        args = (outputs, mixture, embedding, EMBED, SAMPLE_RATE)
        kept = select_voice(*args, plausible=0.5, unsure_margin=0.0)
        lowered = select_voice(*args, plausible=0.5, unsure_margin=0.0, unlike_db=-20.0)
        assert abs(20 * torch.log10(lowered.std() / kept.std()) - lowered_by) < 0.5


def test_one_stray_window_does_not_switch_outputs():
    scores = torch.tensor([[[0.8, 0.8, 0.5, 0.8, 0.8], [0.2, 0.2, 0.9, 0.2, 0.2]]])
    assert best_path(scores, 1.0).tolist() == [[0, 0, 0, 0, 0]]
    assert best_path(scores, 0.0).tolist() == [[0, 0, 1, 0, 0]]  # penalty 0: per-window best
    lasting = torch.tensor([[[0.8, 0.8, 0.1, 0.1, 0.1], [0.2, 0.2, 0.9, 0.9, 0.9]]])
    assert best_path(lasting, 1.0).tolist() == [[0, 0, 1, 1, 1]]  # a lasting change is taken


def two_talker_extractor_config() -> ExtractorConfig:
    separator = dataclasses.replace(ConvTasNetConfig.tiny(), sources=2)
    speaker = dataclasses.replace(SpeakerNetConfig.tiny(), frontend="mel", window=400, hop=160,
                                  n_mels=20)  # fmt: skip
    return ExtractorConfig(separator=separator, speaker=speaker, track_with_speaker=True)


def test_two_talker_extractor_round_trips_and_refuses_a_shared_front_end(tmp_path):
    from puresound_cli.checkpoint import load_model, save_checkpoint

    config = two_talker_extractor_config()
    model = build("extractor", dataclasses.asdict(config)).eval()
    assert model.selects and model.task == "extract" and model.tracks_by_default
    save_checkpoint(tmp_path / "s.pt", model)
    loaded = load_model(tmp_path / "s.pt")
    x = torch.randn(2, 1, 20000) * 0.1
    with torch.no_grad():
        embedding = loaded.embed(x[:, :, :8000])
        out = loaded.separate(x, embedding)
        assert out.shape == (2, 1, 20000)
        assert torch.equal(out, model.separate(x, embedding))
        assert torch.isfinite(out).all() and out.abs().max() > 0
    with pytest.raises(ValueError, match="own front end"):
        dataclasses.replace(config, speaker=SpeakerNetConfig.tiny())


def test_extract_runs_a_two_talker_extractor_from_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.cli import app

    model = build("extractor", dataclasses.asdict(two_talker_extractor_config())).eval()
    save_checkpoint(tmp_path / "s.pt", model)
    mix = synth_voice(3.0, LOW, seed=1) + synth_voice(3.0, HIGH, seed=2)
    sf.write(tmp_path / "mix.wav", mix, SAMPLE_RATE)
    sf.write(tmp_path / "spk.wav", synth_voice(2.0, LOW, seed=8), SAMPLE_RATE)
    result = CliRunner().invoke(app, ["extract", str(tmp_path / "mix.wav"), "--enroll",
                                      str(tmp_path / "spk.wav"), "-o", str(tmp_path / "out.wav"),
                                      "--model", str(tmp_path / "s.pt"), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out, rate = sf.read(tmp_path / "out.wav")
    assert rate == SAMPLE_RATE and out.shape == mix.shape and np.isfinite(out).all()


def test_export_refuses_a_two_talker_extractor_in_one_line(tmp_path):
    from puresound_cli.errors import PuresoundError
    from puresound_cli.export import export_model

    model = build("extractor", dataclasses.asdict(two_talker_extractor_config())).eval()
    with pytest.raises(PuresoundError, match="separate-then-select"):
        export_model(model, tmp_path / "s.pt")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_the_choice_is_set_by_the_model_config():
    """The window, spacing, switching cost, margin and lowering are the model's (a checkpoint
    without them takes the module's defaults), and out-of-range values are refused."""
    config = two_talker_extractor_config()
    assert config.select_window_seconds == 2.5 and config.select_unlike_db == -20.0
    x = torch.randn(1, 1, 48000) * 0.1
    model = build("extractor", dataclasses.asdict(config)).eval()
    changed = dataclasses.replace(config, select_unlike_db=-40.0, track_open_cosine=1.0)
    other = build("extractor", dataclasses.asdict(changed)).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        embedding = model.embed(x)
        quiet = other.separate(x, embedding)  # no window reaches a cosine of 1: all lowered
        loud = model.separate(x, embedding)
    assert float(20 * torch.log10(quiet.std() / loud.std())) < -15.0
    for bad in ({"select_hop_seconds": 3.0}, {"select_margin": -0.1}, {"select_unlike_db": 3.0}):
        with pytest.raises(ValueError, match="select_"):
            dataclasses.replace(config, **bad)


def test_where_both_readings_say_no_the_output_is_silenced():
    """The tracker's reading of the mixture (``evidence``) joins the outputs' cosines: where
    both are below their bars the window goes to ``evidence_db``; where either reading says
    "the target" (the separated voice matches, as where the target overlaps another talker)
    nothing changes, and without evidence the output is what it was."""
    a = torch.from_numpy(synth_voice(6.0, LOW, seed=6))
    b = torch.from_numpy(synth_voice(6.0, HIGH, seed=7))
    outputs, mixture = torch.stack([a, b])[None], (a + b)[None, None]
    embedding = EMBED(torch.from_numpy(synth_voice(2.0, LOW, seed=5))[None, None])
    args = (outputs, mixture, embedding, EMBED, SAMPLE_RATE)
    plain = select_voice(*args)
    sure = torch.ones(1, a.numel())
    assert torch.equal(select_voice(*args, evidence=sure, evidence_bar=0.9, output_bar=1.1), plain)
    # the mixture's reading says "not the target" in the second half only
    half = a.numel() // 2
    doubt = torch.cat([sure[:, :half], -sure[:, half:]], dim=1)
    kept = select_voice(*args, evidence=doubt, evidence_bar=0.5, output_bar=0.5)
    assert torch.equal(kept, plain)  # the chosen output matches the enrollment: it stays
    out = select_voice(*args, evidence=doubt, evidence_bar=0.5, output_bar=1.1, evidence_db=-40.0)
    first, last = slice(0, half - SAMPLE_RATE), slice(half + SAMPLE_RATE, None)
    assert torch.allclose(out[..., first], plain[..., first])
    level = 20 * torch.log10(out[..., last].std() / plain[..., last].std())
    assert abs(float(level) + 40.0) < 1.0


class EvidenceExtractor(PitchExtractor):
    """Records the tracker's scores each chunk brings (a model that asks for them)."""

    takes_evidence = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def separate(self, mixture, embedding, evidence=None):
        self.seen.append(evidence)
        return mixture * self.scale


@pytest.mark.parametrize("via", ["array", "file"])
def test_each_chunk_gets_the_track_scores_of_its_own_time(tmp_path, via):
    from puresound_cli.separate import Separator
    from puresound_cli.tracking import TrackConfig

    model = EvidenceExtractor()
    wav = np.concatenate([synth_voice(3.0, LOW, seed=1), synth_voice(3.0, HIGH, seed=2)])
    embedding = model.embed(torch.from_numpy(synth_voice(2.0, LOW, seed=3))[None, None])
    separator = Separator(model, embedding, segment=1.0, overlap=0.25, tracker=TrackConfig())
    if via == "array":
        separator.process(wav[None].astype(np.float32), SAMPLE_RATE)
    else:
        sf.write(tmp_path / "mix.wav", wav, SAMPLE_RATE)
        separator.process_file(tmp_path / "mix.wav", tmp_path / "out.wav")
    track = separator.last_track
    assert track is not None and track.scores.max() - track.scores.min() > 0.3
    hop = separator.seg - separator.ovl
    assert len(model.seen) >= wav.size // hop
    for i, evidence in enumerate(model.seen):
        want = track.scores_at(i * hop, evidence.shape[-1], SAMPLE_RATE)
        np.testing.assert_allclose(evidence[0].numpy(), want, atol=1e-6)


def test_a_model_that_does_not_ask_gets_no_evidence():
    from puresound_cli.separate import Separator
    from puresound_cli.tracking import TrackConfig

    model = PitchExtractor()  # separate(mixture, embedding) only: a plug-in of the contract
    embedding = model.embed(torch.from_numpy(synth_voice(2.0, LOW, seed=3))[None, None])
    separator = Separator(model, embedding, tracker=TrackConfig())
    out = separator.process(synth_voice(2.0, LOW, seed=1)[None].astype(np.float32), SAMPLE_RATE)
    assert out.shape == (1, 2 * SAMPLE_RATE)
    config = two_talker_extractor_config()
    assert not build("extractor", dataclasses.asdict(config)).takes_evidence
    barred = dataclasses.replace(config, select_evidence_bar=0.6)
    assert build("extractor", dataclasses.asdict(barred)).takes_evidence
    for bad in ({"select_evidence_bar": 1.5}, {"select_output_bar": -2.0},
                {"select_evidence_db": 1.0}):  # fmt: skip
        with pytest.raises(ValueError, match="select_"):
            dataclasses.replace(config, **bad)


def lowpassed(x: torch.Tensor, cutoff: float = 3400.0) -> torch.Tensor:
    """``x`` with nothing above ``cutoff`` Hz (at SAMPLE_RATE): a telephone-band copy."""
    spec = torch.fft.rfft(x)
    spec[..., torch.fft.rfftfreq(x.shape[-1], 1 / SAMPLE_RATE) > cutoff] = 0
    return torch.fft.irfft(spec, x.shape[-1])


def test_narrow_band_tells_a_telephone_band_chunk_from_a_wideband_one():
    from puresound_cli.nets.select import narrow_band

    wide = torch.randn(1, 1, 2 * SAMPLE_RATE) * 0.1
    hum = torch.sin(torch.arange(wide.shape[-1]) * 2 * torch.pi * 200 / SAMPLE_RATE)[None, None]
    batch = torch.cat([wide, lowpassed(wide), hum + 0.2 * wide, hum, torch.zeros_like(wide)])
    # noise 31 dB below a hum still spreads over the band above 4.2 kHz; silence is not a channel
    assert narrow_band(batch, SAMPLE_RATE).tolist() == [False, True, False, True, False]
    assert narrow_band(wide, 8000).tolist() == [True]  # an 8 kHz recording is narrow-band


def test_narrowband_chunks_are_judged_by_their_own_bars():
    """``select_narrowband_bars`` replace the two bars where a chunk is telephone-band, and only
    there: a wideband chunk's output is exactly what it is without them."""
    # the usual bars are never both crossed, the narrow-band ones always
    config = dataclasses.replace(
        two_talker_extractor_config(), select_evidence_bar=0.0, select_output_bar=-1.0
    )
    plain = build("extractor", dataclasses.asdict(config)).eval()
    phone = dataclasses.replace(config, select_narrowband_bars=(0.0, 1.0))
    model = build("extractor", dataclasses.asdict(phone)).eval()
    model.load_state_dict(plain.state_dict())
    wide = torch.randn(1, 1, 3 * SAMPLE_RATE) * 0.1
    unlike = -torch.ones(1, wide.shape[-1])  # the mixture's reading: not the target
    with torch.no_grad():
        embedding = plain.embed(wide)
        assert torch.equal(model.separate(wide, embedding, unlike),
                           plain.separate(wide, embedding, unlike))  # fmt: skip
        narrow = lowpassed(wide)
        barred = model.separate(narrow, embedding, unlike)
        kept = plain.separate(narrow, embedding, unlike)
    assert float(20 * torch.log10(barred.std() / kept.std())) < -15.0
    for bad in ({"select_narrowband_bars": (0.5, 1.5)},
                {"select_evidence_bar": None, "select_narrowband_bars": (0.5, 0.5)}):  # fmt: skip
        with pytest.raises(ValueError, match="select_narrowband_bars"):
            dataclasses.replace(config, **bad)
