"""Separate, then select by voice: a two-talker separator's outputs, chosen window by window.

A separator trained with permutation-invariant training (``train --task separate``) splits a
mixture into two outputs but does not know which holds the enrolled voice, and the talker in
one output may move to the other over a long recording. :func:`select_voice` first scales each
output to the mixture (least squares: such a separator leaves each output's scale and sign
free), embeds both in short windows with the extractor's speaker net and follows, through a
Viterbi path that charges each change of output, the one closer to the enrollment; between
window centres the choice is blended linearly (no clicks where it changes). An output far
quieter than the other in a window is not judged by voice (its embedding would be of noise).
Where the two score alike and either could be the target, both are kept (the mixture, rather
than the wrong voice); where neither could, the output is lowered. With the tracker's reading of
the mixture as further evidence, the output is silenced where both readings say the enrolled
voice is not there: one voice judged alone in a noisy window, or the mixture alone, is often
mistaken; both together much less often. (Where the target overlaps another talker the
mixture's reading is low while the separated target's stays high: the output stays.)

References:
    Yu et al., "Permutation invariant training of deep models for speaker-independent
    multi-talker speech separation", ICASSP 2017 (the separator's training); the choice
    between outputs is a two-state Viterbi path with a switching cost.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from puresound_cli.runtime import native_bf16

SELECT_WINDOW_SECONDS = 2.5
"""Length of the windows in which the outputs are compared by voice."""

SELECT_HOP_SECONDS = 1.0
"""Distance between window centres (the choice is blended linearly between them)."""

QUIET_DB = -30.0
"""An output this far below the louder one in a window is not judged by voice."""

SWITCH_PENALTY = 0.5
"""Cosine a change of output must win by, summed over the windows it spans (Viterbi)."""

UNLIKE_DB = -20.0
"""Gain where no output sounds like the target (cosine below the tracker's opening threshold)."""

UNSURE_MARGIN = 0.1
"""Where the chosen output's cosine beats the others' by less than this, they are kept too
(all of them where the cosines tie): a doubtful choice falls back to the mixture."""

EVIDENCE_DB = -40.0
"""Gain where both readings are below their bars (the tracker's floor)."""

BATCH_WINDOWS = 64
"""Windows embedded per call of the speaker net (bounds memory on long inputs)."""


def select_voice(
    sources: Tensor,
    mixture: Tensor,
    embedding: Tensor,
    embed: Callable[[Tensor], Tensor],
    sample_rate: int,
    window_seconds: float = SELECT_WINDOW_SECONDS,
    hop_seconds: float = SELECT_HOP_SECONDS,
    switch_penalty: float = SWITCH_PENALTY,
    unsure_margin: float = UNSURE_MARGIN,
    plausible: float = -1.0,
    unlike_db: float = 0.0,
    evidence: Tensor | None = None,
    evidence_bar: float | Tensor = -1.0,
    output_bar: float | Tensor = -1.0,
    evidence_db: float = EVIDENCE_DB,
) -> Tensor:
    """The enrolled voice from a separator's outputs, chosen window by window.

    Args:
        sources: separated outputs, ``(B, S, T)``.
        mixture: what was separated, ``(B, 1, T)``: each output is first scaled to it (least
            squares; a separator trained on SI-SDR gives each output its own scale and sign).
        embedding: the enrollment's embedding from ``embed``'s net, ``(B, D)``.
        embed: speaker net, ``(N, 1, W) -> (N, D)``.
        sample_rate: rate of ``sources`` in Hz.
        window_seconds, hop_seconds, switch_penalty: see the module's constants.
        unsure_margin: see :data:`UNSURE_MARGIN`.
        plausible: the doubt of ``unsure_margin`` only counts where the chosen output's cosine
            is at least this (the tracker's opening threshold: a voice that could be the
            target); where none could, the choice stands.
        unlike_db: gain (dB) of the windows where no output's cosine reaches ``plausible``.
        evidence: the tracker's cosine on the mixture at every sample, ``(B, T)`` (None: none);
            where its mean over a window is below ``evidence_bar`` and the window's best
            output cosine is below ``output_bar``, the window's gain is at most ``evidence_db``
            (each bar one number, or one per item, ``(B, 1, 1)``).

    Returns:
        ``(B, 1, T)``: in each window the output on the best path (with the others where the
        choice is doubtful, lowered where no output is plausible), blended linearly between
        window centres.
    """
    if sources.dim() != 3 or embedding.dim() != 2 or embedding.shape[0] != sources.shape[0]:
        raise ValueError(
            f"need sources (B, S, T) and embedding (B, D), got {tuple(sources.shape)} "
            f"and {tuple(embedding.shape)}"
        )
    batch, count, length = sources.shape
    if count == 1:
        return sources
    power = sources.pow(2).sum(-1, keepdim=True)
    sources = sources * (sources * mixture).sum(-1, keepdim=True) / (power + 1e-12)
    window = max(1, round(window_seconds * sample_rate))
    hop = max(1, round(hop_seconds * sample_rate))
    centres = (length - 1) // hop + 2  # centres k * hop, the last one at or past the end
    padded = F.pad(sources, (window // 2, window - window // 2 + hop))
    frames = padded.unfold(-1, window, hop)[:, :, :centres]  # (B, S, n, W)
    flat = frames.reshape(-1, 1, window)
    bf16 = sources.device.type == "cpu" and native_bf16()
    with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        embedded = torch.cat(
            [embed(flat[i : i + BATCH_WINDOWS]) for i in range(0, flat.shape[0], BATCH_WINDOWS)]
        )
    embedded = F.normalize(embedded.float(), dim=-1).reshape(batch, count, centres, -1)
    target = F.normalize(embedding.float(), dim=-1)[:, None, None]  # (B, 1, 1, D)
    cosine = (embedded * target).sum(-1)  # (B, S, n)
    energy = frames.float().pow(2).mean(-1) + 1e-12  # (B, S, n)
    quiet = energy < energy.amax(dim=1, keepdim=True) * 10 ** (QUIET_DB / 10)
    best = cosine.amax(dim=1, keepdim=True).expand_as(cosine)
    cosine = torch.where(quiet, best, cosine)  # a quiet output neither wins nor loses
    choice = F.one_hot(best_path(cosine, switch_penalty), count).permute(0, 2, 1)
    choice = choice.to(sources.dtype)  # (B, S, n)
    if unsure_margin > 0:  # where the voices score alike, keep the others too (the mixture)
        chosen = (cosine * choice).sum(dim=1, keepdim=True)
        gap = chosen - cosine.masked_fill(choice.bool(), -2.0).amax(dim=1, keepdim=True)
        doubt = (1 - gap / unsure_margin).clamp(0, 1)
        doubt = doubt.masked_fill(quiet.any(dim=1, keepdim=True) | (chosen < plausible), 0.0)
        choice = choice + (1 - choice) * doubt  # none where no output sounds like the target
    top = cosine.amax(dim=1, keepdim=True)  # (B, 1, n)
    gain = torch.where(top < plausible, 10 ** (min(unlike_db, 0.0) / 20), 1.0)
    if evidence is not None:  # the mixture's reading, averaged over each window, as well
        spans = F.pad(
            torch.stack([evidence, torch.ones_like(evidence)], dim=1).float(),
            (window // 2, window - window // 2 + hop),
        ).unfold(-1, window, hop)
        spans = spans[:, :, :centres].sum(-1)  # (B, 2, n): sum of the scores, samples
        unlike = (spans[:, :1] / spans[:, 1:].clamp_min(1.0) < evidence_bar) & (top < output_bar)
        gain = torch.minimum(gain, torch.where(unlike, 10 ** (evidence_db / 20), 1.0))
    choice = choice * gain
    weights = F.interpolate(choice, size=(centres - 1) * hop + 1, mode="linear", align_corners=True)
    return (sources * weights[..., :length]).sum(dim=1, keepdim=True)


NARROW_CUTOFF_HZ = 4200.0
"""Above this a telephone-band recording holds (next to) nothing."""

NARROW_FLOOR_DB = -42.0
"""A recording whose energy above :data:`NARROW_CUTOFF_HZ` is below this, relative to its whole
energy, is narrow-band (on 8 s chunks of the dev and calibration conversations: wideband -41 dB
and above, telephone-band -43.7 dB and below, their noise floor)."""


def narrow_band(x: Tensor, sample_rate: int) -> Tensor:
    """Whether each item of ``x`` ``(B, 1, T)`` is telephone-band, ``(B,)`` bool: a rate with
    nothing above :data:`NARROW_CUTOFF_HZ` (8 kHz), or next to no energy there (digital
    silence counts as wideband)."""
    flat = x.float().reshape(x.shape[0], -1)
    if sample_rate <= 2 * NARROW_CUTOFF_HZ:
        return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    power = torch.fft.rfft(flat).abs().pow(2)
    freqs = torch.fft.rfftfreq(flat.shape[-1], 1 / sample_rate, device=x.device)
    high = power[:, freqs > NARROW_CUTOFF_HZ]
    total = power.sum(-1)
    return (total > 0) & (high.sum(-1) < total * 10 ** (NARROW_FLOOR_DB / 10))


def best_path(scores: Tensor, penalty: float) -> Tensor:
    """Viterbi: the output index per window, ``(B, n)``, maximising the summed ``scores``
    ``(B, S, n)`` less ``penalty`` per change of output."""
    total = scores[:, :, 0]  # (B, S)
    back = []
    for k in range(1, scores.shape[2]):
        stay = total
        switch = total.amax(dim=1, keepdim=True) - penalty
        back.append(
            torch.where(
                stay >= switch,
                torch.arange(total.shape[1], device=total.device),
                total.argmax(dim=1, keepdim=True),
            )
        )
        total = torch.maximum(stay, switch) + scores[:, :, k]
    path = [total.argmax(dim=1)]  # (B,)
    for pointers in reversed(back):
        path.append(pointers.gather(1, path[-1][:, None])[:, 0])
    return torch.stack(path[::-1], dim=1)
