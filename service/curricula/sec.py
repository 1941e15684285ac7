"""SEC: Self-Evolving Curriculum (Chen et al. 2025, arXiv 2505.14970).

Each arm's value follows TD(0) of its reward, by default the mean absolute GRPO advantage
of its problems in the last step: ``Q <- alpha r + (1 - alpha) Q`` with ``Q0 = 0``. Each
slot of a batch draws its arm from ``softmax(Q / tau)``.

The released SEC code also offers other rewards and sampling rules; they are options here
(defaults reproduce the paper, see :mod:`service.curricula.objectives` for the formulas).

Options:
    alpha: TD learning rate in (0, 1] (paper: 0.5; 0.2 for MATH on 3B).
    tau: Boltzmann temperature >= 0.001 (paper: 0.2 to 1.0).
    unsampled: ``"hold"`` (paper's text: absent arms keep Q) or ``"decay"``
        (released code: absent arms are updated with r = 0).
    objective: ``"abs_advantage"`` (paper), ``"learning_progress"`` (signed change of the
        arm's mean outcome since its previous report, from 0: released code),
        ``"abs_learning_progress"`` (the absolute change, Matiisen et al.) or
        ``"pass_rate"`` (2 sqrt(p(1-p))).
    sampling: ``"boltzmann"`` (paper), ``"normalized"`` (proportional to max(Q, 0.01),
        released code) or ``"epsilon_greedy"``.
    epsilon: exploration mass of ``epsilon_greedy`` in [0, 1] (0.1).
    epsilon_arms: where ``epsilon_greedy`` spends ``epsilon``: ``"non_argmax"`` (released
        code: a random arm other than the argmax) or ``"all"`` (any arm).
    advantage_std: how rewards become advantages: ``"unbiased"``, ``"population"``, ``"none"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from service.curricula.base import ArmFeedback, ArmInfo, OptionReader, State, register
from service.curricula.objectives import (
    EPSILON_ARMS,
    MIN_TAU,
    OBJECTIVES,
    SAMPLING_RULES,
    initial_state_with,
    memory_to_json,
    objective_reward,
    outcome_memory,
    score_probabilities,
)
from service.curricula.rewards import ADVANTAGE_STD_MODES
from service.curricula.td import UNSAMPLED_MODES, td_update


@register("sec")
class SelfEvolvingCurriculum:
    """The SEC bandit: TD(0) values of an objective, drawn by a sampling rule."""

    name: ClassVar[str] = "sec"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self.alpha = read.number("alpha", 0.5, low=0.0, high=1.0, low_open=True)
        self.tau = read.number("tau", 1.0, low=MIN_TAU)
        self.unsampled = read.choice("unsampled", "hold", UNSAMPLED_MODES)
        self.objective = read.choice("objective", "abs_advantage", OBJECTIVES)
        self.sampling = read.choice("sampling", "boltzmann", SAMPLING_RULES)
        self.epsilon = read.number("epsilon", 0.1, low=0.0, high=1.0)
        self.epsilon_arms = read.choice("epsilon_arms", "non_argmax", EPSILON_ARMS)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)
        read.finish()

    def options(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "tau": self.tau,
            "unsampled": self.unsampled,
            "objective": self.objective,
            "sampling": self.sampling,
            "epsilon": self.epsilon,
            "epsilon_arms": self.epsilon_arms,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return initial_state_with({"q": 0.0}, len(arms), self.objective)

    def probabilities(self, state: State, step: int) -> np.ndarray:
        return score_probabilities(
            np.asarray(state["q"]), self.sampling, self.tau, self.epsilon, self.epsilon_arms
        )

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        q = np.asarray(state["q"], dtype=np.float64)
        memory = outcome_memory(state.get("last_outcome"), q.size)
        earned = objective_reward(self.objective, feedback, memory)
        as_feedback = ArmFeedback(
            present=earned.present,
            reward=earned.reward,
            count=feedback.count,
            outcome=feedback.outcome,
        )
        new_state: State = {"q": td_update(q, as_feedback, self.alpha, self.unsampled).tolist()}
        if earned.last_outcome is not None:
            new_state["last_outcome"] = memory_to_json(earned.last_outcome)
        return new_state

    def values(self, state: State) -> np.ndarray:
        return np.asarray(state["q"], dtype=np.float64)
