"""Who talks when: the tracker's decisions, its gain, and that it follows the enrollment."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import SAMPLE_RATE, synth_voice
from torch import nn

from puresound_cli.separate import Separator
from puresound_cli.tracking import Track, TrackConfig, decide, track, window_scores

LOW, HIGH = 110.0, 170.0  # the two voices' pitches: no harmonic of one in the other's band


class PitchExtractor(nn.Module):
    """An 'extractor' whose speaker embedding is the energy in two pitch bands (one per test
    voice) and whose separator passes the mixture: the tracker alone decides what is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    task = "extract"
    sample_rate = SAMPLE_RATE
    embed_dim = 2
    receptive_field_samples = 0
    lookahead_samples = 0

    def valid_length(self, n: int) -> int:
        return n

    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(wav[:, 0], dim=-1).abs().pow(2)  # (B, F)
        freqs = torch.fft.rfftfreq(wav.shape[-1], 1 / SAMPLE_RATE)
        bands = [(f0 * 0.9 <= freqs) & (freqs <= f0 * 1.1) for f0 in (LOW, HIGH)]
        energy = torch.stack([spec[:, b].sum(dim=-1) for b in bands], dim=1)  # (B, 2)
        return energy.sqrt() / (spec.sum(dim=-1, keepdim=True).sqrt() + 1e-3)

    def track_embed(self, wav: torch.Tensor) -> torch.Tensor:
        return self.embed(wav)

    track_thresholds = (0.6, 0.5)
    track_adapt_cosine = None
    track_rescue_cosine = None
    has_tracking_net = False
    tracks_by_default = False

    def separate(self, mixture: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return mixture * self.scale

    def forward(self, mixture: torch.Tensor, enrollment: torch.Tensor) -> torch.Tensor:
        return self.separate(mixture, self.embed(enrollment))


def turns() -> np.ndarray:
    """3 s of the low voice, then 3 s of the high voice (one recording, 6 s)."""
    return np.concatenate([synth_voice(3.0, LOW, seed=1), synth_voice(3.0, HIGH, seed=2)])


def test_decide_hysteresis_lead_and_hangover():
    config = TrackConfig(hop_seconds=0.1, open_cosine=0.6, close_cosine=0.4,
                         hangover_seconds=0.2, lead_seconds=0.1)  # fmt: skip
    scores = np.array([0.0, 0.0, 0.0, 0.7, 0.5, 0.5, 0.3, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0])
    # open at 3 (>= 0.6), held through 0.5s (between the thresholds), closed at 6 (< 0.4);
    # one window early, two late; 0.5 at index 11 alone never opens.
    expected = [0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert decide(scores, config).astype(int).tolist() == expected


def test_config_refuses_inverted_thresholds():
    with pytest.raises(ValueError, match="close_cosine <= open_cosine"):
        TrackConfig(open_cosine=0.4, close_cosine=0.6)
    with pytest.raises(ValueError, match="hop_seconds"):
        TrackConfig(hop_seconds=0.0)


def test_gain_is_exactly_one_inside_talk_floor_outside_and_smooth():
    config = TrackConfig(hop_seconds=0.1, ramp_seconds=0.05, floor_db=-40.0)
    talking = np.zeros(30, bool)
    talking[10:20] = True  # talk from 0.95 s to 1.95 s
    result = Track(0.1, np.zeros(30, np.float32), talking, config)
    gain = result.gain(0, 3 * SAMPLE_RATE, SAMPLE_RATE)
    t = np.arange(gain.size) / SAMPLE_RATE
    assert np.all(gain[(t >= 0.95) & (t < 1.95)] == 1.0)
    floor = np.float32(10 ** (-40 / 20))
    assert np.allclose(gain[(t < 0.89) | (t > 2.01)], floor)
    # raised-cosine ramps: no step larger than a 50 ms half cosine allows (no click)
    max_step = np.pi / 2 / (0.05 * SAMPLE_RATE) * 1.01
    assert np.max(np.abs(np.diff(gain))) <= max_step
    # block by block equals all at once (the writer applies it in blocks)
    blocks = np.concatenate([result.gain(s, 1000, SAMPLE_RATE) for s in range(0, gain.size, 1000)])
    assert np.array_equal(blocks[: gain.size], gain)


def test_segments_and_talk_time():
    talking = np.zeros(20, bool)
    talking[5:10] = True
    talking[15:16] = True  # 0.1 s: under the 0.2 s minimum
    result = Track(0.1, np.zeros(20, np.float32), talking, TrackConfig(hop_seconds=0.1))
    assert result.segments() == [(0.45, 0.95)]
    assert result.talk_seconds() == pytest.approx(0.5)


def test_window_scores_follow_the_voice():
    model = PitchExtractor()
    config = TrackConfig(window_seconds=1.0, hop_seconds=0.25)
    low = model.embed(torch.from_numpy(synth_voice(2.0, LOW, seed=5))[None, None])
    scores = window_scores(model, turns(), low, config)
    assert scores.size == int(6.0 / 0.25) + 1
    centres = np.arange(scores.size) * 0.25
    assert scores[(centres > 0.6) & (centres < 2.4)].min() > 0.9
    assert scores[(centres > 3.6) & (centres < 5.4)].max() < 0.3


@pytest.mark.parametrize("enrolled", [LOW, HIGH])
def test_extract_keeps_the_enrolled_turns_and_silences_the_others(enrolled):
    """Fails if the gate ignores the enrollment: each voice's turns are kept only when that
    voice is the enrolled one."""
    model = PitchExtractor()
    enrollment = torch.from_numpy(synth_voice(2.0, enrolled, seed=7))[None, None]
    config = TrackConfig(window_seconds=1.0, hop_seconds=0.1, open_cosine=0.6, close_cosine=0.5)
    separator = Separator(model, model.embed(enrollment), tracker=config)
    mix = turns()[None]
    out = separator.process(mix, SAMPLE_RATE)
    # away from the turn change at 3 s, which a 1 s window hears as both voices
    first, second = (
        slice(SAMPLE_RATE // 2, 2 * SAMPLE_RATE),
        slice(4 * SAMPLE_RATE, 11 * SAMPLE_RATE // 2),
    )
    kept, dropped = (first, second) if enrolled == LOW else (second, first)
    assert np.allclose(out[0, kept], mix[0, kept], atol=1e-6)
    ratio = np.sum(out[0, dropped] ** 2) / np.sum(mix[0, dropped] ** 2)
    assert 10 * np.log10(ratio) < -35
    assert separator.last_track is not None
    (start, end), *_ = separator.last_track.segments()
    expected = (0.0, 3.0) if enrolled == LOW else (3.0, 6.0)
    assert abs(start - expected[0]) < 0.6 and abs(end - expected[1]) < 0.6


def test_no_click_at_gate_edges_through_the_separator():
    """A steady tone through a gate that switches: the output never jumps between samples by
    more than the tone itself can."""
    model = PitchExtractor()
    enrollment = torch.from_numpy(synth_voice(2.0, LOW, seed=7))[None, None]
    config = TrackConfig(window_seconds=1.0, hop_seconds=0.1)
    separator = Separator(model, model.embed(enrollment), tracker=config)
    mix = turns()[None]
    out = separator.process(mix, SAMPLE_RATE)[0]
    # the input's own largest step, and the gain's: their sum bounds the output's step
    assert np.max(np.abs(np.diff(out))) <= np.max(np.abs(np.diff(mix[0]))) * 1.05 + 1e-6
    edge = np.flatnonzero(np.diff(separator.last_track.talking.astype(int)))
    assert edge.size >= 1  # the gate did switch


def test_track_is_enhance_free():
    """An enhancement separator never tracks (no enrollment)."""
    model = PitchExtractor()
    with pytest.raises(ValueError):
        Separator(model, None, tracker=TrackConfig())


def test_track_function_matches_scores_and_decisions():
    model = PitchExtractor()
    emb = model.embed(torch.from_numpy(synth_voice(2.0, HIGH, seed=5))[None, None])
    config = TrackConfig(window_seconds=1.0, hop_seconds=0.2)
    mono = turns()
    result = track(model, mono, emb, config)
    assert np.array_equal(result.scores, window_scores(model, mono, emb, config))
    assert np.array_equal(result.talking, decide(result.scores, config))


def test_combine_embeddings_averages_and_names_the_odd_one_out():
    from puresound_cli.enrollment import combine_embeddings

    a = torch.tensor([[1.0, 0.0, 0.0]])
    b = torch.tensor([[0.9, 0.1, 0.0]]) * 3.0  # same direction-ish, louder: counts the same
    c = torch.tensor([[0.0, 0.0, 1.0]])
    combined, notes = combine_embeddings([a, b], ["a.wav", "b.wav"])
    assert notes == []
    unit = torch.nn.functional.normalize(torch.cat([a, b]), dim=1).mean(dim=0)
    assert torch.allclose(torch.nn.functional.normalize(combined, dim=1)[0],
                          torch.nn.functional.normalize(unit, dim=0))  # fmt: skip
    _, notes = combine_embeddings([a, b, c], ["a.wav", "b.wav", "c.wav"])
    assert len(notes) == 1 and "c.wav" in notes[0]
    single, notes = combine_embeddings([b], ["b.wav"])
    assert torch.equal(single, b) and notes == []


def _cli(tmp_path, *args):
    from typer.testing import CliRunner

    from puresound_cli.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def conversation(tmp_path, monkeypatch):
    import soundfile as sf

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sf.write(tmp_path / "mix.wav", turns(), SAMPLE_RATE)
    (tmp_path / "spk").mkdir()
    sf.write(tmp_path / "spk" / "a.wav", synth_voice(2.0, LOW, seed=8), SAMPLE_RATE)
    sf.write(tmp_path / "spk" / "b.wav", synth_voice(2.0, LOW, seed=9), SAMPLE_RATE)
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_vad_works_with_the_shipped_extractor(conversation):
    """No -m: the default extractor's speaker net tracks the voice (no VAD checkpoint needed)."""
    mix, spk = conversation / "mix.wav", conversation / "spk" / "a.wav"
    result = _cli(conversation, "vad", mix, "--enroll", spk)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "file\tstart\tend"
    result = _cli(conversation, "vad", mix, "--enroll", conversation / "spk", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[0])
    assert record["input"].endswith("mix.wav") and isinstance(record["segments"], list)
    result = _cli(conversation, "vad", mix, "--enroll", spk, "--json", "--threshold", "1.0")
    assert json.loads(result.stdout.strip().splitlines()[0])["segments"] == []


def test_extract_reports_talk_segments_and_takes_several_enrollments(conversation):
    from puresound_cli.checkpoint import save_checkpoint
    from puresound_cli.nets import ExtractorConfig, build

    model = conversation / "tiny.pt"
    save_checkpoint(model, build("extractor", dataclasses.asdict(ExtractorConfig.tiny())))
    mix = conversation / "mix.wav"
    base = ["extract", mix, "-m", model, "--json", "--force-enroll", "--track"]
    enrolls = ["-e", conversation / "spk" / "a.wav", "-e", conversation / "spk" / "b.wav"]
    result = _cli(conversation, *base, *enrolls, "-o", conversation / "o1.wav")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[0])
    assert record["status"] == "ok" and "talk_seconds" in record and "segments" in record
    result = _cli(conversation, *base, "-e", conversation / "spk", "-o", conversation / "o2.wav")
    assert result.exit_code == 0, result.output
    result = _cli(conversation, *base, *enrolls, "--no-track", "-o", conversation / "o3.wav")
    assert result.exit_code == 0 and "segments" not in result.stdout
    # without a calibrated tracking net the default is not to track (uncalibrated thresholds)
    plain = [a for a in base if a != "--track"]
    result = _cli(conversation, *plain, *enrolls, "-o", conversation / "o5.wav")
    assert result.exit_code == 0 and "segments" not in result.stdout
    result = _cli(conversation, *base, "-e", conversation / "empty", "-o", conversation / "o4.wav")
    assert result.exit_code == 1 and "no audio files" in result.output
    assert not (conversation / "o4.wav").exists()


def test_extractor_with_its_own_tracking_net_round_trips(tmp_path):
    """A second speaker net for tracking: saved and loaded with its thresholds; separation is
    untouched by it; a checkpoint without one tracks with the separation speaker net."""
    from puresound_cli.checkpoint import load_model, save_checkpoint
    from puresound_cli.nets import ExtractorConfig, SpeakerNetConfig, build

    base = ExtractorConfig.tiny()
    tracker = dataclasses.replace(SpeakerNetConfig.tiny(), frontend="mel", window=400, hop=160,
                                  n_mels=20, embed_dim=6)  # fmt: skip
    config = dataclasses.replace(base, tracker=tracker, track_open_cosine=0.9,
                                 track_close_cosine=0.8)  # fmt: skip
    model = build("extractor", dataclasses.asdict(config)).eval()
    save_checkpoint(tmp_path / "t.pt", model)
    loaded = load_model(tmp_path / "t.pt")
    x = torch.randn(2, 1, 16000) * 0.1
    with torch.no_grad():
        assert loaded.track_embed(x).shape == (2, 6)
        assert torch.equal(loaded.track_embed(x), model.track_embed(x))
        assert loaded.embed(x).shape == (2, base.speaker.embed_dim)
    assert loaded.has_tracking_net and loaded.track_thresholds == (0.9, 0.8)
    assert TrackConfig.for_model(loaded).open_cosine == 0.9
    plain = build("extractor", dataclasses.asdict(base)).eval()
    with torch.no_grad():
        assert torch.equal(plain.track_embed(x), plain.embed(x))
    assert not plain.has_tracking_net
    with pytest.raises(ValueError, match="own front end"):
        dataclasses.replace(base, tracker=SpeakerNetConfig.tiny())


def test_vad_plot_draws_who_talks_when(conversation):
    pytest.importorskip("matplotlib")
    mix, spk = conversation / "mix.wav", conversation / "spk" / "a.wav"
    png = conversation / "who.png"
    result = _cli(conversation, "vad", mix, "--enroll", spk, "--plot", png)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = _cli(conversation, "vad", mix, "--enroll", spk, "--plot", png)
    assert again.exit_code == 2 and "exists" in again.output  # never clobbered
    result = _cli(conversation, "vad", mix, conversation / "spk", "--enroll", spk, "--plot", png)
    assert result.exit_code == 2 and "folder" in result.output
    result = _cli(conversation, "vad", mix, "--enroll", spk, "--plot", conversation / "pics")
    assert result.exit_code == 0 and (conversation / "pics" / "mix.png").is_file()


def test_adaptation_moves_the_enrollment_towards_the_recordings_voice():
    from puresound_cli.tracking import adapted

    enrolled = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0, 0.0]]), dim=1)
    here = torch.nn.functional.normalize(torch.tensor([1.0, 0.8, 0.0]), dim=0)  # other channel
    other = torch.tensor([0.0, 0.0, 1.0])
    windows = torch.stack([here] * 20 + [other] * 20)
    scores = (windows @ enrolled.T)[:, 0]
    config = TrackConfig(hop_seconds=0.2, adapt_cosine=0.7, adapt_seconds=3.0)
    moved = adapted(windows, scores, enrolled, config)
    assert float(here @ moved[0]) > float(here @ enrolled[0]) + 0.1  # the target scores higher
    assert float(other @ moved[0]) == pytest.approx(0.0, abs=1e-6)  # the other voice does not
    # too few confident windows (2 s < 3 s): the enrollment is kept as it is
    assert torch.equal(adapted(windows[10:], scores[10:], enrolled, config), enrolled)


