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

# uv installs the pinned packages (pip only installs uv itself): it unpacks on every core,
# 33 s for the 6 GB venv here where pip took 94 s on one. uv reads none of pip's
# configuration, so tools/pip_sources.py hands it where pip finds packages (on this machine
# a local index holding torch's CUDA build; without it uv would download 4 GB).
UV_VERSION := 0.13.9
PIP := $(BIN)/python -m pip install --quiet --no-compile
UV = $(BIN)/uv pip install --quiet --python $(BIN)/python $$($(BIN)/python tools/pip_sources.py)
# Compiled the venv must be: where PYTHONDONTWRITEBYTECODE is set, nothing imported later is
# ever cached, and every stage would recompile torch from source (seconds per process).
# compileall -j 0 compiles on every core, skipping the packages' own test folders (a quarter
# of the files, never imported here); its status is ignored as pip ignores it: a few files
# are for newer Pythons only.
COMPILE := $(BIN)/python -m compileall -qq -j 0 -x '/tests?/' $(VENV)/lib || true

$(VENV)/bin/uv: | $(VENV)/bin/python
	$(PIP) uv==$(UV_VERSION)

$(VENV)/.installed-runtime: requirements.txt pyproject.toml | $(VENV)/bin/uv
	$(UV) -r requirements.txt
	$(UV) --no-deps -e .
	$(COMPILE)
	touch $@

# One resolver run for runtime and test dependencies (a fresh clone goes straight here).
$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-reference.txt pyproject.toml | $(VENV)/bin/uv
	$(UV) -r requirements-dev.txt
	$(UV) --no-deps -e . -r requirements-reference.txt
	$(COMPILE)
	touch $(VENV)/.installed-runtime $@

clean-venv:
	rm -rf $(VENV)
