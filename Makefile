# The two commands of the README. Each creates .venv (python3 -m venv) when missing and
# installs what it needs, so both work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stages run `python ...`: put the venv first on PATH. No network calls from DVC or DVCLive.
RUN := PATH="$(BIN):$$PATH" DVC_NO_ANALYTICS=1 DVC_STUDIO_OFFLINE=1

.PHONY: repro test install install-dev clean-venv

# every parameter is checked before DVC touches an output
repro: $(VENV)/.installed-runtime
	$(RUN) $(BIN)/modelrobustness check-params
	$(RUN) $(BIN)/dvc repro

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src stages tests benchmarks tools
	$(BIN)/ruff format --check src stages tests benchmarks tools
	$(RUN) $(BIN)/python -m pytest -n auto --durations=10

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-runtime: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-runtime requirements-dev.txt requirements-reference.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-reference.txt
	touch $@

clean-venv:
	rm -rf $(VENV)
