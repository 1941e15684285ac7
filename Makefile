# ZPD: `make demo` runs the main job on the embedded default (SQLite), `make test` the suite.
# The first run of either creates .venv and installs the project into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
BASE_STAMP := $(VENV)/.zpd-base
ML_STAMP := $(VENV)/.zpd-ml
TORCH_VERSION := 2.13.0
# Used only when no configured package source has the CPU build of torch.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
VERL_VERSION := 0.7.1

.PHONY: demo test lint typecheck serve bench bench-strategies install install-ml clean

$(BASE_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	@touch $@

# torch (CPU build), TRL, verl: for the trainer adapters and their tests.
$(ML_STAMP): $(BASE_STAMP)
	$(PIP) install --quiet 'torch==$(TORCH_VERSION)+cpu' \
	  || $(PIP) install --quiet --extra-index-url $(TORCH_CPU_INDEX) 'torch==$(TORCH_VERSION)+cpu'
	$(PIP) install --quiet -e '.[dev,trl,verl]'
	$(PIP) install --quiet --no-deps 'verl==$(VERL_VERSION)'
	@touch $@

install: $(BASE_STAMP)
install-ml: $(ML_STAMP)

demo: $(BASE_STAMP)
	$(BIN)/zpd simulate --strategies sec,random --steps 300

test: $(ML_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy service trainer_client
	$(BIN)/pytest

lint: $(BASE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

serve: $(BASE_STAMP)
	$(BIN)/zpd serve

bench: $(BASE_STAMP)
	$(BIN)/python benchmarks/bench_step.py

bench-strategies: $(BASE_STAMP)
	$(BIN)/python benchmarks/bench_strategies.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
