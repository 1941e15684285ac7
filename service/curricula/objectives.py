"""What a bandit arm earns from one report, and how arm scores become probabilities.

Shared by the bandit strategies (``sec``, ``ducb``, ``thompson``, ``exp3``,
``learning_progress``). Pure numpy.

Objectives (the per-arm reward a strategy learns from):
    abs_advantage: r_t(c), the mean |GRPO advantage| of the arm's problems (SEC paper).
    learning_progress: mean outcome now - mean outcome at the arm's previous report, signed,
        the memory starting at 0 (SEC's released code, objective ``progress``): the first
        report earns the outcome itself, and an arm whose success falls earns a negative
        reward.
    abs_learning_progress: |mean outcome now - mean outcome at the arm's previous report|
        (Matiisen et al., Teacher-Student Curriculum Learning, 2017): forgetting counts as
        progress, and the first report of an arm only records its outcome and earns nothing.
    pass_rate: 2 sqrt(p (1 - p)) with p the arm's mean outcome reward clipped to [0, 1]:
        the expected |advantage| of binary rewards at pass rate p, without the noise of
        the sampled groups.

Sampling rules (scores -> probabilities):
    boltzmann: softmax(Q / tau), tau >= MIN_TAU.
    normalized: proportional to max(Q, 0.01) (SEC's released code floors Q at 0.01, so an
        arm whose value fell to 0 is still drawn now and then).
    epsilon_greedy: 1 - epsilon on the argmax (split evenly between tied arms); epsilon
        spread uniformly over the other arms (``epsilon_arms="non_argmax"``, SEC's released
        code) or over all arms (``"all"``, the textbook rule). SEC's released code breaks
        ties by taking the first arm; here tied arms share the mass, so the result does not
        depend on the order of the arms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from service.curricula.base import ArmFeedback
from service.curricula.td import boltzmann_probabilities

OBJECTIVES = ("abs_advantage", "learning_progress", "abs_learning_progress", "pass_rate")
SAMPLING_RULES = ("boltzmann", "normalized", "epsilon_greedy")
EPSILON_ARMS = ("non_argmax", "all")
NORMALIZED_FLOOR = 0.01
"""The floor on Q of the ``normalized`` rule (SEC's released code)."""
MIN_TAU = 1e-3
"""The smallest Boltzmann temperature accepted: below it softmax(Q / tau) is an argmax in
all but name, and ever smaller values only court overflow."""


@dataclass(frozen=True)
class ObjectiveReward:
    """One report's reward per arm under an objective.

    Attributes:
        reward: the arm's reward (0 where not ``present``).
        present: arms that earned a reward this report (objectives built on outcomes
            skip arms whose problems carried advantages only).
        last_outcome: the per-arm outcome memory after this report (``learning_progress``
            only; NaN where an arm has never reported an outcome).
    """

    reward: np.ndarray
    present: np.ndarray
    last_outcome: np.ndarray | None = None


def initial_state_with(fields: dict[str, float], n_arms: int, objective: str) -> dict[str, Any]:
    """A state of per-arm lists starting at ``fields``' values, plus the outcome memory the
    learning-progress objectives need (each arm's last mean outcome, None until seen)."""
    state: dict[str, Any] = {name: [value] * n_arms for name, value in fields.items()}
    if objective in ("learning_progress", "abs_learning_progress"):
        state["last_outcome"] = [None] * n_arms
    return state


def outcome_memory(values: list[float | None] | None, n_arms: int) -> np.ndarray:
    """The stored per-arm outcome memory (JSON ``null`` for "never seen") as an array."""
    if values is None:
        return np.full(n_arms, np.nan)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def memory_to_json(memory: np.ndarray) -> list[float | None]:
    """NaN is not JSON: "never seen" is stored as ``null``."""
    return [None if np.isnan(v) else float(v) for v in memory]


def objective_reward(
    objective: str, feedback: ArmFeedback, last_outcome: np.ndarray | None = None
) -> ObjectiveReward:
    """The per-arm reward of one report under ``objective`` (see the module docstring)."""
    if objective == "abs_advantage":
        return ObjectiveReward(
            reward=np.asarray(feedback.reward, dtype=np.float64),
            present=np.asarray(feedback.present, dtype=bool),
        )
    outcome = np.asarray(feedback.outcome, dtype=np.float64)
    has_outcome = np.asarray(feedback.present, dtype=bool) & ~np.isnan(outcome)
    if objective == "pass_rate":
        p = np.clip(np.where(has_outcome, outcome, 0.0), 0.0, 1.0)
        reward = np.where(has_outcome, 2.0 * np.sqrt(p * (1.0 - p)), 0.0)
        return ObjectiveReward(reward=reward, present=has_outcome)
    if objective in ("learning_progress", "abs_learning_progress"):
        previous = (
            np.full(outcome.shape, np.nan) if last_outcome is None else np.asarray(last_outcome)
        )
        memory = np.where(has_outcome, outcome, previous)
        if objective == "learning_progress":
            # signed, from a memory that starts at 0 (SEC's released code)
            change = np.where(has_outcome, outcome - np.nan_to_num(previous, nan=0.0), 0.0)
            return ObjectiveReward(reward=change, present=has_outcome, last_outcome=memory)
        earned = has_outcome & ~np.isnan(previous)
        reward = np.where(earned, np.abs(np.where(earned, outcome - previous, 0.0)), 0.0)
        return ObjectiveReward(reward=reward, present=earned, last_outcome=memory)
    raise ValueError(f"unknown objective {objective!r}")


def normalized_probabilities(q: np.ndarray) -> np.ndarray:
    """Probabilities proportional to ``max(Q, NORMALIZED_FLOOR)``."""
    weights = np.maximum(np.asarray(q, dtype=np.float64), NORMALIZED_FLOOR)
    return weights / weights.sum()


def argmax_mass(scores: np.ndarray) -> np.ndarray:
    """All mass on the highest score, split evenly between tied arms (+inf ties included)."""
    scores = np.asarray(scores, dtype=np.float64)
    best = scores == scores.max()
    return best / best.sum()


def epsilon_greedy_probabilities(
    q: np.ndarray, epsilon: float, epsilon_arms: str = "non_argmax"
) -> np.ndarray:
    """``1 - epsilon`` on the argmax (ties split), ``epsilon`` spread over the other arms.

    With ``epsilon_arms="all"`` the ``epsilon`` is spread over every arm, the argmax
    included. When every arm ties for the argmax, all arms share the mass evenly.
    """
    q = np.asarray(q, dtype=np.float64)
    greedy = argmax_mass(q)
    if epsilon_arms == "all":
        return (1.0 - epsilon) * greedy + epsilon / q.size
    others = greedy == 0.0
    if not others.any():
        return greedy
    return (1.0 - epsilon) * greedy + epsilon * others / others.sum()


def score_probabilities(
    q: np.ndarray, rule: str, tau: float, epsilon: float, epsilon_arms: str = "non_argmax"
) -> np.ndarray:
    """Scores to probabilities under one of :data:`SAMPLING_RULES`."""
    if rule == "boltzmann":
        return boltzmann_probabilities(q, tau)
    if rule == "normalized":
        return normalized_probabilities(q)
    if rule == "epsilon_greedy":
        return epsilon_greedy_probabilities(q, epsilon, epsilon_arms)
    raise ValueError(f"unknown sampling rule {rule!r}")
