"""A second, plain-Python implementation of the SEC math, for checking the service.

Written from the SEC paper's formulas (Chen et al. 2025, arXiv 2505.14970; the options
are described in docs/strategies.md) with the standard library only (``statistics``,
``math``), deliberately sharing no code with ``service.curricula``:

- GRPO advantage of rollout i of a problem with rewards r: ``A_i = (r_i - mean(r)) /
  (std(r) + 1e-6)``, std the unbiased (n - 1) or population (n) one, or ``A_i = r_i -
  mean(r)`` with ``std="none"`` (Dr. GRPO); a single rollout has advantage 0.
- A problem's signal: the mean of ``|A_i|`` (or of the advantages a trainer reported).
- An arm's reward ``r_t(c)``: the mean of its problems' signals in the report.
- TD(0): ``Q <- alpha r + (1 - alpha) Q`` for arms in the report; absent arms keep Q
  (``"hold"``) or decay with r = 0 (``"decay"``).
- Sampling: ``softmax(Q / tau)``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any


def advantages(rewards: Sequence[float], std: str = "unbiased") -> list[float]:
    mean = sum(rewards) / len(rewards)
    if len(rewards) < 2:
        return [0.0] * len(rewards)
    if std == "none":
        return [r - mean for r in rewards]
    spread = statistics.stdev(rewards) if std == "unbiased" else statistics.pstdev(rewards)
    return [(r - mean) / (spread + 1e-6) for r in rewards]


def problem_signal(result: Mapping[str, Any], std: str = "unbiased") -> float:
    values = result.get("advantages")
    if values is None:
        values = advantages(result["rewards"], std)
    return sum(abs(a) for a in values) / len(values)


def arm_rewards(results: Sequence[Mapping[str, Any]], std: str = "unbiased") -> dict[str, float]:
    per_arm: dict[str, list[float]] = {}
    for result in results:
        per_arm.setdefault(result["arm"], []).append(problem_signal(result, std))
    return {arm: sum(v) / len(v) for arm, v in per_arm.items()}


def td_step(
    q: dict[str, float], rewards: Mapping[str, float], alpha: float, unsampled: str = "hold"
) -> dict[str, float]:
    out = {}
    for arm, value in q.items():
        if arm in rewards:
            out[arm] = alpha * rewards[arm] + (1 - alpha) * value
        elif unsampled == "decay":
            out[arm] = (1 - alpha) * value
        else:
            out[arm] = value
    return out


def softmax(q: Mapping[str, float], tau: float) -> dict[str, float]:
    top = max(q.values())
    weights = {arm: math.exp((v - top) / tau) for arm, v in q.items()}
    total = sum(weights.values())
    return {arm: w / total for arm, w in weights.items()}


def sequential_q(
    arms: Sequence[str],
    reports: Sequence[Sequence[Mapping[str, Any]]],
    alpha: float,
    unsampled: str = "hold",
    std: str = "unbiased",
) -> dict[str, float]:
    q = {arm: 0.0 for arm in arms}
    for results in reports:
        q = td_step(q, arm_rewards(results, std), alpha, unsampled)
    return q
