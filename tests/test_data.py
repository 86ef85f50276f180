"""Data: scanning, bad-file counts, the passage rule, disjoint enrollment, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import synth_noise, synth_voice

from puresound_cli import data as D
from puresound_cli.errors import PuresoundError

SR = 16000


def make_speech(
    root: Path, speakers: list[tuple[str, float, list[str]]], seconds: float = 2.5
) -> Path:
    """Write ``root/speakers.tsv`` and one file per (speaker, f0, passages) passage entry."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["path\tspeaker\tpassage"]
    for s, (speaker, f0, passages) in enumerate(speakers):
        (root / speaker).mkdir(exist_ok=True)
        for u, passage in enumerate(passages):
            rel = f"{speaker}/{u}.wav"
            sf.write(root / rel, synth_voice(seconds, f0, seed=100 * s + u), SR)
            rows.append(f"{rel}\t{speaker}\t{passage}")
    (root / "speakers.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_speakers_tsv_and_folder_fallback(tmp_path):
    tsv_root = make_speech(tmp_path / "a", [("x", 120, ["p1", "p2"]), ("y", 200, ["p1"])])
    plain = tmp_path / "b" / "alice"
    plain.mkdir(parents=True)
    sf.write(plain / "one.flac", synth_voice(1.2, 150), SR)
    utts = D.scan_speech([tsv_root, tmp_path / "b"])
    by_path = {u.path.name: u for u in utts}
    assert len(utts) == 4
    assert {u.speaker for u in utts} == {"x", "y", "alice"}
    assert by_path["one.flac"].speaker == "alice"
    assert sorted(u.passage for u in utts if u.speaker != "alice") == ["p1", "p1", "p2"]


def test_bad_files_are_skipped_and_counted(tmp_path):
    root = make_speech(tmp_path / "s", [("x", 120, ["p1"]), ("y", 200, ["p2"])])
    (root / "x" / "broken.wav").write_bytes(b"RIFF not really a wav file")
    sf.write(root / "x" / "short.wav", synth_voice(0.2, 120), SR)
    with open(root / "speakers.tsv", "a") as f:
        f.write("x/broken.wav\tx\tp3\nx/short.wav\tx\tp4\nx/missing.wav\tx\tp5\n")
    (tmp_path / "empty").mkdir()
    report = D.DataReport()
    bank = D.load_speech([root, tmp_path / "empty", tmp_path / "nowhere"], SR, 1.0, report)
    assert len(bank) == 2
    assert report.skipped == {
        "unreadable file": 1,
        "too short file": 1,
        "missing file": 1,
        "empty folder": 1,
        "missing folder": 1,
    }
    assert report.n_skipped == 5 and "skipped" in report.summary()


def test_resampled_on_load(tmp_path):
    folder = tmp_path / "s" / "spk"
    folder.mkdir(parents=True)
    sf.write(folder / "a.wav", synth_voice(1.5, 150, sample_rate=22050), 22050)
    bank = D.load_speech([tmp_path / "s"], SR)
    assert bank.audio[0].dtype == np.int16
    assert abs(bank.audio[0].size - int(1.5 * SR)) <= 2


def _mixer(tmp_path, speakers, task="extract", **kw) -> D.DynamicMixer:
    bank = D.load_speech([make_speech(tmp_path / "s", speakers)], SR)
    noises = [(synth_noise(1.0, seed=3) * 20000).astype(np.int16)]
    mix = D.MixConfig(
        task=task, segment_seconds=1.0, enroll_seconds=0.8, enroll_min_seconds=0.5, **kw
    )
    return D.DynamicMixer(bank, noises, mix, seed=7)


def test_passage_rule_never_pairs_same_words(tmp_path):
    # Four voices read passage "A", two read "B": an A target may only meet a B interferer.
    speakers = [(f"a{i}", 100 + 30 * i, ["A"]) for i in range(4)]
    speakers += [("b0", 260, ["B"]), ("b1", 300, ["B"])]
    mixer = _mixer(tmp_path, speakers)
    utts = mixer.bank.utterances
    for i in range(200):
        ex = mixer.example(i)
        target, interferer = (utts[k] for k in ex.sources)
        assert target.passage != interferer.passage
        assert target.speaker != interferer.speaker


def test_enrollment_disjoint_from_target_in_single_file(tmp_path):
    mixer = _mixer(tmp_path, [("x", 120, ["p"]), ("y", 200, ["q"])], speed_prob=0.0)
    x = D.to_float(mixer.bank.audio[0])
    rng = np.random.default_rng(0)
    for _ in range(100):
        utt, target, enroll, t_span, e_span, e_utt = mixer.target_and_enrollment("x", rng)
        assert e_utt == utt
        assert t_span is not None and e_span is not None
        assert t_span[1] <= e_span[0] or e_span[1] <= t_span[0]
        assert e_span[1] - e_span[0] >= mixer.enroll_min
        assert target.shape == (mixer.segment,) and enroll.shape == (mixer.enroll,)
        # the target samples really come from the target span
        piece = x[t_span[0] : t_span[1]]
        assert np.allclose(target[np.flatnonzero(target)][:10], piece[np.flatnonzero(piece)][:10])


def test_speaker_without_enough_audio_is_skipped_and_counted(tmp_path):
    root = make_speech(tmp_path / "s", [("x", 120, ["p"]), ("y", 200, ["q"])])
    sf.write(root / "z.wav", synth_voice(1.2, 260), SR)
    with open(root / "speakers.tsv", "a") as f:
        f.write("z.wav\tz\tr\n")
    report = D.DataReport()
    bank = D.load_speech([root], SR, report=report)
    mix = D.MixConfig(segment_seconds=1.0, enroll_seconds=1.0, enroll_min_seconds=0.5)
    mixer = D.DynamicMixer(bank, [], mix, report=report)
    assert "z" not in mixer.targets and set(mixer.targets) == {"x", "y"}
    assert report.skipped["speaker with too little audio for enrollment plus target"] == 1


def test_examples_are_deterministic_and_well_formed(tmp_path):
    mixer = _mixer(tmp_path, [("x", 120, ["p", "q"]), ("y", 200, ["r"]), ("z", 260, ["s"])])
    a, b = mixer.example(5), mixer.example(5)
    assert np.array_equal(a.mixture, b.mixture) and np.array_equal(a.enrollment, b.enrollment)
    assert not np.array_equal(a.mixture, mixer.example(6).mixture)
    for i in range(30):
        ex = mixer.example(i)
        assert ex.mixture.shape == ex.reference.shape == (SR,)
        assert ex.mixture.dtype == np.float32 and np.abs(ex.mixture).max() <= 1.0
        assert 0 <= ex.speaker < 3


def test_sir_range_and_target_absent(tmp_path):
    speakers = [("x", 120, ["p"]), ("y", 200, ["q"]), ("z", 260, ["r"])]
    mixer = _mixer(tmp_path, speakers, noise_prob=0.0, speed_prob=0.0, absent_prob=0.5)
    absent = 0
    for i in range(60):
        ex = mixer.example(i)
        if not ex.present:
            absent += 1
            assert np.array_equal(ex.reference, ex.mixture)
            continue
        rest = ex.mixture - ex.reference
        sir = 10 * np.log10(np.sum(ex.reference**2) / np.sum(rest**2))
        assert -5.1 <= sir <= 5.1
    assert 15 <= absent <= 45


def test_enhance_examples_have_noise_and_no_enrollment(tmp_path):
    mixer = _mixer(
        tmp_path, [("x", 120, ["p"]), ("y", 200, ["q"])], task="enhance", absent_prob=0.0
    )
    ex = mixer.example(0)
    assert ex.enrollment is None and ex.present
    assert not np.allclose(ex.mixture, ex.reference)
    assert ex.sources[1] == -1


def test_batch_stream_resumes_exactly(tmp_path):
    mixer = _mixer(tmp_path, [("x", 120, ["p"]), ("y", 200, ["q"])])
    full = iter(D.BatchStream(mixer, batch_size=2))
    batches = [next(full) for _ in range(4)]
    resumed = next(iter(D.BatchStream(mixer, batch_size=2, start_step=3)))
    assert batches[3]["mixture"].shape == (2, 1, SR)
    assert batches[3]["enrollment"].shape == (2, 1, int(0.8 * SR))
    assert (batches[3]["mixture"] == resumed["mixture"]).all()
    # ranks draw different shards of the same stream
    other = D.BatchStream(mixer, batch_size=2, rank=1, world_size=2).batch(0)
    mine = D.BatchStream(mixer, batch_size=2, rank=0, world_size=2).batch(0)
    assert not (other["mixture"] == mine["mixture"]).all()


def test_split_speakers(tmp_path):
    root = make_speech(tmp_path / "s", [(f"s{i}", 100 + 20 * i, [f"p{i}"]) for i in range(5)], 1.2)
    bank = D.load_speech([root], SR)
    train, valid = D.split_speakers(bank, valid_fraction=0.2, seed=1)
    assert len(valid) == 1 and len(train) == 4 and not train & valid
    assert D.split_speakers(bank, ["s3"])[1] == {"s3"}
    with pytest.raises(PuresoundError):
        D.split_speakers(bank, ["nobody"])


def test_kaldi_lists(tmp_path):
    folder = tmp_path / "lists"
    folder.mkdir()
    scp, ref, lst, spk = [], [], [], []
    for k in range(3):
        target, other = synth_voice(1.5, 120 + 40 * k, seed=k), synth_voice(1.5, 300, seed=9)
        sf.write(folder / f"m{k}.wav", target + other, SR)
        sf.write(folder / f"t{k}.wav", target, SR)
        sf.write(folder / f"e{k}.wav", synth_voice(1.0, 120 + 40 * k, seed=k + 50), SR)
        scp.append(f"m{k}_1 m{k}.wav")
        ref.append(f"m{k}_1 t{k}.wav")
        lst.append(f"m{k}_1 e{k}.wav")
        spk.append(f"m{k}_1 spk{k}")
    scp.append("m9_1 m9.wav")  # not in the other lists: skipped and counted
    for name, lines in (("wav2scp", scp), ("wav2ref", ref), ("ref2list", lst), ("ref2spk", spk)):
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    assert D.is_kaldi_folder(folder)
    report = D.DataReport()
    entries = D.read_kaldi_lists(folder, report)
    assert len(entries) == 3 and report.skipped["key missing from a list"] == 1
    source = D.KaldiListSource(entries, "extract", SR, segment_seconds=1.0, enroll_seconds=0.5)
    ex = source.example(0)
    assert ex.mixture.shape == (SR,) and ex.enrollment.shape == (SR // 2,) and ex.present
    assert 0 <= ex.speaker < 3


def test_convolve_matches_numpy():
    x = np.random.default_rng(0).standard_normal(500).astype(np.float32)
    h = np.random.default_rng(1).standard_normal(40).astype(np.float32)
    assert np.allclose(D.convolve(x, h), np.convolve(x, h)[:500], atol=1e-4)


def test_reverb_from_rir_folder(tmp_path):
    rirs = tmp_path / "rirs"
    rirs.mkdir()
    decay = np.exp(-np.arange(4000) / 800.0) * np.random.default_rng(0).standard_normal(4000)
    decay[0] = 1.0
    sf.write(rirs / "room.wav", (0.5 * decay).astype(np.float32), SR)
    bank = D.load_speech([make_speech(tmp_path / "s", [("x", 120, ["p"]), ("y", 200, ["q"])])], SR)
    mix = D.MixConfig(
        segment_seconds=1.0, enroll_seconds=0.5, enroll_min_seconds=0.5, reverb_prob=1.0
    )
    with pytest.raises(PuresoundError, match="impulse responses"):
        D.DynamicMixer(bank, [], mix)
    mixer = D.DynamicMixer(bank, [], mix, rirs=D.load_rirs([rirs], SR))
    ex = mixer.example(0)
    assert ex.mixture.shape == (SR,) and np.isfinite(ex.mixture).all()


def test_simulated_rirs_need_pyroomacoustics_or_are_cached(tmp_path):
    try:
        import pyroomacoustics  # noqa: F401
    except ImportError:
        with pytest.raises(PuresoundError, match=r"puresound\[rir\]"):
            D.rir_bank(2, SR, tmp_path)
        return
    first = D.rir_bank(2, SR, tmp_path)
    assert len(first) == 2 and list(tmp_path.glob("rirs-*.npz"))
    again = D.rir_bank(2, SR, tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_worker_processes_keep_the_stream_order(tmp_path):
    from torch.utils.data import DataLoader

    mixer = _mixer(tmp_path, [("x", 120, ["p"]), ("y", 200, ["q"])])
    stream = D.BatchStream(mixer, batch_size=2, start_step=1)
    loader = iter(DataLoader(stream, batch_size=None, num_workers=2))
    for step in range(1, 5):
        assert (next(loader)["mixture"] == stream.batch(step)["mixture"]).all()


def test_interferer_and_babble_never_say_the_enrollment_words(tmp_path):
    # x reads A and B: its enrollment (the other passage) must not meet an interferer saying it.
    speakers = [("x", 120, ["A", "B"]), ("a", 200, ["A"]), ("b", 260, ["B"]), ("c", 300, ["C"])]
    mixer = _mixer(tmp_path, speakers, absent_prob=0.3)
    utts = mixer.bank.utterances
    seen = 0
    for i in range(150):
        ex = mixer.example(i)
        target, interferer = (utts[k] for k in ex.sources)
        enroll = utts[ex.enrollment_source]
        assert enroll.speaker == target.speaker != interferer.speaker
        assert interferer.passage not in {target.passage, enroll.passage}
        if target.speaker == "x":
            seen += 1
            assert enroll.passage != target.passage  # another passage exists: use it
            assert interferer.speaker == "c"
    assert seen > 10


def test_readings_of_one_passage_give_disjoint_enrollment(tmp_path):
    # Thorsten-like: three readings of the same words; enrollment from another reading but from
    # a time span that does not overlap the target's, so it never repeats the target's words.
    speakers = [("t", 120, ["P", "P", "P"]), ("y", 200, ["q"])]
    mixer = _mixer(tmp_path, speakers, speed_prob=0.0)
    rng = np.random.default_rng(1)
    for _ in range(50):
        utt, target, enroll, t_span, e_span, e_utt = mixer.target_and_enrollment("t", rng)
        assert e_utt != utt and mixer.bank.utterances[e_utt].speaker == "t"
        assert t_span is not None and e_span is not None
        assert t_span[1] <= e_span[0] or e_span[1] <= t_span[0]


def _sine_bank(seconds: float = 3.0, f: float = 500.0) -> D.SpeechBank:
    t = np.arange(int(seconds * SR)) / SR
    tones = [np.sin(2 * np.pi * f * t), np.sin(2 * np.pi * 1.7 * f * t)]
    utts = [D.Utterance(Path(f"{n}.wav"), n, n) for n in ("x", "y")]
    return D.SpeechBank(utts, [D.to_int16(0.5 * w) for w in tones], SR)


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * SR / x.size)


def test_speed_factor_is_the_same_for_target_reference_and_enrollment():
    mix = D.MixConfig(
        segment_seconds=1.0,
        enroll_seconds=0.8,
        enroll_min_seconds=0.5,
        speed_prob=1.0,
        speed_range=(1.2, 1.2),
        noise_prob=0.0,
        absent_prob=0.0,
    )
    mixer = D.DynamicMixer(_sine_bank(), [], mix, seed=3)
    for i in range(6):
        ex = mixer.example(i)
        f = 500.0 if ex.sources[0] == 0 else 850.0
        assert _peak_hz(ex.reference) == pytest.approx(1.2 * f, rel=0.02)
        assert _peak_hz(ex.enrollment) == pytest.approx(1.2 * f, rel=0.02)
        # the reference is exactly the target inside the mixture: the rest is the interferer
        rest = ex.mixture - ex.reference
        assert _peak_hz(rest) == pytest.approx(1.2 * (1350.0 - f), rel=0.02)


def test_loud_enrollment_is_peak_limited_not_clipped():
    mix = D.MixConfig(
        segment_seconds=1.0,
        enroll_seconds=0.8,
        enroll_min_seconds=0.5,
        level_db=(-1.0, -1.0),
        speed_prob=0.0,
    )
    mixer = D.DynamicMixer(_sine_bank(), [], mix, seed=0)
    for i in range(5):
        ex = mixer.example(i)
        assert ex.enrollment is not None
        for x in (ex.enrollment, ex.mixture):
            assert np.abs(x).max() <= 0.99 + 1e-6
        # a clipped sine has flat tops; a scaled one keeps its crest factor sqrt(2)
        crest = np.abs(ex.enrollment).max() / np.sqrt(np.mean(ex.enrollment**2))
        assert crest == pytest.approx(np.sqrt(2), rel=0.02)


def test_class_labels_follow_the_given_speaker_list(tmp_path):
    bank = D.load_speech([make_speech(tmp_path / "s", [("x", 120, ["p"]), ("y", 200, ["q"])])], SR)
    mix = D.MixConfig(segment_seconds=1.0, enroll_seconds=0.8, enroll_min_seconds=0.5)
    mixer = D.DynamicMixer(bank, [], mix, speakers=["a", "x", "b", "y"])
    for i in range(10):
        ex = mixer.example(i)
        name = mixer.bank.utterances[ex.sources[0]].speaker
        assert mixer.speakers[ex.speaker] == name and ex.speaker in (2, 3)


def _high_band_share(x: np.ndarray, rate: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    return float(spec[freqs > 4200].sum() / (spec.sum() + 1e-12))


def test_telephone_channel_augmentation(tmp_path):
    speakers = [("a", 110, ["p1", "p2"]), ("b", 170, ["p3", "p4"]), ("c", 230, ["p5", "p6"])]
    plain = _mixer(tmp_path / "p", speakers, noise_prob=1.0)
    phone = _mixer(tmp_path / "t", speakers, noise_prob=1.0, bandlimit_prob=1.0)
    coded = _mixer(tmp_path / "c", speakers, noise_prob=1.0, bandlimit_prob=1.0, codec_prob=1.0)
    assert max(_high_band_share(plain.example(i).mixture) for i in range(4)) > 1e-3  # noise
    for i in range(4):
        wide, narrow, gsm = plain.example(i), phone.example(i), coded.example(i)
        for ex in (narrow, gsm):
            assert _high_band_share(ex.mixture) < 1e-4 and _high_band_share(ex.reference) < 1e-4
            assert ex.enrollment is not None and _high_band_share(ex.enrollment) < 1e-4
            assert ex.mixture.shape == wide.mixture.shape and ex.mixture.dtype == np.float32
        assert np.allclose(narrow.mixture, coded.example(i).mixture) is False  # codec noise
        np.testing.assert_array_equal(gsm.mixture, coded.example(i).mixture)  # deterministic
    # off: no random draw is taken, so the examples are those made without the option
    again = _mixer(tmp_path / "q", speakers, noise_prob=1.0, bandlimit_prob=0.0)
    np.testing.assert_array_equal(plain.example(0).mixture, again.example(0).mixture)


def _band_power(x: np.ndarray, f0: float) -> float:
    """Power of x within +-8 % of f0 (the synthetic voices' vibrato is +-5 %)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spec[(freqs > 0.92 * f0) & (freqs < 1.08 * f0)].sum())


def test_target_absent_with_two_other_talkers(tmp_path):
    # Fundamentals chosen so that no voice has a harmonic in another's fundamental band.
    f0 = {"x": 100.0, "y": 140.0, "z": 240.0}
    speakers = [("x", f0["x"], ["p"]), ("y", f0["y"], ["q"]), ("z", f0["z"], ["r"])]
    # target-absent examples always get noise: a faint coloured one, never babble (other voices)
    kw = dict(noise_prob=0.0, speed_prob=0.0, absent_prob=0.5)
    kw |= dict(noise_kinds=(("colored", 1.0),), snr_db=(40.0, 40.0))
    one = _mixer(tmp_path / "one", speakers, **kw)
    two = _mixer(tmp_path / "two", speakers, absent_talkers=2, **kw)
    utts = one.bank.utterances
    voices_heard = {1: [], 2: []}
    n_absent = 0
    for i in range(40):
        a, b = one.example(i), two.example(i)
        assert a.present == b.present
        if a.present:  # present examples are drawn exactly as before
            assert np.array_equal(a.mixture, b.mixture) and np.array_equal(a.reference, b.reference)
            continue
        n_absent += 1
        assert np.array_equal(b.reference, b.mixture)
        target = utts[a.sources[0]].speaker
        for talkers, ex in ((1, a), (2, b)):
            power = {s: _band_power(ex.mixture, f) for s, f in f0.items()}
            loudest = max(power.values())
            assert power[target] < 0.03 * loudest  # the target is never in it (leakage <= 2 %)
            voices_heard[talkers].append(sum(p > 0.05 * loudest for p in power.values()))
    assert n_absent >= 10
    assert voices_heard[1] == [1] * n_absent  # the interferer alone
    assert voices_heard[2] == [2] * n_absent  # both other voices


def test_absent_settings_are_checked():
    from puresound_cli.train import TrainConfig

    with pytest.raises(PuresoundError, match="absent_talkers"):
        TrainConfig(speech_dirs=("s",), absent_talkers=3)
    with pytest.raises(PuresoundError, match="absent_floor_db"):
        TrainConfig(speech_dirs=("s",), absent_floor_db=3.0)
    with pytest.raises(PuresoundError, match="absent_prob"):
        TrainConfig(speech_dirs=("s",), absent_prob=1.5)


@pytest.mark.parametrize("who", ["target", "interferer"])
def test_one_talker_pauses_while_the_other_talks_on(tmp_path, who):
    """``pause_prob``: the target pauses while the interferer talks on; ``solo_prob``: the
    interferer pauses while the target talks alone. One silent span of 25-75 % of the segment
    (less its fades), and the drawn SIR holds where both talk."""
    f0 = {"x": 100.0, "y": 240.0}
    voices = [("x", f0["x"], ["p"]), ("y", f0["y"], ["q"])]
    kw = dict(noise_prob=0.0, speed_prob=0.0, absent_prob=0.0, sir_db=(0.0, 0.0))
    setting = "pause_prob" if who == "target" else "solo_prob"
    mixer = _mixer(tmp_path, voices, **{setting: 1.0}, **kw)
    frame = SR // 50  # 20 ms
    talk_sir, whole_sir = [], []
    for i in range(12):
        ex = mixer.example(i)
        assert ex.present
        interferer = ex.mixture - ex.reference  # no noise, no reverberation
        ref = ex.reference[: ex.reference.size // frame * frame].reshape(-1, frame)
        other = interferer[: ref.size].reshape(-1, frame)
        ref_power, other_power = (ref**2).mean(axis=1), (other**2).mean(axis=1)
        powers = (ref_power, other_power)
        pausing, going_on = powers if who == "target" else powers[::-1]
        quiet = pausing < 1e-6 * pausing.max()
        runs = np.flatnonzero(np.diff(np.r_[0, quiet.astype(int), 0]))
        assert runs.size == 2, f"example {i}: pauses {runs}"
        assert 0.2 <= quiet.mean() <= 0.75
        assert going_on[quiet].min() > 0.01 * going_on.max()  # the other one talks on
        talk = ~np.convolve(quiet, np.ones(5), "same").astype(bool)  # beyond the fades
        talk_sir.append(10 * np.log10(ref_power[talk].sum() / other_power[talk].sum()))
        whole_sir.append(10 * np.log10(ref_power.sum() / other_power.sum()))
    # the drawn SIR (0 dB) holds where both talk (the synthetic voices' syllables make single
    # examples scatter by a dB or two), not over the whole segment with its pause
    assert abs(np.mean(talk_sir)) < 0.75 and max(np.abs(talk_sir)) < 2.5
    assert (np.mean(whole_sir) < -2.0) if who == "target" else (np.mean(whole_sir) > 2.0)
    absent = _mixer(tmp_path, voices, **{setting: 1.0}, **{**kw, "absent_prob": 1.0})
    ex = absent.example(0)  # target absent: nothing pauses, the reference is the mixture
    assert not ex.present and np.array_equal(ex.reference, ex.mixture)


def test_pause_setting_is_checked():
    from puresound_cli.train import TrainConfig

    with pytest.raises(PuresoundError, match="pause_prob"):
        TrainConfig(speech_dirs=("s",), pause_prob=-0.1)
    with pytest.raises(PuresoundError, match="solo_prob"):
        TrainConfig(speech_dirs=("s",), solo_prob=1.5)
