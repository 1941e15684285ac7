"""Discounted UCB (Garivier and Moulines 2011, "On upper-confidence bound policies for
switching bandit problems", ALT; arXiv 0805.3415): an uncertainty-aware, non-stationary bandit.

Each report discounts every arm's pull count and reward sum by ``gamma`` and adds the
arms that earned a reward: ``N <- gamma N + 1[earned]``, ``S <- gamma S + r 1[earned]``.
The index of an arm is ``S / N + c sqrt(max(log(sum N), 0) / N)``; an arm with ``N = 0``
has an infinite index. Old evidence fades, so an arm whose reward moves is looked at again.

A batch holds many slots, so the index becomes probabilities in one of two ways:
``selection="argmax"`` (default, UCB's own rule) puts all mass on the highest index,
split evenly between ties (so the first batch, all indices infinite, is uniform);
``selection="boltzmann"`` draws from ``softmax(index / tau)``, spreading a batch.

Options:
    gamma: discount in (0, 1] (0.95; 1 is the stationary UCB1 form).
    c: exploration weight >= 0 (1.0).
    selection: ``"argmax"`` or ``"boltzmann"`` (``"argmax"``).
    tau: temperature of ``"boltzmann"`` >= 0.001 (0.2).
    objective: the arm reward, as in ``sec`` (``"abs_advantage"``).
    advantage_std: how rewards become advantages (``"unbiased"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from service.curricula.base import ArmFeedback, ArmInfo, OptionReader, State, register
from service.curricula.objectives import (
    MIN_TAU,
    OBJECTIVES,
    argmax_mass,
    initial_state_with,
    memory_to_json,
    objective_reward,
    outcome_memory,
)
from service.curricula.rewards import ADVANTAGE_STD_MODES
from service.curricula.td import boltzmann_probabilities

SELECTIONS = ("argmax", "boltzmann")


def discounted_ucb_index(counts: np.ndarray, sums: np.ndarray, c: float) -> np.ndarray:
    """``S / N + c sqrt(max(log(sum N), 0) / N)``, +inf where ``N == 0``."""
    counts = np.asarray(counts, dtype=np.float64)
    seen = counts > 0
    safe = np.where(seen, counts, 1.0)
    log_total = max(float(np.log(counts.sum())) if counts.sum() > 0 else 0.0, 0.0)
    index = np.asarray(sums) / safe + c * np.sqrt(log_total / safe)
    return np.where(seen, index, np.inf)


@register("ducb")
class DiscountedUCB:
    """Discounted UCB over arms, by argmax (ties split) or a softmax of the index."""

    name: ClassVar[str] = "ducb"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self.gamma = read.number("gamma", 0.95, low=0.0, high=1.0, low_open=True)
        self.c = read.number("c", 1.0, low=0.0)
        self.selection = read.choice("selection", "argmax", SELECTIONS)
        self.tau = read.number("tau", 0.2, low=MIN_TAU)
        self.objective = read.choice("objective", "abs_advantage", OBJECTIVES)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)
        read.finish()

    def options(self) -> dict[str, Any]:
        return {
            "gamma": self.gamma,
            "c": self.c,
            "selection": self.selection,
            "tau": self.tau,
            "objective": self.objective,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return initial_state_with({"n": 0.0, "s": 0.0}, len(arms), self.objective)

    def index(self, state: State) -> np.ndarray:
        """The current UCB index per arm."""
        return discounted_ucb_index(np.asarray(state["n"]), np.asarray(state["s"]), self.c)

    def probabilities(self, state: State, step: int) -> np.ndarray:
        index = self.index(state)
        if self.selection == "argmax" or np.isinf(index).any():
            return argmax_mass(index)
        return boltzmann_probabilities(index, self.tau)

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        counts = np.asarray(state["n"], dtype=np.float64)
        sums = np.asarray(state["s"], dtype=np.float64)
        earned = objective_reward(
            self.objective, feedback, outcome_memory(state.get("last_outcome"), counts.size)
        )
        new_state: State = {
            "n": (self.gamma * counts + earned.present).tolist(),
            "s": (self.gamma * sums + np.where(earned.present, earned.reward, 0.0)).tolist(),
        }
        if earned.last_outcome is not None:
            new_state["last_outcome"] = memory_to_json(earned.last_outcome)
        return new_state

    def values(self, state: State) -> np.ndarray:
        """The discounted mean reward ``S / N`` (0 for an arm never seen)."""
        counts = np.asarray(state["n"], dtype=np.float64)
        sums = np.asarray(state["s"], dtype=np.float64)
        return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
