"""The training data of a run: training and validation sources and the speaker split."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from puresound_cli import data as D
from puresound_cli.errors import PuresoundError
from puresound_cli.train.config import TrainConfig

log = logging.getLogger("puresound_cli.train")


def data_task(task: str) -> str:
    """The examples a task trains on: a personal VAD learns from extraction mixtures."""
    return "extract" if task == "vad" else task


def build_data(
    config: TrainConfig, report: D.DataReport, saved: Mapping[str, Any] | None = None
) -> tuple[Any, Any, dict[str, list[str]]]:
    """(training source, validation source, speaker split) for the configured folders.

    The split is ``{"train": class labels (sorted training speakers), "valid": held-out
    speakers}``; a resumed run passes the split saved in its checkpoint as ``saved``, so that
    its validation speakers stay held out (and the validation set the same) and the AAM-softmax
    class indices keep their meaning even when files were added or became unreadable. Speakers
    that are in neither saved list are not used.
    """
    saved_train = list(saved["train"]) if saved and saved.get("train") else None
    saved_valid = set(saved["valid"]) if saved and saved.get("valid") else None
    kaldi = [d for d in config.speech_dirs if D.is_kaldi_folder(d)]
    plain = [d for d in config.speech_dirs if not D.is_kaldi_folder(d)]
    if kaldi and plain:
        raise PuresoundError("mix either speech folders or Kaldi-style list folders, not both")
    if kaldi and config.task == "separate":
        raise PuresoundError("separation training mixes speech folders; Kaldi lists are not read")
    if kaldi:
        return _kaldi_data(config, kaldi, report, saved_train, saved_valid)
    return _mixed_data(config, plain, report, saved_train, saved_valid)


def _kaldi_data(
    config: TrainConfig,
    folders: list[str],
    report: D.DataReport,
    saved_train: list[str] | None,
    saved_valid: set[str] | None,
) -> tuple[Any, Any, dict[str, list[str]]]:
    """:func:`build_data` for folders of Kaldi-style lists (pre-made mixtures)."""
    entries = [e for d in folders for e in D.read_kaldi_lists(d, report)]
    named = sorted({e.speaker for e in entries if e.speaker})
    held = saved_valid if saved_valid is not None else set(config.valid_speakers)
    if not held and len(named) >= 3:  # hold out whole speakers, as for speech folders
        held = D.hold_out(named, config.valid_fraction, config.seed)
    if not held:  # unknown speakers: hold out entries
        keys = [e.key for e in entries]
        valid_keys = D.hold_out(keys, config.valid_fraction, config.seed, keep=1)
        train_e = [e for e in entries if e.key not in valid_keys]
        valid_e = [e for e in entries if e.key in valid_keys]
    else:
        train_e = [e for e in entries if e.speaker not in held]
        valid_e = [e for e in entries if e.speaker in held]
    if saved_train is not None:
        train_e = [e for e in train_e if e.speaker in set(saved_train)]
    speakers = saved_train or sorted({e.speaker for e in train_e})
    if not train_e or not valid_e:
        raise PuresoundError("the lists leave no entries to train on or none to validate on")
    sources = [
        D.KaldiListSource(
            part,
            data_task(config.task),
            config.sample_rate,
            config.segment_seconds,
            config.enroll_seconds,
            seed=config.seed,
            speakers=speakers,
            stream=stream,
        )
        for stream, part in enumerate((train_e, valid_e))
    ]
    return sources[0], sources[1], {"train": speakers, "valid": sorted(held)}


def _mixed_data(
    config: TrainConfig,
    plain: list[str],
    report: D.DataReport,
    saved_train: list[str] | None,
    saved_valid: set[str] | None,
) -> tuple[Any, Any, dict[str, list[str]]]:
    """:func:`build_data` for speech folders: examples mixed on the fly."""
    bank = D.load_speech(plain, config.sample_rate, config.min_seconds, report)
    if len(bank) == 0:
        raise PuresoundError(
            "no usable speech in " + ", ".join(map(str, plain)) + f" ({report.summary()})"
        )
    noise_report = D.DataReport()
    noises = D.load_noise(config.noise_dirs, config.sample_rate, noise_report)
    for reason, n in noise_report.skipped.items():
        report.skipped[reason] += n
    rirs: list[np.ndarray] = []
    if config.reverb_prob > 0:
        if config.rir_dirs:
            rirs = D.load_rirs(config.rir_dirs, config.sample_rate, report)
        else:
            cache = config.rir_cache or Path.home() / ".cache" / "puresound"
            rirs = D.rir_bank(config.rir_count, config.sample_rate, cache, config.seed)
    if saved_train is not None and saved_valid is not None:
        everyone = set(bank.speakers)
        train_spk, valid_spk = set(saved_train) & everyone, saved_valid & everyone
        unused = everyone - train_spk - valid_spk
        if unused:
            log.warning("%d speakers not in the resumed run's split are not used", len(unused))
        if not train_spk or not valid_spk:
            raise PuresoundError("the speakers of the run being resumed are no longer there")
        labels = saved_train
    else:
        train_spk, valid_spk = D.split_speakers(
            bank, config.valid_speakers, config.valid_fraction, config.seed
        )
        labels = sorted(train_spk)
    mix = D.MixConfig(
        task=data_task(config.task),
        segment_seconds=config.segment_seconds,
        enroll_seconds=config.enroll_seconds,
        sir_db=(float(config.sir_db[0]), float(config.sir_db[1])),
        snr_db=(float(config.snr_db[0]), float(config.snr_db[1])),
        noise_prob=config.noise_prob,
        speed_prob=config.speed_prob,
        reverb_prob=config.reverb_prob,
        absent_prob=config.absent_prob,
        absent_talkers=config.absent_talkers,
        pause_prob=config.pause_prob,
        solo_prob=config.solo_prob,
        bandlimit_prob=config.bandlimit_prob,
        codec_prob=config.codec_prob,
    )
    train_bank = bank.subset(train_spk)
    train_src = D.DynamicMixer(train_bank, noises, mix, config.seed, rirs, report, speakers=labels)
    # Validation: held-out speakers, no speed perturbation, its own random stream.
    valid_mix = dataclasses.replace(mix, speed_prob=0.0)
    valid_src = D.DynamicMixer(
        bank.subset(valid_spk) if len(valid_spk) >= 2 or config.task == "enhance" else bank,
        noises,
        valid_mix,
        config.seed,
        rirs,
        D.DataReport(),
        stream=1,
    )
    if len(valid_spk) < 2 and config.task != "enhance":
        valid_src.targets = [s for s in valid_src.targets if s in valid_spk] or valid_src.targets
    return train_src, valid_src, {"train": list(labels), "valid": sorted(valid_spk)}
