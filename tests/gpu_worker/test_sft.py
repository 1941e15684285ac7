"""SFT on failures: pure helpers by hand, greedy decoding against `generate`, and the loop
end to end against a real `zpd serve` (per-problem stats read back from its database)."""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

torch = require("torch")
require("reasoning_gym")

from gpu_worker.cli import register_sft  # noqa: E402
from gpu_worker.config import SFTConfig, dataclass_from_args  # noqa: E402
from gpu_worker.model import build_char_tokenizer, build_tiny_llama, encode_prompt, save_model  # noqa: E402
from gpu_worker.sft import (  # noqa: E402
    fill_batch,
    greedy_completions,
    open_sft_worker,
    problems_to_ask,
    run_sft,
)
from gpu_worker.tasks import Problem, TaskSuite, chain_sum_levels  # noqa: E402
from gpu_worker.warmup import WarmupConfig, run_warmup  # noqa: E402
from tests.conftest import LiveServer  # noqa: E402
from trainer_client import CurriculumClient  # noqa: E402

# -- pure helpers -------------------------------------------------------------------------


def test_problems_to_ask_failures_or_all() -> None:
    verified = [True, False, False, True, False]
    assert problems_to_ask("failures", verified) == [1, 2, 4]
    assert problems_to_ask("uniform", verified) == [0, 1, 2, 3, 4]
    assert problems_to_ask("failures", [True, True]) == []
    assert problems_to_ask("filter", verified) == [1, 2, 4]


def test_fill_batch_keeps_new_and_tops_up_with_distinct_earlier() -> None:
    rng = random.Random(0)
    batch = fill_batch(["n1", "n2"], ["e1", "e2", "e3", "e4"], 5, rng)
    assert batch[:2] == ["n1", "n2"]  # every new demonstration, first
    assert (
        len(batch) == 5 and len(set(batch[2:])) == 3 and set(batch[2:]) <= {"e1", "e2", "e3", "e4"}
    )
    assert fill_batch(["n1"], ["e1"], 5, rng) == ["n1", "e1"]  # not enough earlier ones
    assert fill_batch(["n1", "n2", "n3"], ["e1"], 2, rng) == ["n1", "n2", "n3"]  # no room


def test_config_and_cli() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        SFTConfig(mode="boosting")
    with pytest.raises(ValueError, match="0 < target <= 1"):
        SFTConfig(target=1.5)
    with pytest.raises(ValueError, match="digits must be"):
        SFTConfig(digits="1,x")
    parser = argparse.ArgumentParser()
    register_sft(parser.add_subparsers())
    args = parser.parse_args(
        ["sft", "--mode", "uniform", "--prompts-per-round", "32", "--lr", "0.01"]
    )
    config = dataclass_from_args(SFTConfig, args)
    assert (config.mode, config.prompts_per_round, config.lr) == ("uniform", 32, 0.01)
    invalid = parser.parse_args(["sft", "--batch-size", "0"])
    assert invalid.func(invalid) == 2  # refused before anything heavy starts


# -- greedy decoding ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def suite() -> TaskSuite:
    return TaskSuite(chain_sum_levels((1,), size=10_000), ood_levels=0, seed=1234)


@pytest.fixture(scope="module")
def warm_model_dir(tmp_path_factory: pytest.TempPathFactory, suite: TaskSuite) -> Path:
    """The tiny model after a short SFT on 1-digit sums: it solves some problems, not all."""
    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer, seed=0)
    run_warmup(
        model, tokenizer, suite, WarmupConfig(steps=60, batch_size=64, lr=3e-3), log=lambda _: None
    )
    return save_model(model, tokenizer, tmp_path_factory.mktemp("warm"))


def reference_greedy(
    model: Any, tokenizer: Any, prompt: list[int], max_new_tokens: int
) -> tuple[str, bool]:
    """One prompt, no padding, through transformers' own `generate` (KV cache)."""
    device = next(model.parameters()).device  # the loop puts its model on a GPU when there is one
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt], device=device),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long, device=device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )[0, len(prompt) :].tolist()
    finished = tokenizer.eos_token_id in out
    ids = out[: out.index(tokenizer.eos_token_id)] if finished else out
    return tokenizer.decode(ids, skip_special_tokens=True), finished


def test_batched_greedy_matches_generate_one_by_one(warm_model_dir: Path, suite: TaskSuite) -> None:
    from gpu_worker.model import load_model

    model, tokenizer = load_model(warm_model_dir)
    # prompts of different lengths in one batch: right padding must not change any answer
    problems = [suite.problem("chain_sum/d1", i) for i in range(12)]
    texts = ["7+", "12-3=", "5=", *[p.prompt for p in problems]]
    prompts = [encode_prompt(tokenizer, t) for t in texts]
    batched = greedy_completions(model, prompts, tokenizer.eos_token_id, tokenizer.pad_token_id, 6)
    for prompt, (ids, finished) in zip(prompts, batched, strict=True):
        text = tokenizer.decode(ids, skip_special_tokens=True)
        assert (text, finished) == reference_greedy(model, tokenizer, prompt, 6)


# -- the loop against a real service ------------------------------------------------------


def problem_stats(database: str) -> dict[tuple[int, int], tuple[float, float]]:
    """(arm position, index) -> (solved, failed), read straight from the service's SQLite file."""
    with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT arm, idx, solved, failed FROM problem_stats").fetchall()
    return {(arm, idx): (solved, failed) for arm, idx, solved, failed in rows}


ROUNDS, PER_ROUND = 3, 64


