"""The SEC paper's baselines: ``random`` (uniform over problems), ``ordered`` and ``reverse``.

They do not learn from reports, but they still track SEC's TD(0) arm values (``alpha``,
``unsampled``, ``advantage_std`` as in ``sec``) so that a baseline run shows on the
dashboard what SEC would have believed.
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
from service.curricula.td import UNSAMPLED_MODES, td_update


class _TrackedValues:
    """Shared part of the baselines: options of the tracked TD(0) values."""

    name: ClassVar[str]

    def _read_tracking(self, read: OptionReader) -> None:
        self.alpha = read.number("alpha", 0.5, low=0.0, high=1.0, low_open=True)
        self.unsampled = read.choice("unsampled", "hold", UNSAMPLED_MODES)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)

    def _tracking_options(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "unsampled": self.unsampled,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return {"q": [0.0] * len(arms)}

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        return {
            "q": td_update(np.asarray(state["q"]), feedback, self.alpha, self.unsampled).tolist()
        }

    def values(self, state: State) -> np.ndarray:
        return np.asarray(state["q"], dtype=np.float64)


@register("random")
class UniformOverProblems(_TrackedValues):
    """Uniform over problems: each arm is drawn with probability size / total size.

    Arms without a ``size`` make it uniform over arms; a mix of sized and unsized arms
    is refused, since "uniform over problems" is then undefined.
    """

    name: ClassVar[str] = "random"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self._read_tracking(read)
        read.finish()
        sizes = [arm.size for arm in arms]
        if all(size is None for size in sizes):
            weights = np.ones(len(arms))
        elif any(size is None for size in sizes):
            raise StrategyError("random: give a size on every arm or on none")
        else:
            weights = np.asarray(sizes, dtype=np.float64)
        self._p = weights / weights.sum()

    def options(self) -> dict[str, Any]:
        return self._tracking_options()

    def probabilities(self, state: State, step: int) -> np.ndarray:
        return self._p.copy()


class _Schedule(_TrackedValues):
    """Arms in a fixed order over ``total_steps``: arm ``floor(step * N / total_steps)``."""

    reverse: ClassVar[bool]

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self.total_steps = int(read.number("total_steps", None, low=1, high=2**31, integer=True))
        self._read_tracking(read)
        read.finish()
        self._n = len(arms)

    def options(self) -> dict[str, Any]:
        return {"total_steps": self.total_steps, **self._tracking_options()}

    def probabilities(self, state: State, step: int) -> np.ndarray:
        position = min(self._n - 1, (step * self._n) // self.total_steps)
        if self.reverse:
            position = self._n - 1 - position
        p = np.zeros(self._n)
        p[position] = 1.0
        return p


@register("ordered")
class Ordered(_Schedule):
    """Easy to hard: arms in the order given, each for ``total_steps / N`` steps."""

    name: ClassVar[str] = "ordered"
    reverse: ClassVar[bool] = False


@register("reverse")
class Reverse(_Schedule):
    """Hard to easy: arms in reverse order, each for ``total_steps / N`` steps."""

    name: ClassVar[str] = "reverse"
    reverse: ClassVar[bool] = True
