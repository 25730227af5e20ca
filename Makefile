# dca_pipeline — two commands on a fresh machine (Python 3.11+):
#   make demo   install everything, then run one month of bundled history end to end and print a summary
#   make test   install everything, then run the whole test suite (CI runs exactly this)
PY ?= python3
VENV ?= .venv
MONTH ?= 2021-01
export DAGSTER_HOME ?= $(CURDIR)
export DCA_HOME ?= $(CURDIR)/.dca

.PHONY: install demo test dev clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

demo: install
	$(VENV)/bin/python -W ignore -m dca_pipeline.demo --month $(MONTH)

test: install
	$(VENV)/bin/python -m pytest

dev: install
	$(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf .dca