def run_loop(
    server: LiveServer, warm_model_dir: Path, mode: str, recheck: bool = False
) -> tuple[Any, dict[str, Any], list[Problem]]:
    """A few rounds of the loop with a teacher that records what it was asked."""
    config = SFTConfig(
        service_url=server.url,
        mode=mode,
        model=str(warm_model_dir),
        digits="1",
        prompts_per_round=PER_ROUND,
        batch_size=64,
        eval_every=ROUNDS,
        eval_problems=20,
        target=1.0,
        max_rounds=ROUNDS,
        recheck=recheck,
    )
    asked: list[Problem] = []
    failed_at_ask: list[bool] = []
    client = CurriculumClient(server.url)
    worker = open_sft_worker(config, client)

    def teacher(problem: Problem) -> str:
        # at this moment the model is the one that attempted the problem (SFT comes after)
        text, finished = reference_greedy(
            worker.model, worker.tokenizer, encode_prompt(worker.tokenizer, problem.prompt), 8
        )
        failed_at_ask.append(not (finished and text.strip() == problem.answer))
        asked.append(problem)
        return problem.answer

    worker.teacher = teacher
    metrics = run_sft(worker, log=lambda _: None)
    metrics["failed_at_ask"] = failed_at_ask
    return client.get_run(metrics["run_id"]), metrics, asked


def test_failures_mode_asks_the_teacher_only_where_the_model_failed(
    server: LiveServer, warm_model_dir: Path
) -> None:
    run, metrics, asked = run_loop(server, warm_model_dir, "failures")
    stats = problem_stats(server.database_url)
    sampled = ROUNDS * PER_ROUND
    # the service counted every problem it handed out for demonstrations
    assert run.demonstrations == sampled == metrics["service_demonstrations"]
    assert run.step == ROUNDS  # one report per round
    # one verified-or-not outcome per sampled problem, folded into the per-problem stats
    assert sum(s + f for s, f in stats.values()) == sampled
    assert metrics["teacher_calls"] == len(asked) == sum(f for _, f in stats.values())
    assert 0 < len(asked) < sampled  # the warm model solves some: not a vacuous check
    # every problem the teacher saw was failed: by the service's record and by re-asking the model
    assert all(metrics["failed_at_ask"])
    assert len(stats) == sampled  # each index was sampled once (arm of 10,000, 3 x 256 candidates)
    assert {(0, p.index) for p in asked} == {key for key, (_, f) in stats.items() if f == 1.0}
    assert sum(r["solved"] for r in metrics["round_records"]) == sum(s for s, _ in stats.values())


def test_filter_mode_samples_ordinarily_and_asks_only_for_failures(
    server: LiveServer, warm_model_dir: Path
) -> None:
    run, metrics, asked = run_loop(server, warm_model_dir, "filter")
    stats = problem_stats(server.database_url)
    assert run.demonstrations == 0  # ordinary samples: nothing handed out "for demonstrations"
    assert len(stats) == ROUNDS * PER_ROUND
    assert 0 < metrics["teacher_calls"] == len(asked) < ROUNDS * PER_ROUND
    assert all(metrics["failed_at_ask"])
    assert {(0, p.index) for p in asked} == {key for key, (_, f) in stats.items() if f == 1.0}


def test_uniform_mode_asks_the_teacher_for_every_sampled_problem(
    server: LiveServer, warm_model_dir: Path
) -> None:
    run, metrics, asked = run_loop(server, warm_model_dir, "uniform")
    stats = problem_stats(server.database_url)
    sampled = ROUNDS * PER_ROUND
    assert run.demonstrations == 0  # ordinary samples: nothing handed out "for demonstrations"
    assert metrics["teacher_calls"] == len(asked) == sampled
    assert sum(s + f for s, f in stats.values()) == sampled
    assert {(0, p.index) for p in asked} == set(stats)  # exactly the sampled problems
    assert not all(metrics["failed_at_ask"])  # it also asked about problems the model solved


def test_command_runs_the_loop_and_writes_metrics(server: LiveServer, tmp_path: Path) -> None:
    from gpu_worker.sft import main

    flags = ["--service-url", server.url, "--out-dir", str(tmp_path / "sft"), "--max-rounds", "2"]
    flags += [
        "--prompts-per-round",
        "8",
        "--batch-size",
        "8",
        "--eval-every",
        "1",
        "--eval-problems",
        "10",
    ]
    assert main(flags) == 0
    metrics = json.loads((tmp_path / "sft" / "metrics.json").read_text())
    assert metrics["config"]["mode"] == "failures" and metrics["rounds"] == 2
    assert [p["round"] for p in metrics["curve"]] == [0, 1, 2]
    assert metrics["service_demonstrations"] == 16  # 2 rounds x 8 handed out for demonstrations
    # from scratch the model solves nothing: the teacher was asked about every problem
    assert metrics["teacher_calls"] == 16 == sum(r["asked"] for r in metrics["round_records"])


def test_recheck_reports_the_demonstrated_problems_again(
    server: LiveServer, warm_model_dir: Path
) -> None:
    run, metrics, asked = run_loop(server, warm_model_dir, "failures", recheck=True)
    stats = problem_stats(server.database_url)
    records = metrics["round_records"]
    assert run.step == 2 * ROUNDS  # the round's report and the recheck's
    assert all(metrics["failed_at_ask"]) and len(asked) == metrics["teacher_calls"] > 0
    # a demonstrated problem has two outcomes (its failure, then the re-answer after SFT),
    # every other sampled problem one
    demonstrated = {(0, p.index) for p in asked}
    assert all(s + f == (2.0 if key in demonstrated else 1.0) for key, (s, f) in stats.items())
    # the re-answers the service stored are the ones the loop counted as solved after SFT
    solved_after = sum(s for key, (s, _) in stats.items() if key in demonstrated)
    assert solved_after == sum(r["solved_after"] for r in records)
