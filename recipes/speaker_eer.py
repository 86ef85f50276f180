"""How well an extractor's speaker net tells unseen voices apart: verification trials on dev lists.

Every target-present row of each pairs list gives one clean target recording and one enrollment
of the same voice (a different recording on the other-recording list). Trials:

- same voice: a row's enrollment against the target of any row of the same voice (its own
  row's included);
- other voice: a row's enrollment against the target of every row of another voice.

The score is the cosine between the two embeddings (what the extractor's conditioning sees). The
equal error rate (EER) is where wrongly accepted and wrongly rejected trials are equally many;
the cosine ranges show how much the two kinds of trial overlap. A speaker net that must also say
"this voice is not the enrolled one" (target absent) needs far apart ranges.

    .venv/bin/python recipes/speaker_eer.py --pairs runs/data/dev/extract.tsv \
        runs/data/debian/dev/extract-other-recording.tsv [--model extract-convtasnet-16k]

``--voices N`` scores held-out voices with many recordings instead (the four Fish Fillets actors
and June and Carlo, see recipes/conversations.py): N utterances of at least 2 s per voice, every
pair a trial, once as recorded ("same channel"), once with the second utterance of each pair
through a telephone channel (300-3400 Hz, mu-law at 8 kHz: "across channels") and once with both
through it ("both telephone", as in a call). ``--read-speech N`` does the same on the 30
held-out LibriSpeech speakers (N pieces of 2 s of each one's recording: read speech, the kind
of voices #22's first figures were measured on). ``--phone-voices N`` scores voices recorded
for the telephone, none in any training view: June and Carlo (8 kHz prompts) and two voices of
Debian's GSM prompt packages, Armelle Desjardins (``asterisk-prompt-fr-armelle``, BSD-style
licence) and July Jiménez (``asterisk-prompt-es-co``, GPL-2), N lines of at least 2 s each,
every pair a trial as recorded ("recorded telephone": both sides a call's channel for real, not
a simulation). ``--model
resemblyzer`` scores the GE2E teacher of recipes/distill_speaker.py (in its environment).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from puresound_cli import load_model
from puresound_cli.enrollment import embed_recording


def equal_error_rate(same: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): the cosine where false acceptances equal false rejections (interpolated
    between the two closest thresholds of the pooled scores)."""
    best = (2.0, 0.0, 0.0)
    for t in np.unique(np.concatenate([same, other])):
        false_reject = float(np.mean(same < t))
        false_accept = float(np.mean(other >= t))
        gap = abs(false_reject - false_accept)
        if gap < best[0]:
            best = (gap, (false_reject + false_accept) / 2, float(t))
    return best[1], best[2]


