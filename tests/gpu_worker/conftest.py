"""Fixtures of the gpu_worker tests: a tiny model folder and one real vLLM engine per session.

The modules that exercise vLLM start with `require("vllm", ...)` (tests/conftest.py), so
without it they skip and say why (or fail with CI=true); the transformers backend, the loss
math and the import checks need no vLLM.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import VLLM_INSTALL, require


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    # Why: the test machine is shared; more than one torch thread per process can collapse 10-20x.
    try:
        import torch
    except ImportError:  # the pure tests here need no torch; the others require() it
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny Llama with the char tokenizer, saved to a folder."""
    from gpu_worker.model import build_char_tokenizer, build_tiny_llama, save_model

    tokenizer = build_char_tokenizer()
    return save_model(
        build_tiny_llama(tokenizer, seed=0), tokenizer, tmp_path_factory.mktemp("tiny")
    )


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path) -> Iterator[Any]:
    """One real vLLM engine on the tiny model, shared by the session (it takes ~20 s to start)."""
    require("vllm", VLLM_INSTALL)
    from gpu_worker.rollout import EngineConfig, RolloutEngine

    engine = RolloutEngine(tiny_model_dir, EngineConfig(gpu_memory_utilization=0.1, seed=0))
    yield engine
    engine.close()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Any]:
    """A real `zpd serve` on a fresh SQLite file, for the worker's end-to-end tests."""
    from tests.conftest import LiveServer

    live = LiveServer(f"sqlite:///{tmp_path / 'zpd.db'}", workdir=tmp_path).start()
    try:
        yield live
    finally:
        live.stop()
