"""How dynamic mixing draws examples: one frozen config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MixConfig:
    """How dynamic mixing draws examples. Ranges are (low, high), drawn uniformly.

    Attributes:
        task: "extract" (target + interferer + noise, with enrollment), "separate" (the same
            mixtures, both talkers as references, no enrollment, never target-absent) or "enhance"
            (speech + noise).
        segment_seconds: length of each example.
        enroll_seconds: enrollment length (shorter audio is tiled to it).
        enroll_min_seconds: the least real enrollment audio; a speaker with a single file needs
            this much plus ``min_target_seconds`` in it.
        min_target_seconds: the least target audio in a crop cut from a shared file.
        sir_db: target-to-interferer ratio range (extract): the ratio of the mean powers of the
            target (as heard in the mixture: speed-perturbed, reverberant when reverb applies)
            and the interferer over the whole segment, silences and zero padding included.
        snr_db: speech-to-noise ratio range: mean power of all speech in the mixture (target
            plus interferer; for a target-absent example the non-target talkers) over the
            noise's, over the whole segment.
        noise_prob: chance of adding noise (always added for enhance).
        noise_kinds: relative weights of noise kinds: "file", "colored", "hum", "babble".
        level_db: RMS level range of the mixture in dBFS (random gain). One gain scales the
            mixture and the reference, lowered when needed so that the mixture peaks at 0.99 at
            most: nothing is ever clipped, so the reference stays exactly consistent with the
            mixture. The enrollment gets its own level from the same range, peak-limited the
            same way.
        speed_prob: chance of speed perturbation of each talker; ``speed_range`` its factor.
            The target's factor applies to the target in the mixture, to the reference and to
            the enrollment (a perturbed voice is one consistent "new" voice).
        reverb_prob: chance of convolving talkers with a room impulse response.
        reverb_reference: target for reverberant examples: "early" (the target convolved with
            the direct path plus 50 ms of the same impulse response, aligned on its peak: the
            reference is dereverberated, not dry) or "full" (the reverberant target itself).
        absent_prob: share of target-absent examples (reference = mixture, present False).
        pause_prob: chance that the target of an extraction example pauses, as in turn-taking:
            one span of 25-75 % of the segment is silenced in the target (20 ms raised-cosine
            fades, before any reverberation), the interferer talks on, and the reference is
            silent there (the model learns to let nothing through while the enrolled voice is
            quiet). The SIR is that of the target's talk: the interferer is scaled against the
            target's power where it talks. Not for separate or enhance.
        solo_prob: chance that the interferer of a target-present extraction example pauses
            the same way (before any reverberation): the target talks alone there, as in
            turn-taking, and must be kept. The SIR is that of the interferer's talk. Drawn
            independently of ``pause_prob`` (both may pause; the noise stays).
        absent_talkers: how many other talkers a target-absent example holds: 1 (the
            interferer alone) or 2 (a second non-target talker in the target's place, at the
            drawn SIR: what a target-absent conversation sounds like, and what the dev set's
            target-absent items are).
        bandlimit_prob: chance that the example is heard through a telephone channel: the
            mixture and the reference band-limited to 8 kHz sampling (the model should clean the
            band it gets, not invent the rest); the enrollment draws its own chance.
        codec_prob: chance, for a band-limited mixture, of a telephone codec on it too (mu-law,
            A-law or GSM 6.10, equally likely); the reference stays uncoded.
    """

    task: str = "extract"
    segment_seconds: float = 4.0
    enroll_seconds: float = 3.0
    enroll_min_seconds: float = 1.5
    min_target_seconds: float = 1.0
    sir_db: tuple[float, float] = (-5.0, 5.0)
    snr_db: tuple[float, float] = (0.0, 15.0)
    noise_prob: float = 0.8
    noise_kinds: tuple[tuple[str, float], ...] = (
        ("file", 0.5),
        ("colored", 0.2),
        ("hum", 0.05),
        ("babble", 0.25),
    )
    level_db: tuple[float, float] = (-35.0, -15.0)
    speed_prob: float = 0.3
    speed_range: tuple[float, float] = (0.9, 1.1)
    reverb_prob: float = 0.0
    reverb_reference: str = "early"
    absent_prob: float = 0.1
    absent_talkers: int = 1
    pause_prob: float = 0.0
    solo_prob: float = 0.0
    bandlimit_prob: float = 0.0
    codec_prob: float = 0.0
