"""Recipes that build checkpoints: the extraction warm start."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from puresound_cli.checkpoint import load_checkpoint, save_checkpoint
from puresound_cli.nets import ConvTasNetConfig, ExtractorConfig, build

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def _recipe(name: str):  # type: ignore[no-untyped-def]
    """A recipe script as a module (its folder importable, as when it runs as a script)."""
    if str(RECIPES) not in sys.path:
        sys.path.insert(0, str(RECIPES))
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tracking_extractor() -> torch.nn.Module:
    """A tiny extractor with a tracking net (6-d mel speaker net) and thresholds 0.7 / 0.6."""
    from puresound_cli.nets import SpeakerNetConfig

    torch.manual_seed(0)
    tracker = dataclasses.replace(SpeakerNetConfig.tiny(), frontend="mel", window=400, hop=160,
                                  n_mels=20, embed_dim=6)  # fmt: skip
    config = dataclasses.replace(ExtractorConfig.tiny(), tracker=tracker,
                                 track_open_cosine=0.7, track_close_cosine=0.6)  # fmt: skip
    return build("extractor", dataclasses.asdict(config)).eval()


@pytest.mark.parametrize("conditioning", ["concat", "film"])
def test_warm_start_begins_as_the_enhancer_and_can_learn_the_speaker(
    tmp_path: Path, conditioning: str
) -> None:
    torch.manual_seed(0)
    enhancer = build("convtasnet", dataclasses.asdict(ConvTasNetConfig.tiny()))
    donor = build("extractor", dataclasses.asdict(ExtractorConfig.tiny()))
    save_checkpoint(tmp_path / "enh.pt", enhancer)
    save_checkpoint(tmp_path / "spk.pt", donor)
    model, copied = _recipe("warm_start").warm_start(
        load_checkpoint(tmp_path / "spk.pt"), load_checkpoint(tmp_path / "enh.pt"), conditioning
    )
    assert copied == len(enhancer.state_dict())
    assert model.config.separator.conditioning == conditioning
    ours, theirs = model.state_dict(), donor.state_dict()
    assert all(torch.equal(ours[n], v) for n, v in theirs.items() if n.startswith("speaker."))

    model.eval()
    enhancer.eval()
    mix = torch.randn(1, 1, 800)
    with torch.no_grad():
        expected = enhancer(mix)
        for seed in (1, 2):  # any enrollment: the conditioning starts at zero
            enroll = torch.randn(1, 1, 1600, generator=torch.Generator().manual_seed(seed))
            torch.testing.assert_close(model(mix, enroll), expected)

    # ... and is not stuck there: the loss has a gradient on the conditioning weights.
    model.train()
    model(mix, torch.randn(1, 1, 1600)).pow(2).mean().backward()
    cond = [p.grad for n, p in model.named_parameters() if ".condition." in n]
    assert cond and all(g is not None and g.abs().sum() > 0 for g in cond)


@pytest.mark.parametrize("conditioning", ["film", "multiply"])
def test_warm_start_from_a_two_talker_separator(tmp_path: Path, conditioning: str) -> None:
    """A PIT separator's first output becomes the extractor's output, conditioning at zero."""
    torch.manual_seed(0)
    separator = build(
        "convtasnet", {**dataclasses.asdict(ConvTasNetConfig.tiny()), "sources": 2}
    ).eval()
    save_checkpoint(tmp_path / "sep.pt", separator)
    save_checkpoint(
        tmp_path / "spk.pt", build("extractor", dataclasses.asdict(ExtractorConfig.tiny()))
    )
    model, copied = _recipe("warm_start").warm_start(
        load_checkpoint(tmp_path / "spk.pt"), load_checkpoint(tmp_path / "sep.pt"), conditioning
    )
    assert copied == len(separator.state_dict()) and model.config.separator.sources == 1
    mix = torch.randn(1, 1, 800)
    with torch.no_grad():
        first = separator(mix)[:, :1]
        torch.testing.assert_close(model.eval()(mix, torch.randn(1, 1, 1600)), first)


def test_warm_start_conditions_on_the_tracking_net(tmp_path: Path) -> None:
    """``speaker_net="tracker"``: the donor's tracking net becomes the speaker net the separator
    is conditioned on; the tracking net and its thresholds are carried over either way."""
    from puresound_cli.checkpoint import load_model

    donor = _tracking_extractor()
    save_checkpoint(tmp_path / "spk.pt", donor)
    save_checkpoint(
        tmp_path / "enh.pt", build("convtasnet", dataclasses.asdict(ConvTasNetConfig.tiny()))
    )
    recipe = _recipe("warm_start")
    wav = torch.randn(1, 1, 16000) * 0.1
    for net in ("speaker", "tracker"):
        model, _ = recipe.warm_start(
            load_checkpoint(tmp_path / "spk.pt"), load_checkpoint(tmp_path / "enh.pt"),
            speaker_net=net,
        )  # fmt: skip
        save_checkpoint(tmp_path / f"{net}.pt", model)
        loaded = load_model(tmp_path / f"{net}.pt")
        assert loaded.has_tracking_net and loaded.track_thresholds == (0.7, 0.6)
        with torch.no_grad():
            assert torch.equal(loaded.track_embed(wav), donor.track_embed(wav))
            if net == "tracker":  # the separator hears the tracking net's embedding
                assert torch.equal(loaded.embed(wav), donor.track_embed(wav))
        source = donor.tracker if net == "tracker" else donor.speaker
        theirs, ours = source.state_dict(), loaded.speaker.state_dict()
        assert theirs.keys() == ours.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
        assert loaded.config.separator.speaker_dim == (6 if net == "tracker" else 8)
    plain = build("extractor", dataclasses.asdict(ExtractorConfig.tiny()))
    save_checkpoint(tmp_path / "plain.pt", plain)
    with pytest.raises(ValueError, match="no tracker net"):
        recipe.warm_start(load_checkpoint(tmp_path / "plain.pt"),
                          load_checkpoint(tmp_path / "enh.pt"), speaker_net="tracker")  # fmt: skip


def test_attach_tracker_stores_a_tracking_net_once(tmp_path: Path) -> None:
    """``add_tracker.attach``: another net is stored as the tracker; the net the separator is
    conditioned on (warm start from the tracking net) is not stored twice, yet the model still
    tracks by default with it and its thresholds; separation is untouched either way."""
    from conftest import synth_voice

    from puresound_cli.checkpoint import load_model
    from puresound_cli.separate import load_separator
    from puresound_cli.vad import load_detector

    attach = _recipe("add_tracker").attach
    donor = _tracking_extractor()
    save_checkpoint(tmp_path / "spk.pt", donor)
    save_checkpoint(
        tmp_path / "enh.pt", build("convtasnet", dataclasses.asdict(ConvTasNetConfig.tiny()))
    )
    base, _ = _recipe("warm_start").warm_start(
        load_checkpoint(tmp_path / "spk.pt"), load_checkpoint(tmp_path / "enh.pt"),
        speaker_net="tracker",
    )  # fmt: skip
    base.eval()
    wav, mix = torch.randn(1, 1, 16000) * 0.1, torch.randn(1, 1, 16000) * 0.1
    sf.write(tmp_path / "e.wav", wav[0, 0].numpy(), 16000)
    other = _tracking_extractor()
    torch.nn.init.normal_(next(other.tracker.parameters()))  # a different tracking net
    for net, folded in ((base.speaker, True), (other.tracker, False)):
        model = attach(base, net, 0.75, 0.65, None, rescue=0.8).eval()
        save_checkpoint(tmp_path / "m.pt", model)
        loaded = load_model(tmp_path / "m.pt")
        keys = [k for k in loaded.state_dict() if k.startswith("tracker.")]
        assert (not keys) == folded and loaded.has_tracking_net != folded
        assert loaded.tracks_by_default and loaded.track_thresholds == (0.75, 0.65)
        assert loaded.config.track_with_speaker == folded
        with torch.no_grad():
            assert torch.equal(loaded.track_embed(wav), net(wav))
            assert torch.equal(loaded(mix, wav), base(mix, wav))
        separator = load_separator("extract", str(tmp_path / "m.pt"), tmp_path / "e.wav",
                                   force_enroll=True, track=None)  # fmt: skip
        assert separator.tracker is not None and separator.tracker.open_cosine == 0.75
        assert separator.tracker.rescue_cosine == 0.8  # the calibrated rescue travels too
        sf.write(tmp_path / "v.wav", synth_voice(2.0, 120.0, seed=1), 16000)  # speech-like
        detector = load_detector(str(tmp_path / "m.pt"), [tmp_path / "v.wav"])
        assert detector.tracker is not None and detector.tracker.rescue_cosine is None  # no output
    with pytest.raises(ValueError, match="one tracking net"):
        dataclasses.replace(donor.config, track_with_speaker=True)


def test_warm_start_refuses_swapped_checkpoints(tmp_path: Path) -> None:
    enhancer = build("convtasnet", dataclasses.asdict(ConvTasNetConfig.tiny()))
    save_checkpoint(tmp_path / "enh.pt", enhancer)
    ckpt = load_checkpoint(tmp_path / "enh.pt")
    with pytest.raises(ValueError, match="extractor checkpoint"):
        _recipe("warm_start").warm_start(ckpt, ckpt)


def test_debian_voices_labels_one_voice_across_languages(tmp_path: Path) -> None:
    """Allison speaks the English and the Spanish package: one speaker; a prompt keeps its
    passage id across languages, so translations are never target and interferer."""
    import soundfile as sf

    recipe = _recipe("debian_voices")
    folders = {
        "asterisk-core-sounds-en-wav": "en_US_f_Allison",
        "asterisk-core-sounds-es-wav": "es_MX_f_Allison",
        "asterisk-core-sounds-fr-wav": "fr_CA_f_June",
        "asterisk-core-sounds-it-wav": "it_IT_m_Carlo",
        "asterisk-core-sounds-ru-wav": "ru_RU_f_IvrvoiceRU",
        "asterisk-prompt-it-menardi-wav": "it_IT_f_Menardi",
    }
    for package, voice in folders.items():
        root = tmp_path / package / "usr/share/asterisk/sounds" / voice
        for rel in ("vm-goodbye.wav", "digits/1.wav", "silence/1.wav"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(root / rel, torch.zeros(800).numpy(), 8000)
    rows = recipe.voices(tmp_path)
    assert not any("silence" in q for _, _, q in rows)  # N seconds of silence: no voice
    speakers = {speaker for _, speaker, _ in rows}
    assert speakers == {"asterisk-Allison", "asterisk-June", "asterisk-Carlo",
                        "asterisk-IvrvoiceRU", "asterisk-Menardi"}  # fmt: skip
    allison = [(p.parts[-2] if "digits" in p.parts else p.name, q) for p, s, q in rows
               if s == "asterisk-Allison"]  # fmt: skip
    assert len(allison) == 4 and {q for _, q in allison} == {"vm-goodbye", "digits/1"}
    assert recipe.HELD_OUT <= speakers


def test_debian_voices_drops_silent_prompts(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    recipe = _recipe("debian_voices")
    t = np.arange(8000) / 8000
    for name, level in (("speech", 0.1), ("quiet", 0.01), ("dither", 3e-5), ("empty", 0.0)):
        sf.write(tmp_path / f"{name}.wav", level * np.sin(2 * np.pi * 200 * t), 8000)
    heard = {name: recipe.audible(tmp_path / f"{name}.wav") for name in
             ("speech", "quiet", "dither", "empty")}  # fmt: skip
    assert heard == {"speech": True, "quiet": True, "dither": False, "empty": False}


def test_tuxpaint_two_means_separates_two_voices() -> None:
    import numpy as np

    recipe = _recipe("tuxpaint_voices")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(16), rng.standard_normal(16)
    x = np.stack([a + 0.1 * rng.standard_normal(16) for _ in range(30)]
                 + [b + 0.1 * rng.standard_normal(16) for _ in range(20)])  # fmt: skip
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels, centroids = recipe.two_means(x)
    assert len(set(labels[:30].tolist())) == 1 and len(set(labels[30:].tolist())) == 1
    assert labels[0] != labels[-1] and float(centroids[0] @ centroids[1]) < 0.6
    assert recipe.NAME.match("frog-1_desc_pt_BR.ogg")["lang"] == "pt_BR"


@pytest.mark.parametrize("toml", sorted(p.name for p in RECIPES.glob("*.toml")))
def test_every_recipe_config_is_a_valid_training_config(toml: str) -> None:
    from puresound_cli.train import TrainConfig, load_config_file

    config = TrainConfig.from_dict(load_config_file(RECIPES / toml))
    assert config.out.startswith("runs/")  # runs/ is ignored by git


def test_compare_maskers_writes_the_base_config_with_one_backbone(tmp_path: Path) -> None:
    from puresound_cli.train import TrainConfig, load_config_file

    compare = _recipe("compare_maskers")
    base = load_config_file(RECIPES / "enhance.toml")
    path = compare.write_config(base, "gated-tcn", 123, tmp_path / "runs" / "gated-tcn")
    config = TrainConfig.from_dict(load_config_file(path))
    assert (config.backbone, config.max_steps, config.scheduler) == ("gated-tcn", 123, "cosine")
    assert config.out == str(tmp_path / "runs" / "gated-tcn") and config.threads == 1
    assert config.snr_db == tuple(base["snr_db"]) and config.speech_dirs == tuple(
        base["speech_dirs"]
    )


def test_speaker_eer_equal_error_rate() -> None:
    import numpy as np

    eer = _recipe("speaker_eer").equal_error_rate
    assert eer(np.array([0.9, 0.8]), np.array([0.1, 0.2]))[0] == 0.0
    rate, threshold = eer(np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.75]))
    assert rate == pytest.approx(1 / 3) and threshold == pytest.approx(0.75)
    assert eer(np.array([0.1, 0.2]), np.array([0.9, 0.8]))[0] == 1.0  # scores upside down


def test_speaker_eer_voice_trials_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Voice trials score every ordered pair under each condition; recordings made for the
    telephone are scored as recorded only, never sent through the simulated channel again."""
    import numpy as np

    recipe = _recipe("speaker_eer")
    heard: list[np.ndarray] = []

    def embedder(_: str):  # noqa: ANN202 - a voice's embedding is its first sample's sign
        def embed(x: np.ndarray) -> torch.Tensor:
            heard.append(x)
            return torch.tensor([1.0, 0.0]) if x[0] > 0 else torch.tensor([0.0, 1.0])

        return embed

    monkeypatch.setattr(recipe, "embedder", embedder)
    monkeypatch.setattr(recipe, "telephone", lambda x, rate: x)
    utterances = [(v, np.full(16000, s, np.float32)) for v, s in
                  (("a", 1.0), ("a", 1.0), ("b", -1.0), ("b", -1.0))]  # fmt: skip
    result = recipe.voice_trials("stub", utterances)
    assert set(result) >= {"same_channel", "across_channels", "both_telephone"}
    assert result["same_channel"]["trials"] == 12 and result["same_channel"]["eer"] == 0.0
    assert len(heard) == 8  # each utterance as recorded and through the channel
    heard.clear()
    phone = recipe.voice_trials("stub", utterances, recorded_phone=True)
    assert "recorded_telephone" in phone and "across_channels" not in phone
    assert phone["recorded_telephone"]["trials"] == 12 and len(heard) == 4


