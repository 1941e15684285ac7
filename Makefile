# ZPD: `make demo` runs the main job on the embedded default (SQLite), `make test` the suite.
# The first run of either creates .venv and installs the project into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.zpd-installed

.PHONY: demo test lint typecheck pytest serve bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/zpd simulate --strategies sec,random --steps 300

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy service trainer_client
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

serve: $(STAMP)
	$(BIN)/zpd serve

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_step.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
