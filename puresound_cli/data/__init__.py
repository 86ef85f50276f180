"""Training data: speech folders, dynamic mixing, noise and impulse responses, Kaldi lists, batches.

Two sources of training examples share one interface, ``example(index) -> Example``, so that the
batch stream (:class:`BatchStream`) and the validation set work the same for both:

- :class:`DynamicMixer` (:mod:`.mixer`) mixes examples on the fly from folders of clean speech
  (:mod:`.speech`: labels from a ``speakers.tsv`` at a folder's root, else the parent folder's
  name) and noise (:mod:`.noise`);
- :class:`KaldiListSource` (:mod:`.kaldi`) reads pre-made mixtures from the seed's Kaldi-style
  lists.

Every example is a pure function of ``(seed, stream, index)``, which makes resuming exact. Files
that cannot be used are skipped and counted in a :class:`DataReport`.
"""

from puresound_cli.data.batches import (
    TRAIN_STREAM,
    VALID_STREAM,
    BatchStream,
    Example,
    collate,
    validation_batches,
)
from puresound_cli.data.kaldi import (
    KALDI_SCP,
    KaldiEntry,
    KaldiListSource,
    is_kaldi_folder,
    read_kaldi_lists,
)
from puresound_cli.data.mix_config import MixConfig
from puresound_cli.data.mixer import DynamicMixer
from puresound_cli.data.noise import (
    audio_files_below,
    load_noise,
    load_rirs,
    rir_bank,
    simulate_rirs,
)
from puresound_cli.data.signals import colored_noise, convolve, fit, hum_noise, place, rms
from puresound_cli.data.speech import (
    SPEAKERS_TSV,
    DataReport,
    SpeechBank,
    Utterance,
    hold_out,
    load_audio_files,
    load_speech,
    scan_speech,
    split_speakers,
    to_float,
    to_int16,
)

__all__ = [
    "KALDI_SCP",
    "SPEAKERS_TSV",
    "TRAIN_STREAM",
    "VALID_STREAM",
    "BatchStream",
    "DataReport",
    "DynamicMixer",
    "Example",
    "KaldiEntry",
    "KaldiListSource",
    "MixConfig",
    "SpeechBank",
    "Utterance",
    "audio_files_below",
    "collate",
    "colored_noise",
    "convolve",
    "fit",
    "hold_out",
    "hum_noise",
    "is_kaldi_folder",
    "load_audio_files",
    "load_noise",
    "load_rirs",
    "load_speech",
    "place",
    "read_kaldi_lists",
    "rir_bank",
    "rms",
    "scan_speech",
    "simulate_rirs",
    "split_speakers",
    "to_float",
    "to_int16",
    "validation_batches",
]