def test_window_scores_pit_reads_the_better_of_two_outputs() -> None:
    """``window_scores --pit``: each window gets the better tracker score of the two-talker
    separator's outputs, whichever output slot the voice comes out of, at the mixture's rate."""
    from puresound_cli.tracking import TrackConfig

    net = _tracking_extractor()
    recipe = _recipe("window_scores")
    mix = (torch.randn(3 * 16000) * 0.1).numpy()
    enrollment = net.track_embed(torch.randn(1, 1, 16000) * 0.1).detach()
    track = TrackConfig.for_model(net)

    class Pit(torch.nn.Module):  # hands the mixture back in one slot, noise in the other
        sample_rate = 8000

        def __init__(self, slot: int) -> None:
            super().__init__()
            self.slot = slot

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            outs = [x, torch.randn_like(x) * 1e-3]
            return torch.cat(outs if self.slot == 0 else outs[::-1], dim=1)

    resample = recipe.audio.resample
    heard = resample(resample(mix[None], 16000, 8000), 8000, 16000)[0]  # what the pit hands back
    plain = recipe.scores(net, heard, enrollment, track)
    for slot in (0, 1):
        found = recipe.pit_scores(Pit(slot), net, mix, 16000, enrollment, track)
        n = min(found.size, plain.size)
        assert n > 5 and np.all(found[:n] >= plain[:n] - 1e-4)


def test_calibrate_tracker_otsu_splits_two_modes() -> None:
    """The per-recording rule's split falls between two groups of scores, whatever their sizes."""
    otsu = _recipe("calibrate_tracker").otsu
    rng = np.random.default_rng(0)
    for few in (50, 400):
        low, high = rng.normal(0.45, 0.03, 1000), rng.normal(0.8, 0.03, few)
        split = otsu(np.concatenate([low, high]))
        assert np.mean(low >= split) < 0.01 and np.mean(high < split) < 0.01


def test_calibrate_tracker_rescue_pick_bounds_the_others_share() -> None:
    """The rescue cosine is the lowest with at most the given share of the others' windows (and
    of target-absent conversations') above it: raising that share lowers the pick."""
    recipe = _recipe("calibrate_tracker")
    rng = np.random.default_rng(2)
    target, others, absent = (
        rng.uniform(0.6, 1.0, 500),
        rng.uniform(0.0, 0.8, 500),
        rng.uniform(0.0, 0.7, 300),
    )
    scores = np.stack([np.concatenate([target, others, absent]),
                       np.concatenate([np.ones(500), 2 * np.ones(500), np.zeros(300)]),
                       np.concatenate([np.zeros(1000), np.ones(300)])])  # fmt: skip
    rows = [{"reference": "ref.wav"}, {"reference": ""}]
    cosine, shares = recipe.rescue_pick(scores, rows, 0.05)
    assert shares["others"] <= 0.05 and shares["absent"] <= 0.05
    assert np.mean(others >= cosine - 0.01) > 0.05  # one step lower would let more through
    assert abs(shares["target"] - np.mean(target >= cosine)) < 1e-9
    looser, _ = recipe.rescue_pick(scores, rows, 0.2)
    assert looser < cosine


def test_paired_items_differences_and_their_error(tmp_path: Path) -> None:
    """A - B per item, only over the items both have, per SNR and in all."""
    recipe = _recipe("paired_items")
    rows = []
    for i, (snr, a, b) in enumerate([("0", 2.0, 1.0), ("0", 3.0, 1.0), ("5", 2.5, 2.0),
                                     ("5", 2.0, 2.5)]):  # fmt: skip
        for name, pesq in (("ours", a), ("theirs", b)):
            rows.append({"list": "l.tsv", "input": f"{i}.wav", "snr_db": snr, "method": name,
                         "si_sdr": str(pesq * 2), "pesq": str(pesq), "stoi": "0.9"})  # fmt: skip
    rows.append({**rows[0], "input": "only-ours.wav"})  # no partner: left out
    path = tmp_path / "items.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = recipe.paired(recipe.read([path]), recipe.method(recipe.read([path]), "our"), "theirs")
    by_snr = {r["snr_db"]: r for r in table}
    assert [by_snr[k]["n"] for k in ("0", "5", "all")] == [2, 2, 4]
    assert by_snr["0"]["pesq"][0] == pytest.approx(1.5) and by_snr["5"]["pesq"][0] == 0.0
    mean, se = by_snr["all"]["pesq"]
    d = np.array([1.0, 2.0, 0.5, -0.5])
    assert mean == pytest.approx(d.mean()) and se == pytest.approx(d.std(ddof=1) / 2)
    assert by_snr["all"]["si_sdr"][0] == pytest.approx(2 * d.mean())


def test_tracker_backend_lda_keeps_the_direction_that_tells_voices_apart() -> None:
    backend = _recipe("tracker_backend")
    rng = np.random.default_rng(0)
    voices = np.repeat(np.arange(8), 50)
    x = np.zeros((voices.size, 3))
    x[:, 0] = voices * 0.5 + rng.normal(0, 0.05, voices.size)  # the voice
    x[:, 1] = rng.normal(0, 3.0, voices.size)  # a louder nuisance (the channel)
    x[:, 2] = rng.normal(0, 0.05, voices.size)
    mean, projection = backend.lda(x, voices, 1)
    assert projection.shape == (1, 3) and mean.shape == (3,)
    direction = projection[0] / np.linalg.norm(projection[0])
    assert abs(direction[0]) > 0.99  # the voice axis, not the louder nuisance


def test_tracker_backend_score_is_the_trackers_own_with_the_shipped_adaptation() -> None:
    from dataclasses import replace

    from puresound_cli.tracking import TrackConfig, scores_of

    backend = _recipe("tracker_backend")
    rng = np.random.default_rng(1)
    windows = backend.unit(rng.normal(size=(60, 4)) + [2.0, 0, 0, 0]).astype(np.float32)
    data = {"windows": windows, "labels": np.zeros(60), "items": np.repeat([0, 1], 30),
            "enrolls": backend.unit(np.array([[1.0, 0.1, 0, 0], [0, 1.0, 0, 0]]))}  # fmt: skip
    config = replace(TrackConfig(), adapt_cosine=0.6)
    rows = backend.score(data, config, None)
    for item in (0, 1):
        mine = data["items"] == item
        enrollment = torch.from_numpy(data["enrolls"][item : item + 1])
        expected = scores_of(torch.from_numpy(windows[mine]), enrollment, config)
        np.testing.assert_allclose(rows[0][mine], expected, atol=1e-5)
    stronger = backend.score(data, config, None, weight=4.0)
    assert not np.allclose(stronger[0][:30], rows[0][:30])  # item 0 adapts, so the weight counts


