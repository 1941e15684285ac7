"""Rollouts saved by the service's predictions, on the real worker (docs/rollout_savings.md).

Each seed warms the tiny model up once; every method then starts from that checkpoint and
runs the same number of GRPO steps. The target of a seed is the mean held-out
in-distribution pass@1 that DAPO's dynamic sampling ends at; each method's cost is the
rollouts (every generated one, discarded included) and generated tokens it had spent when
it first reached that target, read at the evaluation points.

A method is a `+`-joined name, as in `benchmarks/bench_rollout_savings.py`:

| piece | what the worker runs |
| --- | --- |
| `uniform` | strategy `random` over arms, problems uniform within an arm |
| `dynamic_sampling` | the same, with `--dynamic-sampling` (oversample, drop groups whose rewards agree) |
| `sec` | strategy `sec` over arms |
| `frontier` | per-problem tracking, problems picked near the target pass rate (pooled prior, decay, re-probes) |
| `budget` | `--rollout-budget` = prompts x rollouts per step, spread by the service in [min, max] |

    zpd serve --port 8000 &
    python -m gpu_worker.savings --service-url http://127.0.0.1:8000 --suite addition \\
        --methods uniform,dynamic_sampling,sec+frontier+budget --seeds 1,2,3,4,5,6,7,8 \\
        --out-dir runs/savings

Writes `rollout_savings.json` (protocol, summary, one row per method and seed, each with its
curve) into `--out-dir`. Importing this module loads neither torch nor vLLM (the runs do), so
`benchmarks/recompute_rollout_savings.py` recomputes the summary from the rows alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from gpu_worker.config import TrainConfig, add_config_arguments, config_from_args
from gpu_worker.plots import Runs
from gpu_worker.protocol import mean_id_pass1, protocol_row, protocol_summary, spearman

BASELINE = "dynamic_sampling"
# The frontier's per-problem options (as in the simulator benchmark).
FRONTIER = {"prior": "pooled", "reprobe": 0.1, "discount": 0.95, "candidates": 4}
PIECES = ("uniform", "dynamic_sampling", "sec", "frontier", "budget")


def method_config(config: TrainConfig, method: str, _: dict[str, Any] | None = None) -> TrainConfig:
    """`config` set up to run `method` (see the module docstring), with a run name for it.

    Raises:
        ValueError: an unknown piece, or `dynamic_sampling` joined with a budget.
    """
    pieces = method.split("+")
    unknown = [p for p in pieces if p not in PIECES]
    if unknown or len(set(pieces)) != len(pieces):
        raise ValueError(f"method {method!r}: pieces are {', '.join(PIECES)}, each at most once")
    base = [p for p in pieces if p in ("uniform", "dynamic_sampling", "sec")]
    if len(base) > 1:
        raise ValueError(f"method {method!r}: give one of uniform, dynamic_sampling, sec")
    changes: dict[str, Any] = {
        "strategy": "sec" if "sec" in pieces else "random",
        "strategy_options": "{}",
        "dynamic_sampling": "dynamic_sampling" in pieces,
        "problems_selection": "none",
        "problems_options": "{}",
        "rollout_budget": 0,
    }
    if "frontier" in pieces:
        changes.update(problems_selection="frontier", problems_options=json.dumps(FRONTIER))
    if "budget" in pieces:
        if "frontier" not in pieces:  # predictions for the budget, problems still uniform
            changes.update(
                problems_selection="uniform", problems_options=json.dumps({"prior": "pooled"})
            )
        changes["rollout_budget"] = config.prompts_per_step * config.rollouts_per_prompt
    slug = method.replace("+", "-")
    return replace(config, **changes, run_name=f"{config.run_name}-{slug}-seed{config.seed}")


def against_baseline(method: str, config: TrainConfig, done: dict[str, Any]) -> TrainConfig:
    """A method's config once the seed's dynamic-sampling run is done: it stops at the first
    evaluation reaching that run's final ID pass@1, or after as many rollouts as it spent."""
    if method == BASELINE:
        return config
    baseline = done[BASELINE]
    target = final_id_pass1(baseline)
    limit = int(baseline["curve"][-1]["rollouts"])
    return replace(config, stop_at_id_pass1=target, rollout_limit=limit, steps=10**9)


def final_id_pass1(run: dict[str, Any]) -> float:
    """The mean in-distribution pass@1 of a run's last evaluation."""
    return mean_id_pass1({k: v for k, v in run["curve"][-1].items() if isinstance(v, dict)})


def run_spearman(run: dict[str, Any]) -> float | None:
    """Spearman correlation of the predicted pass rate (before the rollouts) against the
    observed fraction correct, over every generated group of a run that had predictions."""
    pairs = [pair for step in run.get("steps", []) for pair in step.get("predictions", [])]
    if len(pairs) < 3:
        return None
    return spearman([p for p, _ in pairs], [o for _, o in pairs])


