"""Tasks from reasoning-gym, split into difficulty levels that become the curriculum's arms.

One `Level` is one arm: a reasoning-gym generator with a fixed difficulty config. The item
`{arm, index}` that the service samples maps to exactly one problem of the level's dataset
(reasoning-gym seeds each item with `seed + index`), so any process can rebuild the same
problem. Two ways to split training from held-out problems (`TaskSuite(split=...)`):

- `"content"` (the testbed's): each generated problem falls into `train`, `dev` or `eval` by a
  hash of its prompt text (80% / 10% / 10%). Training index `i` is the `i`-th generated problem
  of the `train` share; `dev` and `eval` are the first distinct problems of their shares. The
  same prompt can therefore never be both trained on and evaluated, even on a level with few
  distinct problems, and early stopping (the `dev` split) never looks at the final evaluation.
- `"index"` (the older suites'): training indices are `[0, size)`, evaluation problems
  `dataset[size + i]`. On a level with few distinct problems (chain_sum d1 has 200) the same
  prompt occurs in both.

The hardest level of a suite is held out as the out-of-distribution (OOD) split: it is never
an arm, only evaluated.

Rewards follow the SEC paper: 1 for a correct answer, 0.1 for a well-formatted wrong one,
0 otherwise (`RewardScheme`). Correctness is reasoning-gym's `score_answer(answer, entry)`
being 1.0 (its partial credits for near-misses are not used).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import reasoning_gym
from reasoning_gym.dataset import ProceduralDataset

from gpu_worker.splits import ContentSplit

PromptStyle = Literal["compact", "reversed", "question"]
SplitMode = Literal["content", "index"]
HeldOutSplit = Literal["dev", "eval"]
ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class RewardScheme:
    """Reward of one completion: `correct`, `formatted` (parseable but wrong), else `invalid`."""

    correct: float = 1.0
    formatted: float = 0.1
    invalid: float = 0.0

    def __post_init__(self) -> None:
        if not self.invalid <= self.formatted <= self.correct:
            raise ValueError(
                f"need invalid <= formatted <= correct, got {self.invalid}, {self.formatted}, "
                f"{self.correct}; a wrong answer must not pay more than a right one"
            )


@dataclass(frozen=True)
class Level:
    """One difficulty level of one reasoning-gym task: an arm of the curriculum.

    Attributes:
        name: arm name sent to the service, e.g. `chain_sum/d2`.
        task: reasoning-gym dataset name, e.g. `chain_sum`.
        config: keyword arguments of the reasoning-gym config that fix the difficulty.
        difficulty: ordinal difficulty (1 = easiest), sent as a tag.
        size: number of training problems (the arm's `size` on the service).
        answer_pattern: regex a well-formatted answer must fully match.
    """

    name: str
    task: str
    config: dict[str, Any]
    difficulty: int
    size: int = 10_000
    answer_pattern: str = r"\S(?:.*\S)?"


@dataclass(frozen=True)
class Problem:
    """One problem: the prompt text to complete and the reasoning-gym entry that scores it."""

    level: str
    index: int
    prompt: str
    answer: str
    entry: dict[str, Any] = field(repr=False)


def chain_sum_levels(
    digits: Sequence[int] = (1, 2, 3, 4), terms: int = 2, size: int = 10_000
) -> list[Level]:
    """Levels of reasoning-gym `chain_sum` (+/- of `terms` numbers) by digits per number."""
    _check_digits(digits)
    return [
        Level(
            name=f"chain_sum/d{d}",
            task="chain_sum",
            config={"min_terms": terms, "max_terms": terms, "min_digits": d, "max_digits": d},
            difficulty=rank + 1,
            size=size,
            answer_pattern=r"-?\d+",
        )
        for rank, d in enumerate(sorted(digits))
    ]


def addition_levels(
    digits: Sequence[int] = (2, 3, 4, 5, 6, 7, 8), terms: int = 2, size: int = 10_000
) -> list[Level]:
    """Levels of `terms`-term addition of `d`-digit numbers (reasoning-gym `basic_arithmetic`
    with `+` only, no negation, no parentheses): the curriculum testbed's levels."""
    _check_digits(digits)
    return [
        Level(
            name=f"add/d{d}",
            task="basic_arithmetic",
            config={
                "min_terms": terms,
                "max_terms": terms,
                "min_digits": d,
                "max_digits": d,
                "operators": ("+",),
                "allow_negation": False,
                "allow_parentheses": False,
            },
            difficulty=rank + 1,
            size=size,
            answer_pattern=r"\d+",
        )
        for rank, d in enumerate(sorted(digits))
    ]


def _check_digits(digits: Sequence[int]) -> None:
    if not digits or min(digits) < 1:
        raise ValueError(f"digits must be a non-empty list of positive ints, got {digits!r}")


def reverse_number(text: str) -> str:
    """`"-120"` -> `"-021"`: the digits least significant first, the sign kept in front."""
    sign = "-" if text.startswith("-") else ""
    return sign + text.removeprefix("-")[::-1]


class TaskSuite:
    """Training levels (the arms) plus held-out OOD levels, with prompts and rewards.

    Args:
        levels: all levels, easiest first.
        ood_levels: how many of the hardest levels to hold out (default 1).
        seed: reasoning-gym seed shared by all levels.
        eval_size: the most held-out problems per level (per split) that may be asked for.
        prompt_style: `compact` ("12+34=" then the bare answer; for the char-level model),
            `reversed` (every number written least significant digit first, "21+43=" then
            "64" for 12 + 34 = 46: each answer digit then depends on operand digits at the
            same position, which lets a small model carry and lets length generalise) or
            `question` (reasoning-gym's question and an `<answer>...</answer>` instruction).
        rewards: the reward scheme.
        split: `content` or `index` (the module docstring says how they differ).
    """

    def __init__(
        self,
        levels: Sequence[Level],
        ood_levels: int = 1,
        seed: int = 1234,
        eval_size: int = 1_000,
        prompt_style: PromptStyle = "compact",
        rewards: RewardScheme | None = None,
        split: SplitMode = "index",
    ) -> None:
        if not 0 <= ood_levels < len(levels):
            raise ValueError(f"ood_levels={ood_levels} must leave at least one training level")
        names = [lv.name for lv in levels]
        if len(set(names)) != len(names):
            raise ValueError(f"level names must be unique, got {names}")
        if split not in ("content", "index"):
            raise ValueError(f"split must be 'content' or 'index', got {split!r}")
        self.levels = {lv.name: lv for lv in levels}
        self.train_levels = [lv.name for lv in levels[: len(levels) - ood_levels]]
        self.ood_levels = [lv.name for lv in levels[len(levels) - ood_levels :]]
        self.eval_size = eval_size
        self.prompt_style = prompt_style
        self.rewards = rewards or RewardScheme()
        self.split = split
        # The content split scans past `size`: reasoning-gym datasets are virtual, any index
        # is a problem; `size` only bounds iteration.
        scale = 1 if split == "index" else 4
        self._datasets: dict[str, ProceduralDataset] = {
            lv.name: reasoning_gym.create_dataset(
                lv.task, seed=seed, size=(lv.size + eval_size) * scale, **lv.config
            )
            for lv in levels
        }
        self._splits = {
            name: ContentSplit(dataset, self.format_prompt)
            for name, dataset in self._datasets.items()
        }

    def arms(self) -> list[dict[str, Any]]:
        """The training levels as the service's arm specs `{name, size, tags}`."""
        return [
            {
                "name": name,
                "size": self.levels[name].size,
                "tags": {
                    "task": self.levels[name].task,
                    "difficulty": self.levels[name].difficulty,
                },
            }
            for name in self.train_levels
        ]

    def _check_level(self, level: str) -> None:
        if level not in self.levels:
            raise KeyError(f"unknown level {level!r}; known: {sorted(self.levels)}")

    def _make_problem(self, level: str, index: int, dataset_index: int) -> Problem:
        entry = self._datasets[level][dataset_index]
        return Problem(level, index, self.format_prompt(entry), entry["answer"], entry)

    def problem(self, level: str, index: int) -> Problem:
        """Training problem `index` of `level` (deterministic).

        With `split="index"`, `index` may also be an evaluation index `size + i`.
        """
        self._check_level(level)
        size = self.levels[level].size
        if self.split == "content":
            if not 0 <= index < size:
                raise IndexError(f"index {index} out of range [0, {size}) for level {level!r}")
            return self._make_problem(level, index, self._splits[level].index("train", index))
        if not 0 <= index < size + self.eval_size:
            raise IndexError(f"index {index} out of range for level {level!r}")
        return self._make_problem(level, index, index)

    def problem_of(self, arm: str, index: int | None) -> Problem:
        """The problem behind an item the service sampled (`{arm, index}`).

        The worker's arms all declare a size, so the service always sends an index.
        """
        if index is None:
            raise RuntimeError(
                f"the service sampled arm {arm!r} without an index; the worker's arms all "
                "declare a size"
            )
        return self.problem(arm, index)

    def eval_problems(self, level: str, count: int, split: HeldOutSplit = "eval") -> list[Problem]:
        """The first `count` held-out problems of `level` (never trained on).

        `split="dev"` gives the development split, for early stopping and tuning, disjoint
        from both training and `eval` (content split only; with `split="index"` the dev
        problems are the ones after the eval problems).
        """
        self._check_level(level)
        if count > self.eval_size:
            raise ValueError(f"count {count} > eval_size {self.eval_size}")
        size = self.levels[level].size
        if self.split == "content":
            try:
                ids = [self._splits[level].index(split, i) for i in range(count)]
            except ValueError as exc:
                raise ValueError(f"{level}: cannot give {count} {split} problems: {exc}") from None
            return [self._make_problem(level, size + i, d) for i, d in enumerate(ids)]
        start = size if split == "eval" else size + self.eval_size - count
        return [self.problem(level, start + i) for i in range(count)]

    def format_prompt(self, entry: dict[str, Any]) -> str:
        """The prompt the model completes for a reasoning-gym entry."""
        if self.prompt_style in ("compact", "reversed"):
            expression = entry["metadata"].get("expression")
            if expression is None:
                raise ValueError(
                    f"prompt_style={self.prompt_style!r} needs metadata['expression']; task "
                    f"{entry['metadata'].get('source_dataset')!r} has none: use 'question'"
                )
            compact = expression.replace(" ", "")
            if self.prompt_style == "reversed":
                compact = re.sub(r"\d+", lambda m: m.group(0)[::-1], compact)
            return compact + "="
        return f"{entry['question']}\nGive only the final answer inside <answer></answer>.\n"

    def format_answer(self, answer: str) -> str:
        """The completion a perfect model would write (used for SFT traces)."""
        if self.prompt_style == "compact":
            return answer
        if self.prompt_style == "reversed":
            return reverse_number(answer)
        return f"<answer>{answer}</answer>"

    def extract_answer(self, completion: str, finished: bool = True) -> str | None:
        """The answer a completion states, or None when it is not well-formatted.

        In the compact and reversed styles the whole completion is the answer (reversed
        back in the reversed style) and must have ended with the end-of-sequence token
        (`finished`); in the question style it is the last `<answer>...</answer>` span.
        """
        if self.prompt_style in ("compact", "reversed"):
            if not finished:
                return None
            text = completion.strip()
            return reverse_number(text) if self.prompt_style == "reversed" else text
        spans = ANSWER_TAG.findall(completion)
        return spans[-1].strip() if spans else None

    def reward(self, problem: Problem, completion: str, finished: bool = True) -> float:
        """Reward of one completion for `problem` under the suite's `RewardScheme`."""
        answer = self.extract_answer(completion, finished)
        pattern = self.levels[problem.level].answer_pattern
        if answer is None or re.fullmatch(pattern, answer) is None:
            return self.rewards.invalid
        dataset = self._datasets[problem.level]
        if dataset.score_answer(answer, problem.entry) >= 1.0:
            return self.rewards.correct
        return self.rewards.formatted


def default_suite(seed: int = 1234, prompt_style: PromptStyle = "compact") -> TaskSuite:
    """The CPU demo suite: chain_sum with 2 terms of 1, 2, 3 digits; 4 digits held out (OOD)."""
    return TaskSuite(
        chain_sum_levels((1, 2, 3, 4)), ood_levels=1, seed=seed, prompt_style=prompt_style
    )


def addition_suite(
    digits: Sequence[int] = (2, 3, 4, 5, 6, 7, 8),
    ood_levels: int = 1,
    seed: int = 1234,
    size: int = 10_000,
    rewards: RewardScheme | None = None,
) -> TaskSuite:
    """The curriculum testbed: 2-term addition by digits, reversed digits, content split.

    Six training levels (2-7 digits) and the 8-digit level held out (OOD: reachable only if
    what the model learns on shorter numbers generalises in length).
    """
    return TaskSuite(
        addition_levels(digits, size=size),
        ood_levels=ood_levels,
        seed=seed,
        eval_size=1_000,
        prompt_style="reversed",
        rewards=rewards,
        split="content",
    )
