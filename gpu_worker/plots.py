"""The comparison's plots: held-out pass@1 per level over steps, and ID pass@1 over rollouts.

Matplotlib is imported inside each function (Agg backend), so importing this module is cheap.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

Runs = dict[str, dict[int, dict[str, Any]]]  # strategy label -> seed -> run


def mean_std(values: list[float]) -> list[float]:
    """[mean, sample standard deviation] (0 for a single value)."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return [statistics.fmean(values), spread]


def plot_curves(runs: Runs, path: Path, target: float | None = None) -> None:
    """Save held-out pass@1 per level over steps (mean over seeds, band: ± std), one panel
    per level; the hardest training level's panel draws `target` dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(next(iter(runs.values())).values()))
    # a curve point also holds the costs spent by then (floats); its levels are the dicts
    levels = [k for k, v in first["curve"][0].items() if isinstance(v, dict)]
    hardest = [lv for lv in levels if not first["curve"][0][lv]["ood"]][-1]
    fig, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 3.4), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        for strategy, by_seed in runs.items():
            curves = [run["curve"] for run in by_seed.values()]
            steps = [point["step"] for point in curves[0]]
            stats = [
                mean_std([c[i][level]["pass_at_1"] for c in curves]) for i in range(len(steps))
            ]
            means = [m for m, _ in stats]
            (line,) = ax.plot(steps, means, marker="o", markersize=3, label=strategy)
            ax.fill_between(
                steps,
                [m - s for m, s in stats],
                [m + s for m, s in stats],
                color=line.get_color(),
                alpha=0.08,
            )
        if target is not None and level == hardest:
            ax.axhline(target, color="grey", linewidth=0.8, linestyle=":")
        ood = " (OOD)" if first["curve"][0][level]["ood"] else ""
        ax.set_title(level + ood + (" (hardest training level)" if level == hardest else ""))
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("held-out pass@1")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_value(rows: list[dict[str, Any]], path: Path) -> None:
    """Mean held-out ID pass@1 against rollouts spent, one line per strategy (mean over
    seeds; the evaluation points are at the same rollouts for every run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        curves = [r["curve"] for r in rows if r["strategy"] == strategy]
        length = min(len(c) for c in curves)
        xs = [curves[0][i]["rollouts"] for i in range(length)]
        stats = [mean_std([c[i]["id_pass1"] for c in curves]) for i in range(length)]
        (line,) = ax.plot(xs, [m for m, _ in stats], marker="o", markersize=3, label=strategy)
        ax.fill_between(
            xs,
            [m - s for m, s in stats],
            [m + s for m, s in stats],
            color=line.get_color(),
            alpha=0.1,
        )
    ax.set_xlabel("rollouts spent by RL")
    ax.set_ylabel("held-out ID pass@1 (mean over levels)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
