"""The ``puresound`` command line (the only package that imports typer).

Commands: ``extract`` and ``enhance`` (:mod:`.separate`), ``train`` (:mod:`.training`),
``evaluate`` (:mod:`.evaluation`), ``models`` (:mod:`.models`), ``vad`` (:mod:`.vad`),
``export`` (:mod:`.export`); shared options in :mod:`.options`, stderr reporting in
:mod:`.report`. Heavy imports (torch, the nets) happen inside the command bodies so that
``puresound --help`` stays instant.

Output streams: stdout carries only audio (``-o -``) or the ``--json`` lines; logs, the
progress bar and error lines go to stderr. Exit codes: 0 all done, 1 some file failed,
2 usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

# isort: off
# Importing a command module registers its commands, in this order in --help.
from puresound_cli.cli import separate  # noqa: F401
from puresound_cli.cli import models  # noqa: F401
from puresound_cli.cli import training  # noqa: F401
from puresound_cli.cli import evaluation  # noqa: F401
from puresound_cli.cli import vad  # noqa: F401
from puresound_cli.cli import export  # noqa: F401

# isort: on
from puresound_cli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point (``puresound``)."""
    app()
