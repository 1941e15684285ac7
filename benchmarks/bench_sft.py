"""Benchmark of SFT on failures: teacher demonstrations needed to reach a target accuracy.

For each seed, the tiny char-level Llama is built from scratch (same initial weights for
both modes of a seed) and trained by `gpu_worker.sft` against a real local `zpd serve`
(SQLite), once per mode:

* `failures`: the service hands out problems with `purpose="demonstrations"` (weight
  1 - E[pass rate]); the teacher is asked only for those the model's greedy answer failed.
* `uniform`: problems sampled uniformly; the teacher is asked for every one.

Both modes take one SFT step per round on a batch of `batch_size` demonstrations (the
round's new ones, filled up with earlier ones), and stop at the first evaluation whose
held-out greedy accuracy (mean over levels) reaches `--target`. The table gives, per mode,
mean +- sample std over seeds of the teacher calls (demonstrations) at that point, the
service's `demonstrations` counter, rounds, SFT steps and wall time.

    nice -n 5 python benchmarks/bench_sft.py --seeds 0,1,2      # chain_sum d1, target 0.9
    nice -n 5 python benchmarks/bench_sft.py --digits 1,2 --target 0.5 --eval-every 10 \
        --max-demonstrations 80000 --out benchmarks/results/bench_sft.d12.json

Writes `benchmarks/results/bench_sft.json` and `bench_sft.png` (accuracy vs teacher calls;
`--out` moves both), and `*.partial.json` after every finished run (removed at the end).
About 9 minutes for the first command and 13 for the second on 2 shared CPU cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, write_json  # noqa: E402
from gpu_worker.sft import MODES, SFTConfig, open_sft_worker, run_sft  # noqa: E402
from trainer_client import CurriculumClient  # noqa: E402
from trainer_client.local import local_service  # noqa: E402

COLUMNS = ("teacher_calls", "service_demonstrations", "rounds", "sft_steps", "seconds")


def mean_std(values: list[float]) -> str:
    """`mean +- sample std` (std 0 for a single value)."""
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):,.0f} +- {std:,.0f}"


def table(runs: list[dict[str, Any]], seeds: list[int]) -> str:
    """One row per mode: seeds that reached the target, and what it took, mean +- std.

    A run that stopped at the budget first counts with what it had spent (a lower bound):
    the cell is then marked `>=`, so the mean never flatters.
    """
    header = ["mode", "reached"] + [c.replace("_", " ") for c in COLUMNS] + ["final acc"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for mode in [m for m in MODES if any(r["mode"] == m for r in runs)]:
        mine = [r for r in runs if r["mode"] == mode]
        done = sum(r["reached"] for r in mine)
        bound = ">= " if done < len(mine) else ""
        cells = [mode, f"{done}/{len(mine)}"]
        cells += [bound + mean_std([float(r[c]) for r in mine]) for c in COLUMNS]
        cells.append(f"{statistics.fmean(r['final_accuracy'] for r in mine):.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    for mode in MODES[:-1]:
        ratios = []
        for seed in seeds:
            calls = {
                r["mode"]: r["teacher_calls"] for r in runs if r["seed"] == seed and r["reached"]
            }
            if mode in calls and "uniform" in calls:
                ratios.append(f"seed {seed}: {calls[mode] / calls['uniform']:.2f}")
        lines.append(
            f"\nteacher calls to target, {mode} / uniform, per seed (both reached): "
            + (", ".join(ratios) or "-")
        )
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], target: float, digits: str, path: Path) -> None:
    """Held-out greedy accuracy against teacher calls, one line per (mode, seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"failures": "tab:red", "filter": "tab:orange", "uniform": "tab:blue"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        xs = [p["teacher_calls"] for p in run["curve"]]
        ys = [p["accuracy"] for p in run["curve"]]
        label = f"{run['mode']} (seed {run['seed']})"
        ax.plot(xs, ys, color=colors[run["mode"]], alpha=0.4 + 0.2 * (run["seed"] % 3), label=label)
    ax.axhline(target, color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel("teacher calls (demonstrations)")
    ax.set_ylabel("held-out greedy accuracy (mean over levels)")
    ax.set_title(
        f"SFT: failures / filter / uniform, tiny model from scratch, chain_sum digits {digits}"
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--digits", default="1", help="chain_sum levels")
    parser.add_argument(
        "--train-size",
        type=int,
        default=10_000,
        help="training indices per level (small: problems recur, so the service's "
        "per-problem posteriors have evidence to weight by)",
    )
    parser.add_argument("--target", type=float, default=0.9, help="mean held-out greedy accuracy")
    parser.add_argument("--prompts-per-round", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--eval-problems", type=int, default=200)
    parser.add_argument("--max-demonstrations", type=int, default=200_000)
    parser.add_argument("--max-rounds", type=int, default=1_000)
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}"
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="failures mode also reports the demonstrated problems re-answered after SFT",
    )
    parser.add_argument("--out", default="benchmarks/results/bench_sft.json")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes must name some of {MODES}, got {args.modes!r}")
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, local_service(f"sqlite:///{tmp}/zpd.db") as url:
        client = CurriculumClient(url, timeout=30.0)
        for seed in seeds:
            for mode in modes:
                config = SFTConfig(
                    service_url=url,
                    run_name=f"bench-sft-{mode}-{seed}",
                    mode=mode,
                    seed=seed,
                    digits=args.digits,
                    train_size=args.train_size,
                    prompts_per_round=args.prompts_per_round,
                    batch_size=args.batch_size,
                    lr=args.lr,
                    eval_every=args.eval_every,
                    eval_problems=args.eval_problems,
                    target=args.target,
                    max_demonstrations=args.max_demonstrations,
                    max_rounds=args.max_rounds,
                    recheck=args.recheck and mode == "failures",
                )
                result = run_sft(open_sft_worker(config, client))
                result.pop("round_records")
                runs.append({"seed": seed, **result})
                # finished runs survive an interrupted benchmark
                write_json(Path(args.out).with_suffix(".partial.json"), {"runs": runs})
                print(
                    f"seed {seed} {mode}: reached={result['reached']} "
                    f"teacher_calls={result['teacher_calls']} rounds={result['rounds']} "
                    f"{result['seconds']:.0f}s",
                    flush=True,
                )
        client.close()
    print(f"\n{table(runs, seeds)}")
    out = Path(args.out)
    payload = {
        "benchmark": "sft_on_failures",
        "machine": machine(),
        "settings": {**vars(args), "seeds": seeds, "model": "tiny char Llama from scratch"},
        "wall_seconds": time.perf_counter() - started,
        "table": table(runs, seeds),
        "runs": runs,
    }
    write_json(out, payload)
    out.with_suffix(".partial.json").unlink(missing_ok=True)  # the full file replaces it
    plot(runs, args.target, args.digits, out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
