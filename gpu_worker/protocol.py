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


def id_curve(curve: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """A run's evaluation points as `{step, rollouts, tokens, seconds, id_pass1, ood_pass1}`.

    `curve` is `run_curriculum`'s: each point holds the costs and one `{pass_at_1, ood}`
    entry per level; ID is the mean over training levels, OOD over held-out ones (0 if none).
    """
    points = []
    for point in curve:
        levels = {k: v for k, v in point.items() if isinstance(v, dict)}
        ood = [v["pass_at_1"] for v in levels.values() if v["ood"]]
        points.append(
            {
                "step": point["step"],
                **{cost: float(point[cost]) for cost in COSTS},
                "id_pass1": mean_id_pass1(levels),
                "ood_pass1": statistics.fmean(ood) if ood else 0.0,
            }
        )
    return points


def mean_id_pass1(levels: dict[str, dict[str, Any]]) -> float:
    """Mean pass@1 over the in-distribution levels of an evaluation (`{level: {pass_at_1,
    ood}}`); 0 when it has none."""
    ids = [v["pass_at_1"] for v in levels.values() if not v["ood"]]
    return statistics.fmean(ids) if ids else 0.0


def average_ranks(values: Sequence[float]) -> list[float]:
    """0-based ranks of `values`, tied values sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson correlation of average ranks); None when fewer than three
    pairs or either side is constant."""
    if len(x) != len(y):
        raise ValueError(f"spearman needs paired values: {len(x)} vs {len(y)}")
    if len(x) < 3 or len(set(x)) == 1 or len(set(y)) == 1:
        return None
    return statistics.correlation(average_ranks(x), average_ranks(y))


def protocol_row(
    strategy: str,
    seed: int,
    run: dict[str, Any],
    id_gain: float,
    budget: float,
    target: float | None = None,
) -> dict[str, Any]:
    """One run's line of `curriculum_value.json` (the protocol's per-seed result).

    The target is the seed's warm-start ID pass@1 (the curve's first point) plus `id_gain`,
    unless an absolute `target` is given.
    """
    points = id_curve(run["curve"])
    if target is None:
        target = points[0]["id_pass1"] + id_gain
    steps = run.get("steps", [])
    ratios = [s["effective_ratio"] for s in steps if "effective_ratio" in s]
    return {
        "strategy": strategy,
        "seed": seed,
        "warm_id_pass1": points[0]["id_pass1"],
        "target_id_pass1": target,
        "rollouts_to_target": cost_to_target(points, target, "rollouts"),
        "tokens_to_target": cost_to_target(points, target, "tokens"),
        "seconds_to_target": cost_to_target(points, target, "seconds"),
        "rollouts_budget": budget,
        "tokens_spent": points[-1]["tokens"],
        "seconds_spent": points[-1]["seconds"],
        "final_id_pass1": points[-1]["id_pass1"],
        "final_ood_pass1": points[-1]["ood_pass1"],
        "auc_id_pass1": area_under_curve(points),
        "effective_ratio": statistics.fmean(ratios) if ratios else None,
        "curve": points,
    }


def protocol_summary(rows: Sequence[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Per strategy against `baseline` over the seeds both ran: cost ratios with paired
    bootstrap 95% intervals (unreached targets censored at the budget, see `censored`), and
    paired differences of the final ID/OOD pass@1 and of the AUC."""
    by = {(r["strategy"], r["seed"]): r for r in rows}
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    summary = []
    for strategy in strategies:
        seeds = sorted(s for (name, s) in by if name == strategy and (baseline, s) in by)
        mine = [by[(strategy, s)] for s in seeds]
        base = [by[(baseline, s)] for s in seeds]
        entry: dict[str, Any] = {
            "strategy": strategy,
            "baseline": baseline,
            "seeds": seeds,
            "reached": sum(r["rollouts_to_target"] is not None for r in mine),
        }
        if strategy != baseline and len(seeds) >= 2:
            for cost, spent in (
                ("rollouts", "rollouts_budget"),
                ("tokens", "tokens_spent"),
                ("seconds", "seconds_spent"),
            ):
                a = [censored(r[f"{cost}_to_target"], r[spent]) for r in mine]
                b = [censored(r[f"{cost}_to_target"], r[spent]) for r in base]
                entry[f"{cost}_ratio"] = paired_bootstrap(a, b) if sum(b) > 0 else None
            for key in ("final_id_pass1", "final_ood_pass1", "auc_id_pass1", "effective_ratio"):
                if all(r[key] is not None for r in mine + base):
                    entry[f"{key}_diff"] = paired_difference(
                        [r[key] for r in mine], [r[key] for r in base]
                    )
        summary.append(entry)
    return summary


def format_summary(rows: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]]) -> str:
    """The protocol's table in Markdown: one line per strategy, ratios to the baseline."""

    def triple(value: Any, digits: int = 2) -> str:
        if value is None:
            return "-"
        mid, low, high = value
        return f"{mid:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"

    lines = [
        "| strategy | reached target | rollouts to target, mean | rollouts ratio [95% CI] "
        "| tokens ratio | seconds ratio | final ID pass@1 | final OOD pass@1 "
        "| ID − baseline [95% CI] | AUC − baseline | effective ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in summary:
        mine = [
            r for r in rows if r["strategy"] == entry["strategy"] and r["seed"] in entry["seeds"]
        ]
        costs = [censored(r["rollouts_to_target"], r["rollouts_budget"]) for r in mine]
        effective = [r["effective_ratio"] for r in mine if r["effective_ratio"] is not None]
        lines.append(
            f"| `{entry['strategy']}` | {entry['reached']}/{len(entry['seeds'])} "
            f"| {statistics.fmean(costs):,.0f} "
            f"| {triple(entry.get('rollouts_ratio'))} | {triple(entry.get('tokens_ratio'))} "
            f"| {triple(entry.get('seconds_ratio'))} "
            f"| {statistics.fmean(r['final_id_pass1'] for r in mine):.3f} "
            f"| {statistics.fmean(r['final_ood_pass1'] for r in mine):.3f} "
            f"| {triple(entry.get('final_id_pass1_diff'), 3)} "
            f"| {triple(entry.get('auc_id_pass1_diff'), 3)} "
            f"| {statistics.fmean(effective) if effective else float('nan'):.2f} |"
        )
    return "\n".join(lines)
