"""Training settings: one frozen :class:`TrainConfig`, read from TOML files and CLI options.

The ``puresound train`` options and the keys of ``--config FILE.toml`` are the field names
(dashes for underscores on the command line). :meth:`TrainConfig.from_dict` checks names and
types, so a bad file gives one clear message, never a traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puresound_cli.errors import PuresoundError

log = logging.getLogger("puresound_cli.train")

MODEL_SIZES = ("tiny", "small", "seed")
TASKS = ("extract", "enhance", "separate", "vad")
AMP_MODES = ("auto", "bf16", "off")
DEPRECATED_KEYS = {"model": "size"}
"""Old option names still read (with a warning) for one release: old -> new."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; saved in every checkpoint as ``meta.train_config``.

    The ``puresound train`` options and the keys of ``--config FILE.toml`` are these field names
    (dashes for underscores on the command line).

    Attributes:
        task: "extract" (speaker net + conditioned masker), "enhance" (masker only) or
            "separate" (a two-talker separator trained with permutation-invariant SI-SDR: no
            speaker labels needed; pre-training for an extractor, see recipes/README.md) or
            "vad" (a personal voice-activity detector, frame labels from the target's energy,
            on extraction mixtures; ``init_from`` an extractor gives it its speaker net).
        speech_dirs: speech folders (``speakers.tsv`` or speaker-named subfolders), or folders of
            Kaldi-style lists (a ``wav2scp.txt``) with pre-made mixtures.
        noise_dirs: noise folders (synthetic coloured noise, hum and babble are added anyway).
        out: the run folder.
        size: size preset "tiny" | "small" | "seed" (the paper size); the key ``model`` is
            still read for one release, with a deprecation warning.
        backbone: the masker, a ``train --backbone`` name of ``nets.maskers.BACKBONES``, at the
            ``size`` preset; empty: the default masker (``nets.maskers.DEFAULT_BACKBONE``).
        causal: a causal masker (cumulative norms, no look-ahead beyond the STFT window), as
            live streaming needs; skim, dpcrn and dparn presets are causal anyway.
        model_config: an explicit architecture config (``asdict`` of the nets' config) instead.
        sample_rate: the model rate; audio is resampled to it on load.
        batch_size: examples per step and rank.
        segment_seconds: example length.
        enroll_seconds: enrollment length (extract).
        max_steps: training steps (an upper bound when ``time_budget_minutes`` is set).
        time_budget_minutes: wall-clock budget of the whole run (0: none). The run measures its
            own speed, follows a cosine schedule over the time (whatever ``scheduler`` says),
            and stops so that the last validation and ``model.pt`` are written inside it.
        lr, weight_decay: AdamW settings.
        scheduler: "plateau" (halve the LR after ``plateau_patience`` validations without
            improvement) or "cosine" (cosine decay to 0 over ``max_steps`` after ``warmup_steps``).
        grad_clip: gradient norm clip (0 disables).
        speaker_loss_weight: weight (alpha) of the AAM-softmax speaker loss (extract).
        freeze_speaker: keep the speaker net as it starts (with ``init_from``, e.g. distilled):
            not trained, no speaker loss, its batch statistics fixed. Trained jointly from a
            separator that does not yet use it, the net drifts towards one embedding for every
            voice (measured: dev-speaker cosine 0.54 -> 0.98 in 900 steps).
        aam_margin, aam_scale: AAM-softmax margin and scale.
        spectral_loss_weight: weight of a multi-resolution STFT magnitude loss (0 disables).
        compressed_loss_weight: weight of a compressed spectral loss
            (``losses.compressed_spectral_loss``: magnitudes ** 0.3, 30 % complex; 0 disables).
        valid_every: steps between validations.
        valid_examples: size of the fixed validation set.
        valid_speakers: speakers held out for validation (default: ``valid_fraction`` of them).
        valid_fraction: share of speakers held out when ``valid_speakers`` is empty.
        checkpoint_every: steps between ``last.pt`` checkpoints.
        log_every: steps between training rows in ``log.csv``.
        early_stopping: stop after this many validations without improvement (0 disables).
        num_workers: DataLoader worker processes mixing examples (0 = in the training process).
        threads: torch CPU threads per process (0 = all cores, shared among ranks).
        seed: seeds weights, data stream and validation set.
        device: "auto" | "cpu" | "cuda" | "cuda:N" | "mps".
        amp: mixed precision: "auto" (bfloat16 autocast on CUDA, or float16 with loss scaling
            where bfloat16 is not supported; off on the CPU, where a whole step gained only 3%,
            bench/RESULTS.md), "bf16"
            (bfloat16 autocast on any device, the CPU included), "off". true/false in a
            TOML mean "auto"/"off".
        sir_db, snr_db: signal-to-interferer and signal-to-noise ranges in dB.
        noise_prob: chance of added noise (extract; enhance always adds noise).
        speed_prob: chance of speed perturbation per talker.
        absent_prob, absent_talkers: share of target-absent examples; their other talkers (1, 2).
        absent_floor_db: where the target-absent loss term stops pushing the output down (dB).
        pause_prob: share of extraction examples whose target pauses for 25-75 % of the
            segment while the interferer talks on (turn-taking; see ``data.MixConfig``).
        solo_prob: share of extraction examples whose interferer pauses so (the target talks
            alone there).
        bandlimit_prob, codec_prob: telephone-channel augmentation (see ``data.MixConfig``).
        reverb_prob: chance of reverberation (needs ``rir_dirs`` or pyroomacoustics).
        rir_dirs: folders of impulse responses; without them RIRs are simulated once and cached.
        rir_count: size of the simulated RIR bank.
        rir_cache: cache folder of the simulated bank (default ``~/.cache/puresound``).
        min_seconds: files shorter than this are skipped.
        tensorboard: also log to ``RUN/tensorboard`` when tensorboard is installed.
        snapshot_minutes: elapsed minutes (the run's clock, resumes included) at which the
            weights are also written to ``RUN/at-{M}min.pt`` (no optimizer state), so that runs
            of equal time can be compared at several points (``recipes/score_separator.py``).
        resume: continue from ``RUN/last.pt`` when it exists (else start afresh, overwriting).
        init_from: a checkpoint whose weights start a fresh run (fine-tuning a shipped model, or
            a pre-trained speaker net): every tensor whose name and shape match is copied, the
            rest keeps its initialisation. Ignored when the run resumes from ``RUN/last.pt``.
    """

    task: str = "extract"
    speech_dirs: tuple[str, ...] = ()
    noise_dirs: tuple[str, ...] = ()
    out: str = "runs/train"
    size: str = "small"
    backbone: str = ""
    causal: bool = False
    model_config: dict[str, Any] | None = None
    sample_rate: int = 16000
    batch_size: int = 8
    segment_seconds: float = 4.0
    enroll_seconds: float = 3.0
    max_steps: int = 100_000
    time_budget_minutes: float = 0.0
    lr: float = 1e-3
    weight_decay: float = 1e-2
    scheduler: str = "plateau"
    plateau_patience: int = 3
    warmup_steps: int = 0
    grad_clip: float = 5.0
    speaker_loss_weight: float = 1.0
    freeze_speaker: bool = False
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    spectral_loss_weight: float = 0.0
    compressed_loss_weight: float = 0.0
    valid_every: int = 500
    valid_examples: int = 64
    valid_speakers: tuple[str, ...] = ()
    valid_fraction: float = 0.05
    checkpoint_every: int = 200
    log_every: int = 20
    early_stopping: int = 10
    num_workers: int = 1
    threads: int = 0
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    sir_db: tuple[float, float] = (-5.0, 5.0)
    snr_db: tuple[float, float] = (0.0, 15.0)
    noise_prob: float = 0.8
    speed_prob: float = 0.3
    absent_prob: float = 0.1
    absent_talkers: int = 1
    absent_floor_db: float = -20.0
    pause_prob: float = 0.0
    solo_prob: float = 0.0
    bandlimit_prob: float = 0.0
    codec_prob: float = 0.0
    reverb_prob: float = 0.0
    rir_dirs: tuple[str, ...] = ()
    rir_count: int = 200
    rir_cache: str = ""
    min_seconds: float = 1.0
    tensorboard: bool = True
    snapshot_minutes: tuple[float, ...] = ()
    resume: bool = True
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise PuresoundError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.model_config is None and self.size not in MODEL_SIZES:
            raise PuresoundError(f"size must be one of {', '.join(MODEL_SIZES)}, got {self.size!r}")
        from puresound_cli.nets.maskers import DEFAULT_BACKBONE
        from puresound_cli.train.ranges import check_backbone

        if not self.backbone:
            object.__setattr__(self, "backbone", DEFAULT_BACKBONE)
        check_backbone(self)
        if self.scheduler not in ("plateau", "cosine"):
            raise PuresoundError(f"scheduler must be 'plateau' or 'cosine', got {self.scheduler!r}")
        if self.amp not in AMP_MODES:
            raise PuresoundError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if not self.speech_dirs:
            raise PuresoundError("no speech folders given")
        from puresound_cli.train.ranges import check_ranges

        check_ranges(self)

    @property
    def cosine(self) -> bool:
        """Whether the learning rate follows a cosine (a time budget implies one)."""
        return self.scheduler == "cosine" or self.time_budget_minutes > 0

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build a config from a mapping (a TOML table, CLI options), checking names and types.

        Lists become tuples, integers are accepted where a float is expected, ``amp`` true/false
        mean "auto"/"off"; deprecated names are renamed with a warning.

        Raises:
            PuresoundError: an unknown key or a value of the wrong type (one line naming it).
        """
        values = dict(values)
        for old, new in DEPRECATED_KEYS.items():
            if old in values:
                log.warning("training option %r is deprecated: use %r", old, new)
                value = values.pop(old)
                values.setdefault(new, value)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise PuresoundError(f"unknown training option(s): {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        clean = {key: _checked(key, hints[key], value) for key, value in values.items()}
        return cls(**clean)


def _checked(key: str, hint: Any, value: Any, top: bool = True) -> Any:
    """``value`` converted to the field's type, or a PuresoundError that names the option."""
    if key == "amp" and isinstance(value, bool):
        return "auto" if value else "off"
    if top and key.endswith("_dirs") and isinstance(value, (str, Path)):
        value = [value]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    optional = type(None) in args
    if optional and value is None:
        return None
    if optional:
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise PuresoundError(f"{key} must be a list, got {value!r}")
        item = args[0]
        if len(args) == 2 and args[1] is not Ellipsis and len(value) != 2:
            raise PuresoundError(f"{key} must be a list of two numbers, got {value!r}")
        return tuple(_checked(key, item, v, top=False) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise PuresoundError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PuresoundError(f"{key} must be a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PuresoundError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if key.endswith("_dirs") and isinstance(value, Path):
            return str(value)
        if not isinstance(value, str):
            raise PuresoundError(f"{key} must be a string, got {value!r}")
        return value
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise PuresoundError(f"{key} must be a table, got {value!r}")
        return value
    return value


@dataclass(frozen=True)
class TrainEvent:
    """What :func:`~puresound_cli.train.train` reports to an optional progress callback.

    Attributes:
        kind: "start" | "step" | "valid" | "end".
        step: steps done.
        max_steps: steps planned (with a time budget: the current estimate).
        metrics: numbers of this event (loss, lr, si_sdri, ...).
        message: a line of text (data summary at start, reason at the end).
    """

    kind: str
    step: int
    max_steps: int
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""
