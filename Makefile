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

# pip byte-compiles on one core (about a minute here); compileall -j 0 does it on all of them
# afterwards. Compiled it must be: where PYTHONDONTWRITEBYTECODE is set, nothing imported later
# is ever cached, and every stage would recompile torch from source (seconds per process).
# compileall's status is ignored as pip ignores it: a few files are for newer Pythons only.
PIP := $(BIN)/python -m pip install --quiet --no-compile
COMPILE := $(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true

$(VENV)/.installed-runtime: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -e .
	$(COMPILE)
	touch $@

# One resolver run for runtime and test dependencies (a fresh clone goes straight here).
$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-reference.txt pyproject.toml | $(VENV)/bin/python
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-deps -e . -r requirements-reference.txt
	$(COMPILE)
	touch $(VENV)/.installed-runtime $@

clean-venv:
	rm -rf $(VENV)
