"""Rank every curriculum strategy on the simulated learner models, several seeds each.

In-process: the strategies (``service.curricula``) and the learner
(``trainer_client.sim_learners``) are called directly, through the same functions the
service uses for a step (``draw_batch`` with ``sample_rng(seed, step)``, ``problem_signals``,
``arm_feedback``, ``update``), without HTTP or a database, to keep it fast. ``zpd simulate
--strategies ... --learner ...`` runs the same learners against a real service.

Per (learner model, strategy, seed) it records: the first step at which the hardest training
level of every task reaches ``--target`` accuracy (true solve probability), the final accuracy
of every level (training levels and the held-out level that is never drawn), and the
hardest-level accuracy every 10 steps. It prints a table per learner model (mean ± std over
seeds), writes JSON (benchmarks/results/bench_strategies.json) and a PNG of the hardest-level
curves (benchmarks/results/bench_strategies.png; needs matplotlib).

    python benchmarks/bench_strategies.py [--steps 1000] [--seeds 5] [--batch-size 64]
        [--learners frontier,forgetting,...] [--target 0.5] [--replot]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from service.curricula import (
    ArmInfo,
    arm_feedback,
    build_strategy,
    draw_batch,
    problem_signals,
    sample_rng,
)
from trainer_client.sim_learners import LEARNER_MODELS, LearnerModel

RESULTS = Path(__file__).resolve().parent / "results"

# (label, strategy spec): every registered family at its defaults (SEC at the paper's
# alpha 0.5 and the demo's tau 0.2), plus a few variants; ordered gets total_steps = --steps.
STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("sec", {"name": "sec", "alpha": 0.5, "tau": 0.2}),
    ("sec:pass_rate", {"name": "sec", "alpha": 0.5, "tau": 0.2, "objective": "pass_rate"}),
    (
        "sec:learning_progress+eps",
        {
            "name": "sec",
            "alpha": 0.5,
            "objective": "learning_progress",
            "sampling": "epsilon_greedy",
            "epsilon": 0.2,
        },
    ),
    ("sec:normalized", {"name": "sec", "alpha": 0.5, "sampling": "normalized"}),
    ("sec:dr_grpo", {"name": "sec", "alpha": 0.5, "tau": 0.2, "advantage_std": "none"}),
    ("random", {"name": "random"}),
    ("ordered", {"name": "ordered"}),
    ("ducb", {"name": "ducb"}),
    ("ducb:boltzmann", {"name": "ducb", "selection": "boltzmann", "tau": 0.2}),
    ("ducb:c=0.3", {"name": "ducb", "c": 0.3}),
    ("thompson", {"name": "thompson"}),
    ("thompson:pass_rate", {"name": "thompson", "objective": "pass_rate"}),
    ("exp3", {"name": "exp3"}),
    ("learning_progress", {"name": "learning_progress"}),
    ("adarft", {"name": "adarft"}),
    ("threshold", {"name": "threshold"}),
]
CURVE_EVERY = 10


@dataclass
class Outcome:
    """One (learner, strategy, seed) run."""

    steps_to_target: int | None
    final_accuracy: list[float]
    hardest_curve: list[float]
    mean_probabilities: list[float]


def arm_infos(model: LearnerModel) -> list[ArmInfo]:
    return [ArmInfo(a["name"], None, a["tags"]) for a in model.arms()]


def run_one(
    model: LearnerModel,
    spec: dict[str, Any],
    *,
    seed: int,
    steps: int,
    batch_size: int,
    target: float,
) -> Outcome:
    """Train one learner with one strategy, exactly the service's step, minus transport."""
    infos = arm_infos(model)
    options = {k: v for k, v in spec.items() if k != "name"}
    if spec["name"] in {"ordered", "reverse"}:
        options.setdefault("total_steps", steps)
    strategy = build_strategy(spec["name"], options, infos)
    state = strategy.initial_state(infos)
    learner = model.build(np.random.default_rng(seed))
    units = np.asarray(model.training_units)
    hardest = model.hardest_training_units
    n_arms = len(infos)
    sizes: list[int | None] = [None] * n_arms
    reached: int | None = None
    curve: list[float] = []
    probability_sum = np.zeros(n_arms)
    for step in range(steps):
        p = strategy.probabilities(state, step)
        probability_sum += p
        batch = draw_batch(
            p, batch_size, sample_rng(seed, step), seed=seed, sizes=sizes, drawn_before=[0] * n_arms
        )
        rewards = learner.rollout_batch(units[batch.arms])
        learner.train(units[batch.arms], rewards)
        signal, outcome = problem_signals(
            list(rewards), [None] * batch_size, strategy.advantage_std
        )
        feedback = arm_feedback(n_arms, batch.arms, signal, outcome)
        state = strategy.update(state, feedback, step)
        accuracy = learner.accuracy
        if reached is None and min(accuracy[hardest]) >= target:
            reached = step + 1
        if (step + 1) % CURVE_EVERY == 0:
            curve.append(float(np.mean(accuracy[hardest])))
    return Outcome(reached, learner.accuracy.tolist(), curve, (probability_sum / steps).tolist())


