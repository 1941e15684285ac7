"""AdaRFT: adaptive curriculum by a target difficulty (Shi et al. 2025, "Efficient
reinforcement finetuning via adaptive curriculum learning", arXiv 2504.05520).

Every arm carries a numeric ``difficulty`` tag. The run keeps a target difficulty ``T``;
after each report, with ``R`` the mean outcome reward of the report's problems,
``T <- clip(T + eta tanh(alpha (R - beta)), min difficulty, max difficulty)``: the target
rises while the model succeeds more often than ``beta`` and falls when it fails. Slots are
drawn from the arms nearest ``T``.

Options:
    eta: step size in difficulty units > 0 (default a tenth of the arms' difficulty range;
        the paper's 50 on a 0-100 scale is half the range, which on a handful of arms
        jumps across levels at every step).
    alpha: sensitivity of the step to the reward gap > 0 (2.0, paper).
    beta: target reward in [0, 1] (0.5, paper).
    initial_target: the starting ``T`` (the easiest arm's difficulty).
    selection: ``"nearest"`` (all mass on the arms closest to ``T``, split between ties)
        or ``"interpolate"`` (linear weights between the difficulties just below and just
        above ``T``, so the mix moves smoothly) (``"nearest"``).
    advantage_std: how rewards become advantages (``"unbiased"``; unused by the rule).
"""

from __future__ import annotations

import math
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
from service.curricula.rewards import ADVANTAGE_STD_MODES

SELECTIONS = ("nearest", "interpolate")


def arm_difficulties(strategy: str, arms: list[ArmInfo]) -> np.ndarray:
    """Every arm's numeric ``difficulty`` tag, or a StrategyError naming the arm that lacks one."""
    values = []
    for arm in arms:
        value = arm.tags.get("difficulty")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise StrategyError(
                f"{strategy}: arm {arm.name!r} needs a numeric 'difficulty' tag, got {value!r}"
            )
        values.append(float(value))
    if not values:
        raise StrategyError(f"{strategy}: needs at least one arm")
    return np.asarray(values)


def batch_mean_outcome(feedback: ArmFeedback) -> float | None:
    """Mean outcome reward over the report's problems (arms weighted by count); None if none."""
    outcome = np.asarray(feedback.outcome, dtype=np.float64)
    count = np.asarray(feedback.count, dtype=np.float64)
    has = np.asarray(feedback.present, dtype=bool) & ~np.isnan(outcome) & (count > 0)
    if not has.any():
        return None
    return float((outcome[has] * count[has]).sum() / count[has].sum())


@register("adarft")
class AdaptiveTargetDifficulty:
    """AdaRFT's target difficulty, moved by the batch's mean reward."""

    name: ClassVar[str] = "adarft"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        self._difficulty = arm_difficulties(self.name, arms)
        low, high = float(self._difficulty.min()), float(self._difficulty.max())
        self._low, self._high = low, high
        read = OptionReader(self.name, options)
        default_eta = 0.1 * (high - low) if high > low else 1.0
        self.eta = read.number("eta", default_eta, low=0.0, low_open=True)
        self.alpha = read.number("alpha", 2.0, low=0.0, low_open=True)
        self.beta = read.number("beta", 0.5, low=0.0, high=1.0)
        self.initial_target = read.number(
            "initial_target", low, low=low, high=high, bounds_from_arms=True
        )
        self.selection = read.choice("selection", "nearest", SELECTIONS)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)
        read.finish()

    def options(self) -> dict[str, Any]:
        return {
            "eta": self.eta,
            "alpha": self.alpha,
            "beta": self.beta,
            "initial_target": self.initial_target,
            "selection": self.selection,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return {"target": self.initial_target}

    def probabilities(self, state: State, step: int) -> np.ndarray:
        target = float(state["target"])
        d = self._difficulty
        if self.selection == "nearest":
            gap = np.abs(d - target)
            mass = np.isclose(gap, gap.min(), rtol=0.0, atol=1e-12).astype(np.float64)
            return mass / mass.sum()
        below, above = d[d <= target], d[d >= target]
        lower = below.max() if below.size else d.min()
        upper = above.min() if above.size else d.max()
        weight_lower = 1.0 if upper == lower else (upper - target) / (upper - lower)
        p = np.where(d == lower, weight_lower / (d == lower).sum(), 0.0)
        p = p + np.where(d == upper, (1.0 - weight_lower) / (d == upper).sum(), 0.0)
        return p / p.sum()

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        target = float(state["target"])
        reward = batch_mean_outcome(feedback)
        if reward is not None:
            target += self.eta * math.tanh(self.alpha * (reward - self.beta))
            target = min(max(target, self._low), self._high)
        return {"target": target}

    def values(self, state: State) -> np.ndarray:
        """``-|difficulty - T|``: 0 on the arms at the target, lower further away."""
        return -np.abs(self._difficulty - float(state["target"]))
