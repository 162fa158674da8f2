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

.PHONY: venv system-packages demo test lint format bench web demo-model clean

venv: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-input -r requirements-dev.txt -c requirements-lock.txt
	touch $@

# Debian packages of the browser test, headless VTK and offscreen Qt (a no-op when all are there).
system-packages:
	bash tools/install_system_packages.sh

demo: venv
	$(PY) -m HematomaExpansionLib demo --out $(OUT)/demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint system-packages
	$(PY) -m pytest

# Each benchmark prints its report and records its targets; the last step prints every target of the run.
bench: venv
	$(PY) tools/bench_targets.py --reset
	$(PY) tools/bench.py
	$(PY) tools/bench_cold.py
	$(PY) tools/bench_cohort.py
	$(PY) tools/bench_targets.py

# The browser front-end on 127.0.0.1 (prints the address); WEB_ARGS="--host H" serves elsewhere, with a token.
WEB_DATA ?= $(OUT)/web/data
web: venv system-packages
	mkdir -p $(WEB_DATA)
	$(PY) -m HematomaExpansionWeb --data $(WEB_DATA) --out $(OUT)/web/results $(WEB_ARGS)

# Regenerates the synthetic cohort, its features, the bundled models and docs/synthetic_cohort/.
demo-model: venv
	$(PY) tools/demo_model.py --jobs 2

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache
