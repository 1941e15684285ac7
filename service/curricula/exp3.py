"""EXP3 (Auer, Cesa-Bianchi, Freund and Schapire 2002, "The nonstochastic multiarmed
bandit problem", SIAM J. Comput. 32(1)): exponential weights with importance weighting.

Probabilities mix the exponential weights with uniform exploration:
``p_i = (1 - gamma) w_i / sum w + gamma / K``. One report of a batch of ``B`` problems,
``n_i`` of them from arm ``i``, gives the importance-weighted estimate
``x_i = r_i n_i / (B p_i)`` (unbiased for ``r_i``, since ``E[n_i] = B p_i``; with
``B = 1`` it is Auer's ``r_i / p_i`` for the pulled arm), and ``log w_i += eta x_i``.
``p`` is recomputed from the stored weights, i.e. the probabilities of the state the
batch was drawn from when reports come back in order. Rewards are clipped to [0, 1] as
the algorithm assumes. Log-weights are stored shifted so that their maximum is 0.

EXP3 makes no stationarity assumption, so an adversarial (moving) reward is in scope,
but its weights remember the whole past: prefer ``ducb`` or ``thompson`` when arms change
value quickly.

Options:
    gamma: uniform exploration mass in [1e-6, 1] (0.1).
    eta: learning rate in (0, 100] (default ``gamma / K`` as in Auer et al.). Both bounds
        keep ``eta x_i`` finite: ``p_i >= gamma / K``, so ``x_i <= K / gamma``.
    objective: the arm reward, as in ``sec`` (``"abs_advantage"``).
    advantage_std: how rewards become advantages (``"unbiased"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from service.curricula.base import ArmFeedback, ArmInfo, OptionReader, State, register
from service.curricula.objectives import (
    OBJECTIVES,
    initial_state_with,
    memory_to_json,
    objective_reward,
    outcome_memory,
)
from service.curricula.rewards import ADVANTAGE_STD_MODES
from service.curricula.td import boltzmann_probabilities


@register("exp3")
class Exp3:
    """EXP3 with batch importance weighting."""

    name: ClassVar[str] = "exp3"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self.gamma = read.number("gamma", 0.1, low=1e-6, high=1.0)
        self.eta = read.number(
            "eta", self.gamma / max(len(arms), 1), low=0.0, high=100.0, low_open=True
        )
        self.objective = read.choice("objective", "abs_advantage", OBJECTIVES)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)
        read.finish()

    def options(self) -> dict[str, Any]:
        return {
            "gamma": self.gamma,
            "eta": self.eta,
            "objective": self.objective,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return initial_state_with({"log_w": 0.0}, len(arms), self.objective)

    def probabilities(self, state: State, step: int) -> np.ndarray:
        log_w = np.asarray(state["log_w"], dtype=np.float64)
        return (1.0 - self.gamma) * boltzmann_probabilities(log_w, 1.0) + self.gamma / log_w.size

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        log_w = np.asarray(state["log_w"], dtype=np.float64)
        earned = objective_reward(
            self.objective, feedback, outcome_memory(state.get("last_outcome"), log_w.size)
        )
        count = np.asarray(feedback.count, dtype=np.float64)
        batch = count.sum()
        new_log_w = log_w
        if batch > 0:
            p = self.probabilities(state, step)
            reward = np.where(earned.present, np.clip(earned.reward, 0.0, 1.0), 0.0)
            estimate = reward * count / (batch * p)
            new_log_w = log_w + self.eta * estimate
            new_log_w = new_log_w - new_log_w.max()
        new_state: State = {"log_w": new_log_w.tolist()}
        if earned.last_outcome is not None:
            new_state["last_outcome"] = memory_to_json(earned.last_outcome)
        return new_state

    def values(self, state: State) -> np.ndarray:
        """The log-weights (shifted so that the best arm has 0)."""
        return np.asarray(state["log_w"], dtype=np.float64)
