"""Pure curriculum math: strategies, GRPO advantages, sampling. numpy only, no I/O."""

from __future__ import annotations

from service.curricula import (  # noqa: F401  (registers the strategies)
    adarft,
    baselines,
    ducb,
    exp3,
    learning_progress,
    sec,
    thompson,
    threshold,
)
from service.curricula.base import (
    ArmFeedback,
    ArmInfo,
    State,
    Strategy,
    StrategyError,
    build_strategy,
    register,
    strategy_names,
)
from service.curricula.rewards import (
    arm_feedback,
    grpo_advantages,
    mean_abs_advantage,
    problem_signals,
)
from service.curricula.sampling import Batch, draw_batch, sample_rng

__all__ = [
    "ArmFeedback",
    "ArmInfo",
    "Batch",
    "State",
    "Strategy",
    "StrategyError",
    "arm_feedback",
    "build_strategy",
    "draw_batch",
    "grpo_advantages",
    "mean_abs_advantage",
    "problem_signals",
    "register",
    "sample_rng",
    "strategy_names",
]
