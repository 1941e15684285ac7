"""Evaluation on held-out problems: pass@1 averaged over k samples, and success-in-k.

Held-out problems come from the suite's `eval` split (or `dev`, for early stopping); how they
are kept apart from the training problems is `TaskSuite`'s split (gpu_worker/tasks.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpu_worker.config import TrainConfig
from gpu_worker.model import encode_prompt
from gpu_worker.protocol import mean_id_pass1
from gpu_worker.rollout import RolloutBackend
from gpu_worker.tasks import HeldOutSplit, TaskSuite


@dataclass(frozen=True)
class LevelScore:
    """Scores of one level: mean pass@1 over k samples, and the share solved at least once."""

    level: str
    problems: int
    samples: int
    pass_at_1: float
    success_in_k: float


def evaluate_levels(
    engine: RolloutBackend,
    tokenizer: Any,
    suite: TaskSuite,
    levels: Sequence[str],
    problems: int,
    samples: int,
    max_tokens: int,
    temperature: float = 1.0,
    seed: int = 0,
    chat: bool = False,
    split: HeldOutSplit = "eval",
) -> dict[str, LevelScore]:
    """Score each level on its first `problems` held-out problems with `samples` samples each.

    `temperature=0` is greedy decoding (then every sample is the same; use samples=1).
    `chat=True` wraps each prompt in the tokenizer's chat template. `split="dev"` scores the
    development split instead (for early stopping; disjoint from `eval`).
    A sample counts as solved when its reward equals the suite's `correct` reward.
    """
    scores: dict[str, LevelScore] = {}
    for level in levels:
        batch = suite.eval_problems(level, problems, split)
        prompt_ids = [encode_prompt(tokenizer, p.prompt, chat) for p in batch]
        groups = engine.generate(prompt_ids, samples, max_tokens, temperature, seed=seed)
        solved = [
            [suite.reward(p, c.text, c.finished) == suite.rewards.correct for c in group]
            for p, group in zip(batch, groups, strict=True)
        ]
        scores[level] = LevelScore(
            level=level,
            problems=problems,
            samples=samples,
            pass_at_1=sum(sum(s) / len(s) for s in solved) / len(solved),
            success_in_k=sum(any(s) for s in solved) / len(solved),
        )
    return scores


def evaluation_due(cfg: TrainConfig, step: int, rollouts: float, next_eval: float) -> bool:
    """Whether RL evaluates before `step`: on the step grid (`eval_every`) or once the
    rollouts generated so far reach the next point of the rollout grid."""
    if not cfg.eval_problems:
        return False
    on_steps = bool(cfg.eval_every) and step % cfg.eval_every == 0
    on_rollouts = bool(cfg.eval_every_rollouts) and rollouts >= next_eval
    return on_steps or on_rollouts


def reached(cfg: TrainConfig, evaluation: dict[str, dict[str, Any]]) -> bool:
    """Whether an evaluation's mean in-distribution pass@1 reaches `stop_at_id_pass1`."""
    return cfg.stop_at_id_pass1 > 0 and mean_id_pass1(evaluation) >= cfg.stop_at_id_pass1
