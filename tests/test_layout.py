"""The package layout rules: one concern per file (<= 300 lines unless a reason is given here),
no imports of another module's private names, and a library that never imports the CLI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 300
LONGER = {
    "puresound_cli/train/trainer.py": "a run's state and steps, made in one place (DESIGN.md 11)",
    "puresound_cli/separate.py": "the one engine: load, embed once and stream in one file",
    "puresound_cli/data/mixer.py": "DynamicMixer.example() is one mixing recipe, read in order",
}


def test_files_stay_short() -> None:
    long = {}
    for path in sorted((ROOT / "puresound_cli").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES and rel not in LONGER:
            long[rel] = lines
        if rel in LONGER:
            assert lines <= MAX_LINES + 60, f"{rel}: {lines} lines, even its reason has limits"
    assert not long, f"over {MAX_LINES} lines without a stated reason: {long}"


def test_no_private_names_across_modules() -> None:
    found = []
    for folder in ("puresound_cli", "tests", "bench", "recipes"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            modules = {}
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "puresound_cli"
                ):
                    for alias in node.names:
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            found.append(f"{path.name}:{node.lineno} {alias.name}")
                        modules[alias.asname or alias.name] = node.module
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name)
                    and node.value.id in modules
                ):
                    found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert not found, found


def test_library_runs_without_the_cli_packages() -> None:
    """The training library (for a bare GPU machine) needs neither typer nor rich."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('typer', 'rich', 'click'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import puresound_cli.train, puresound_cli.api, puresound_cli.separate\n"
        "from puresound_cli.train import TrainConfig, train\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
