"""A real vLLM engine on the tiny model: generation, log-probs, weight sync, probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import VLLM_INSTALL, require

require("vllm", VLLM_INSTALL)

import torch  # noqa: E402

from gpu_worker.model import load_model  # noqa: E402
from gpu_worker.rollout import check_sync, trainer_logprobs  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture()
def trainer(tiny_model_dir: Path, engine: Any, tmp_path: Path) -> tuple[Any, Any]:
    """The trainer's copy of the tiny model, synced into the shared engine."""
    model, tokenizer = load_model(tiny_model_dir)
    engine.sync_weights(model, tmp_path / "synced")
    return model, tokenizer


def test_generate_returns_n_completions_with_trainer_logprobs(
    engine: Any, trainer: tuple[Any, Any]
) -> None:
    model, tokenizer = trainer
    prompts = [tokenizer("12+34=")["input_ids"], tokenizer("7-9=")["input_ids"]]
    groups = engine.generate(prompts, n=4, max_tokens=6, seed=11)
    assert [len(g) for g in groups] == [4, 4]
    for prompt, group in zip(prompts, groups, strict=True):
        assert len({tuple(c.token_ids) for c in group}) > 1  # n samples, not n copies
        for c in group:
            assert 1 <= len(c.token_ids) <= 6 and len(c.logprobs) == len(c.token_ids)
            assert c.finished == (c.token_ids[-1] == tokenizer.eos_token_id)
            assert c.text == tokenizer.decode(c.token_ids, skip_special_tokens=True)
        # The engine's sampled-token log-probs equal the trainer's on the same sequences.
        sequences = [prompt + c.token_ids for c in group]
        expected = [
            lp[len(prompt) - 1 :]
            for lp in trainer_logprobs(model, sequences, tokenizer.pad_token_id)
        ]
        for c, row in zip(group, expected, strict=True):
            assert c.logprobs == pytest.approx(row, abs=1e-4)


def test_same_seed_same_samples(engine: Any, trainer: tuple[Any, Any]) -> None:
    _, tokenizer = trainer
    prompts = [tokenizer("5+5=")["input_ids"]] * 2
    first = engine.generate(prompts, n=3, max_tokens=5, seed=3)
    again = engine.generate(prompts, n=3, max_tokens=5, seed=3)
    assert [[c.token_ids for c in g] for g in first] == [[c.token_ids for c in g] for g in again]
    # Two copies of one prompt in a batch draw different samples.
    assert [c.token_ids for c in first[0]] != [c.token_ids for c in first[1]]


def test_weight_sync_reaches_the_engine(
    engine: Any, trainer: tuple[Any, Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    model, tokenizer = trainer
    probe = [
        tokenizer("12+34=46")["input_ids"] + [tokenizer.eos_token_id],
        tokenizer("1-2=-1")["input_ids"],
    ]
    assert check_sync(engine, model, probe, tokenizer.pad_token_id) < 1e-4
    with torch.no_grad():
        model.lm_head.weight.mul_(3.0)  # the output layer: the part a tied engine kept stale
        model.model.layers[0].mlp.down_proj.weight.add_(0.05)
    stale = check_sync(engine, model, probe, tokenizer.pad_token_id)
    assert stale > 0.1
    capfd.readouterr()
    seconds = engine.sync_weights(model, tmp_path / "synced")
    assert "Writing model shards" not in "".join(capfd.readouterr())  # no bar per step
    assert check_sync(engine, model, probe, tokenizer.pad_token_id) < 1e-4
    assert seconds < 10.0


def test_the_rotary_reload_warning_is_dropped_in_a_fresh_process(tmp_path: Path) -> None:
    """A spawned engine process applies the LoggingConfig made from VLLM_LOGGING_CONFIG_PATH."""
    import json
    import os
    import subprocess
    import sys

    from gpu_worker.rollout import RELOAD_LOGGER, quiet_rotary_reload_warning

    saved = os.environ.pop("VLLM_LOGGING_CONFIG_PATH", None)
    try:
        quiet_rotary_reload_warning()
        config_path = os.environ["VLLM_LOGGING_CONFIG_PATH"]
    finally:
        os.environ.pop("VLLM_LOGGING_CONFIG_PATH", None)
        if saved is not None:
            os.environ["VLLM_LOGGING_CONFIG_PATH"] = saved
    assert json.loads(Path(config_path).read_text())["loggers"][RELOAD_LOGGER]
    script = (
        "import logging\n"
        "from vllm.config.logging import LoggingConfig\n"
        "from vllm.logger import configure_logging\n"
        "configure_logging(LoggingConfig())\n"
        f"log = logging.getLogger({RELOAD_LOGGER!r})\n"
        "log.warning('%s: Failed to load weights', 'RotaryEmbedding')\n"
        "log.warning('%s: Failed to load weights', 'QKVParallelLinear')\n"
    )
    env = {**os.environ, "VLLM_LOGGING_CONFIG_PATH": config_path}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    printed = out.stdout + out.stderr
    assert "QKVParallelLinear: Failed to load weights" in printed  # other layers still warn
    assert "RotaryEmbedding" not in printed