def embeddings(model: object, pairs: Path) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(voice, enrollment embedding, target embedding) of every target-present row."""
    rows = []
    with open(pairs, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if not row.get("reference"):
                continue
            emb = []
            for column in ("enrollment", "reference"):
                wav, rate = sf.read(pairs.parent / row[column], dtype="float32", always_2d=True)
                e = embed_recording(model, wav.T, rate)[0]
                emb.append(e / e.norm())
            rows.append((row["target"], emb[0], emb[1]))
    return rows


def telephone(x: np.ndarray, rate: int) -> np.ndarray:
    """300-3400 Hz band pass and mu-law at 8 kHz, back at ``rate``."""
    from distill_speaker import telephone_band

    from puresound_cli.audio import resample
    from puresound_cli.data.signals import telephone_codec

    x16 = resample(x[None], rate, 16000)[0]
    return telephone_codec(telephone_band(x16), 16000, "ULAW")


def embedder(name: str):  # noqa: ANN201 - (wav (T,) at 16 kHz) -> unit embedding
    if name == "resemblyzer":
        from resemblyzer import VoiceEncoder, preprocess_wav

        encoder = VoiceEncoder("cpu", verbose=False)
        return lambda x: torch.from_numpy(encoder.embed_utterance(preprocess_wav(x, 16000)))
    model = load_model(name)

    def embed(x: np.ndarray) -> torch.Tensor:
        e = embed_recording(model, x[None], 16000)[0]
        return e / e.norm()

    return embed


def voice_utterances(per_voice: int) -> list[tuple[str, np.ndarray]]:
    """(voice, 16 kHz utterance): ``per_voice`` lines of at least 2 s of each held-out voice with
    many recordings (the Fish Fillets actors, June and Carlo)."""
    import conversations

    cache = Path("runs/debs")
    voices = conversations.fillets_voices(cache) + conversations.asterisk_voices(cache)
    return some_lines(voices, per_voice, np.random.default_rng(0))


def some_lines(voices: list, per_voice: int, rng: np.random.Generator) -> list:
    """(voice, 16 kHz line): ``per_voice`` lines of at least 2 s of each of ``voices``
    (recipes/conversations.py's ``Voice``), drawn at random."""
    import conversations

    out = []
    for voice in voices:
        lines = [p for p in voice.lines if sf.info(str(p)).duration >= 2.0]
        for path in rng.choice(lines, size=min(per_voice, len(lines)), replace=False):
            out.append((voice.name, conversations.load(Path(path))))
    return out


def read_speech_utterances(
    per_voice: int, corpus: Path, data: Path
) -> list[tuple[str, np.ndarray]]:
    """(voice, 16 kHz piece): the held-out LibriSpeech speakers' one recording each (read
    speech, as in #22's first measurement), trimmed and cut into up to ``per_voice``
    non-overlapping pieces of 2 s."""
    import conversations

    out = []
    for voice in conversations.librispeech_voices(corpus, data):
        x = conversations.load(voice.lines[0])
        a, b = conversations.trim(x)
        piece = 2 * conversations.SR
        for k in range(min(per_voice, (b - a) // piece)):
            out.append((voice.name, x[a + k * piece : a + (k + 1) * piece]))
    return out


GSM_VOICES = {"asterisk-prompt-fr-armelle": "Armelle", "asterisk-prompt-es-co": "July"}


def phone_voice_utterances(per_voice: int, cache: Path) -> list[tuple[str, np.ndarray]]:
    """(voice, 16 kHz line): ``per_voice`` lines of at least 2 s of each held-out voice recorded
    for the telephone: June and Carlo, and the two GSM prompt voices (raw GSM 06.10 at 8 kHz)."""
    import conversations
    import debs

    from puresound_cli.audio import resample
    from puresound_cli.data.signals import rms

    rng = np.random.default_rng(0)
    out = some_lines(conversations.asterisk_voices(cache), per_voice, rng)
    for package, name in GSM_VOICES.items():
        folder = debs.unpack(debs.download(package, cache), cache / package)
        lines = []
        for path in sorted(p for p in folder.rglob("*.gsm") if "/silence/" not in p.as_posix()):
            x, _ = sf.read(path, format="RAW", subtype="GSM610", samplerate=8000, channels=1,
                           dtype="float32")  # fmt: skip
            if x.size >= 2 * 8000 and rms(x) >= 10 ** (-50 / 20):
                lines.append(resample(x[None], 8000, 16000)[0])
        for k in rng.choice(len(lines), size=min(per_voice, len(lines)), replace=False):
            out.append((name, lines[int(k)]))
    return out


def voice_trials(
    name: str, utterances: list[tuple[str, np.ndarray]], recorded_phone: bool = False
) -> dict:
    """EER over every pair of ``utterances`` (of different voices, or of one voice): same
    channel, across channels (the second side through a telephone channel) and both telephone;
    with ``recorded_phone`` (telephone recordings) the pairs as recorded only."""
    embed = embedder(name)
    labels, clean, phone = [], [], []
    for voice, x in utterances:
        labels.append(voice)
        clean.append(embed(x))
        if not recorded_phone:
            phone.append(embed(telephone(x, 16000)))
    result = {"voices": len(set(labels)), "utterances": len(labels)}
    if recorded_phone:
        conditions = (("recorded_telephone", clean, clean),)
    else:
        conditions = (("same_channel", clean, clean), ("across_channels", clean, phone),
                      ("both_telephone", phone, phone))  # fmt: skip
    for condition, first, second in conditions:
        same, other = [], []
        for i in range(len(labels)):
            for j in range(len(labels)):
                if i == j:
                    continue
                score = float(first[i] @ second[j])
                (same if labels[i] == labels[j] else other).append(score)
        eer, threshold = equal_error_rate(np.array(same), np.array(other))
        result[condition] = {"eer": eer, "threshold": threshold, "trials": len(same) + len(other)}
        print(f"{name}: {condition}: EER {100 * eer:.1f} % at cosine {threshold:.3f} "
              f"({len(same)} same-voice, {len(other)} other-voice trials)")  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, nargs="+")
    parser.add_argument("--voices", type=int, default=0, help="utterances per held-out voice")
    parser.add_argument(
        "--read-speech",
        type=int,
        default=0,
        metavar="N",
        help="N pieces of 2 s per held-out LibriSpeech speaker instead",
    )
    parser.add_argument(
        "--phone-voices",
        type=int,
        default=0,
        metavar="N",
        help="N lines per held-out voice recorded for the telephone instead",
    )
    parser.add_argument("--cache", type=Path, default=Path("runs/debs"))
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--data", type=Path, default=Path("runs/data"))
    parser.add_argument("--model", default="extract-convtasnet-16k")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.voices or args.read_speech or args.phone_voices:
        if args.voices:
            utterances = voice_utterances(args.voices)
        elif args.read_speech:
            utterances = read_speech_utterances(args.read_speech, args.corpus, args.data)
        else:
            utterances = phone_voice_utterances(args.phone_voices, args.cache)
        result = voice_trials(args.model, utterances, recorded_phone=bool(args.phone_voices))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return
    if not args.pairs:
        parser.error("give --pairs, --voices, --read-speech or --phone-voices")
    model = load_model(args.model)
    rows = [r for pairs in args.pairs for r in embeddings(model, pairs)]
    same, other = [], []
    for voice, enroll, _ in rows:  # every enrollment against every target
        for voice2, _, target in rows:
            (same if voice2 == voice else other).append(float(enroll @ target))
    s, o = np.array(same), np.array(other)
    eer, threshold = equal_error_rate(s, o)
    result = {
        "rows": len(rows),
        "voices": len({r[0] for r in rows}),
        "same_trials": int(s.size),
        "other_trials": int(o.size),
        "eer": eer,
        "threshold": threshold,
        "same_cosine": [float(s.min()), float(np.median(s)), float(s.max())],
        "other_cosine": [float(o.min()), float(np.median(o)), float(o.max())],
    }
    print(
        f"{result['rows']} rows, {result['voices']} voices: EER {100 * eer:.1f} % at cosine "
        f"{threshold:.3f}; same voice {s.min():.3f} / {np.median(s):.3f} / {s.max():.3f}, "
        f"other voice {o.min():.3f} / {np.median(o):.3f} / {o.max():.3f} (min / median / max)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
