"""The curriculum-value protocol's arithmetic: cost to a target, paired bootstrap, AUC.

Pure Python (no torch, no vLLM), so the numbers of `benchmarks/results/curriculum_value.json`
can be recomputed from the per-seed results alone. docs/curriculum_value.md states the
protocol these functions implement.

A *curve* is the list of evaluation points of one run, each a dict with at least
`rollouts`, `tokens`, `seconds` (spent by RL so far, cumulative) and `id_pass1` (mean
held-out pass@1 over the in-distribution levels). The first point is the warm start
(all costs 0).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Any

COSTS = ("rollouts", "tokens", "seconds")


def cost_to_target(
    curve: Sequence[dict[str, Any]], target: float, cost: str = "rollouts"
) -> float | None:
    """The `cost` spent when `id_pass1` first reached `target`; None if it never did.

    Only evaluation points count: the cost is read at the first evaluation at or above the
    target, so its resolution is the evaluation interval (the same for every strategy).
    """
    for point in curve:
        if point["id_pass1"] >= target:
            return float(point[cost])
    return None


def area_under_curve(curve: Sequence[dict[str, Any]], key: str = "id_pass1") -> float:
    """Mean of `key` over the rollout axis (trapezoids), from the first to the last point.

    Normalised by the rollouts spent, so it is a pass@1 in [0, 1]: the average accuracy a
    run held while spending its budget. A single point gives that point's value.
    """
    if len(curve) == 1:
        return float(curve[0][key])
    area = 0.0
    for left, right in zip(curve, curve[1:], strict=False):
        width = right["rollouts"] - left["rollouts"]
        area += width * (left[key] + right[key]) / 2
    span = curve[-1]["rollouts"] - curve[0]["rollouts"]
    return area / span if span else float(curve[-1][key])


def censored(value: float | None, budget: float) -> float:
    """A cost to target with an unreached target counted as the whole budget.

    This under-states the cost of a run that never got there, so a ratio `a / b` computed
    with it can only flatter `a` when `a` is the one censored: the report gives how many
    runs reached the target beside every ratio.
    """
    return budget if value is None else value


def ratio_of_means(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """`mean(numerator) / mean(denominator)` (the costs of two strategies over paired seeds)."""
    return statistics.fmean(numerator) / statistics.fmean(denominator)


def paired_bootstrap(
    numerator: Sequence[float],
    denominator: Sequence[float],
    resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Ratio of means and its percentile bootstrap interval, resampling seeds in pairs.

    Seed i's two values stay together in every resample (the runs share a warm start), so
    the interval reflects the spread of the per-seed comparison, not of each strategy alone.

    Returns:
        (ratio, low, high).

    Raises:
        ValueError: unequal lengths or fewer than two pairs.
    """
    if len(numerator) != len(denominator):
        raise ValueError(f"paired samples differ in length: {len(numerator)} vs {len(denominator)}")
    n = len(numerator)
    if n < 2:
        raise ValueError("a bootstrap needs at least two paired seeds")
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        den = sum(denominator[i] for i in picks)
        if den > 0:
            ratios.append(sum(numerator[i] for i in picks) / den)
    ratios.sort()
    tail = (1 - confidence) / 2
    low = ratios[int(tail * (len(ratios) - 1))]
    high = ratios[int((1 - tail) * (len(ratios) - 1))]
    return ratio_of_means(numerator, denominator), low, high


def paired_difference(
    a: Sequence[float], b: Sequence[float], resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of `a_i - b_i` over paired seeds with its 95% percentile bootstrap interval."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("need two equally long samples of at least two paired seeds")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(
        statistics.fmean(diffs[rng.randrange(n)] for _ in range(n)) for _ in range(resamples)
    )
    return (
        statistics.fmean(diffs),
        means[int(0.025 * (resamples - 1))],
        means[int(0.975 * (resamples - 1))],
    )