def savings_rows(runs: Runs, baseline: str = BASELINE) -> list[dict[str, Any]]:
    """One row per method and seed: costs to the seed's target (the baseline's final ID
    pass@1), final scores, effective ratio, discarded rollouts, Spearman, and the curve."""
    rows = []
    for seed, base_run in runs[baseline].items():
        final = final_id_pass1(base_run)
        for method, by_seed in runs.items():
            if seed not in by_seed:
                continue
            run = by_seed[seed]
            spent = run["curve"][-1]["rollouts"] if run["curve"] else 0.0
            row = protocol_row(method, seed, run, 0.0, spent, target=final)
            steps = run.get("steps", [])
            row.update(
                method=method,
                rollouts_spent=spent,
                discarded_rollouts=sum(s.get("discarded_rollouts", 0.0) for s in steps),
                spearman=run_spearman(run),
                warmup_steps=run["warmup"][-1]["step"] if run.get("warmup") else 0.0,
            )
            rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: reached, median costs, ratios to dynamic sampling and to uniform (paired
    bootstrap, unreached censored at what the run spent), effective ratio, Spearman."""
    against = {b: protocol_summary(rows, b) for b in (BASELINE, "uniform") if _has(rows, b)}
    summary: dict[str, Any] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        reached = [r["rollouts_to_target"] for r in mine if r["rollouts_to_target"] is not None]
        spear = [r["spearman"] for r in mine if r["spearman"] is not None]
        entry: dict[str, Any] = {
            "seeds": len(mine),
            "reached": len(reached),
            "rollouts_to_target_median": statistics.median(reached) if reached else None,
            "final_id_pass1": statistics.fmean(r["final_id_pass1"] for r in mine),
            "effective_ratio": statistics.fmean(
                r["effective_ratio"] for r in mine if r["effective_ratio"] is not None
            ),
            "discarded_share": sum(r["discarded_rollouts"] for r in mine)
            / max(1.0, sum(r["rollouts_spent"] for r in mine)),
            "spearman": statistics.fmean(spear) if spear else None,
        }
        for base, entries in against.items():
            (line,) = [e for e in entries if e["strategy"] == method]
            for cost in ("rollouts", "tokens"):
                ratio = line.get(f"{cost}_ratio")
                if method == base:
                    ratio = (1.0, 1.0, 1.0)
                entry[f"{cost}_vs_{base}"] = ratio
        summary[method] = entry
    return summary


def _has(rows: list[dict[str, Any]], method: str) -> bool:
    return any(r["method"] == method for r in rows)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as the Markdown table of docs/rollout_savings.md."""

    def triple(value: Any) -> str:
        return "-" if value is None else f"{value[0]:.2f} [{value[1]:.2f}, {value[2]:.2f}]"

    lines = [
        "| method | reached | rollouts to target (median) | rollouts vs dynamic sampling "
        "[95% CI] | rollouts vs uniform [95% CI] | tokens vs dynamic sampling | final ID "
        "pass@1 | effective ratio | discarded | Spearman |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, s in summary.items():
        median = s["rollouts_to_target_median"]
        spear = s["spearman"]
        lines.append(
            f"| `{method}` | {s['reached']}/{s['seeds']} "
            f"| {'-' if median is None else f'{median:,.0f}'} "
            f"| {triple(s.get('rollouts_vs_' + BASELINE))} "
            f"| {triple(s.get('rollouts_vs_uniform'))} "
            f"| {triple(s.get('tokens_vs_' + BASELINE))} "
            f"| {s['final_id_pass1']:.3f} | {s['effective_ratio']:.2f} "
            f"| {s['discarded_share']:.2f} | {'-' if spear is None else f'{spear:.2f}'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m gpu_worker.savings`: run the methods per seed, write rollout_savings.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument(
        "--methods",
        default="uniform,dynamic_sampling,sec+frontier+budget",
        help="comma-separated methods, pieces joined by + (uniform, dynamic_sampling, sec, "
        f"frontier, budget); must include {BASELINE}",
    )
    parser.add_argument("--seeds", default="1,2,3,4,5,6,7,8", help="comma-separated seeds")
    args = parser.parse_args(argv)
    try:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        base = config_from_args(args)
        if BASELINE not in methods or not seeds:
            raise ValueError(f"need {BASELINE} among --methods, and seeds")
        if not base.eval_problems or not (base.eval_every or base.eval_every_rollouts):
            raise ValueError(
                "need evaluations during RL: --eval-problems and --eval-every-rollouts"
            )
        for method in methods:
            method_config(base, method)  # fail on a bad method before the warmup
        from gpu_worker.compare import compare  # torch and vLLM: only when runs are made

        ordered = [BASELINE] + [m for m in methods if m != BASELINE]  # the target comes first
        runs = compare(
            base,
            {m: {} for m in ordered},
            seeds,
            configure=method_config,
            adjust=against_baseline,
        )
    except ValueError as exc:
        print(f"savings: {exc}")
        return 2
    rows = savings_rows(runs)
    summary = summarise(rows)
    protocol = {
        "primary_metric": "rollouts (every generated one) to reach the mean held-out ID "
        f"pass@1 that {BASELINE} ends at, per seed",
        "baseline": BASELINE,
        "methods": methods,
        "seeds": seeds,
        "unreached": "counted as the rollouts the run spent, in the ratios",
        "ci": "paired bootstrap over seeds, 10,000 resamples, 95% percentile interval",
        "frontier_options": FRONTIER,
        "config": asdict(base),
    }
    out = Path(base.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "rollout_savings.json"
    path.write_text(json.dumps({"protocol": protocol, "summary": summary, "runs": rows}, indent=1))
    print(format_table(summary))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
