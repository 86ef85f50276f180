"""Personal voice activity: when does the enrolled speaker talk in a recording?

Two detectors answer it. An extraction model's speaker net, through the tracker
(:mod:`puresound_cli.tracking`): the default, with the shipped extractor. Or a personal VAD
model (``nets.pvad``): ``frame_probabilities`` runs it over audio of any length in chunks (each
with a few seconds of left context, so a causal detector sees what it would see in one pass);
``segments`` turns the probabilities into (start, end) times in seconds. :func:`load_detector`
picks the one a checkpoint is for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from puresound_cli import audio
from puresound_cli.errors import PuresoundError
from puresound_cli.nets.contract import ExtractionModel, VADModel
from puresound_cli.talk import GateFn, Track
from puresound_cli.tracking import TrackConfig

logger = logging.getLogger("puresound_cli")


def load_vad(
    model: str, enrollment: str | Path, device: str | torch.device = "cpu"
) -> tuple[VADModel, torch.Tensor]:
    """A personal VAD model and the enrollment's embedding ``(1, D)`` (on the CPU).

    Raises:
        PuresoundError: not a vad checkpoint, or an unreadable enrollment.
    """
    from puresound_cli.checkpoint import load_vad_model
    from puresound_cli.enrollment import embed_recording

    net = load_vad_model(model, device)
    wav, rate, _ = audio.read_audio(enrollment)
    try:
        return net, embed_recording(net, wav, rate)
    except PuresoundError as err:
        raise PuresoundError(f"{audio.describe(enrollment)}: {err}") from err


@dataclass
class Detector:
    """A loaded detector with its enrollment embedding.

    Attributes:
        net: the network (an extractor, or a personal VAD model).
        embedding: the enrollment's embedding ``(1, D)``.
        threshold: personal VAD activity probability (unused by the tracker).
        tracker: the tracker's settings for an extractor, None for a personal VAD.
    """

    net: ExtractionModel | VADModel
    embedding: torch.Tensor
    threshold: float = 0.5
    tracker: TrackConfig | None = None

    def track(self, wav: np.ndarray, sample_rate: int) -> Track:
        """The tracker's :class:`~puresound_cli.tracking.Track` of ``wav`` ``(C, T)``."""
        from puresound_cli.tracking import track_recording

        if self.tracker is None or isinstance(self.net, VADModel):
            raise PuresoundError("a personal VAD model has no tracker: use an extraction model")
        return track_recording(self.net, self.embedding, wav, sample_rate, self.tracker)

    def segments(self, wav: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
        """(start, end) seconds where the enrolled voice talks in ``wav`` ``(C, T)``."""
        if not isinstance(self.net, VADModel):
            return list(self.track(wav, sample_rate).segments())
        probs = frame_probabilities(self.net, wav, sample_rate, self.embedding)
        return segments(probs, self.net.hop / self.net.sample_rate, self.threshold)


def load_detector(
    model: str | None,
    enrollment: Sequence[str | Path],
    device: str | torch.device = "cpu",
    threshold: float | None = None,
) -> Detector:
    """The detector for ``model`` (None: the shipped extractor's tracker) and the embedding of
    ``enrollment`` (several recordings of one voice are combined; folders are searched).

    ``threshold``: the activity probability of a personal VAD (default 0.5), or the tracker's
    opening cosine (it closes 0.1 lower; default: the tracker's calibrated values).

    Raises:
        PuresoundError: no such model, an enhancement model, or an unreadable enrollment.
    """
    from puresound_cli import pretrained
    from puresound_cli.checkpoint import load_model
    from puresound_cli.enrollment import combine_embeddings, embed_enrollment, enrollment_files
    from puresound_cli.nets import Extractor, PersonalVAD

    name = model if model is not None else pretrained.default_model("extract")
    if name is None:
        raise PuresoundError("no extraction model is shipped: pass --model PATH")
    net = load_model(name, device)
    files = enrollment_files(enrollment)
    if isinstance(net, PersonalVAD):
        embeddings = []
        for path in files:
            wav, rate, _ = audio.read_audio(path)
            embeddings.append(_embedding(net, wav, rate, path))
        embedding, _ = combine_embeddings(embeddings, [str(f) for f in files])
        return Detector(net, embedding, 0.5 if threshold is None else threshold)
    if not isinstance(net, Extractor):
        raise PuresoundError(f"{name} is an {net.task!r} model: pass an extraction model or a "
                             "personal VAD model")  # fmt: skip
    pairs = [embed_enrollment(net, f, force_enroll=False) for f in files]
    embedding, notes = combine_embeddings(
        [p[1] for p in pairs], [str(f) for f in files], disagree=net.track_thresholds[1]
    )
    for note in notes:
        logger.warning("%s", note)
    config = replace(TrackConfig.for_model(net), rescue_cosine=None)  # who talks; no output
    if threshold is not None:
        config = replace(config, open_cosine=threshold, close_cosine=max(-1.0, threshold - 0.1))
    return Detector(net, embedding, tracker=config)


def _embedding(net: VADModel, wav: np.ndarray, rate: int, path: str | Path) -> torch.Tensor:
    from puresound_cli.enrollment import embed_recording

    try:
        return embed_recording(net, wav, rate)
    except PuresoundError as err:
        raise PuresoundError(f"{audio.describe(path)}: {err}") from err


CHUNK_SECONDS = 30.0
CONTEXT_SECONDS = 4.0


def frame_probabilities(
    model: VADModel, wav: np.ndarray, sample_rate: int, embedding: torch.Tensor
) -> np.ndarray:
    """Probability per frame (frame i centred on ``i * model.hop`` at the model rate).

    Args:
        model: a loaded ``"vad"`` model.
        wav: mono ``(frames,)`` or ``(channels, frames)`` audio at ``sample_rate`` (mixed down).
        sample_rate: its rate.
        embedding: the enrollment's embedding ``(1, D)`` (``model.embed``).

    Returns:
        ``(n_frames,)`` float32 probabilities, ``n_frames = samples // hop + 1``.
    """
    if model.task != "vad":
        raise PuresoundError(f"this is an {model.task!r} model, not a vad model")
    mono = np.asarray(wav, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    x = audio.resample(mono[None], sample_rate, model.sample_rate)[0]
    hop = int(model.hop)
    n_frames = x.size // hop + 1
    chunk = max(1, int(CHUNK_SECONDS * model.sample_rate) // hop)  # frames per chunk
    context = int(CONTEXT_SECONDS * model.sample_rate) // hop
    device = next(model.parameters()).device
    out = np.zeros(n_frames, dtype=np.float32)
    with torch.inference_mode():
        for first in range(0, n_frames, chunk):
            last = min(n_frames, first + chunk)
            begin = max(0, first - context)
            piece = x[begin * hop : last * hop]  # frames begin .. last-1 (the last one may be cut)
            if piece.size == 0:
                piece = x[begin * hop :]
            tensor = torch.from_numpy(np.ascontiguousarray(piece))[None, None].to(device)
            logits = model.frame_logits(tensor, embedding.to(device))[0].float().cpu().numpy()
            probs = 1.0 / (1.0 + np.exp(-logits))
            keep = probs[first - begin : last - begin]
            out[first : first + keep.size] = keep
    return out


def segments(
    probabilities: np.ndarray,
    seconds_per_frame: float,
    threshold: float = 0.5,
    min_seconds: float = 0.1,
    merge_gap: float = 0.2,
) -> list[tuple[float, float]]:
    """(start, end) in seconds of the runs of frames above ``threshold``; gaps shorter than
    ``merge_gap`` are bridged, runs shorter than ``min_seconds`` dropped."""
    active = np.asarray(probabilities) > threshold
    runs: list[list[float]] = []
    for i, on in enumerate(active):
        if not on:
            continue
        start, end = max(0.0, (i - 0.5) * seconds_per_frame), (i + 0.5) * seconds_per_frame
        if runs and start - runs[-1][1] <= merge_gap:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    return [(round(s, 3), round(e, 3)) for s, e in runs if e - s >= min_seconds]


def sample_gate(
    probabilities: np.ndarray,
    hop_seconds: float,
    sample_rate: int,
    frames: int,
    threshold: float = 0.5,
    floor_db: float = -40.0,
    ramp_seconds: float = 0.05,
    hangover_seconds: float = 0.2,
) -> np.ndarray:
    """Per-sample gain from frame probabilities: 1 where the target talks (held ``hangover``
    seconds after), ``floor_db`` elsewhere, with ``ramp_seconds`` crossfades; ``(frames,)``."""
    active = (np.asarray(probabilities) > threshold).astype(np.float32)
    hold = max(1, int(round(hangover_seconds / hop_seconds)))
    held = np.convolve(active, np.ones(hold, dtype=np.float32))[: active.size] > 0
    times = np.arange(frames) / sample_rate
    index = np.clip(np.round(times / hop_seconds).astype(int), 0, held.size - 1)
    floor = 10 ** (floor_db / 20)
    gain = np.where(held[index], 1.0, floor).astype(np.float32)
    ramp = max(1, int(ramp_seconds * sample_rate))
    padded = np.pad(gain.astype(np.float64), (ramp // 2, ramp - 1 - ramp // 2), mode="edge")
    smooth = np.convolve(padded, np.full(ramp, 1.0 / ramp), "valid")
    smooth[np.abs(smooth - 1.0) < 1e-9] = 1.0  # where the target talks: exactly unchanged
    return smooth.astype(np.float32)


def vad_gate(net: VADModel, embedding: torch.Tensor, source: str | Path) -> GateFn:
    """An output gate for one file (``Separator.process_file(gate=...)``): -40 dB where the
    personal VAD hears no target in ``source``."""
    wav, rate, _ = audio.read_audio(source)
    probs = frame_probabilities(net, wav, rate, embedding)
    gain = sample_gate(probs, net.hop / net.sample_rate, rate, wav.shape[1])

    def gate(start: int, block: np.ndarray) -> np.ndarray:
        return block * gain[start : start + block.shape[1]]

    return gate
