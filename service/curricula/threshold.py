"""A level that moves on accuracy thresholds: the rule of reasoning-gym's curricula
(Stojanovski et al. 2025, "Reasoning Gym", arXiv 2505.24760) and of many RL curricula.

Arms are ordered by their numeric ``difficulty`` tag when every arm has one (ties keep
the given order), else in the given order. The run trains on one current level. Outcomes
of that level's problems accumulate; once ``window`` problems have been seen, their mean
outcome reward is the accuracy: at or above ``upper`` the level rises by one, at or below
``lower`` it falls by one, and the window starts again. With ``review > 0`` that share of
every batch is spread uniformly over the levels below the current one (against forgetting).

Options:
    upper: accuracy at which the level rises, in (lower, 1] (0.7).
    lower: accuracy at which the level falls, in [0, upper) (0.3).
    window: problems of the current level per decision, integer >= 1 (64).
    review: share of a batch spread over easier levels, in [0, 1) (0.0).
    advantage_std: how rewards become advantages (``"unbiased"``; unused by the rule).
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
from service.curricula.rewards import ADVANTAGE_STD_MODES


def difficulty_order(arms: list[ArmInfo]) -> list[int]:
    """Arm positions from easiest to hardest: by numeric ``difficulty`` tag if every arm has
    one (stable), else the given order."""
    tags = [arm.tags.get("difficulty") for arm in arms]
    numeric = all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in tags)
    if not numeric:
        return list(range(len(arms)))
    return sorted(range(len(arms)), key=lambda i: float(tags[i]))  # type: ignore[arg-type]


@register("threshold")
class AccuracyThreshold:
    """One current level, raised or lowered when a window's accuracy crosses a threshold."""

    name: ClassVar[str] = "threshold"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self.upper = read.number("upper", 0.7, low=0.0, high=1.0)
        self.lower = read.number("lower", 0.3, low=0.0, high=1.0)
        self.window = int(read.number("window", 64, low=1, high=2**31, integer=True))
        self.review = read.number("review", 0.0, low=0.0, high=1.0, high_open=True)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)
        read.finish()
        if self.lower >= self.upper:
            raise StrategyError(
                f"{self.name}: lower ({self.lower}) must be below upper ({self.upper})"
            )
        self._order = difficulty_order(arms)

    def options(self) -> dict[str, Any]:
        return {
            "upper": self.upper,
            "lower": self.lower,
            "window": self.window,
            "review": self.review,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return {"level": 0, "outcome_sum": 0.0, "seen": 0}

    def probabilities(self, state: State, step: int) -> np.ndarray:
        level = int(state["level"])
        p = np.zeros(len(self._order))
        easier = self._order[:level]
        if easier and self.review > 0:
            p[easier] = self.review / len(easier)
            p[self._order[level]] = 1.0 - self.review
        else:
            p[self._order[level]] = 1.0
        return p

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        level = int(state["level"])
        arm = self._order[level]
        outcome_sum, seen = float(state["outcome_sum"]), int(state["seen"])
        count = int(feedback.count[arm])
        if feedback.present[arm] and count > 0 and not np.isnan(feedback.outcome[arm]):
            outcome_sum += float(feedback.outcome[arm]) * count
            seen += count
        if seen < self.window:
            return {"level": level, "outcome_sum": outcome_sum, "seen": seen}
        accuracy = outcome_sum / seen
        if accuracy >= self.upper:
            level = min(level + 1, len(self._order) - 1)
        elif accuracy <= self.lower:
            level = max(level - 1, 0)
        return {"level": level, "outcome_sum": 0.0, "seen": 0}

    def values(self, state: State) -> np.ndarray:
        """1 on the current level's arm, 0 elsewhere."""
        q = np.zeros(len(self._order))
        q[self._order[int(state["level"])]] = 1.0
        return q
