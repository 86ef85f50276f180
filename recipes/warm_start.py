"""Build the starting checkpoint of an extraction run from two trained parts.

An extractor is a speaker net plus a speaker-conditioned separator. Both parts can start from
something already trained instead of from random weights:

- the speaker net from ``recipes/distill_speaker.py`` (``--speaker``, any extractor checkpoint),
  or that checkpoint's tracking net (``--speaker-net tracker``: the channel-robust net that
  ``extract`` tracks with becomes the one the separator is conditioned on); a tracking net of
  ``--speaker`` and its calibrated thresholds are kept either way;
- the separator from an enhancement model of the same separator architecture (``--separator``):
  it already turns a noisy mixture into speech, and babble noise in its training taught it to
  keep a dominant voice, so the extraction run only has to learn whose voice to keep;
- or from a two-talker separator (``puresound train --task separate``, permutation-invariant
  training): it has learnt to split two voices; its first output's mask head becomes the
  extractor's, and the conditioning learns which voice that output should follow.

The speaker-conditioning weights (``embed_proj`` for concat, ``film_scale``/``film_shift`` for
FiLM, ``adapt`` for the multiplicative adaptation) are set to zero, so the new extractor starts
out computing exactly what the enhancer (or the separator's first output) computes, whatever the
enrollment; training then grows the conditioning from there.

    .venv/bin/python recipes/warm_start.py --speaker runs/distilled.pt \
        --separator models/enhance-convtasnet-16k/model.pt --conditioning film \
        --out runs/extract-warm.pt
    .venv/bin/puresound train --config recipes/extract.toml --init-from runs/extract-warm.pt
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from puresound_cli.checkpoint import load_checkpoint, save_checkpoint
from puresound_cli.nets import build

CONDITIONING_WEIGHTS = ("condition", "adapt")
"""Module names of the conditioning layers (``nets.conditioning``) inside a masker."""


def warm_start(
    speaker_ckpt: dict[str, Any],
    enhancer_ckpt: dict[str, Any],
    conditioning: str = "film",
    embed_gain: float | None = None,
    conditioned_blocks: str | None = None,
    speaker_net: str = "speaker",
) -> tuple[nn.Module, int]:
    """(extractor, separator tensors copied) from an extractor's speaker net and an enhancer.

    The extractor's separator has the enhancer's architecture plus ``conditioning`` on the speaker
    net's embedding (scaled by ``embed_gain``, default sqrt(D) as in ``ConvTasNetConfig.small``);
    its speaker net is the speaker checkpoint's ``speaker_net`` ("speaker" or "tracker"), and
    the speaker checkpoint's tracking net, with its thresholds, is carried over as it is.
    Conditioning weights are zero, so at the start the extractor's output equals the enhancer's
    (at output gain 1).
    """
    if speaker_ckpt["arch"] != "extractor" or enhancer_ckpt["arch"] != "convtasnet":
        raise ValueError("need an extractor checkpoint (speaker) and an enhancer (separator)")
    if speaker_net not in ("speaker", "tracker"):
        raise ValueError(f"speaker_net must be 'speaker' or 'tracker', got {speaker_net!r}")
    donor_config = speaker_ckpt["config"]
    if donor_config.get(speaker_net) is None:
        raise ValueError(f"the speaker checkpoint has no {speaker_net} net")
    speaker_config = dict(donor_config[speaker_net])
    separator_config = dict(enhancer_ckpt["config"])
    dim = speaker_config["embed_dim"]
    sources = int(separator_config.get("sources", 1))
    separator_config.update(
        sources=1,
        speaker_dim=dim,
        conditioning=conditioning,
        embed_gain=math.sqrt(dim) if embed_gain is None else embed_gain,
        output_gain=1.0,
    )
    if conditioned_blocks is not None:
        separator_config["conditioned_blocks"] = conditioned_blocks
    config = {"separator": separator_config, "speaker": speaker_config}
    tracking = ("tracker", "track_open_cosine", "track_close_cosine", "track_adapt_cosine",
                "track_rescue_cosine")  # fmt: skip
    config.update({key: donor_config[key] for key in tracking if key in donor_config})
    model = build("extractor", config)
    state = model.state_dict()
    speaker, enhancer = speaker_ckpt["state_dict"], enhancer_ckpt["state_dict"]
    copied = 0
    for name in state:
        part, _, rest = name.partition(".")
        if part == "speaker":
            state[name] = speaker[f"{speaker_net}.{rest}"].clone()
        elif part == "tracker":
            state[name] = speaker[name].clone()
        elif any(w in rest.split(".") for w in CONDITIONING_WEIGHTS):
            state[name] = torch.zeros_like(state[name])
        else:
            donor = enhancer[rest]
            if sources > 1 and donor.shape[0] == sources * state[name].shape[0]:
                donor = donor[: state[name].shape[0]]  # the first output's mask head
            state[name] = donor.clone()
            copied += 1
    model.load_state_dict(state)
    return model, copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speaker", type=Path, required=True, help="extractor checkpoint")
    parser.add_argument("--separator", type=Path, required=True, help="enhancer checkpoint")
    parser.add_argument("--conditioning", choices=("concat", "film", "multiply"), default="film")
    parser.add_argument("--conditioned-blocks", choices=("first", "repeat", "all"), default=None)
    parser.add_argument(
        "--speaker-net", choices=("speaker", "tracker"), default="speaker",
        help="which net of --speaker conditions the separator",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model, copied = warm_start(
        load_checkpoint(args.speaker),
        load_checkpoint(args.separator),
        args.conditioning,
        conditioned_blocks=args.conditioned_blocks,
        speaker_net=args.speaker_net,
    )
    meta = {"warm_start": {"speaker": str(args.speaker), "speaker_net": args.speaker_net,
                           "separator": str(args.separator)}}  # fmt: skip
    save_checkpoint(args.out, model, meta=meta)
    print(f"wrote {args.out}: {copied} separator tensors copied, conditioning zeroed")


if __name__ == "__main__":
    main()
