# tetrasim developer commands. Each target first runs scripts/setup.sh, which creates .venv and
# installs tetrasim (pip install -e '.[dev]') once, then returns at once while nothing changed.
#
#   make demo       run the demonstration model: writes an HDF5 file and a PNG figure here
#   make test       the default test suite (tiers 0-1 and a small part of validation)
#   make validate   the full validation suite (pytest -m 'validation or slow') and its report
#   make bench      the benchmarks in benchmarks/ (with .bench-env's Python when present)
#   make lint       ruff
#
# Variables: PYTHON (interpreter for the venv), VENV (default .venv), PYTEST_ARGS (e.g. "-n 2").

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# benchmarks compare peers (GillesPy2, STEPS) installed in .bench-env when it exists (benchmarks/README.md)
BENCH_PY := $(if $(wildcard .bench-env/bin/python),.bench-env/bin/python,$(PY))
export VENV

.PHONY: help setup demo test validate bench lint clean

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/tetrasim demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

validate: setup
	$(PY) scripts/make_validation_report.py -m "validation or slow" -- $(PYTEST_ARGS)

bench: setup
	@found=0; for script in benchmarks/*.py; do \
		[ -f "$$script" ] || continue; case "$$(basename $$script)" in _*) continue;; esac; \
		found=1; echo "== $(BENCH_PY) $$script"; $(BENCH_PY) "$$script" || exit $$?; \
	done; [ $$found -eq 1 ] || echo "make bench: no benchmarks/*.py yet"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks examples studies scripts

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