def test_window_scores_shares_at_counts_windows_at_the_others_quantile() -> None:
    window_scores = _recipe("window_scores")
    others = np.linspace(0.0, 1.0, 100)  # 20 % of them at or above 0.8
    both = np.array([0.85, 0.9, 0.5, 0.1])  # two of four above that
    target = np.array([0.95, 0.7])
    scores = np.concatenate([others, both, target])
    label = np.concatenate([np.full(100, 2), np.full(4, 3), np.full(2, 1)])
    separated = np.concatenate([others, [0.1, 0.1, 0.95, 0.95], target])
    dump = np.stack([scores, scores, label, np.zeros(106), scores, scores, separated])
    found = window_scores.shares_at(dump, 0.2)
    assert found["mixture"] == {"both": 0.5, "target": 0.5}
    assert found["separated"]["both"] == 0.5
    assert found["larger"]["both"] == 1.0  # each overlapped window high in one of the two
    assert set(window_scores.shares_at(dump[:6], 0.2)) == {"mixture"}


def test_tracker_backend_smoothed_filters_each_recording_alone() -> None:
    backend = _recipe("tracker_backend")
    scores = np.array([[0.1, 0.9, 0.1, 0.1, 0.8, 0.8, 0.8], np.zeros(7), [0, 0, 0, 0, 1, 1, 1]])
    out = backend.smoothed(scores, 3)
    np.testing.assert_allclose(out[0], [0.1, 0.1, 0.1, 0.1, 0.8, 0.8, 0.8])  # the spike gone
    np.testing.assert_array_equal(backend.smoothed(scores, 1), scores)


def test_tracker_backend_channel_rows_renumbers_one_channels_items() -> None:
    backend = _recipe("tracker_backend")
    rows = [{"channel": "wide"}, {"channel": "phone"}, {"channel": "wide"}, {"channel": "phone"}]
    scores = np.stack([np.arange(8.0), np.zeros(8), np.repeat([0, 1, 2, 3], 2)])
    phone, phone_rows = backend.channel_rows(scores, rows, "phone")
    np.testing.assert_array_equal(phone[0], [2, 3, 6, 7])
    np.testing.assert_array_equal(phone[2], [0, 0, 1, 1])
    assert phone_rows == [rows[1], rows[3]]


def test_distill_pick_by_voice_draws_voices_alike() -> None:
    """With the classification term, a voice with one file is drawn as often as one with many."""
    pick = _recipe("distill_speaker").pick_by_voice
    labels = np.array([0] * 999 + [1])
    picks = pick(labels, 4000, np.random.default_rng(0))
    assert picks.shape == (4000,) and set(labels[picks].tolist()) == {0, 1}
    assert 0.45 < float(np.mean(picks == 999)) < 0.55  # voice 1's only file, half the draws


