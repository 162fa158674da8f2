# Two entry points for a fresh machine: `make demo` and `make test`. Both bootstrap .venv.
PYTHON ?= python3.11
VENV := .venv
REQUIREMENTS := requirements-dev.txt requirements-lock.txt
# The venv is keyed on the requirement files: changing a pin rebuilds it.
REQ_HASH := $(shell cat $(REQUIREMENTS) | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
export PYTHONPATH := $(CURDIR)/HematomaExpansion
PY := $(VENV)/bin/python
OUT ?= build

.PHONY: venv demo test lint format bench demo-model clean

venv: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-input -r requirements-dev.txt -c requirements-lock.txt
	touch $@

demo: venv
	$(PY) -m HematomaExpansionLib demo --out $(OUT)/demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest

bench: venv
	$(PY) tools/bench.py

# Regenerates the synthetic cohort, its features, the bundled models and docs/synthetic_cohort/.
demo-model: venv
	$(PY) tools/demo_model.py --jobs 2

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache
