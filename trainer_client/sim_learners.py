"""Learner models of the simulated learner: the frontier learner and its variations.

Every model is the frontier learner of :mod:`trainer_client.simulate` (latent skill per
unit, solve probability ``sigmoid(skill)``, GRPO-like signal ``4 c (1 - c)`` that spreads
to other units through a transfer matrix, a constant decay ``forget`` per step) over a
grid of units: ``tasks`` x (``levels`` training levels + ``held_out`` harder levels).
Training levels are the arms a curriculum can draw; held-out levels are never drawn and
only learn through transfer (the SEC paper's out-of-distribution hardest level).

Transfer between units ``(t, k)`` and ``(t', k')`` is ``transfer^|k - k'|`` inside a task
and ``cross_task * transfer^|k - k'|`` across tasks. Level ``k`` of task ``t`` starts at
skill ``first_skill + k * skill_step + t * task_shift``.

``LEARNER_MODELS`` holds the named models of the benchmark and of ``zpd simulate --learner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LearnerConfig:
    """The simulated learner's knobs (see the module docstring for the model)."""

    levels: int = 6
    initial_skill: list[float] = field(default_factory=lambda: [2.0, 0.5, -1.0, -2.5, -4.0, -5.5])
    lr: float = 0.15
    transfer: float = 0.3
    forget: float = 0.004
    rollouts: int = 8
    format_rate: float = 0.9

    def __post_init__(self) -> None:
        if len(self.initial_skill) != self.levels:
            raise ValueError(f"initial_skill needs {self.levels} values (one per level)")
        if not 0 <= self.transfer <= 1 or not 0 <= self.format_rate <= 1:
            raise ValueError("transfer and format_rate must lie in [0, 1]")
        if self.rollouts < 1 or self.lr < 0 or self.forget < 0:
            raise ValueError("rollouts must be >= 1; lr and forget must be >= 0")


class SimulatedLearner:
    """The frontier learner: pure numpy, seeded."""

    def __init__(
        self,
        config: LearnerConfig,
        rng: np.random.Generator,
        transfer_matrix: np.ndarray | None = None,
    ) -> None:
        """``transfer_matrix[k, j]``: how much a signal on level j teaches level k (default
        ``transfer^|j - k|``)."""
        self.config = config
        self.skill = np.asarray(config.initial_skill, dtype=np.float64).copy()
        self.rng = rng
        if transfer_matrix is None:
            levels = np.arange(config.levels)
            transfer_matrix = config.transfer ** np.abs(np.subtract.outer(levels, levels))
        if np.shape(transfer_matrix) != (config.levels, config.levels):
            raise ValueError(f"transfer_matrix must be {config.levels} x {config.levels}")
        self._transfer = np.asarray(transfer_matrix, dtype=np.float64)

    @property
    def accuracy(self) -> np.ndarray:
        """True solve probability per level, p_k = sigmoid(s_k)."""
        return 1.0 / (1.0 + np.exp(-self.skill))

    def rollout_rewards(self, level: int) -> list[float]:
        """G rollout rewards of one problem of ``level``: 1 / 0.1 / 0."""
        c = self.config
        correct = self.rng.random(c.rollouts) < self.accuracy[level]
        formatted = self.rng.random(c.rollouts) < c.format_rate
        return np.where(correct, 1.0, np.where(formatted, 0.1, 0.0)).tolist()

    def rollout_batch(self, levels: Sequence[int]) -> np.ndarray:
        """Rollout rewards of one problem per entry of ``levels``: shape (len(levels), G)."""
        c = self.config
        shape = (len(levels), c.rollouts)
        correct = self.rng.random(shape) < self.accuracy[np.asarray(levels)][:, None]
        formatted = self.rng.random(shape) < c.format_rate
        return np.where(correct, 1.0, np.where(formatted, 0.1, 0.0))

    def train(self, levels: Sequence[int], rewards: Sequence[Sequence[float]]) -> None:
        """One training step on a batch: problem i came from ``levels[i]`` and got ``rewards[i]``."""
        n = self.config.levels
        correct = np.array([np.mean(np.asarray(r) == 1.0) for r in rewards])
        per_problem = 4.0 * correct * (1.0 - correct)
        # share_j * g_j = (sum of the level's problem signals) / batch size
        signal = np.bincount(np.asarray(levels), weights=per_problem, minlength=n) / len(levels)
        self.skill += self.config.lr * (self._transfer @ signal) - self.config.forget


@dataclass(frozen=True)
class LearnerModel:
    """A named grid of units with the frontier learner's dynamics (see the module docstring)."""

    name: str
    description: str
    tasks: int = 1
    levels: int = 6
    held_out: int = 1
    first_skill: float = 2.0
    skill_step: float = -1.5
    task_shift: float = 0.0
    lr: float = 0.15
    transfer: float = 0.3
    cross_task: float = 0.0
    forget: float = 0.004
    rollouts: int = 8
    format_rate: float = 0.9

    def __post_init__(self) -> None:
        if self.tasks < 1 or self.levels < 1 or self.held_out < 0:
            raise ValueError("tasks and levels must be >= 1 and held_out >= 0")
        if not 0 <= self.cross_task <= 1:
            raise ValueError("cross_task must lie in [0, 1]")

    @property
    def units(self) -> list[tuple[int, int]]:
        """(task, level) of every unit: per task its training levels, then its held-out ones."""
        per_task = self.levels + self.held_out
        return [(t, k) for t in range(self.tasks) for k in range(per_task)]

    @property
    def training_units(self) -> list[int]:
        """Unit positions of the arms, in arm order."""
        return [u for u, (_, k) in enumerate(self.units) if k < self.levels]

    @property
    def hardest_training_units(self) -> list[int]:
        """Per task, the unit of its hardest training level."""
        return [u for u, (_, k) in enumerate(self.units) if k == self.levels - 1]

    @property
    def held_out_units(self) -> list[int]:
        return [u for u, (_, k) in enumerate(self.units) if k >= self.levels]

    def unit_name(self, unit: int) -> str:
        task, level = self.units[unit]
        prefix = "" if self.tasks == 1 else f"task-{task + 1}-"
        return f"{prefix}level-{level + 1}"

    def arms(self, size: int = 1000) -> list[dict[str, Any]]:
        """The arms a run is created with: the training units, tagged with task and difficulty."""
        return [
            {
                "name": self.unit_name(u),
                "size": size,
                "tags": {"task": self.units[u][0] + 1, "difficulty": self.units[u][1] + 1},
            }
            for u in self.training_units
        ]

    def transfer_matrix(self) -> np.ndarray:
        task = np.array([t for t, _ in self.units])
        level = np.array([k for _, k in self.units])
        within = self.transfer ** np.abs(np.subtract.outer(level, level))
        same_task = np.equal.outer(task, task)
        return np.where(same_task, within, self.cross_task * within)

    def config(self) -> LearnerConfig:
        skills = [
            self.first_skill + k * self.skill_step + t * self.task_shift for t, k in self.units
        ]
        return LearnerConfig(
            levels=len(self.units),
            initial_skill=skills,
            lr=self.lr,
            transfer=self.transfer,
            forget=self.forget,
            rollouts=self.rollouts,
            format_rate=self.format_rate,
        )

    def build(self, rng: np.random.Generator) -> SimulatedLearner:
        """A fresh learner of this model drawing its rollouts from ``rng``."""
        return SimulatedLearner(self.config(), rng, transfer_matrix=self.transfer_matrix())


LEARNER_MODELS: dict[str, LearnerModel] = {
    model.name: model
    for model in [
        LearnerModel(
            "frontier",
            "6 levels + 1 held out, transfer 0.3, forget 0.004 (the zpd simulate learner)",
        ),
        LearnerModel(
            "forgetting",
            "as frontier, forgetting 2.5x stronger (0.01 per step)",
            forget=0.01,
        ),
        LearnerModel(
            "transfer-strong",
            "as frontier, transfer 0.6 between neighbouring levels",
            transfer=0.6,
        ),
        LearnerModel(
            "transfer-weak",
            "as frontier, transfer 0.15 between neighbouring levels",
            transfer=0.15,
        ),
        LearnerModel(
            "multitask",
            "3 tasks x 4 levels (+1 held out each), each task 1.0 harder (in skill) than the "
            "previous, "
            "cross-task transfer 0.1",
            tasks=3,
            levels=4,
            first_skill=2.5,
            skill_step=-1.75,
            task_shift=-1.0,
            cross_task=0.1,
        ),
    ]
}


class ProblemLearner:
    """The frontier learner with problems of latent difficulty inside each unit.

    Problem j of unit u is solved with probability ``sigmoid(skill_u + offset_uj)``, the
    offsets drawn once from ``N(0, spread^2)``: inside an arm some problems are mastered,
    some hopeless and some at the frontier, so per-problem pass rates differ and a
    per-problem predictor has something to find. A training step on a batch of groups
    (any size each) moves the skills as :class:`SimulatedLearner` does, with each group's
    signal ``4 c (1 - c)``; rollouts also cost tokens, ``Poisson(base + extra * (1 - p))``
    each (a wrong answer rambles longer).
    """

    def __init__(
        self,
        model: LearnerModel,
        rng: np.random.Generator,
        per_arm: int = 200,
        spread: float = 1.5,
        tokens: tuple[float, float] = (200.0, 300.0),
    ) -> None:
        if per_arm < 1 or spread < 0:
            raise ValueError("per_arm must be >= 1 and spread >= 0")
        self.model = model
        self.config = model.config()
        self.rng = rng
        self.skill = np.asarray(self.config.initial_skill, dtype=np.float64).copy()
        self.offsets = rng.normal(0.0, spread, (len(model.units), per_arm))
        self.tokens = tokens
        self._transfer = model.transfer_matrix()

    def pass_rates(self, units: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """True solve probability of problem ``indices[i]`` of unit ``units[i]``."""
        logit = self.skill[np.asarray(units)] + self.offsets[np.asarray(units), np.asarray(indices)]
        return np.asarray(1.0 / (1.0 + np.exp(-logit)))

    def accuracy(self, units: Sequence[int] | None = None) -> float:
        """Mean true pass rate over every problem of ``units`` (default: all units)."""
        chosen = np.arange(len(self.skill)) if units is None else np.asarray(units)
        logit = self.skill[chosen][:, None] + self.offsets[chosen]
        return float(np.mean(1.0 / (1.0 + np.exp(-logit))))

    def rollouts(
        self, units: np.ndarray, indices: np.ndarray, n: np.ndarray
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Rewards (1 / 0.1 / 0) of ``n[i]`` rollouts per problem, and tokens per problem."""
        p = self.pass_rates(units, indices)
        groups = []
        for rate, count in zip(p.tolist(), np.asarray(n).tolist(), strict=True):
            correct = self.rng.random(count) < rate
            formatted = self.rng.random(count) < self.config.format_rate
            groups.append(np.where(correct, 1.0, np.where(formatted, 0.1, 0.0)))
        mean_tokens = self.tokens[0] + self.tokens[1] * (1.0 - p)
        tokens = self.rng.poisson(mean_tokens * np.asarray(n))
        return groups, tokens.astype(np.float64)

    def train(self, units: np.ndarray, groups: Sequence[np.ndarray]) -> None:
        """One step on the trained groups (problem i of unit ``units[i]``)."""
        if len(groups) == 0:
            self.skill -= self.config.forget
            return
        correct = np.array([np.mean(g == 1.0) for g in groups])
        per_problem = 4.0 * correct * (1.0 - correct)
        signal = np.bincount(
            np.asarray(units), weights=per_problem, minlength=len(self.skill)
        ) / len(groups)
        self.skill += self.config.lr * (self._transfer @ signal) - self.config.forget