def test_distill_paired_picks_come_in_pairs_of_one_voice() -> None:
    """``--relational``: crops come two by two from one voice, the voices drawn alike."""
    pick = _recipe("distill_speaker").paired_picks
    labels = np.array([0] * 99 + [1] + [2] * 5)
    picks = pick(labels, 3000, np.random.default_rng(0))
    assert picks.shape == (3000,)
    voices = labels[picks].reshape(-1, 2)
    assert (voices[:, 0] == voices[:, 1]).all()
    assert 0.28 < float(np.mean(voices[:, 0] == 1)) < 0.39  # the one-file voice, a third
    assert pick(labels, 5, np.random.default_rng(0)).shape == (5,)  # an odd batch


def test_distill_relational_loss_ignores_scale_but_not_order() -> None:
    """The relational term is zero for a student whose cosines are an affine function of the
    teacher's, and grows when the student ranks the pairs otherwise."""
    relational = _recipe("distill_speaker").relational_loss
    torch.manual_seed(0)
    teacher = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
    # cosines of [a t, sqrt(1 - a^2) u] with orthonormal u per row: a^2 (t.t') for distinct rows
    same_shape = torch.cat([0.6 * teacher, 0.8 * torch.eye(16)], dim=1)
    assert relational(same_shape, teacher).item() < 1e-5
    shuffled = teacher[torch.randperm(16)]
    assert relational(shuffled, teacher).item() > 0.3


