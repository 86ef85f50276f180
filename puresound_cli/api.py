"""The tensor API: enhance and extract in-memory audio, on the same engine as files.

    model = load_model("model.pt")
    clean = enhance(model, noisy, sample_rate)                   # (T), (C, T) or (B, C, T)
    target = extract(model, mixture, enrollment, sample_rate)    # enrollment wav or embedding

Every item of a batch gets its own level normalisation, as a file does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from puresound_cli.checkpoint import check_task
from puresound_cli.enrollment import embed_recording, embed_speaker
from puresound_cli.nets.contract import ExtractionModel, SeparationModel
from puresound_cli.separate import Separator
from puresound_cli.tracking import TrackConfig


def _run(separator: Separator, wav: Tensor | np.ndarray, sample_rate: int) -> Tensor:
    tensor = torch.as_tensor(wav, dtype=torch.float32)
    if tensor.dim() not in (1, 2, 3):
        raise ValueError(f"expected (T), (C, T) or (B, C, T) audio, got {tuple(tensor.shape)}")
    shape = tuple(tensor.shape)
    batch = tensor
    while batch.dim() < 3:
        batch = batch.unsqueeze(0)  # (B, C, T)
    outputs = [torch.from_numpy(separator.process(item.numpy(), sample_rate)) for item in batch]
    return torch.stack(outputs).reshape(shape)


def enhance(
    model: SeparationModel,
    wav: Tensor | np.ndarray,
    sample_rate: int,
    segment: float | None = None,
    overlap: float | None = None,
    narrowband: SeparationModel | None = None,
) -> Tensor:
    """Enhance speech: remove noise from every channel.

    Args:
        model: an ``"enhance"`` model.
        wav: waveform at ``sample_rate``.
        sample_rate: rate of ``wav`` in Hz (resampled to the model rate and back).
        segment: chunk length in seconds (default: see :func:`~puresound_cli.apply.chunk_seconds`).
        overlap: chunk overlap in seconds (default: idem).
        narrowband: an ``"enhance"`` model used instead when ``sample_rate`` is 8 kHz or lower
            (as ``puresound enhance`` does with its defaults; see
            :func:`~puresound_cli.pretrained.narrowband_model`).

    Returns:
        The enhanced waveform, same shape and rate as ``wav``.

    Shape:
        wav: ``(T)``, ``(C, T)`` or ``(B, C, T)``; returns the same.
    """
    check_task(model, "enhance")
    if narrowband is not None:
        check_task(narrowband, "enhance")
    separator = Separator(model, None, segment, overlap, narrowband=narrowband)
    return _run(separator, wav, sample_rate)


def extract(
    model: ExtractionModel,
    mixture: Tensor | np.ndarray,
    enrollment: Tensor | np.ndarray,
    sample_rate: int,
    segment: float | None = None,
    overlap: float | None = None,
    enrollment_rate: int | None = None,
    track: bool | None = None,
) -> Tensor:
    """Extract the enrolled speaker from every channel of a mixture.

    Args:
        model: an ``"extract"`` model.
        mixture: waveform at ``sample_rate``.
        enrollment: enrollment waveform ``(T)``/``(C, T)``, or a ready embedding ``(1, D)``
            from :func:`embed_speaker` (pass it to reuse one embedding across files).
        sample_rate: rate of ``mixture`` in Hz.
        segment: chunk length in seconds (default: see :func:`~puresound_cli.apply.chunk_seconds`).
        overlap: chunk overlap in seconds (default: idem).
        enrollment_rate: rate of ``enrollment`` if it differs from ``sample_rate``.
        track: silence the output where the enrolled voice does not talk, as ``puresound
            extract`` does (:mod:`puresound_cli.tracking`); None: when the model carries a
            calibrated tracking net, unless that net is one of its own and the enrollment a
            ready embedding (which only serves the speaker net; ``track=True`` then is an
            error).

    Returns:
        The target speaker, same shape and rate as ``mixture``.

    Shape:
        mixture: ``(T)``, ``(C, T)`` or ``(B, C, T)``; returns the same.
    """
    check_task(model, "extract")
    emb = torch.as_tensor(enrollment)
    ready = emb.dim() == 2 and emb.shape[0] == 1 and emb.shape[1] == model.embed_dim
    if track is None:  # a ready embedding cannot serve a tracking net of the model's own
        track = model.tracks_by_default and not (ready and model.has_tracking_net)
    track_emb = None
    if not ready:
        emb = embed_speaker(model, enrollment, enrollment_rate or sample_rate)
        if track and model.has_tracking_net:
            track_emb = embed_recording(model, enrollment, enrollment_rate or sample_rate, True)
    elif track and model.has_tracking_net:
        raise ValueError("this model tracks with its own speaker net: pass the enrollment "
                         "waveform, not an embedding, or track=False")  # fmt: skip
    tracker = TrackConfig.for_model(model) if track else None
    separator = Separator(model, emb, segment, overlap, tracker=tracker, track_embedding=track_emb)
    return _run(separator, mixture, sample_rate)
