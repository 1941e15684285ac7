"""SEC: Self-Evolving Curriculum (Chen et al. 2025, arXiv 2505.14970).

Each arm's value follows TD(0) of its reward, the mean absolute GRPO advantage of its
problems in the last step: ``Q <- alpha r + (1 - alpha) Q`` with ``Q0 = 0``. Each slot of
a batch draws its arm from ``softmax(Q / tau)``.

Options:
    alpha: TD learning rate in (0, 1] (paper: 0.5; 0.2 for MATH on 3B).
    tau: Boltzmann temperature > 0 (paper: 0.2 to 1.0).
    unsampled: ``"hold"`` (paper's text: absent arms keep Q) or ``"decay"``
        (released code: absent arms are updated with r = 0).
    advantage_std: how rewards become advantages: ``"unbiased"``, ``"population"``, ``"none"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from service.curricula.base import ArmFeedback, ArmInfo, OptionReader, State, register
from service.curricula.rewards import ADVANTAGE_STD_MODES
from service.curricula.td import UNSAMPLED_MODES, boltzmann_probabilities, td_update


@register("sec")
class SelfEvolvingCurriculum:
    """The SEC bandit: TD(0) values, Boltzmann sampling."""

    name: ClassVar[str] = "sec"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self.alpha = read.number("alpha", 0.5, low=0.0, high=1.0, low_open=True)
        self.tau = read.number("tau", 1.0, low=0.0, high=None, low_open=True)
        self.unsampled = read.choice("unsampled", "hold", UNSAMPLED_MODES)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)
        read.finish()

    def options(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "tau": self.tau,
            "unsampled": self.unsampled,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return {"q": [0.0] * len(arms)}

    def probabilities(self, state: State, step: int) -> np.ndarray:
        return boltzmann_probabilities(np.asarray(state["q"]), self.tau)

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        q = td_update(np.asarray(state["q"]), feedback, self.alpha, self.unsampled)
        return {"q": q.tolist()}

    def values(self, state: State) -> np.ndarray:
        return np.asarray(state["q"], dtype=np.float64)
