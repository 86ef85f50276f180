"""Tiny checkpoints in the layout before masker configs, and their outputs (test_migrate.py).

Runs only with the code of that layout (commit 2741420 and before): it names masker fields on
the frame config. Also wrote the shipped models' outputs to /tmp, to check that they stay bit
for bit the same after the change.
"""

import dataclasses

import torch

from puresound_cli.checkpoint import load_model, save_checkpoint
from puresound_cli.nets import (
    ConvTasNet,
    ConvTasNetConfig,
    Extractor,
    ExtractorConfig,
    PersonalVAD,
    PersonalVADConfig,
)

torch.manual_seed(0)
x = torch.randn(1, 1, 16000 * 3) * 0.1
enr = torch.randn(1, 1, 16000 * 2) * 0.1
refs = {}
for name in [
    "enhance-convtasnet-16k",
    "enhance-causal-16k",
    "enhance-unet-16k",
    "extract-convtasnet-16k",
]:
    m = load_model(f"models/{name}/model.pt")
    with torch.inference_mode():
        if name.startswith("extract"):
            e = m.embed(enr)
            refs[name] = (m.separate(x, e), e, m.track_embed(enr))
        else:
            refs[name] = (m(x),)
torch.save({"x": x, "enr": enr, "refs": refs}, "/tmp/legacy/shipped_refs.pt")
# tiny legacy checkpoints, one per masker and conditioning variant
cases = {
    "tcn-concat": dict(masker="tcn", conditioning="concat"),
    "tcn-film": dict(masker="tcn", conditioning="film"),
    "tcn-multiply-first": dict(masker="tcn", conditioning="multiply", conditioned_blocks="first"),
    "gated-tcn-concat": dict(masker="gated-tcn", conditioning="concat"),
    "dprnn-multiply": dict(
        masker="dprnn", conditioning="multiply", hidden_channels=8, repeats=2, chunk_frames=4
    ),
    "skim-concat": dict(
        masker="skim",
        conditioning="concat",
        hidden_channels=8,
        repeats=2,
        chunk_frames=4,
        causal=True,
    ),
    "unet-film": dict(
        masker="unet",
        encoder="stft",
        unet_channels=4,
        blocks_per_repeat=2,
        repeats=1,
        conditioning="film",
    ),
    "dpcrn-concat": dict(
        masker="dpcrn", encoder="stft", unet_channels=4, hidden_channels=8, causal=True
    ),
    "dparn-film": dict(
        masker="dparn",
        encoder="stft",
        unet_channels=4,
        hidden_channels=8,
        causal=True,
        conditioning="film",
    ),
}
xs = torch.randn(1, 1, 4000) * 0.1
es = torch.randn(1, 1, 4000) * 0.1
out = {"x": xs, "enr": es}
for name, kw in cases.items():
    torch.manual_seed(1)
    base = ExtractorConfig.tiny()
    sep = dataclasses.replace(base.separator, **kw)
    m = Extractor(dataclasses.replace(base, separator=sep)).eval()
    with torch.no_grad():
        for p in m.parameters():  # conditioning weights start at zero: make them count
            p.add_(torch.randn_like(p) * 0.05)
        out[name] = m(xs, es)
    save_checkpoint(f"tests/legacy/{name}.pt", m)
torch.manual_seed(2)
enh = ConvTasNet(ConvTasNetConfig.tiny()).eval()
with torch.no_grad():
    out["enhance-tcn"] = enh(xs)
save_checkpoint("tests/legacy/enhance-tcn.pt", enh)
torch.manual_seed(3)
vad = PersonalVAD(PersonalVADConfig.tiny()).eval()
with torch.no_grad():
    for p in vad.parameters():
        p.add_(torch.randn_like(p) * 0.05)
    out["pvad"] = vad(xs, es)
save_checkpoint("tests/legacy/pvad.pt", vad)
torch.save(out, "tests/legacy/expected.pt")
print({k: tuple(v.shape) for k, v in out.items()})
