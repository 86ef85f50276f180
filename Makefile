# Thin verbs. Everything the project needs is installed here, torch first and pinned
# (override for a CUDA build: make install TORCH='torch==2.11.0').
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all install test lint format demo bench smoke wheel clean

all: lint test

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,onnx]"
	touch $(STAMP)

test: install
	OMP_NUM_THREADS=2 $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check puresound_cli tests bench recipes
	$(BIN)/ruff format --check puresound_cli tests bench recipes
	$(BIN)/mypy puresound_cli

format: install
	$(BIN)/ruff format puresound_cli tests bench recipes
	$(BIN)/ruff check --fix puresound_cli tests bench recipes

demo: install
	$(BIN)/python bench/demo.py

bench: install
	$(BIN)/python bench/bench_nets.py
	$(BIN)/python bench/bench_cli.py

wheel: install
	rm -rf dist
	$(BIN)/python -m build --wheel --outdir dist .
	$(BIN)/python -m zipfile -l dist/*.whl | grep -E "_models/.*(model.pt|MODEL_CARD.md)"

clean:
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache .mypy_cache
