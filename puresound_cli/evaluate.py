"""Scoring a model on a list of (input, reference[, enrollment]) files.

The list is read by :mod:`puresound_cli.pairs`.

For every item: SI-SDR of the output and of the input against the reference and their difference
(SI-SDRi), plus wide-band PESQ and STOI when the optional ``eval`` extra (``pesq``, ``pystoi``) is
installed. SI-SDR is undefined without a target, so target-absent items report the output level
relative to the input in dB instead (lower is better: the output should be silence).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from puresound_cli.errors import PuresoundError
from puresound_cli.nets.contract import ExtractionModel, SeparationModel
from puresound_cli.pairs import Pair, pairs_task, read_pairs

__all__ = ["METRICS", "EvalResult", "ItemScore", "Pair", "evaluate", "pairs_task", "read_pairs",
           "score_item"]  # fmt: skip

log = logging.getLogger(__name__)

METRICS = (
    "si_sdr", "si_sdr_input", "si_sdri",
    "pesq", "pesq_input", "pesq_i", "stoi", "stoi_input", "stoi_i",
    "absent_db",
)  # fmt: skip


@dataclass(frozen=True)
class ItemScore:
    """Scores of one item (NaN where a metric does not apply or is not installed)."""

    input: str
    si_sdr: float = math.nan
    si_sdr_input: float = math.nan
    si_sdri: float = math.nan
    pesq: float = math.nan
    pesq_input: float = math.nan
    pesq_i: float = math.nan
    stoi: float = math.nan
    stoi_input: float = math.nan
    stoi_i: float = math.nan
    absent_db: float = math.nan
    error: str = ""
    skipped: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: NaN becomes None."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


class Unscorable(PuresoundError):
    """An item that cannot be scored meaningfully (silent input or reference): skipped."""


@dataclass(frozen=True)
class EvalResult:
    """Per-item scores and their means over the items where each metric applies."""

    items: list[ItemScore]
    mean: dict[str, float]
    counts: dict[str, int]


def si_sdr_db(estimate: np.ndarray, reference: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SDR in dB of 1-D signals (zero-mean), as ``losses.si_sdr``."""
    import torch

    from puresound_cli.losses import si_sdr

    est = torch.from_numpy(np.asarray(estimate, dtype=np.float64))[None]
    ref = torch.from_numpy(np.asarray(reference, dtype=np.float64))[None]
    return float(si_sdr(est, ref, eps=eps)[0])


def level_db(output: np.ndarray, mixture: np.ndarray) -> float:
    """Output energy relative to the input's, in dB, as ``losses.energy_ratio_db``."""
    import torch

    from puresound_cli.losses import energy_ratio_db

    out = torch.from_numpy(np.asarray(output, dtype=np.float64))[None]
    mix = torch.from_numpy(np.asarray(mixture, dtype=np.float64))[None]
    return float(energy_ratio_db(out, mix, eps=1e-12)[0])


def perceptual_scores(
    reference: np.ndarray, sample_rate: int, *signals: np.ndarray
) -> list[dict[str, float]]:
    """Wide-band PESQ (at 16 kHz) and STOI of each signal against ``reference`` (NaN when
    ``pesq`` / ``pystoi`` are not installed). The reference is resampled once for all signals.
    """
    scores = [{"pesq": math.nan, "stoi": math.nan} for _ in signals]
    try:
        from pesq import pesq
    except ImportError:
        pesq = None
    if pesq is not None:
        from puresound_cli.audio import resample

        ref16 = resample(reference[None].astype(np.float32), sample_rate, 16000)[0]
        for score, signal in zip(scores, signals, strict=True):
            sig16 = resample(signal[None].astype(np.float32), sample_rate, 16000)[0]
            try:
                score["pesq"] = float(pesq(16000, ref16, sig16, "wb"))
            except Exception as exc:  # noqa: BLE001 - e.g. no utterance detected
                log.warning("PESQ failed: %s", exc)
    try:
        from pystoi import stoi
    except ImportError:
        stoi = None
    if stoi is not None:
        for score, signal in zip(scores, signals, strict=True):
            score["stoi"] = float(stoi(reference, signal, sample_rate, extended=False))
    return scores


