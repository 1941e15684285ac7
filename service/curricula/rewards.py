"""From rollout rewards to the arm reward r_t(c) of SEC (pure numpy).

SEC (Chen et al. 2025, arXiv 2505.14970) scores a category by the mean absolute
advantage of its rollouts in the last training step: for GRPO with binary rewards it
is 2 sqrt(p (1 - p)) and peaks at pass rate 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from service.curricula.base import ArmFeedback, StrategyError

ADVANTAGE_EPS = 1e-6
ADVANTAGE_STD_MODES = ("unbiased", "population", "none")


def grpo_advantages(rewards: np.ndarray, std: str = "unbiased") -> np.ndarray:
    """GRPO advantages ``(r_i - mean(r)) / (std(r) + 1e-6)`` along the last axis.

    Args:
        rewards: shape ``(G,)`` or ``(P, G)``: G rollout rewards per problem.
        std: ``"unbiased"`` (ddof=1, as verl), ``"population"`` (ddof=0) or
            ``"none"`` (Dr. GRPO: no division).

    Returns:
        Advantages of the same shape. A group whose rewards are all equal, or a group
        of one rollout, has advantage 0 everywhere (never NaN).
    """
    if std not in ADVANTAGE_STD_MODES:
        raise StrategyError(f"advantage std must be one of {list(ADVANTAGE_STD_MODES)}")
    r = np.asarray(rewards, dtype=np.float64)
    group = r.shape[-1]
    centred = r - r.mean(axis=-1, keepdims=True)
    if group < 2:
        return np.zeros_like(r)
    # A group with all-equal rewards carries no signal: exactly 0, not rounding noise.
    flat = r.max(axis=-1, keepdims=True) == r.min(axis=-1, keepdims=True)
    centred = np.where(flat, 0.0, centred)
    if std == "none":
        return centred
    ddof = 1 if std == "unbiased" else 0
    spread = r.std(axis=-1, ddof=ddof, keepdims=True)
    return centred / (spread + ADVANTAGE_EPS)


def mean_abs_advantage(advantages: np.ndarray) -> np.ndarray:
    """Mean over rollouts (last axis) of ``|A|``."""
    return np.abs(np.asarray(advantages, dtype=np.float64)).mean(axis=-1)


def problem_signals(
    rewards: Sequence[Sequence[float] | None],
    advantages: Sequence[Sequence[float] | None],
    std: str = "unbiased",
) -> tuple[np.ndarray, np.ndarray]:
    """Per problem: its mean |advantage| and its mean outcome reward (NaN if no rewards).

    Problem ``i`` has either ``rewards[i]`` (turned into GRPO advantages here) or
    ``advantages[i]`` (used as given). Problems with the same number of rollouts are
    computed together, so a 256 x 8 report is a handful of vectorised operations.
    """
    n = len(rewards)
    signal = np.empty(n, dtype=np.float64)
    outcome = np.full(n, np.nan, dtype=np.float64)
    groups: dict[tuple[bool, int], list[int]] = {}
    for i in range(n):
        values = rewards[i] if rewards[i] is not None else advantages[i]
        assert values is not None  # guaranteed by the wire schema
        groups.setdefault((rewards[i] is not None, len(values)), []).append(i)
    for (has_rewards, _), members in groups.items():
        source = rewards if has_rewards else advantages
        block = np.array([source[i] for i in members], dtype=np.float64)
        if has_rewards:
            signal[members] = mean_abs_advantage(grpo_advantages(block, std))
            outcome[members] = block.mean(axis=1)
        else:
            signal[members] = mean_abs_advantage(block)
    return signal, outcome


def arm_feedback(
    n_arms: int, arm_of_problem: np.ndarray, signal: np.ndarray, outcome: np.ndarray
) -> ArmFeedback:
    """Reduce per-problem signals to per-arm feedback (mean over each arm's problems)."""
    arm_of_problem = np.asarray(arm_of_problem, dtype=np.int64)
    count = np.bincount(arm_of_problem, minlength=n_arms)
    present = count > 0
    reward_sum = np.bincount(arm_of_problem, weights=signal, minlength=n_arms)
    reward = np.divide(reward_sum, count, out=np.zeros(n_arms), where=present)
    has_outcome = ~np.isnan(outcome)
    outcome_count = np.bincount(arm_of_problem[has_outcome], minlength=n_arms)
    outcome_sum = np.bincount(
        arm_of_problem[has_outcome], weights=outcome[has_outcome], minlength=n_arms
    )
    arm_outcome = np.full(n_arms, np.nan)
    np.divide(outcome_sum, outcome_count, out=arm_outcome, where=outcome_count > 0)
    return ArmFeedback(present=present, reward=reward, count=count, outcome=arm_outcome)
