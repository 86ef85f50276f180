"""Dynamic mixing: training examples drawn on the fly from a speech bank and noise clips.

Every example is a pure function of ``(seed, stream, index)``: a batch stream that restarts at
step ``s`` yields the same batches as one that ran through ``s``, which makes resuming exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from puresound_cli.data.batches import TRAIN_STREAM, Example
from puresound_cli.data.mix_config import MixConfig
from puresound_cli.data.signals import (
    colored_noise,
    convolve,
    fit,
    hum_noise,
    pause_gain,
    place,
    rms,
    telephone_channel,
)
from puresound_cli.data.speech import DataReport, SpeechBank, to_float
from puresound_cli.errors import PuresoundError


class DynamicMixer:
    """Mixes training examples on the fly from a :class:`SpeechBank` and noise clips.

    Extract: target crop + one interferer (another speaker whose passage is neither the
    target's nor the enrollment's) at a SIR + noise at an SNR. The enrollment comes from a file
    of the target speaker with another passage; when the speaker only has files of one passage
    (one file, or several readings of the same words) it is cut from a time span that does not
    overlap the target crop's, so it never holds the target's words. A share of examples has no
    target: the reference is the mixture (interferer + noise) and the enrollment is still of the
    (absent) target speaker. Enhance: speech + noise (babble from other speakers counts as noise).

    Args:
        bank: speech to draw targets, interferers and babble from.
        noises: int16 noise clips (may be empty: synthetic noise is used then).
        config: mixing options.
        seed: the stream's seed; ``example(i)`` depends only on (seed, i).
        rirs: float32 room impulse responses for reverberation (needed if ``reverb_prob`` > 0).
        report: where speakers without enough audio for enrollment plus target are counted.
        stream: 0 for training, 1 for validation (different random streams from one seed).
        speakers: the class labels (sorted speaker ids; ``Example.speaker`` is an index into
            them); by default the bank's speakers. A resumed run passes its saved list so that
            the AAM-softmax classes keep their meaning.
    """

    def __init__(
        self,
        bank: SpeechBank,
        noises: Sequence[np.ndarray],
        config: MixConfig,
        seed: int = 0,
        rirs: Sequence[np.ndarray] = (),
        report: DataReport | None = None,
        stream: int = TRAIN_STREAM,
        speakers: Sequence[str] | None = None,
    ) -> None:
        if config.task not in ("extract", "enhance", "separate"):
            raise ValueError(f"task must be extract, enhance or separate, got {config.task!r}")
        if config.reverb_prob > 0 and not rirs:
            raise PuresoundError("reverberation requested but no room impulse responses given")
        report = report if report is not None else DataReport()
        self.bank = bank
        self.noises = list(noises)
        self.config = config
        self.seed = seed
        self.stream = stream
        self.rirs = list(rirs)
        self.sample_rate = bank.sample_rate
        sr = self.sample_rate
        self.segment = int(round(config.segment_seconds * sr))
        self.enroll = int(round(config.enroll_seconds * sr))
        self.enroll_min = min(self.enroll, int(round(config.enroll_min_seconds * sr)))
        self.min_target = int(round(config.min_target_seconds * sr))
        self.speakers = sorted(speakers) if speakers is not None else list(bank.speakers)
        self.speaker_index = {s: i for i, s in enumerate(self.speakers)}
        # Speakers usable as targets, and their files usable as target: for extraction a file
        # needs a file of another passage for enrollment, or room for a disjoint enrollment.
        self.targets: list[str] = []
        self.target_files: dict[str, list[int]] = {}
        for speaker in bank.speakers:
            files = bank.by_speaker[speaker]
            if config.task == "extract" and len({bank.utterances[f].passage for f in files}) < 2:
                files = [f for f in files if bank.lengths[f] >= self.enroll_min + self.min_target]
            if files:
                self.targets.append(speaker)
                self.target_files[speaker] = files
            else:
                report.skip("speaker with too little audio for enrollment plus target", speaker)
        if not self.targets:
            raise PuresoundError("no usable speech: no speaker has enough audio for training")
        if config.task in ("extract", "separate") and len(bank.speakers) < 2:
            raise PuresoundError(f"{config.task} needs at least two speakers")
        kinds = [(k, w) for k, w in config.noise_kinds if w > 0 and (k != "file" or self.noises)]
        self.noise_kinds = [k for k, _ in kinds]
        weights = np.array([w for _, w in kinds], dtype=np.float64)
        self.noise_weights = weights / weights.sum() if weights.size else weights

    # -- helpers ------------------------------------------------------------------------------

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.stream, index])

    def _audio(self, utt: int) -> np.ndarray:
        return to_float(self.bank.audio[utt])

    def _resample_speed(self, x: np.ndarray, factor: float) -> np.ndarray:
        """Speed change by resampling (pitch and tempo, as sox 'speed'): len(x) / factor samples."""
        if factor == 1.0 or x.size <= 1:
            return x
        import soxr

        y = soxr.resample(x, self.sample_rate * factor, self.sample_rate, quality="LQ")
        return np.asarray(y, dtype=np.float32)

    def _other(
        self, rng: np.random.Generator, speaker: str | set[str], passages: set[str]
    ) -> int | None:
        """A random utterance of another speaker (none of ``speaker``) whose passage is none of
        ``passages``."""
        utts = self.bank.utterances
        exclude = {speaker} if isinstance(speaker, str) else speaker
        for _ in range(50):
            i = int(rng.integers(0, len(utts)))
            if utts[i].speaker not in exclude and utts[i].passage not in passages:
                return i
        pool = [
            i for i, u in enumerate(utts) if u.speaker not in exclude and u.passage not in passages
        ]
        return int(rng.choice(pool)) if pool else None

    def _speed(self, rng: np.random.Generator) -> float:
        c = self.config
        return float(rng.uniform(*c.speed_range)) if rng.random() < c.speed_prob else 1.0

    def _perturb(self, x: np.ndarray, factor: float, n: int) -> np.ndarray:
        """Speed change by resampling (pitch and tempo, as sox 'speed'), then exactly n samples."""
        x = self._resample_speed(x, factor)
        if x.size >= n:
            return x[:n]
        return np.pad(x, (0, n - x.size))

    def _crop(self, utt: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """A random n-sample crop of an utterance, zero-padded at a random offset if shorter."""
        x = self.bank.audio[utt]  # int16: crop first, convert only the crop
        if x.size <= n:
            return place(to_float(x), n, rng)
        start = int(rng.integers(0, x.size - n + 1))
        return to_float(x[start : start + n])

    def _enrollment(self, x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
        """An enrollment of exactly ``enroll`` samples from x at the target's speed factor."""
        need = int(math.ceil(self.enroll * factor))
        if x.size > need:
            start = int(rng.integers(0, x.size - need + 1))
            x = x[start : start + need]
        return fit(self._resample_speed(x, factor), self.enroll, rng)

    def _pause(
        self, x: np.ndarray, prob: float, present: bool, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        """``x`` with a talker's pause (``pause_gain``) at chance ``prob`` in a target-present
        extraction example, and the share of its power the pause leaves (for the SIR; 1: none)."""
        if prob > 0 and present and self.config.task == "extract" and rng.random() < prob:
            quiet = x * pause_gain(self.segment, self.sample_rate, rng)
            if rms(quiet) > 1e-3:  # not where the crop's speech was all in the pause
                return quiet, (rms(quiet) / rms(x)) ** 2
        return x, 1.0

    def _talker(self, utt: int, rng: np.random.Generator) -> np.ndarray:
        factor = self._speed(rng)
        need = int(math.ceil(self.segment * factor))
        return self._perturb(self._crop(utt, need, rng), factor, self.segment)

    def target_and_enrollment(
        self, speaker: str, rng: np.random.Generator
    ) -> tuple[
        int, np.ndarray, np.ndarray | None, tuple[int, int] | None, tuple[int, int] | None, int
    ]:
        """Draw a target crop and (extract) an enrollment crop of one speaker.

        The enrollment comes from a file of another passage when the speaker has one. Otherwise
        (one file, or several readings of the same words) target and enrollment are cut from
        disjoint time spans (of one file, or of two readings), so the enrollment never repeats
        the target's words. The target's speed factor applies to the enrollment too.

        Returns:
            (target utterance, target (segment,), enrollment (enroll,) or None, target span,
            enrollment span, enrollment utterance (-1 for enhance)); spans are (start, stop)
            sample ranges, returned only for the disjoint-span case (they never overlap).
        """
        factor = self._speed(rng)
        need = int(math.ceil(self.segment * factor))
        files = self.target_files[speaker]
        utt = int(rng.choice(files))
        if self.config.task != "extract":  # enhance, separate: no enrollment
            target = self._perturb(self._crop(utt, need, rng), factor, self.segment)
            return utt, target, None, None, None, -1
        utts = self.bank.utterances
        passage = utts[utt].passage
        others = [f for f in self.bank.by_speaker[speaker] if utts[f].passage != passage]
        if others:
            e_utt = int(rng.choice(others))
            target = self._perturb(self._crop(utt, need, rng), factor, self.segment)
            return utt, target, self._enrollment(self._audio(e_utt), factor, rng), None, None, e_utt
        # Same words only: disjoint time spans of this file (or of another reading of it).
        readings = [f for f in files if f != utt]
        e_utt = int(rng.choice(readings)) if readings else utt
        x, y = self._audio(utt), self._audio(e_utt)
        size = min(x.size, y.size)
        t_len = min(need, size - self.enroll_min)
        if rng.random() < 0.5:  # enrollment before the target
            t0 = int(rng.integers(self.enroll_min, size - t_len + 1))
            e_len = min(int(math.ceil(self.enroll * factor)), t0)
            e0 = int(rng.integers(0, t0 - e_len + 1))
        else:  # enrollment after the target
            t0 = int(rng.integers(0, size - t_len - self.enroll_min + 1))
            e_len = min(int(math.ceil(self.enroll * factor)), size - t0 - t_len)
            e0 = int(rng.integers(t0 + t_len, size - e_len + 1))
        target = self._perturb(place(x[t0 : t0 + t_len], need, rng), factor, self.segment)
        enroll = self._enrollment(y[e0 : e0 + e_len], factor, rng)
        return utt, target, enroll, (t0, t0 + t_len), (e0, e0 + e_len), e_utt

    def _noise(
        self, rng: np.random.Generator, exclude_speaker: str, passages: set[str]
    ) -> np.ndarray:
        n = self.segment
        kind = (
            str(rng.choice(self.noise_kinds, p=self.noise_weights))
            if self.noise_kinds
            else "colored"
        )
        if kind == "file":
            x = fit(to_float(self.noises[int(rng.integers(0, len(self.noises)))]), n, rng)
        elif kind == "hum":
            x = hum_noise(n, self.sample_rate, rng)
        elif kind == "babble":
            x = np.zeros(n, dtype=np.float32)
            for _ in range(int(rng.integers(3, 7))):
                other = self._other(rng, exclude_speaker, passages)
                if other is not None:
                    x += self._crop(other, n, rng) * float(rng.uniform(0.5, 1.0))
            if rms(x) < 1e-6:
                x = colored_noise(n, rng)
        else:
            x = colored_noise(n, rng)
        return x / rms(x)

    def _reverb(self, x: np.ndarray, rir: np.ndarray, early: bool) -> np.ndarray:
        rir = rir / (np.sqrt(np.sum(rir.astype(np.float64) ** 2)) + 1e-9)
        peak = int(np.argmax(np.abs(rir)))
        if early:
            rir = rir[: peak + int(0.05 * self.sample_rate)]
        y = convolve(np.concatenate([x, np.zeros(peak, np.float32)]), rir)
        return y[peak : peak + x.size]

    # -- the example --------------------------------------------------------------------------

    def example(self, index: int) -> Example:
        """The example number ``index`` of this stream (deterministic)."""
        c = self.config
        rng = self._rng(index)
        speaker = self.targets[int(rng.integers(0, len(self.targets)))]
        for _ in range(5):  # redraw near-silent target crops
            utt, target, enroll, _, _, e_utt = self.target_and_enrollment(speaker, rng)
            if rms(target) > 1e-3:
                break
        utts = self.bank.utterances
        # words the interferer and babble must not say: the target's and the enrollment's
        said = {utts[utt].passage} | ({utts[e_utt].passage} if e_utt >= 0 else set())
        present = not (rng.random() < c.absent_prob) or c.task == "separate"
        reverb = bool(self.rirs) and rng.random() < c.reverb_prob
        rir_pick = [int(rng.integers(0, len(self.rirs))) for _ in range(2)] if reverb else [0, 0]
        target, talk_share = self._pause(target, c.pause_prob, present, rng)
        speech = target
        if reverb:
            speech = self._reverb(target, self.rirs[rir_pick[0]], early=False)
            if c.reverb_reference == "early":
                target = self._reverb(target, self.rirs[rir_pick[0]], early=True)
            else:
                target = speech
        if c.task in ("extract", "separate"):
            other = self._other(rng, speaker, said)
            if other is None:
                raise PuresoundError(
                    "no interferer possible: every other file is the same speaker or passage"
                )
            # the interferer pauses (solo): the target talks alone there
            interferer, i_share = self._pause(self._talker(other, rng), c.solo_prob, present, rng)
            interferer_ref = interferer
            if reverb:
                dry = interferer
                interferer = self._reverb(dry, self.rirs[rir_pick[1]], early=False)
                early = c.reverb_reference == "early"
                interferer_ref = (
                    self._reverb(dry, self.rirs[rir_pick[1]], early=True) if early else interferer
                )
            sir = float(rng.uniform(*c.sir_db))
            talking = rms(speech) / math.sqrt(talk_share)  # the target's level where it talks
            scale = talking / (rms(interferer) / math.sqrt(i_share)) / 10 ** (sir / 20)
            interferer, interferer_ref = interferer * scale, interferer_ref * scale
            passages = said | {utts[other].passage}
            if not present:
                speech = np.zeros_like(speech)
                second = None
                if c.absent_talkers == 2:  # a second non-target talker in the target's place
                    voices = {speaker, utts[other].speaker}
                    second = self._other(rng, voices, passages)
                if second is not None:
                    speech = self._talker(second, rng)
                    if reverb:
                        speech = self._reverb(speech, self.rirs[rir_pick[0]], early=False)
                    if rms(speech) > 1e-6:
                        speech = speech * (rms(interferer) / rms(speech) * 10 ** (sir / 20))
                    passages = passages | {utts[second].passage}
                target = np.zeros_like(speech)
            mixture = speech + interferer
            base = mixture
            sources = (utt, other)
        else:
            if not present:
                speech = np.zeros_like(speech)
                target = speech
            mixture = speech
            passages = said
            base = speech
            sources = (utt, -1)
        if c.task == "enhance" or not present or rng.random() < c.noise_prob:
            noise = self._noise(rng, speaker, passages)
            snr = float(rng.uniform(*c.snr_db))
            level = rms(base) if rms(base) > 1e-6 else 0.05
            mixture = mixture + noise * (level / 10 ** (snr / 20))
        gain = 10 ** (float(rng.uniform(*c.level_db)) / 20) / rms(mixture)
        peak = float(np.max(np.abs(mixture))) * gain
        if peak > 0.99:
            gain *= 0.99 / peak
        mixture = (mixture * gain).astype(np.float32)
        reference: np.ndarray = mixture if not present else (target * gain).astype(np.float32)
        if c.task == "separate":  # both talkers, as in the mixture (or early reverb)
            talkers = [reference, (interferer_ref * gain).astype(np.float32)]
            reference = np.stack(talkers).astype(np.float32)
        if c.bandlimit_prob > 0:
            mixture, reference, enroll = telephone_channel(
                mixture, reference, enroll, rng, self.sample_rate, c.bandlimit_prob, c.codec_prob
            )
        if enroll is not None:
            e_gain = 10 ** (float(rng.uniform(*c.level_db)) / 20) / rms(enroll)
            e_peak = float(np.max(np.abs(enroll))) * e_gain
            if e_peak > 0.99:  # limit, never clip: clipping distorts the voice to identify
                e_gain *= 0.99 / e_peak
            enroll = (enroll * e_gain).astype(np.float32)
        label = self.speaker_index[speaker] if c.task == "extract" else -1
        return Example(mixture, reference, present, enroll, label, sources, e_utt)
