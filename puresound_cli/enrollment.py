"""Enrollment: the target voice as an embedding, from one or several recordings.

An enrollment is read, checked to hold enough speech (:mod:`puresound_cli.speech_check`),
mixed to mono, cut to its first minute, brought to the separator's level and embedded once by
the model's speaker net; several recordings of one voice are combined into one embedding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from puresound_cli import audio
from puresound_cli.errors import PuresoundError
from puresound_cli.nets.contract import ExtractionModel, VADModel, model_device
from puresound_cli.separate import check_task, normalising_gain
from puresound_cli.speech_check import enrollment_problem

MAX_ENROLL_SECONDS = 60.0
"""Only the first minute of an enrollment is used for the speaker embedding."""

logger = logging.getLogger("puresound_cli")


def embed_speaker(
    model: ExtractionModel, enrollment: Tensor | np.ndarray, sample_rate: int
) -> Tensor:
    """Speaker embedding of an enrollment recording (mono mix of its channels, first minute).

    Args:
        model: an ``"extract"`` model.
        enrollment: enrollment waveform ``(T)`` or ``(C, T)`` at ``sample_rate``.
        sample_rate: its rate in Hz.

    Returns:
        The embedding, shape ``(1, D)``.

    Raises:
        PuresoundError: the enrollment is empty, silent or holds NaN/Inf.
    """
    check_task(model, "extract")
    return embed_recording(model, enrollment, sample_rate)


def embed_recording(
    model: ExtractionModel | VADModel,
    enrollment: Tensor | np.ndarray,
    sample_rate: int,
    track: bool = False,
) -> Tensor:
    """:func:`embed_speaker` for any model with an ``embed`` (an extractor, a personal VAD);
    with ``track``, the extractor's embedding for tracking who talks (``track_embed``)."""
    wav = torch.as_tensor(enrollment, dtype=torch.float32)
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2:
        raise ValueError(f"expected (T) or (C, T) enrollment, got {tuple(wav.shape)}")
    if wav.shape[-1] == 0:
        raise PuresoundError("enrollment is empty")
    if not torch.isfinite(wav).all():
        raise PuresoundError("enrollment contains NaN or Inf samples")
    mono = wav.mean(dim=0, keepdim=True)[:, : int(MAX_ENROLL_SECONDS * sample_rate)]  # (1, T)
    rms = float(mono.double().pow(2).mean().sqrt())
    if rms < 1e-6:
        raise PuresoundError("enrollment is silent: it must contain the target speaker's voice")
    x = audio.resample((mono * normalising_gain(rms)).numpy(), sample_rate, model.sample_rate)
    x_t = torch.from_numpy(np.ascontiguousarray(x))[None].to(model_device(model))  # (1, 1, T)
    with torch.inference_mode():
        if track and isinstance(model, ExtractionModel):
            return model.track_embed(x_t).to("cpu")
        if track:
            raise ValueError("only an extractor has a tracking embedding")
        return model.embed(x_t).to("cpu")


DISAGREE_COSINE = 0.6
"""An enrollment whose embedding is further than this (cosine) from the others' mean is named
in a warning: it may be another voice."""


def combine_embeddings(
    embeddings: Sequence[Tensor], names: Sequence[str], disagree: float = DISAGREE_COSINE
) -> tuple[Tensor, list[str]]:
    """One embedding from several enrollments of one voice, and a note for each that disagrees.

    The enrollments' unit-length embeddings are averaged (the result keeps their mean length),
    so each recording counts equally whatever its duration. A reference whose cosine with the
    mean of the *others* is below ``disagree`` (default :data:`DISAGREE_COSINE`) is reported.

    Shape:
        embeddings: each ``(1, D)``; returns ``(1, D)``.
    """
    if not embeddings:
        raise ValueError("no enrollment embeddings to combine")
    if len(embeddings) == 1:  # one recording: its embedding exactly, as before combining existed
        return embeddings[0], []
    stacked = torch.cat(list(embeddings), dim=0)  # (K, D)
    unit = torch.nn.functional.normalize(stacked, dim=1)
    combined = unit.mean(dim=0, keepdim=True) * stacked.norm(dim=1).mean()  # (1, D)
    notes = []
    if len(embeddings) > 1:
        for k, name in enumerate(names):
            others = torch.cat([unit[:k], unit[k + 1 :]]).mean(dim=0)
            cosine = float(torch.nn.functional.cosine_similarity(unit[k], others, dim=0))
            if cosine < disagree:
                notes.append(
                    f"enrollment {name} does not sound like the others (cosine {cosine:.2f} "
                    f"< {disagree:g}): is it the same voice?"
                )
    return combined, notes


def embed_enrollment(
    net: ExtractionModel, enrollment: str | Path, force_enroll: bool
) -> tuple[Tensor, Tensor]:
    """The embeddings of an enrollment file (``"-"``: stdin) for separation ``(1, D)`` and for
    tracking (:meth:`~puresound_cli.nets.Extractor.track_embed`), checked to hold speech
    unless ``force_enroll``; errors name the file."""
    try:
        wav, rate, _ = audio.read_audio(enrollment)
        problem = enrollment_problem(wav, rate)
        if problem and not force_enroll:
            raise PuresoundError(f"{problem}; pass --force-enroll to use it anyway")
        if problem:
            logger.warning("enrollment %s %s", audio.describe(enrollment), problem)
        embedding = embed_speaker(net, wav, rate)
        if not net.has_tracking_net:
            return embedding, embedding
        return embedding, embed_recording(net, wav, rate, track=True)
    except PuresoundError as err:
        message = str(err)
        if message.startswith(audio.describe(enrollment)):
            raise PuresoundError(f"enrollment {message}") from err
        raise PuresoundError(f"enrollment {audio.describe(enrollment)}: {message}") from err


def enrollment_files(arguments: Sequence[str | Path]) -> list[str | Path]:
    """``--enroll`` arguments as recordings: a folder stands for the audio files below it,
    ``"-"`` for stdin; a missing file is reported when it is read.

    Raises:
        PuresoundError: a folder without audio files.
    """
    from puresound_cli.inputs import find_audio_files

    out: list[str | Path] = []
    for argument in arguments:
        path = Path(argument)
        if str(argument) != "-" and path.is_dir():
            found = find_audio_files(path)
            if not found:
                raise PuresoundError(f"enrollment folder {path}: no audio files in it")
            out += found
        else:
            out.append(argument)
    return out