def test_distill_fit_head_recovers_a_linear_teacher(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--fit-head``: the least-squares head maps the student's embedding onto a teacher that
    is a linear function of it, on crops it was not fitted on, and leaves the student as it was."""
    distill = _recipe("distill_speaker")
    model = build("extractor", dataclasses.asdict(ExtractorConfig.tiny()))
    torch.manual_seed(1)
    mix = torch.randn(256, model.embed_dim)
    shift = torch.randn(256)

    def teacher(_: object, batch: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return model.embed(torch.from_numpy(batch).unsqueeze(1)) @ mix.T + shift

    monkeypatch.setattr(distill, "teacher_embed", teacher)
    rng = np.random.default_rng(0)
    wavs = [rng.standard_normal(3 * distill.SR).astype(np.float32) for _ in range(4)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    head = distill.fit_head(model, None, wavs, 64, np.random.default_rng(1))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    fresh = distill.crops(wavs, 8, 2.0, np.random.default_rng(7))
    with torch.no_grad():
        got = head(model.embed(torch.from_numpy(fresh).unsqueeze(1)))
    want = teacher(None, fresh)
    assert torch.nn.functional.cosine_similarity(got, want, dim=1).min() > 0.99


def test_enhance_8k_list_mixes_each_reference_at_the_stated_snrs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    data, corpus = tmp_path / "data", tmp_path / "corpus"
    (data / "dev").mkdir(parents=True)
    (corpus / "noise").mkdir(parents=True)
    spectrum = np.fft.rfft(rng.standard_normal(48000))
    spectrum[9000:] = 0  # below 3 kHz: the 8 kHz version keeps it whole (SNRs are set at 16 kHz)
    sf.write(corpus / "noise" / "n.flac", 0.1 * np.fft.irfft(spectrum, 48000), 16000)
    (data / "heldout.json").write_text('{"noise_files": ["noise/n.flac"]}')
    t = np.arange(32000) / 16000
    with open(data / "dev" / "enhance.tsv", "w") as f:
        f.write("input\treference\tspeaker\tnoise\tsnr_db\n")
        for i in range(2):  # a tone each: its 8 kHz version keeps it whole
            sf.write(data / "dev" / f"r{i}.wav", 0.3 * np.sin(2 * np.pi * 300 * (i + 1) * t), 16000)
            f.write(
                f"x{i}-0.wav\tr{i}.wav\ts{i}\tn.flac\t0\nx{i}-5.wav\tr{i}.wav\ts{i}\tn.flac\t5\n"
            )
    out = tmp_path / "out"
    argv = ["x", "--data", str(data), "--corpus", str(corpus), "--out", str(out), "--draws", "3"]
    monkeypatch.setattr(sys, "argv", argv)
    _recipe("enhance_8k_list").main()
    with open(out / "enhance-8k.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 6  # two references (the 5 dB rows) x three draws
    assert sorted(r["snr_db"] for r in rows[:3]) == ["0", "10", "5"]
    for row in rows:
        noisy, rate = sf.read(out / row["input"])
        ref, _ = sf.read(out / row["reference"])
        assert rate == 8000 and noisy.shape == ref.shape
        snr = 10 * np.log10(np.sum(ref**2) / np.sum((noisy - ref) ** 2))
        assert abs(snr - float(row["snr_db"])) < 0.5, (row, snr)


def test_extractor_candidate_makes_a_two_talker_separator_a_selecting_extractor() -> None:
    """``extractor_candidate.selecting``: the separator's weights untouched, the donor's tracking
    net as the speaker net (stored once) with its thresholds; it extracts and tracks."""
    selecting = _recipe("extractor_candidate").selecting
    donor = _tracking_extractor()
    separator = build("convtasnet", dataclasses.asdict(
        dataclasses.replace(ConvTasNetConfig.tiny(), sources=2))).eval()  # fmt: skip
    model = selecting(separator, donor.tracker, donor.config, rescue=None)
    assert model.selects and model.tracks_by_default and model.tracker is None
    assert model.track_thresholds == (0.7, 0.6)
    for mine, theirs in ((model.separator, separator), (model.speaker, donor.tracker)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    mix = torch.randn(1, 1, 16000) * 0.1
    with torch.no_grad():
        out = model.separate(mix, model.embed(mix))
        assert torch.equal(model.track_embed(mix), donor.track_embed(mix))
    assert out.shape == (1, 1, 16000) and torch.isfinite(out).all()


def test_calibrate_evidence_picks_the_most_silencing_bars_within_the_loss() -> None:
    pick = _recipe("calibrate_evidence").pick

    def row(kept: float, others: float, absent: float, overlap: float = 2.0) -> dict:
        return {"target_kept_db": kept, "others_kept_db": others, "absent_db": absent,
                "overlap_si_sdri_db": overlap}  # fmt: skip

    table = {"none": row(-0.5, -10, -20), "0.55:0.66": row(-0.55, -11, -25),
             "0.60:0.66": row(-0.7, -12, -30), "0.60:0.70": row(-1.2, -15, -40)}  # fmt: skip
    assert pick(table, 0.3) == "0.60:0.66"
    assert pick(table, 1.0) == "0.60:0.70"
    assert pick(table, 0.01) == "none"
    table["0.60:0.66"] = row(-0.7, -12, -30, overlap=1.2)  # the overlapped target lowered
    assert pick(table, 0.3) == "0.55:0.66"
    for v in table.values():  # a list without target-absent conversations
        v["absent_db"] = None
    assert pick(table, 0.3) == "0.55:0.66"


def test_calibrate_evidence_sets_the_bar_of_a_selecting_model_only(tmp_path: Path) -> None:
    from puresound_cli.checkpoint import load_model
    from puresound_cli.nets import SpeakerNetConfig

    with_bar = _recipe("calibrate_evidence").with_bar
    speaker = dataclasses.replace(SpeakerNetConfig.tiny(), frontend="mel", window=400, hop=160,
                                  n_mels=20)  # fmt: skip
    config = ExtractorConfig(separator=dataclasses.replace(ConvTasNetConfig.tiny(), sources=2),
                             speaker=speaker, track_with_speaker=True)  # fmt: skip
    save_checkpoint(tmp_path / "s.pt", build("extractor", dataclasses.asdict(config)))
    barred = with_bar(load_checkpoint(tmp_path / "s.pt"), 0.64, 0.7, -30.0)
    torch.save(barred, tmp_path / "b.pt")
    model = load_model(tmp_path / "b.pt")
    assert model.takes_evidence and model.config.select_evidence_bar == 0.64
    assert model.config.select_output_bar == 0.7
    assert model.config.select_evidence_db == -30.0
    assert not load_model(tmp_path / "s.pt").takes_evidence  # the source is left as it was
    save_checkpoint(tmp_path / "c.pt", build("extractor", dataclasses.asdict(
        ExtractorConfig.tiny())))  # fmt: skip
    with pytest.raises(SystemExit, match="separate-then-select"):
        with_bar(load_checkpoint(tmp_path / "c.pt"), 0.64)