def test_window_embedder_in_pieces_equals_one_pass():
    """The streamed embedder (flat memory for hour-long files) gives the whole-array result."""
    from puresound_cli.tracking import WindowEmbedder, window_embeddings

    model = PitchExtractor()
    config = TrackConfig(window_seconds=1.0, hop_seconds=0.1, batch=4)
    mono = turns()[: 3 * SAMPLE_RATE + 123]
    whole = window_embeddings(model, mono, config)
    assert whole.shape[0] == mono.size // 1600 + 1
    rng = np.random.default_rng(0)
    embedder = WindowEmbedder(model, config)
    start = 0
    while start < mono.size:
        size = int(rng.integers(1, 9000))
        embedder.push(mono[start : start + size])
        start += size
        assert embedder.buffer.size <= 16000 + 4 * 1600 + 9000  # never the whole recording
    assert torch.allclose(embedder.finish(), whole, atol=1e-6)


def test_api_extract_tracks_only_models_with_a_calibrated_tracking_net():
    from puresound_cli.api import extract
    from puresound_cli.enrollment import embed_speaker
    from puresound_cli.nets import ExtractorConfig, SpeakerNetConfig, build

    tracker = dataclasses.replace(SpeakerNetConfig.tiny(), frontend="mel", window=400, hop=160,
                                  n_mels=20)  # fmt: skip
    config = dataclasses.replace(ExtractorConfig.tiny(), tracker=tracker)
    model = build("extractor", dataclasses.asdict(config)).eval()
    mix, enroll = turns()[: 2 * SAMPLE_RATE], synth_voice(2.0, LOW, seed=3)
    embedding = embed_speaker(model, enroll, SAMPLE_RATE)
    untracked = extract(model, mix, embedding, SAMPLE_RATE)  # a ready embedding: no tracking
    assert torch.equal(untracked, extract(model, mix, enroll, SAMPLE_RATE, track=False))
    with pytest.raises(ValueError, match="waveform"):
        extract(model, mix, embedding, SAMPLE_RATE, track=True)
    tracked = extract(model, mix, enroll, SAMPLE_RATE)  # the waveform: tracked by default
    assert tracked.shape == untracked.shape
