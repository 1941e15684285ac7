"""The transformers rollout backend on the tiny model (CPU): sampling, seeds, weight sync, and
a few GRPO steps of the worker with it against a real `zpd serve`.

The trainer side is independent of the engine: its log-probs come from `trainer_logprobs` on
a separately loaded copy, and its greedy answers from `sft.greedy_completions` (plain torch
decoding without a KV cache, not `model.generate`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

torch = require("torch")
require("transformers")

from gpu_worker.model import load_model  # noqa: E402
from gpu_worker.rollout import EngineConfig, check_sync, trainer_logprobs  # noqa: E402
from gpu_worker.rollout_hf import HFRolloutEngine  # noqa: E402
from gpu_worker.sft import greedy_completions  # noqa: E402


@pytest.fixture(scope="module")
def hf_engine(tiny_model_dir: Path) -> Any:
    engine = HFRolloutEngine(tiny_model_dir, EngineConfig(device="cpu"))
    yield engine
    engine.close()


@pytest.fixture()
def trainer(tiny_model_dir: Path, hf_engine: Any) -> tuple[Any, Any]:
    """A fresh trainer copy of the tiny model, synced into the engine."""
    model, tokenizer = load_model(tiny_model_dir)
    hf_engine.sync_weights(model, "unused")
    return model, tokenizer


def test_generate_returns_n_completions_with_trainer_logprobs(
    hf_engine: Any, trainer: tuple[Any, Any]
) -> None:
    model, tokenizer = trainer
    prompts = [tokenizer("12+34=")["input_ids"], tokenizer("7-9=")["input_ids"]]
    groups = hf_engine.generate(prompts, n=4, max_tokens=6, seed=11)
    assert [len(g) for g in groups] == [4, 4]
    for prompt, group in zip(prompts, groups, strict=True):
        assert len({tuple(c.token_ids) for c in group}) > 1  # n samples, not n copies
        for c in group:
            assert 1 <= len(c.token_ids) <= 6 and len(c.logprobs) == len(c.token_ids)
            assert c.finished == (c.token_ids[-1] == tokenizer.eos_token_id)
            assert tokenizer.eos_token_id not in c.token_ids[:-1]  # cut at the first <eos>
            assert c.text == tokenizer.decode(c.token_ids, skip_special_tokens=True)
        sequences = [prompt + c.token_ids for c in group]
        expected = [
            lp[len(prompt) - 1 :]
            for lp in trainer_logprobs(model, sequences, tokenizer.pad_token_id)
        ]
        for c, row in zip(group, expected, strict=True):
            assert c.logprobs == pytest.approx(row, abs=1e-5)


def test_same_seed_same_samples_and_the_callers_rng_is_untouched(
    hf_engine: Any, trainer: tuple[Any, Any]
) -> None:
    _, tokenizer = trainer
    prompts = [tokenizer("5+5=")["input_ids"], tokenizer("61-7=")["input_ids"]]
    torch.manual_seed(123)
    first = hf_engine.generate(prompts, n=3, max_tokens=5, seed=3)
    after_generate = torch.rand(1)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    assert torch.equal(after_generate, expected_next)  # generate forked the RNG
    again = hf_engine.generate(prompts, n=3, max_tokens=5, seed=3)
    other = hf_engine.generate(prompts, n=3, max_tokens=5, seed=4)

    def tokens(groups: list[Any]) -> list[list[list[int]]]:
        return [[c.token_ids for c in g] for g in groups]

    assert tokens(first) == tokens(again)
    assert tokens(first) != tokens(other)


def test_sync_makes_greedy_outputs_equal_to_the_trainers(
    hf_engine: Any, trainer: tuple[Any, Any]
) -> None:
    model, tokenizer = trainer
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    prompts = [tokenizer(p)["input_ids"] for p in ("12+34=", "7-9=", "50+50=")]
    # teach the trainer "46<eos>" after "12+34=": its greedy answers move away from the engine's
    from gpu_worker.warmup import sft_loss

    answer = tokenizer("46", add_special_tokens=False)["input_ids"] + [eos]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = sft_loss(model, [prompts[0]], [answer], pad)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trainer_greedy = [ids + [eos] if done else ids for ids, done in
                      greedy_completions(model, prompts, eos, pad, max_new_tokens=6)]  # fmt: skip
    assert trainer_greedy[0] == answer  # the trainer learned it

    def engine_greedy() -> list[list[int]]:
        groups = hf_engine.generate(prompts, n=2, max_tokens=6, temperature=0.0)
        assert all(g[0].token_ids == g[1].token_ids for g in groups)  # greedy: n copies
        return [g[0].token_ids for g in groups]

    probe = [p + a for p, a in zip(prompts, trainer_greedy, strict=True)]
    assert engine_greedy()[0] != answer  # before the sync the engine still has the old weights
    assert check_sync(hf_engine, model, probe, pad) > 0.1
    seconds = hf_engine.sync_weights(model, "unused")
    assert engine_greedy() == trainer_greedy
    assert check_sync(hf_engine, model, probe, pad) < 1e-5
    assert seconds < 5.0


@pytest.mark.slow
def test_grpo_steps_with_the_transformers_backend(server: Any, tmp_path: Path) -> None:
    require("reasoning_gym")
    from gpu_worker.config import TrainConfig
    from gpu_worker.train import train
    from trainer_client import CurriculumClient

    config = TrainConfig(
        service_url=server.url,
        run_name="hf",
        rollout_backend="transformers",
        device="cpu",
        steps=3,
        prompts_per_step=8,
        rollouts_per_prompt=4,
        max_new_tokens=6,
        warmup_steps=60,
        warmup_target=0.0,
        eval_problems=4,
        eval_samples=2,
        out_dir=str(tmp_path / "run"),
        lr=1e-3,
    )
    seen: list[dict[str, Any]] = []
    runs: list[Any] = []
    metrics = train(
        config,
        client=CurriculumClient(server.url, timeout=10.0),
        log=lambda line: None,
        on_run=runs.append,
        on_step=seen.append,
    )
    assert [r.run_id for r in runs] == [metrics["run_id"]]
    assert seen == metrics["steps"]  # the callback saw every step's record
    for record in seen:
        rewards = [r["rewards"] for r in record["results"]]
        assert record["rollouts"] == 8 * 4
        # groups whose rewards are not all equal are exactly those with an advantage
        mixed = sum(len(set(group)) > 1 for group in rewards)
        assert record["effective_ratio"] == pytest.approx(mixed / 8)
        assert 8 * 4 <= record["generated_tokens"] <= 8 * 4 * 6
        assert record["probe_gap"] < 1e-5
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [s["generated_tokens"] for s in saved["steps"]] == [s["generated_tokens"] for s in seen]
    assert saved["config"]["loss_agg"] == "token-mean"
