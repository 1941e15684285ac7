"""Tasks and rewards: problems are deterministic by (level, index); rewards worked by hand."""

from __future__ import annotations

import pytest

from tests.conftest import require

require("reasoning_gym")

from gpu_worker.tasks import Level, RewardScheme, TaskSuite, chain_sum_levels, default_suite  # noqa: E402


@pytest.fixture(scope="module")
def suite() -> TaskSuite:
    return default_suite(seed=7)


def test_levels_become_arms_and_the_hardest_is_held_out(suite: TaskSuite) -> None:
    arms = suite.arms()
    assert [a["name"] for a in arms] == ["chain_sum/d1", "chain_sum/d2", "chain_sum/d3"]
    assert [a["tags"]["difficulty"] for a in arms] == [1, 2, 3]
    assert all(a["size"] == 10_000 for a in arms)
    assert suite.ood_levels == ["chain_sum/d4"]


def test_problem_is_a_function_of_level_and_index(suite: TaskSuite) -> None:
    again = default_suite(seed=7)
    for level in ("chain_sum/d1", "chain_sum/d3"):
        for index in (0, 17, 9_999):
            a, b = suite.problem(level, index), again.problem(level, index)
            assert (a.prompt, a.answer) == (b.prompt, b.answer)
    assert suite.problem("chain_sum/d2", 1).prompt != suite.problem("chain_sum/d2", 2).prompt


def test_prompt_and_answer_agree_with_python_arithmetic(suite: TaskSuite) -> None:
    for index in range(20):
        problem = suite.problem("chain_sum/d3", index)
        expression = problem.prompt.removesuffix("=")
        terms = expression.replace("-", " -").replace("+", " +").split()
        assert all(len(t.lstrip("+-")) == 3 for t in terms)  # three digits per number
        assert int(problem.answer) == sum(int(t) for t in terms)


def test_eval_problems_are_disjoint_from_training_indices(suite: TaskSuite) -> None:
    held_out = suite.eval_problems("chain_sum/d2", 5)
    assert [p.index for p in held_out] == [10_000, 10_001, 10_002, 10_003, 10_004]
    with pytest.raises(IndexError):
        suite.problem("chain_sum/d2", 10_000 + suite.eval_size)
    with pytest.raises(KeyError):
        suite.problem("chain_sum/d9", 0)


def test_compact_rewards_by_hand(suite: TaskSuite) -> None:
    problem = suite.problem("chain_sum/d2", 3)
    right = problem.answer
    wrong = str(int(right) + 1)
    assert suite.reward(problem, right) == 1.0
    assert suite.reward(problem, f" {right} ") == 1.0  # surrounding spaces are tolerated
    assert suite.reward(problem, wrong) == 0.1  # a number, but the wrong one
    assert suite.reward(problem, right + "x") == 0.0  # not a number
    assert suite.reward(problem, "") == 0.0
    assert suite.reward(problem, right, finished=False) == 0.0  # never stopped: not well-formatted


def test_question_style_uses_answer_tags() -> None:
    suite = TaskSuite(chain_sum_levels((1, 2)), ood_levels=1, prompt_style="question")
    problem = suite.problem("chain_sum/d1", 0)
    assert "<answer>" in problem.prompt and problem.prompt.startswith("State the final answer")
    assert suite.format_answer("5") == "<answer>5</answer>"
    right = problem.answer
    assert suite.reward(problem, f"thinking... <answer>{right}</answer>") == 1.0
    assert (
        suite.reward(problem, f"<answer>0</answer><answer>{right}</answer>") == 1.0
    )  # last tag counts
    assert suite.reward(problem, f"<answer>{int(right) + 3}</answer>") == 0.1
    assert suite.reward(problem, right) == 0.0  # no tag: not well-formatted


def test_reward_scheme_is_configurable_and_validated() -> None:
    suite = TaskSuite(chain_sum_levels((1, 2)), ood_levels=1, rewards=RewardScheme(1.0, 0.0, -1.0))
    problem = suite.problem("chain_sum/d1", 4)
    assert suite.reward(problem, problem.answer) == 1.0
    assert suite.reward(problem, str(int(problem.answer) - 1)) == 0.0
    assert suite.reward(problem, "abc") == -1.0
    with pytest.raises(ValueError, match="must not pay more"):
        RewardScheme(correct=0.1, formatted=0.5)


def test_suite_validation() -> None:
    levels = chain_sum_levels((1, 2))
    with pytest.raises(ValueError, match="at least one training level"):
        TaskSuite(levels, ood_levels=2)
    with pytest.raises(ValueError, match="unique"):
        TaskSuite([levels[0], levels[0]], ood_levels=0)
    with pytest.raises(ValueError, match="digits"):
        chain_sum_levels(())
    no_expression = Level("knights", "knights_knaves", {}, 1)
    with pytest.raises(ValueError, match="compact"):
        TaskSuite([no_expression], ood_levels=0).problem("knights", 0)
