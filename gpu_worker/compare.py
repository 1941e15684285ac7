"""Compare curricula like the SEC paper's Table 1: same budget, same seeds, same warm start.

For each seed the tiny model is warmed up once (SFT); every strategy then starts from that
same checkpoint with a fresh optimizer and runs `--steps` GRPO steps against the service.
Held-out pass@1 (mean over `--eval-samples` samples at the rollout temperature) is reported
per level, in-distribution levels and the OOD level, as mean and standard deviation over seeds.

    zpd serve --port 8000 &
    python -m gpu_worker.compare --service-url http://127.0.0.1:8000 \\
        --strategies sec,random,ordered --seeds 0,1,2 --steps 150 --out-dir runs/compare

Writes `compare.json` and `compare.png` (accuracy per level over steps) into `--out-dir`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from gpu_worker.cli import add_compare_arguments
from gpu_worker.config import STRATEGIES, TrainConfig, config_from_args, log_line
from gpu_worker.rollout import RolloutEngine
from gpu_worker.train import open_worker, run_curriculum, warm_start


def compare(
    base: TrainConfig, strategies: list[str], seeds: list[int], log: Any = log_line
) -> dict[str, Any]:
    """Run every strategy from the same warm start per seed; return all runs and the table."""
    engine: RolloutEngine | None = None
    runs: dict[str, dict[int, dict[str, Any]]] = {s: {} for s in strategies}
    try:
        for seed in seeds:
            config = replace(base, seed=seed, out_dir=str(Path(base.out_dir) / f"seed{seed}"))
            worker = open_worker(config, engine=engine)
            engine = worker.engine
            worker.client.wait_until_ready(timeout=30)
            warmup = warm_start(worker, log) if config.warmup_steps > 0 else []
            warm_state = {k: v.detach().clone() for k, v in worker.model.state_dict().items()}
            for strategy in strategies:
                worker.config = replace(
                    config, strategy=strategy, run_name=f"{base.run_name}-{strategy}-seed{seed}"
                )
                worker.model.load_state_dict(warm_state)
                worker.optimizer = torch.optim.AdamW(
                    worker.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
                )
                worker.engine.sync_weights(worker.model, worker.weights_dir)
                result = run_curriculum(worker, log)
                runs[strategy][seed] = {"warmup": warmup, **result}
    finally:
        if engine is not None:
            engine.close()
    return {"config": asdict(base), "seeds": seeds, "runs": runs, "table": summary_table(runs)}


def summary_table(runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, dict[str, list[float]]]:
    """Per strategy and level: [mean, std over seeds] of the final held-out pass@1."""
    table: dict[str, dict[str, list[float]]] = {}
    for strategy, by_seed in runs.items():
        levels = next(iter(by_seed.values()))["evaluation"].keys()
        table[strategy] = {}
        for level in levels:
            values = [by_seed[s]["evaluation"][level]["pass_at_1"] for s in by_seed]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            table[strategy][level] = [statistics.fmean(values), spread]
    return table


def format_table(table: dict[str, dict[str, list[float]]], ood: list[str]) -> str:
    """The table as text: one row per strategy, one column per level (OOD marked)."""
    levels = list(next(iter(table.values())))
    header = "strategy  " + "".join(f"{lv + (' (OOD)' if lv in ood else ''):>24}" for lv in levels)
    rows = [header]
    for strategy, scores in table.items():
        cells = "".join(f"{scores[lv][0]:>15.3f} +- {scores[lv][1]:.3f}" for lv in levels)
        rows.append(f"{strategy:<10}{cells}")
    return "\n".join(rows)


def plot_curves(runs: dict[str, dict[int, dict[str, Any]]], path: Path) -> None:
    """Save held-out pass@1 per level over steps (mean over seeds), one panel per level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(next(iter(runs.values())).values()))
    levels = [k for k in first["curve"][0] if k != "step"]
    fig, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 3.2), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        for strategy, by_seed in runs.items():
            curves = [run["curve"] for run in by_seed.values()]
            steps = [point["step"] for point in curves[0]]
            means = [
                statistics.fmean(c[i][level]["pass_at_1"] for c in curves)
                for i in range(len(steps))
            ]
            ax.plot(steps, means, marker="o", label=strategy)
        ax.set_title(level)
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("held-out pass@1")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """`python -m gpu_worker.compare`: run the strategies, print the table, save JSON and PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_compare_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def run_from_args(args: argparse.Namespace) -> int:
    """Run the comparison the parsed flags describe; 2 on bad `--strategies`/`--seeds`."""
    strategies = [s for s in args.strategies.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown or not seeds:
        print(f"compare: unknown strategies {unknown} (known: {STRATEGIES}) or no seeds")
        return 2
    base = config_from_args(args)
    result = compare(base, strategies, seeds)
    out = Path(base.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    first_run = next(iter(result["runs"][strategies[0]].values()))
    ood = [lv for lv, s in first_run["evaluation"].items() if s["ood"]]
    print(
        f"held-out pass@1, mean +- std over seeds {seeds} ({base.eval_samples} samples/problem, "
        f"T={base.temperature}, {base.eval_problems} problems/level, {base.steps} steps)"
    )
    print(format_table(result["table"], ood))
    if base.eval_every:
        plot_curves(result["runs"], out / "compare.png")
    print(f"wrote {out / 'compare.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
