"""Compare and rank curricula on the real worker: same budget, same seeds, same warm start.

For each seed the tiny model is warmed up once (SFT); every strategy then starts from that
same checkpoint with a fresh optimizer and runs `--steps` GRPO steps against the service.
Held-out pass@1 (mean over `--eval-samples` samples at the rollout temperature) is reported
per level, in-distribution levels and the OOD level, as mean and standard deviation over seeds,
and the strategies are ranked by the first step at which the hardest training level's pass@1
reaches `--target` (evaluated every `--eval-every` steps), then by its final pass@1.

Any strategy the service registers can run, with options (the `zpd simulate` syntax: a
`key=value` piece without a `name:` belongs to the strategy before it):

    zpd serve --port 8000 &
    python -m gpu_worker.compare --service-url http://127.0.0.1:8000 \\
        --strategies sec,sec:objective=pass_rate,thompson,ducb:c=0.3,random \\
        --seeds 0,3,4 --steps 150 --eval-every 25 --target 0.15 --out-dir runs/compare

Writes `compare.json` (config, every run's curve and final scores, the table, the ranking)
and `compare.png` (pass@1 per level over steps, mean over seeds) into `--out-dir`.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gpu_worker.config import TrainConfig, add_compare_arguments, config_from_args, log_line
from gpu_worker.plots import Runs, mean_std, plot_curves, plot_value
from gpu_worker.protocol import format_summary, protocol_row, protocol_summary
from gpu_worker.rollout import RolloutEngine
from gpu_worker.train import create_curriculum_run, open_worker, run_curriculum, warm_start
from trainer_client.models import Run
from trainer_client.simulate import parse_strategies

# What a step record keeps in compare.json (the per-problem rewards stay on the service).
STEP_KEYS = (
    "step",
    "reward_mean",
    "accuracy",
    "loss",
    "probabilities",
    "rollouts",
    "generated_tokens",
    "discarded_rollouts",
    "effective_ratio",
    "predictions",
)


def strategy_variants(text: str) -> dict[str, dict[str, Any]]:
    """`'sec,ducb:gamma=0.9,c=0.5'` -> `{label: strategy spec}`, labels as written.

    Raises:
        ValueError: a malformed piece, a duplicate label or no strategy at all.
    """
    variants: dict[str, dict[str, Any]] = {}
    for label, spec in parse_strategies(text):
        if label in variants:
            raise ValueError(f"strategy {label!r} is listed twice")
        variants[label] = spec
    return variants


def variant_config(config: TrainConfig, label: str, spec: dict[str, Any]) -> TrainConfig:
    """`config` running the strategy `spec`, with a run name that carries the label."""
    options = {k: v for k, v in spec.items() if k != "name"}
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label)
    return replace(
        config,
        strategy=spec["name"],
        strategy_options=json.dumps(options),
        run_name=f"{config.run_name}-{slug}-seed{config.seed}",
    )


def compare(
    base: TrainConfig,
    variants: dict[str, dict[str, Any]],
    seeds: list[int],
    log: Any = log_line,
    engine: RolloutEngine | None = None,
    on_run: Callable[[str, Run], None] | None = None,
    on_step: Callable[[str, dict[str, Any]], None] | None = None,
    configure: Callable[[TrainConfig, str, dict[str, Any]], TrainConfig] = variant_config,
    adjust: Callable[[str, TrainConfig, dict[str, Any]], TrainConfig] | None = None,
) -> Runs:
    """Run every strategy from the same warm start per seed; return the runs by label and seed.

    Each seed's runs are created on the service before its warmup, so a strategy the service
    refuses fails in seconds (ValueError with the service's message). An `engine` passed in
    is reused and left open; otherwise one is started and closed here. `on_run(label, run)`
    is called when a run is created, `on_step(label, record)` after each of its GRPO steps
    (instead of the step's log line). `configure(config, label, spec)` gives each variant's
    config (default `variant_config`: the strategy `spec`); `adjust(label, config, done)`, if
    given, may change a variant's worker settings just before it trains, knowing the
    results of the seed's variants that ran before it (`done`: label -> result).
    """
    own_engine = engine is None
    runs: Runs = {label: {} for label in variants}
    try:
        for seed in seeds:
            config = replace(base, seed=seed, out_dir=str(Path(base.out_dir) / f"seed{seed}"))
            worker = open_worker(config, engine=engine)
            engine = worker.engine
            worker.client.wait_until_ready(timeout=30)
            configs = {label: configure(config, label, s) for label, s in variants.items()}
            created = {}
            for label, variant in configs.items():
                worker.config = variant
                created[label] = create_curriculum_run(worker)
                if on_run is not None:
                    on_run(label, created[label])
            worker.config = config
            warmup = warm_start(worker, log) if config.warmup_steps > 0 else []
            warm_state = {k: v.detach().clone() for k, v in worker.model.state_dict().items()}
            done: dict[str, Any] = {}
            for label, variant in configs.items():
                worker.config = variant if adjust is None else adjust(label, variant, done)
                worker.model.load_state_dict(warm_state)
                worker.optimizer = torch.optim.AdamW(
                    worker.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
                )
                worker.engine.sync_weights(worker.model, worker.weights_dir)
                step_callback = None if on_step is None else partial(on_step, label)
                result = run_curriculum(worker, log, created[label], step_callback)
                result["steps"] = [{k: r[k] for k in STEP_KEYS if k in r} for r in result["steps"]]
                runs[label][seed] = done[label] = {"warmup": warmup, **result}
                # so that an interrupted comparison still leaves every finished run on disk
                checkpoint = Path(base.out_dir) / "compare.partial.json"
                checkpoint.write_text(json.dumps({"seeds": seeds, "runs": runs}))
    finally:
        if own_engine and engine is not None:
            engine.close()
    return runs


def summary_table(runs: Runs) -> dict[str, dict[str, list[float]]]:
    """Per strategy and level: [mean, std over seeds] of the final held-out pass@1."""
    table: dict[str, dict[str, list[float]]] = {}
    for strategy, by_seed in runs.items():
        levels = next(iter(by_seed.values()))["evaluation"].keys()
        table[strategy] = {
            level: mean_std([run["evaluation"][level]["pass_at_1"] for run in by_seed.values()])
            for level in levels
        }
    return table


def steps_to_target(curve: list[dict[str, Any]], level: str, target: float) -> int | None:
    """The first evaluated step whose pass@1 on `level` is at least `target`; None if never."""
    for point in curve:
        if point[level]["pass_at_1"] >= target:
            return int(point["step"])
    return None


def ranking(runs: Runs, target: float, steps: int) -> list[dict[str, Any]]:
    """One row per strategy, best first: steps to target, final ID/hardest/OOD pass@1.

    An unreached target counts as `steps + 1` in the mean (censored, so it never flatters).
    Rows are ordered by that mean, then the hardest level's final pass@1 (2 decimals), then
    the in-distribution mean. ID is the mean over training levels, OOD over held-out ones.
    """
    rows = []
    for strategy, by_seed in runs.items():
        evaluation = next(iter(by_seed.values()))["evaluation"]
        train = [lv for lv, s in evaluation.items() if not s["ood"]]
        ood = [lv for lv, s in evaluation.items() if s["ood"]]
        hardest = train[-1]
        reached = [steps_to_target(run["curve"], hardest, target) for run in by_seed.values()]
        final = [run["evaluation"] for run in by_seed.values()]

        def level_mean(scores: dict[str, Any], levels: list[str]) -> float:
            return statistics.fmean(scores[lv]["pass_at_1"] for lv in levels)

        rows.append(
            {
                "strategy": strategy,
                "hardest_level": hardest,
                "reached": sum(r is not None for r in reached),
                "seeds": len(reached),
                "steps_to_target": reached,
                "steps_to_target_mean_std": mean_std(
                    [steps + 1 if r is None else r for r in reached]
                ),
                "hardest_mean_std": mean_std([s[hardest]["pass_at_1"] for s in final]),
                "id_mean_std": mean_std([level_mean(s, train) for s in final]),
                "ood_mean_std": mean_std([level_mean(s, ood) for s in final]) if ood else None,
            }
        )
    return sorted(
        rows,
        key=lambda r: (
            r["steps_to_target_mean_std"][0],
            -round(r["hardest_mean_std"][0], 2),
            -r["id_mean_std"][0],
        ),
    )


def _cell(pair: list[float] | None, digits: int = 3) -> str:
    return "-" if pair is None else f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def format_ranking(rows: list[dict[str, Any]], target: float) -> str:
    """The ranking as a Markdown table (it is also what the docs show).

    Steps to target: mean ± std over seeds, `≥` when a seed never reached it (counted as
    steps + 1), then the step per seed in brackets (`-`: not reached).
    """
    hardest = rows[0]["hardest_level"]
    lines = [
        f"| rank | strategy | reached {target:g} | steps to target (per seed) "
        f"| {hardest} (hardest) | ID mean | OOD |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rank, r in enumerate(rows, start=1):
        per_seed = "/".join("-" if s is None else str(s) for s in r["steps_to_target"])
        censored = "≥ " if r["reached"] < r["seeds"] else ""
        lines.append(
            f"| {rank} | `{r['strategy']}` | {r['reached']}/{r['seeds']} "
            f"| {censored}{_cell(r['steps_to_target_mean_std'], 0)} ({per_seed}) "
            f"| {_cell(r['hardest_mean_std'])} | {_cell(r['id_mean_std'])} "
            f"| {_cell(r['ood_mean_std'])} |"
        )
    return "\n".join(lines)


def format_table(table: dict[str, dict[str, list[float]]], ood: list[str]) -> str:
    """The table as text: one row per strategy, one column per level (OOD marked)."""
    levels = list(next(iter(table.values())))
    width = max(10, *(len(s) + 2 for s in table))
    header = f"{'strategy':<{width}}" + "".join(
        f"{lv + (' (OOD)' if lv in ood else ''):>24}" for lv in levels
    )
    rows = [header]
    for strategy, scores in table.items():
        cells = "".join(f"{scores[lv][0]:>15.3f} +- {scores[lv][1]:.3f}" for lv in levels)
        rows.append(f"{strategy:<{width}}{cells}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """`python -m gpu_worker.compare`: run the strategies, print the tables, save JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_compare_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    """Run the comparison the parsed flags describe; 2 on bad flags or a refused strategy."""
    try:
        variants = strategy_variants(args.strategies)
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        if not seeds:
            raise ValueError("no seeds given")
        base = config_from_args(args)
        runs = compare(base, variants, seeds)
    except ValueError as exc:
        print(f"compare: {exc}")
        return 2
    target = args.target
    result = {
        "config": asdict(base),
        "seeds": seeds,
        "strategies": variants,
        "target": target,
        "table": summary_table(runs),
        "ranking": ranking(runs, target, base.steps),
        "runs": runs,
    }
    out = Path(base.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    first_run = next(iter(runs[next(iter(variants))].values()))
    ood = [lv for lv, s in first_run["evaluation"].items() if s["ood"]]
    print(
        f"held-out pass@1, mean +- std over seeds {seeds} ({base.eval_samples} samples/problem, "
        f"T={base.temperature}, {base.eval_problems} problems/level, {base.steps} steps)"
    )
    print(format_table(result["table"], ood))
    print(f"\nranking (target: pass@1 >= {target:g}, evaluated every {base.eval_every} steps)")
    print(format_ranking(result["ranking"], target))
    if base.eval_every:
        plot_curves(runs, out / "compare.png", target)
        write_protocol(base, runs, seeds, args.id_gain, args.baseline, out)
    print(f"wrote {out / 'compare.json'}")
    return 0


def write_protocol(
    base: TrainConfig, runs: Runs, seeds: list[int], id_gain: float, baseline: str, out: Path
) -> None:
    """The protocol's result (docs/curriculum_value.md): `curriculum_value.json` with one row
    per strategy and seed, the summary against `baseline`, and the accuracy-vs-rollouts plot."""
    budget = float(base.steps * base.prompts_per_step * base.rollouts_per_prompt)
    rows = [
        protocol_row(label, seed, run, id_gain, budget)
        for label, by_seed in runs.items()
        for seed, run in by_seed.items()
    ]
    if baseline not in runs:
        print(f"(no {baseline!r} among the strategies: the protocol's ratios are skipped)")
        return
    summary = protocol_summary(rows, baseline)
    protocol = {
        "primary_metric": "rollouts to reach mean held-out in-distribution pass@1 >= the "
        f"seed's warm start + {id_gain:g}",
        "id_gain": id_gain,
        "baseline": baseline,
        "seeds": seeds,
        "rollouts_budget": budget,
        "unreached": "counted as the whole budget (tokens, seconds: as spent) in the ratios",
        "ci": "paired bootstrap over seeds, 10,000 resamples, 95% percentile interval",
        "config": asdict(base),
    }
    result = {"protocol": protocol, "summary": summary, "runs": rows}
    (out / "curriculum_value.json").write_text(json.dumps(result, indent=1))
    print(f"\nprotocol: rollouts to ID pass@1 >= warm start + {id_gain:g} (ratios to {baseline})")
    print(format_summary(rows, summary))
    plot_value(rows, out / "curriculum_value.png")
    print(f"wrote {out / 'curriculum_value.json'}")


if __name__ == "__main__":
    raise SystemExit(main())
