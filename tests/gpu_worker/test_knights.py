"""The Knights & Knaves solver against reasoning-gym's own verifier, and its warmup traces.

(The solver's hand-worked cases, which need no optional package, are in
``test_knights_solver.py``.)
"""

from __future__ import annotations

import random

import pytest

from tests.conftest import require

reasoning_gym = require("reasoning_gym")
require("transformers")  # gpu_worker.model

from gpu_worker.knights import solution_trace, solve  # noqa: E402
from gpu_worker.model import build_char_tokenizer  # noqa: E402
from gpu_worker.warmup import WarmupConfig, knights_traces  # noqa: E402


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
