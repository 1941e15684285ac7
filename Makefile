# ZPD: `make demo` runs the main job on the embedded default (SQLite), `make test` the suite.
# The first run of either creates .venv and installs what it needs into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
BASE_STAMP := $(VENV)/.zpd-base
WORKER_STAMP := $(VENV)/.zpd-worker
ML_STAMP := $(VENV)/.zpd-ml
TORCH_VERSION := 2.13.0
# Used only when no configured package source has the CPU build of torch.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
VERL_VERSION := 0.7.1
# verl 0.9 gets a venv of its own (one venv holds one verl): .venv-verl09 sees every package
# of .venv through a .pth file placed after its own site-packages, so only verl differs.
VERL09_VERSION := 0.9.1
VERL09_VENV := .venv-verl09
VERL09_STAMP := $(VERL09_VENV)/.zpd-verl09
OPENRLHF_VERSION := 0.11.2
OPENRLHF_STAMP := $(VENV)/.zpd-openrlhf
# AReaL pins torch<2.11 (the worker needs 2.13): a venv of its own, built the same way, with
# AReaL --no-deps plus the three packages its rollout executor imports.
AREAL_VERSION := 1.0.4
AREAL_VENV := .venv-areal
AREAL_STAMP := $(AREAL_VENV)/.zpd-areal

# $(call overlay_venv,DIR): a venv whose .pth file adds .venv's packages after its own.
define overlay_venv
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -c 'import sys, sysconfig, pathlib; \
	  pth = pathlib.Path(sysconfig.get_paths()["purelib"], "zz-zpd-main-venv.pth"); \
	  pth.write_text("import site; site.addsitedir(%r)\n" % sys.argv[1])' \
	  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
endef

.PHONY: demo demo-sim test lint serve bench bench-strategies bench-worker install install-ml clean

# The service, the client and the test tools.
$(BASE_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	@touch $@

# The reference worker: torch (CPU build) and vLLM's CPU build, reasoning-gym.
$(WORKER_STAMP): $(BASE_STAMP)
	$(PIP) install --quiet 'torch==$(TORCH_VERSION)+cpu' \
	  || $(PIP) install --quiet --extra-index-url $(TORCH_CPU_INDEX) 'torch==$(TORCH_VERSION)+cpu'
	$(PIP) install --quiet -e '.[dev,worker]' \
	  || $(PIP) install --quiet --extra-index-url $(TORCH_CPU_INDEX) -e '.[dev,worker]'
	@# pip pulls these in built for another torch version, and then importing transformers fails
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec
	@touch $@

# Everything the tests exercise: the worker plus TRL and verl 0.7 for the adapters; OpenRLHF,
# verl 0.9 and AReaL come next.
$(ML_STAMP): $(WORKER_STAMP)
	$(PIP) install --quiet -e '.[dev,worker,trl,verl]'
	$(PIP) install --quiet --no-deps 'verl==$(VERL_VERSION)'
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec
	@touch $@

# OpenRLHF pins deepspeed and flash-attn (CUDA builds): its prompt path needs neither.
$(OPENRLHF_STAMP): $(ML_STAMP)
	$(PIP) install --quiet -e '.[dev,worker,trl,verl,openrlhf]'
	$(PIP) install --quiet --no-deps 'openrlhf==$(OPENRLHF_VERSION)'
	@# re-resolving .[worker] brings torchvision back (vLLM's requirement), see $(WORKER_STAMP)
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec
	@touch $@

$(VERL09_STAMP): $(ML_STAMP)
	$(call overlay_venv,$(VERL09_VENV))
	$(VERL09_VENV)/bin/python -m pip --disable-pip-version-check install --quiet --no-deps \
	  'verl==$(VERL09_VERSION)'
	@touch $@

$(AREAL_STAMP): $(ML_STAMP)
	$(call overlay_venv,$(AREAL_VENV))
	$(AREAL_VENV)/bin/python -m pip --disable-pip-version-check install --quiet --no-deps \
	  'areal==$(AREAL_VERSION)'
	$(AREAL_VENV)/bin/python -m pip --disable-pip-version-check install --quiet \
	  tenacity flask aiofiles
	@touch $@

install: $(BASE_STAMP)
install-ml: $(ML_STAMP) $(OPENRLHF_STAMP) $(VERL09_STAMP) $(AREAL_STAMP)

# The tiny model trained with the SEC curriculum on CPU against a local service (~5-10 min).
demo: $(WORKER_STAMP)
	$(BIN)/zpd demo-worker

# The one-minute version: a simulated learner instead of a model.
demo-sim: $(BASE_STAMP)
	$(BIN)/zpd simulate --strategies sec,random --steps 300

test: $(ML_STAMP) $(OPENRLHF_STAMP) $(VERL09_STAMP) $(AREAL_STAMP)
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

bench-worker: $(WORKER_STAMP)
	$(BIN)/python benchmarks/bench_worker.py

clean:
	rm -rf $(VENV) $(VERL09_VENV) $(AREAL_VENV) .pytest_cache .mypy_cache .ruff_cache
