# Quick start: `make repro` (set-up + the whole pipeline), `make test` (set-up + the tests).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Stages run `python`, so the venv goes first on PATH for dvc and everything it starts.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup pull repro test bench bench-scale clean

setup: $(VENV)/.installed

# The pinned requirements first, then the project itself in editable mode (its `charlm` package
# and command); the pins already satisfy its dependency ranges, so pip installs nothing else.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --editable .
	touch $@

pull: setup
	test -f data/jaychou_lyrics.txt.zip || dvc pull data/jaychou_lyrics.txt.zip.dvc

repro: pull
	dvc repro

# One worker per core (pytest-xdist); a module's tests keep to one worker, and so share its fixtures.
test: setup
	python -m pytest -q -n auto --dist loadscope --durations=15

bench: setup
	python benchmarks/run.py
	python benchmarks/distributed.py

# Every stage on real corpora of growing size (Debian packages' text; about an hour on 2 cores).
bench-scale: setup pull
	python benchmarks/scale.py

clean:
	rm -rf $(VENV)
