"""Learning progress from fast and slow moving averages of success (Kanitscheider et al.
2021, "Multi-task curriculum learning in a complex, visual, hard-exploration domain:
Minecraft", arXiv 2106.14876; the idea of Matiisen et al. 2017, Teacher-Student
Curriculum Learning, arXiv 1707.00183).

Every arm keeps two exponential moving averages of its success (mean outcome reward,
clipped to [0, 1]): ``fast <- fast + alpha_fast (s - fast)`` and
``slow <- slow + alpha_slow (s - slow)``, both starting at the arm's first outcome. Their
gap ``|fast - slow|`` is the arm's learning progress: large while its success moves (up,
or down when it is being forgotten), zero on mastered and on hopeless arms. Arms are
drawn by a sampling rule over that score; an arm not seen yet scores 0.

Options:
    alpha_fast: rate of the fast average in (0, 1] (0.2).
    alpha_slow: rate of the slow average in (0, alpha_fast) (0.05).
    sampling: ``"epsilon_greedy"``, ``"boltzmann"`` or ``"normalized"``
        (``"epsilon_greedy"``: keeps looking at arms whose progress has stopped).
    epsilon: exploration mass of ``epsilon_greedy`` in [0, 1] (0.2).
    epsilon_arms: where ``epsilon_greedy`` spends ``epsilon``: ``"non_argmax"`` (a random
        arm other than the argmax, as SEC's released code) or ``"all"`` (any arm).
    tau: temperature of ``boltzmann`` >= 0.001 (0.02: progress values are small).
    advantage_std: how rewards become advantages (``"unbiased"``; unused by the score).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from service.curricula.base import (
    ArmFeedback,
    ArmInfo,
    OptionReader,
    State,
    StrategyError,
    register,
)
from service.curricula.objectives import (
    EPSILON_ARMS,
    MIN_TAU,
    SAMPLING_RULES,
    memory_to_json,
    outcome_memory,
    score_probabilities,
)
from service.curricula.rewards import ADVANTAGE_STD_MODES


@register("learning_progress")
class LearningProgress:
    """|fast EMA - slow EMA| of each arm's success, drawn by a sampling rule."""

    name: ClassVar[str] = "learning_progress"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self.alpha_fast = read.number("alpha_fast", 0.2, low=0.0, high=1.0, low_open=True)
        self.alpha_slow = read.number("alpha_slow", 0.05, low=0.0, high=1.0, low_open=True)
        self.sampling = read.choice("sampling", "epsilon_greedy", SAMPLING_RULES)
        self.epsilon = read.number("epsilon", 0.2, low=0.0, high=1.0)
        self.epsilon_arms = read.choice("epsilon_arms", "non_argmax", EPSILON_ARMS)
        self.tau = read.number("tau", 0.02, low=MIN_TAU)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)
        read.finish()
        if self.alpha_slow >= self.alpha_fast:
            raise StrategyError(
                f"{self.name}: alpha_slow ({self.alpha_slow}) must be below "
                f"alpha_fast ({self.alpha_fast})"
            )

    def options(self) -> dict[str, Any]:
        return {
            "alpha_fast": self.alpha_fast,
            "alpha_slow": self.alpha_slow,
            "sampling": self.sampling,
            "epsilon": self.epsilon,
            "epsilon_arms": self.epsilon_arms,
            "tau": self.tau,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return {"fast": [None] * len(arms), "slow": [None] * len(arms)}

    def progress(self, state: State) -> np.ndarray:
        """``|fast - slow|`` per arm, 0 for an arm not seen yet."""
        fast = outcome_memory(state["fast"], len(state["fast"]))
        slow = outcome_memory(state["slow"], len(state["slow"]))
        return np.nan_to_num(np.abs(fast - slow), nan=0.0)

    def probabilities(self, state: State, step: int) -> np.ndarray:
        return score_probabilities(
            self.progress(state), self.sampling, self.tau, self.epsilon, self.epsilon_arms
        )

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        fast = outcome_memory(state["fast"], len(state["fast"]))
        slow = outcome_memory(state["slow"], len(state["slow"]))
        outcome = np.asarray(feedback.outcome, dtype=np.float64)
        seen = np.asarray(feedback.present, dtype=bool) & ~np.isnan(outcome)
        success = np.clip(np.where(seen, outcome, 0.0), 0.0, 1.0)
        first = seen & np.isnan(fast)
        fast = np.where(first, success, fast)
        slow = np.where(first, success, slow)
        fast = np.where(seen, fast + self.alpha_fast * (success - fast), fast)
        slow = np.where(seen, slow + self.alpha_slow * (success - slow), slow)
        return {"fast": memory_to_json(fast), "slow": memory_to_json(slow)}

    def values(self, state: State) -> np.ndarray:
        return self.progress(state)