def score_item(
    output: np.ndarray,
    mixture: np.ndarray,
    reference: np.ndarray | None,
    sample_rate: int,
    name: str = "",
) -> ItemScore:
    """Score one output (1-D arrays at ``sample_rate``; trimmed to a common length).

    Raises:
        Unscorable: a silent input or reference (a score of it would be meaningless).
    """
    if not np.any(mixture):
        raise Unscorable(f"{name}: the input is silent; skipped")
    if reference is None:
        return ItemScore(name, absent_db=level_db(output, mixture))
    if not np.any(reference):
        raise Unscorable(f"{name}: the reference is silent (all zeros); skipped")
    n = min(output.size, mixture.size, reference.size)
    output, mixture, reference = output[:n], mixture[:n], reference[:n]
    out_sdr, in_sdr = si_sdr_db(output, reference), si_sdr_db(mixture, reference)
    out_p, in_p = perceptual_scores(reference, sample_rate, output, mixture)
    return ItemScore(
        name,
        si_sdr=out_sdr,
        si_sdr_input=in_sdr,
        si_sdri=out_sdr - in_sdr,
        pesq=out_p["pesq"],
        pesq_input=in_p["pesq"],
        pesq_i=out_p["pesq"] - in_p["pesq"],
        stoi=out_p["stoi"],
        stoi_input=in_p["stoi"],
        stoi_i=out_p["stoi"] - in_p["stoi"],
    )


def _mono(path: Path) -> tuple[np.ndarray, int]:
    from puresound_cli.audio import read_audio

    wav, rate, _ = read_audio(path)
    return wav.mean(axis=0), rate


def evaluate(
    model: SeparationModel,
    pairs_tsv: str | Path,
    task: str | None = None,
    segment: float | None = None,
    overlap: float | None = None,
    progress: Callable[[int, int, ItemScore], None] | None = None,
    track: bool | None = None,
    narrowband: SeparationModel | None = None,
) -> EvalResult:
    """Run a model over a pairs list and score every item.

    Args:
        model: an enhancement or extraction model (``model.task`` says which).
        pairs_tsv: the list (columns input, reference[, enrollment]).
        task: "extract" | "enhance"; must match the model's task (default: the model's).
        segment, overlap: chunking of long inputs, in seconds (None: the model-aware defaults
            of ``puresound_cli.apply.chunk_seconds``).
        progress: called as ``progress(done, total, item_score)`` after each item.
        track: extraction with speaker tracking (None: as ``puresound extract`` decides, on when
            the model carries a calibrated tracking net).
        narrowband: enhancement: the model for inputs at 8 kHz or lower (as ``puresound
            enhance`` uses its narrow-band default).

    Returns:
        Per-item scores and means. An item whose files cannot be read is reported with its
        ``error`` and left out of the means.
    """
    from puresound_cli import api
    from puresound_cli.checkpoint import check_task

    task = task or model.task
    if task not in ("extract", "enhance"):
        raise PuresoundError(f"task must be 'extract' or 'enhance', got {task!r}")
    check_task(model, task)
    pairs = read_pairs(pairs_tsv, task)
    items: list[ItemScore] = []
    for k, pair in enumerate(pairs, start=1):
        try:
            mixture, rate = _mono(pair.input)
            reference = None
            if pair.reference is not None:
                reference, ref_rate = _mono(pair.reference)
                if ref_rate != rate:
                    from puresound_cli.audio import resample

                    log.warning("%s: reference at %d Hz, input at %d Hz: reference resampled",
                                pair.reference, ref_rate, rate)  # fmt: skip
                    reference = resample(reference[None], ref_rate, rate)[0]
                if reference.size != mixture.size:
                    common = min(reference.size, mixture.size) / rate
                    log.warning(
                        "%s: reference is %.3f s, input %.3f s: scored over the first %.3f s",
                        pair.reference, reference.size / rate, mixture.size / rate, common,
                    )  # fmt: skip
            if task == "extract":
                assert pair.enrollment is not None and isinstance(model, ExtractionModel)
                enroll, enroll_rate = _mono(pair.enrollment)
                output = api.extract(model, mixture, enroll, rate, segment, overlap,
                                     enrollment_rate=enroll_rate, track=track)  # fmt: skip
            else:
                output = api.enhance(model, mixture, rate, segment, overlap, narrowband)
            item = score_item(output.numpy(), mixture, reference, rate, str(pair.input))
        except Unscorable as exc:
            reason = str(exc).removeprefix(f"{pair.input}: ")
            log.warning("%s: %s", pair.input, reason)
            item = ItemScore(str(pair.input), skipped=reason)
        except (PuresoundError, OSError, ValueError, RuntimeError) as exc:
            reason = str(exc).removeprefix(f"{pair.input}: ")
            log.error("%s: %s", pair.input, reason)
            item = ItemScore(str(pair.input), error=reason)
        items.append(item)
        if progress is not None:
            progress(k, len(pairs), item)
    mean, counts = {}, {}
    for metric in METRICS:
        values = [
            getattr(i, metric)
            for i in items
            if not i.error and not i.skipped and not math.isnan(getattr(i, metric))
        ]
        counts[metric] = len(values)
        mean[metric] = float(np.mean(values)) if values else math.nan
    return EvalResult(items, mean, counts)
