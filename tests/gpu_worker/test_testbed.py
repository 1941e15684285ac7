"""The curriculum testbed: reversed-digit addition, its verifier and disjoint splits."""

from __future__ import annotations

import pytest

from tests.conftest import require

require("reasoning_gym")

from gpu_worker.config import TrainConfig  # noqa: E402
from gpu_worker.splits import split_of  # noqa: E402
from gpu_worker.tasks import (  # noqa: E402
    TaskSuite,
    addition_levels,
    addition_suite,
    reverse_number,
)


@pytest.fixture(scope="module")
def suite() -> TaskSuite:
    return addition_suite(seed=11, size=3_000)


def test_six_training_arms_and_the_longest_level_held_out(suite: TaskSuite) -> None:
    assert [a["name"] for a in suite.arms()] == [f"add/d{d}" for d in range(2, 8)]
    longest = [
        max(len(n) for n in suite.problem("add/d7", i).prompt[:-1].split("+")) for i in range(50)
    ]
    assert longest.count(7) >= 40  # 99% of pairs have a 7-digit operand
    assert suite.ood_levels == ["add/d8"]
    assert all(a["size"] == 3_000 for a in suite.arms())


def test_reversed_prompts_and_answers_agree_with_python_arithmetic(suite: TaskSuite) -> None:
    for level, digits in (("add/d3", 3), ("add/d7", 7), ("add/d8", 8)):
        for problem in [
            suite.problem(level, i) for i in range(0, 3_000, 500)
        ] + suite.eval_problems(level, 5):
            left, right = problem.prompt.removesuffix("=").split("+")
            a, b = int(left[::-1]), int(right[::-1])  # operands are written backwards
            # basic_arithmetic draws each operand from [0, 10**digits): at most `digits`
            assert max(len(left), len(right)) <= digits
            assert int(problem.answer) == a + b
            assert suite.format_answer(problem.answer) == str(a + b)[::-1]


def test_reversed_verifier_by_hand(suite: TaskSuite) -> None:
    problem = suite.problem("add/d2", 0)
    total = int(problem.answer)
    assert suite.reward(problem, str(total)[::-1]) == 1.0
    assert suite.reward(problem, f" {str(total)[::-1]} ") == 1.0
    assert suite.reward(problem, str(total + 1)[::-1]) == 0.1  # a number, the wrong one
    if str(total) != str(total)[::-1]:
        assert suite.reward(problem, str(total)) == 0.1  # the right digits, not reversed
    assert suite.reward(problem, "1x") == 0.0
    assert suite.reward(problem, "-" + str(total)[::-1]) == 0.0  # no sign in addition
    assert suite.reward(problem, str(total)[::-1], finished=False) == 0.0
    assert reverse_number("-120") == "-021" and reverse_number("305") == "503"


def test_splits_are_disjoint_by_content_and_held_out_sets_are_distinct(suite: TaskSuite) -> None:
    # d2 has only 90 * 90 = 8,100 distinct problems: an index split would leak here.
    train = {suite.problem("add/d2", i).prompt for i in range(3_000)}
    held_out = [p.prompt for p in suite.eval_problems("add/d2", 500)]
    dev = [p.prompt for p in suite.eval_problems("add/d2", 200, split="dev")]
    assert len(set(held_out)) == 500 and len(set(dev)) == 200
    assert not train & set(held_out)
    assert not train & set(dev)
    assert not set(held_out) & set(dev)
    assert {split_of(p) for p in train} == {"train"}
    assert {split_of(p) for p in held_out} == {"eval"}


def test_the_split_is_a_function_of_the_prompt_alone() -> None:
    a = addition_suite(seed=3, size=100)
    b = addition_suite(seed=4, size=100)  # another seed: other problems, same rule
    for suite in (a, b):
        for p in suite.eval_problems("add/d4", 20):
            assert split_of(p.prompt) == "eval"
    again = addition_suite(seed=3, size=100)
    assert [p.prompt for p in a.eval_problems("add/d5", 10)] == [
        p.prompt for p in again.eval_problems("add/d5", 10)
    ]
    assert a.problem("add/d6", 42).prompt == again.problem("add/d6", 42).prompt


def test_a_level_with_too_few_distinct_problems_says_so() -> None:
    tiny = TaskSuite(
        addition_levels((1, 2)), ood_levels=1, prompt_style="reversed", split="content"
    )
    # 1-digit addition has 100 distinct problems, about 10 of them in the eval share
    with pytest.raises(ValueError, match="add/d1: cannot give 200 eval problems"):
        tiny.eval_problems("add/d1", 200)
    with pytest.raises(IndexError):
        tiny.problem("add/d1", 10_000)


def test_the_worker_config_selects_the_testbed() -> None:
    require("torch")
    from gpu_worker.worker import build_suite

    config = TrainConfig(suite="addition", digits="2,3,4,5,6,7,8", seed=5)
    suite = build_suite(config)
    assert suite.train_levels == [f"add/d{d}" for d in range(2, 8)]
    assert suite.ood_levels == ["add/d8"]
    assert (suite.prompt_style, suite.split) == ("reversed", "content")
    expected = addition_suite(seed=5 + 1234)  # the worker offsets the task seed by 1234
    assert suite.problem("add/d4", 7).prompt == expected.problem("add/d4", 7).prompt
    assert build_suite(TrainConfig()).split == "index"  # the chain_sum suite is unchanged


def test_bad_testbed_flags_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="suite must be"):
        TrainConfig(suite="sums")
    with pytest.raises(ValueError, match="warmup_levels must be >= 0"):
        TrainConfig(warmup_levels=-1)