def summarize(model: LearnerModel, outcomes: list[Outcome], steps: int) -> dict[str, Any]:
    """Mean and spread over seeds of one (learner, strategy)."""
    acc = np.array([o.final_accuracy for o in outcomes])
    train = acc[:, model.training_units].mean(axis=1)
    hardest = acc[:, model.hardest_training_units].mean(axis=1)
    held = acc[:, model.held_out_units].mean(axis=1) if model.held_out_units else None
    reached = [o.steps_to_target for o in outcomes if o.steps_to_target is not None]
    # an unreached target counts as steps + 1 (censored), so the mean never flatters it
    censored = [o.steps_to_target or steps + 1 for o in outcomes]
    return {
        "seeds": len(outcomes),
        "reached": len(reached),
        "steps_to_target_mean": float(np.mean(censored)),
        "steps_to_target_std": float(np.std(censored)),
        "hardest_mean": float(hardest.mean()),
        "hardest_std": float(hardest.std()),
        "train_mean": float(train.mean()),
        "train_std": float(train.std()),
        "held_out_mean": None if held is None else float(held.mean()),
        "held_out_std": None if held is None else float(held.std()),
        "final_accuracy_mean": acc.mean(axis=0).tolist(),
        "final_accuracy_std": acc.std(axis=0).tolist(),
        "hardest_curve_mean": np.mean([o.hardest_curve for o in outcomes], axis=0).tolist(),
        "mean_probabilities": np.mean([o.mean_probabilities for o in outcomes], axis=0).tolist(),
        # per seed: the target step and final accuracies (the curves only as their mean)
        "runs": [
            {"steps_to_target": o.steps_to_target, "final_accuracy": o.final_accuracy}
            for o in outcomes
        ],
    }


