"""Training: settings, data, the multi-task objective, validation and the loop.

- :mod:`.config`: :class:`TrainConfig` (TOML keys and CLI options);
- :mod:`.config_text`: :func:`load_config_file` (a TOML file), :func:`parse_setting`
  (``train --set KEY=VALUE``);
- :mod:`.builder`: :func:`build_data` (training and validation sources, speaker split);
- :mod:`.objective`: :func:`model_spec` (size and backbone), :class:`Objective` (signal +
  speaker + spectral loss), :func:`build_objective`;
- :mod:`.schedule`: learning-rate schedules and the time budget;
- :mod:`.validate`: :func:`validate`, :func:`calibrate_output_level`, :func:`write_release`;
- :mod:`.state`: RNG state, weights from another checkpoint, ``log.csv``;
- :mod:`.process`: device, threads, torchrun ranks, mixed precision;
- :mod:`.loop`: :func:`train`, one readable loop.

``puresound_cli.train.train`` needs torch, numpy, soundfile and soxr only.
"""

from puresound_cli.train.builder import build_data
from puresound_cli.train.config import MODEL_SIZES, TrainConfig, TrainEvent
from puresound_cli.train.config_text import load_config_file, parse_setting
from puresound_cli.train.loop import train
from puresound_cli.train.objective import Objective, build_objective, model_spec
from puresound_cli.train.state import LOG_COLUMNS
from puresound_cli.train.validate import calibrate_output_level, validate, write_release

__all__ = [
    "LOG_COLUMNS",
    "MODEL_SIZES",
    "Objective",
    "TrainConfig",
    "TrainEvent",
    "build_data",
    "build_objective",
    "calibrate_output_level",
    "load_config_file",
    "model_spec",
    "parse_setting",
    "train",
    "validate",
    "write_release",
]
