# dca_pipeline — two commands on a fresh machine (Python 3.11+):
#   make demo   install everything, then run one month of bundled history end to end and print a summary
#   make test   install everything, then run the whole test suite (CI runs exactly this)
PY ?= python3
VENV ?= .venv
MONTH ?= 2025-06
export DAGSTER_HOME ?= $(CURDIR)
export DCA_HOME ?= $(CURDIR)/.dca
# Python's bytecode cache stays on for what make runs (.venv and __pycache__ are git-ignored): with
# PYTHONDONTWRITEBYTECODE set, every process — each Dagster step, CLI call, test worker — would compile every
# module it imports from source again (`import dagster` 1.6 s instead of 0.6 s on this machine)
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install install-lstm demo test test-slow dev clean

install: $(VENV)/.installed

# Installs with uv when it works (same index config as pip, see scripts/install_env.py), with pip otherwise;
# DCA_INSTALLER=pip forces pip. Install and run times are printed separately.
NOW = date +%s.%N
ELAPSED = awk "BEGIN{printf \"%.1f\", $$($(NOW)) - $$t0}"

$(VENV)/.installed: pyproject.toml constraints.txt scripts/install_env.py
	@t0=$$($(NOW)); \
	$(PY) -m venv $(VENV) && $(VENV)/bin/python scripts/install_env.py && touch $@ && \
	echo "install time: $$($(ELAPSED)) s"

# The optional `lstm` extra (PyTorch, CPU build) for the tests and the UI, always with pip (scripts/install_env.py).
install-lstm: $(VENV)/.installed-lstm

$(VENV)/.installed-lstm: $(VENV)/.installed
	@t0=$$($(NOW)); \
	$(VENV)/bin/python scripts/install_env.py --pip-extra lstm && touch $@ && \
	echo "install time (lstm extra): $$($(ELAPSED)) s"

demo: install
	@t0=$$($(NOW)); \
	$(VENV)/bin/python -W ignore -m dca_pipeline.demo --month $(MONTH) && \
	echo "demo run time: $$($(ELAPSED)) s"

test: install install-lstm
	@t0=$$($(NOW)); \
	$(VENV)/bin/python -m pytest; rc=$$?; \
	echo "test run time: $$($(ELAPSED)) s"; exit $$rc

test-slow: install install-lstm  # the subprocess test of six kill -9 of a real day's dagster CLI run (docs/operations.md)
	$(VENV)/bin/python -m pytest -m slow -n 0

dev: install install-lstm
	$(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf .dca