def rounded(value: Any, digits: int = 5) -> Any:
    """Floats rounded for a readable, diff-able JSON file."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def rank_key(row: dict[str, Any]) -> tuple[float, float, float]:
    """Fewest steps to target; then the hardest level (to 2 decimals); then the training mean."""
    return (row["steps_to_target_mean"], -round(row["hardest_mean"], 2), -row["train_mean"])


def format_table(
    name: str, model: LearnerModel, rows: dict[str, dict[str, Any]], steps: int
) -> str:
    lines = [f"learner {name}: {model.description}"]
    header = (
        f"  {'strategy':<27}{'reached':>8}{'steps to target':>17}"
        f"{'hardest level':>16}{'train mean':>15}{'held out':>15}"
    )
    lines.append(header)
    ranked = sorted(rows.items(), key=lambda kv: rank_key(kv[1]))
    for label, r in ranked:
        held = (
            "-"
            if r["held_out_mean"] is None
            else f"{r['held_out_mean']:.3f}±{r['held_out_std']:.3f}"
        )
        lines.append(
            f"  {label:<27}{r['reached']:>5}/{r['seeds']:<2}"
            f"{r['steps_to_target_mean']:>11.0f}±{r['steps_to_target_std']:<5.0f}"
            f"{r['hardest_mean']:>10.3f}±{r['hardest_std']:.3f}"
            f"{r['train_mean']:>9.3f}±{r['train_std']:.3f}{held:>15}"
        )
    return "\n".join(lines)


def markdown_tables(results: dict[str, Any]) -> str:
    """The tables of docs/strategies.md, ranked by :func:`rank_key`."""

    def cell(row: dict[str, Any], key: str) -> str:
        mean = row[f"{key}_mean"]
        return "-" if mean is None else f"{mean:.3f} ± {row[f'{key}_std']:.3f}"

    out = []
    for name, learner in results["learners"].items():
        out.append(f"**{name}** ({learner['description']})\n")
        out.append(
            "| strategy | reached | steps to target | hardest level | train mean | held out |"
        )
        out.append("| --- | --- | --- | --- | --- | --- |")
        rows = sorted(
            learner["strategies"].items(),
            key=lambda kv: rank_key(kv[1]),
        )
        for label, row in rows:
            steps = f"{row['steps_to_target_mean']:.0f} ± {row['steps_to_target_std']:.0f}"
            if row["reached"] < row["seeds"]:
                steps += " (censored)"
            out.append(
                f"| `{label}` | {row['reached']}/{row['seeds']} | {steps} | {cell(row, 'hardest')} "
                f"| {cell(row, 'train')} | {cell(row, 'held_out')} |"
            )
        out.append("")
    return "\n".join(out)


def plot(results: dict[str, Any], path: Path, target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learners = list(results["learners"])
    columns = 3
    rows = (len(learners) + 1 + columns - 1) // columns  # one extra panel for the legend
    fig, grid = plt.subplots(rows, columns, figsize=(5.0 * columns, 3.8 * rows), sharey=True)
    axes = np.atleast_1d(grid).ravel()
    cmap = plt.get_cmap("tab20")
    for ax, name in zip(axes, learners, strict=False):
        for i, (label, row) in enumerate(results["learners"][name]["strategies"].items()):
            curve = row["hardest_curve_mean"]
            x = [CURVE_EVERY * (k + 1) for k in range(len(curve))]
            style = "-" if label.startswith(("sec", "random")) else "--"
            ax.plot(x, curve, style, color=cmap(i % 20), label=label, linewidth=1.4)
        ax.axhline(target, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(name)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[len(learners) :]:
        ax.axis("off")
    axes[len(learners)].legend(handles, labels, fontsize=8, loc="center", ncol=2)
    for ax in axes[::columns]:
        ax.set_ylabel("hardest training level accuracy")
    fig.suptitle(
        f"ZPD strategies on the simulated learners ({results['seeds']} seeds, "
        f"batch {results['batch_size']}, in-process); mean over seeds; dotted: target {target}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--target", type=float, default=0.5)
    parser.add_argument("--learners", default=",".join(LEARNER_MODELS))
    parser.add_argument("--strategies", default="", help="comma-separated labels (all)")
    parser.add_argument("--json", default=str(RESULTS / "bench_strategies.json"))
    parser.add_argument("--png", default=str(RESULTS / "bench_strategies.png"))
    parser.add_argument(
        "--replot",
        action="store_true",
        help="only redraw the PNG and print markdown tables from --json",
    )
    args = parser.parse_args()
    if args.replot:
        stored = json.loads(Path(args.json).read_text())
        plot(stored, Path(args.png), stored["target"])
        print(markdown_tables(stored))
        print(f"wrote {args.png}")
        return
    chosen = set(filter(None, args.strategies.split(",")))
    strategies = [(label, spec) for label, spec in STRATEGIES if not chosen or label in chosen]
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}, numpy {np.__version__}",
        "mode": "in-process (no HTTP, no database)",
        "steps": args.steps,
        "seeds": args.seeds,
        "batch_size": args.batch_size,
        "target": args.target,
        "strategies": dict(strategies),
        "learners": {},
    }
    for name in filter(None, args.learners.split(",")):
        model = LEARNER_MODELS[name]
        rows = {}
        for label, spec in strategies:
            outcomes = [
                run_one(model, spec, seed=seed, steps=args.steps, batch_size=args.batch_size,
                        target=args.target)
                for seed in range(args.seeds)
            ]  # fmt: skip
            rows[label] = summarize(model, outcomes, args.steps)
        results["learners"][name] = {"description": model.description, "strategies": rows}
        print(format_table(name, model, rows, args.steps), flush=True)
        print(flush=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rounded(results)))
    print(f"wrote {args.json} ({results['seconds']} s)")
    try:
        plot(results, Path(args.png), args.target)
        print(f"wrote {args.png}")
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install matplotlib)")


if __name__ == "__main__":
    main()
