"""Rollouts saved by predicting pass rates: uniform, DAPO dynamic sampling, SEC, frontier
(MoPPS-style) selection, and each with rollout budgets, on the simulated learner.

The learner is :class:`trainer_client.sim_learners.ProblemLearner` on the ``frontier``
model: 6 training levels + 1 held out, 200 problems per level whose pass rates spread
around the level's (offsets ``N(0, 1.5^2)`` in logit). Each method spends the same
rollout budget (``--rollouts``) in steps of ``--batch`` trained groups:

* ``uniform``: arms and problems uniform, 8 rollouts each.
* ``dynamic_sampling`` (DAPO, arXiv 2503.14476): uniform candidates in rounds of
  ``--batch``, groups whose correctness all agrees are dropped, refilled until the batch
  is full or ``--max-rounds`` rounds; every generated rollout counts.
* ``sec``: the service's SEC strategy (mean |advantage|, alpha 0.5, tau 0.2) over arms.
* ``frontier``: arms uniform, then inside each arm the service's frontier rule (4
  candidates per slot, Thompson draw near 0.5, decay 0.95 per step, re-probes 0.1,
  pooled prior) - MoPPS's selection.
* ``sec+frontier``: SEC over arms and the frontier rule inside them.
* ``...+budget``: the same selection, with ``n_i`` rollouts per item from the service's
  greedy budget (total ``batch * 8``, each in [2, 16]).

The selection code is the service's own pure math (``service.curricula``: the SEC
strategy, ``choose_frontier``, ``pooled_prior``, ``allocate_rollouts``), run in-process
without storage so that 20 seeds x 8 methods take minutes; the storage path's cost is
measured apart (``--cost``: ``sample(256)`` on a run of 1,000,000 problems through the
domain layer, predictions and a budget included).

Per run: ``rollouts_to_target`` and ``tokens_to_target`` (first point where the mean
pass rate over every problem, held-out level included, reaches the seed's target: the
accuracy dynamic sampling ends at; null if never), the effective ratio (share of
generated groups whose correctness does not all agree), and the Spearman correlation of
predicted (posterior mean before the rollouts) against observed pass rates. Ratios to
dynamic sampling and uniform carry 95% paired-bootstrap CIs over seeds (a run that never
reaches the target counts the whole budget, a lower bound on its cost).

    python benchmarks/bench_rollout_savings.py [--seeds 20] [--rollouts 60000]
    python benchmarks/bench_rollout_savings.py --cost [--iterations 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_worker.protocol import spearman
from service.curricula import ArmInfo, build_strategy
from service.curricula.predictions import allocate_rollouts, pooled_prior
from service.curricula.problems import ProblemOptions, choose_frontier
from service.curricula.rewards import arm_feedback
from trainer_client.advantages import grpo_advantages
from trainer_client.sim_learners import LEARNER_MODELS, ProblemLearner

GROUP = 8  # rollouts per problem without a budget
FRONTIER = ProblemOptions(
    selection="frontier", discount=0.95, reprobe=0.1, prior="pooled", prior_strength=20.0
)
TRACK = ProblemOptions(discount=0.95)  # what uniform and SEC runs track (no selection)


@dataclass(frozen=True)
class Method:
    name: str
    arms: str = "uniform"  # or "sec"
    pick: str = "uniform"  # or "frontier"
    budget: bool = False
    dynamic: bool = False


METHODS = [
    Method("uniform"),
    Method("dynamic_sampling", dynamic=True),
    Method("sec", arms="sec"),
    Method("frontier", pick="frontier"),
    Method("sec+frontier", arms="sec", pick="frontier"),
    Method("uniform+budget", budget=True),
    Method("sec+budget", arms="sec", budget=True),
    Method("frontier+budget", pick="frontier", budget=True),
    Method("sec+frontier+budget", arms="sec", pick="frontier", budget=True),
]


class Tracker:
    """Per-problem discounted counts, as the service keeps them (``problem_stats``)."""

    def __init__(self, units: int, per_arm: int, options: ProblemOptions) -> None:
        self.solved = np.zeros((units, per_arm))
        self.failed = np.zeros((units, per_arm))
        self.last = np.zeros((units, per_arm))
        self.options = options

    def counts(self, unit: int, idx: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        weight = self.options.discount ** (step - self.last[unit, idx])
        return self.solved[unit, idx] * weight, self.failed[unit, idx] * weight

    def prior(self, unit: int, step: int) -> tuple[float, float]:
        if self.options.prior != "pooled":
            return 1.0, 1.0
        s, f = self.counts(unit, np.arange(self.solved.shape[1]), step)
        return pooled_prior(s, f, self.options.prior_strength)

    def record(self, unit: int, idx: int, group: np.ndarray, step: int) -> None:
        weight = self.options.discount ** (step - self.last[unit, idx])
        solved = float(np.count_nonzero(group >= 1.0))
        self.solved[unit, idx] = self.solved[unit, idx] * weight + solved
        self.failed[unit, idx] = self.failed[unit, idx] * weight + len(group) - solved
        self.last[unit, idx] = step


def choose(
    method: Method,
    learner: ProblemLearner,
    tracker: Tracker,
    arm_probs: np.ndarray,
    batch: int,
    step: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(units, problem indices, posterior alpha, beta) of one step's items."""
    arms = np.array(learner.model.training_units)
    per_arm = learner.offsets.shape[1]
    slots = rng.choice(len(arms), size=batch, p=arm_probs)
    units, indices, alpha, beta = [], [], [], []
    for arm in np.unique(slots).tolist():
        unit, k = int(arms[arm]), int(np.count_nonzero(slots == arm))
        prior = tracker.prior(unit, step)
        if method.pick == "frontier":
            candidates = rng.choice(per_arm, size=min(per_arm, 4 * k), replace=False)
            s, f = tracker.counts(unit, candidates, step)
            picked = candidates[choose_frontier(s, f, k, rng, tracker.options, prior)]
        else:
            picked = rng.choice(per_arm, size=k, replace=False)
        s, f = tracker.counts(unit, picked, step)
        units += [unit] * k
        indices += picked.tolist()
        alpha += (prior[0] + s).tolist()
        beta += (prior[1] + f).tolist()
    return np.array(units), np.array(indices), np.array(alpha), np.array(beta)


def run_method(
    method: Method, seed: int, rollout_budget: int, batch: int, rounds: int
) -> dict[str, Any]:
    """One run: accuracy against rollouts and tokens spent, until the budget is spent."""
    rng = np.random.default_rng([seed, 0])  # the same learner for every method of a seed
    learner = ProblemLearner(LEARNER_MODELS["frontier"], rng)
    rng = np.random.default_rng([seed, 1 + METHODS.index(method)])
    learner.rng = rng
    n_arms = len(learner.model.training_units)
    tracker = Tracker(
        len(learner.skill),
        learner.offsets.shape[1],
        FRONTIER if method.pick == "frontier" else TRACK,
    )
    strategy = build_strategy(
        "sec", {"alpha": 0.5, "tau": 0.2}, [ArmInfo(f"a{k}", None, {}) for k in range(n_arms)]
    )
    state = strategy.initial_state([ArmInfo(f"a{k}", None, {}) for k in range(n_arms)])
    spent = {"rollouts": 0.0, "tokens": 0.0}
    curve = [(0.0, 0.0, learner.accuracy())]
    generated = informative = trained = 0
    predicted: list[float] = []
    observed: list[float] = []
    step = 0
    while spent["rollouts"] < rollout_budget:
        probs = (
            strategy.probabilities(state, step)
            if method.arms == "sec"
            else np.full(n_arms, 1 / n_arms)
        )
        kept_units: list[int] = []
        kept: list[np.ndarray] = []
        for _ in range(rounds if method.dynamic else 1):
            units, indices, alpha, beta = choose(method, learner, tracker, probs, batch, step, rng)
            n = (
                allocate_rollouts(alpha, beta, batch * GROUP, 2, 16)
                if method.budget
                else np.full(len(units), GROUP)
            )
            groups, tokens = learner.rollouts(units, indices, n)
            spent["rollouts"] += float(n.sum())
            spent["tokens"] += float(tokens.sum())
            for u, i, g, a, b in zip(units, indices, groups, alpha, beta, strict=True):
                tracker.record(int(u), int(i), g, step)
                correct = float(np.mean(g >= 1.0))
                useful = 0.0 < correct < 1.0
                generated += 1
                informative += useful
                predicted.append(a / (a + b))
                observed.append(correct)
                if useful or not method.dynamic:
                    kept_units.append(int(u))
                    kept.append(g)
            if not method.dynamic or len(kept) >= batch:
                break
        kept_units, kept = kept_units[:batch], kept[:batch]
        trained += len(kept)
        learner.train(np.array(kept_units, dtype=np.int64), kept)
        if method.arms == "sec" and kept:
            signal = np.array([np.mean(np.abs(grpo_advantages(g.tolist()))) for g in kept])
            outcome = np.array([float(np.mean(g)) for g in kept])
            arm_of = np.array([learner.model.training_units.index(u) for u in kept_units])
            state = strategy.update(state, arm_feedback(n_arms, arm_of, signal, outcome), step)
        step += 1
        curve.append((spent["rollouts"], spent["tokens"], learner.accuracy()))
    return {
        "method": method.name,
        "seed": seed,
        "steps": step,
        "curve": curve,
        "rollouts": spent["rollouts"],
        "tokens": spent["tokens"],
        "generated_groups": generated,
        "trained_groups": trained,
        "effective_ratio": informative / generated,
        "spearman": spearman(predicted, observed),
        "final_accuracy": curve[-1][2],
    }


def to_target(
    curve: list[tuple[float, float, float]], target: float
) -> tuple[float | None, float | None]:
    for rollouts, tokens, accuracy in curve:
        if accuracy >= target:
            return rollouts, tokens
    return None, None


def paired_ratio(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, draws: int = 5000
) -> dict[str, float]:
    """sum(a) / sum(b) over seeds, with a 95% paired bootstrap interval."""
    picks = rng.integers(0, len(a), size=(draws, len(a)))
    ratios = a[picks].sum(axis=1) / b[picks].sum(axis=1)
    return {
        "ratio": float(a.sum() / b.sum()),
        "ci_low": float(np.quantile(ratios, 0.025)),
        "ci_high": float(np.quantile(ratios, 0.975)),
    }


def benchmark(seeds: int, rollout_budget: int, batch: int, rounds: int) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for seed in range(seeds):
        by_method = {m.name: run_method(m, seed, rollout_budget, batch, rounds) for m in METHODS}
        target = by_method["dynamic_sampling"]["final_accuracy"]
        for run in by_method.values():
            rollouts, tokens = to_target(run.pop("curve"), target)
            runs.append(
                {
                    **run,
                    "target": target,
                    "rollouts_to_target": rollouts,
                    "tokens_to_target": tokens,
                }
            )
        print(f"  seed {seed}: target {target:.3f}", flush=True)
    return {"runs": runs, "summary": summarise(runs, rollout_budget)}


def summarise(runs: list[dict[str, Any]], rollout_budget: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    seeds = sorted({r["seed"] for r in runs})

    def cost(name: str, key: str) -> np.ndarray:
        by_seed = {r["seed"]: r for r in runs if r["method"] == name}
        cap = float(rollout_budget) if key == "rollouts_to_target" else float("nan")
        return np.array([by_seed[s][key] if by_seed[s][key] is not None else cap for s in seeds])

    summary: dict[str, Any] = {}
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method.name]
        rollouts = cost(method.name, "rollouts_to_target")
        spear = [r["spearman"] for r in mine if r["spearman"] is not None]
        reached = [r for r in mine if r["tokens_to_target"] is not None]
        summary[method.name] = {
            "reached": len(reached),
            "seeds": len(mine),
            "rollouts_to_target_median": float(np.median(rollouts)),
            "tokens_to_target_median": (
                float(np.median([r["tokens_to_target"] for r in reached])) if reached else None
            ),
            "vs_dynamic_sampling": paired_ratio(
                rollouts, cost("dynamic_sampling", "rollouts_to_target"), rng
            ),
            "vs_uniform": paired_ratio(rollouts, cost("uniform", "rollouts_to_target"), rng),
            "effective_ratio": float(np.mean([r["effective_ratio"] for r in mine])),
            "spearman": float(np.mean(spear)) if spear else None,
            "final_accuracy": float(np.mean([r["final_accuracy"] for r in mine])),
        }
    return summary


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| method | reached | rollouts to target (median) | vs dynamic sampling (95% CI) | vs uniform (95% CI) | effective ratio | Spearman | final acc |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in summary.items():
        ds, un = s["vs_dynamic_sampling"], s["vs_uniform"]
        spear = "-" if s["spearman"] is None else f"{s['spearman']:.2f}"
        lines.append(
            f"| {name} | {s['reached']}/{s['seeds']} | {s['rollouts_to_target_median']:,.0f} | "
            f"{ds['ratio']:.2f} ({ds['ci_low']:.2f}-{ds['ci_high']:.2f}) | "
            f"{un['ratio']:.2f} ({un['ci_low']:.2f}-{un['ci_high']:.2f}) | "
            f"{s['effective_ratio']:.2f} | {spear} | {s['final_accuracy']:.3f} |"
        )
    return "\n".join(lines)


def prediction_cost(iterations: int, seen: int) -> dict[str, Any]:
    """``sample(256)`` on 1,000,000 problems through the domain layer (SQLite), with
    per-item predictions, the pooled prior, re-probes and a rollout budget."""
    import tempfile

    from sqlalchemy import insert

    from benchmarks.bench_problems import ARMS, PER_ARM, _rows
    from service.api.app import create_app
    from service.db.models import ProblemStat
    from service.domain import runs as domain
    from service.schemas import CreateRunRequest, ReportRequest, SampleRequest
    from service.settings import Settings

    folder = tempfile.mkdtemp()
    settings = Settings(database_url=f"sqlite:///{folder}/cost.db", rate_limit_per_minute=0)
    db = create_app(settings).state.db
    options = {"selection": "frontier", "prior": "pooled", "reprobe": 0.1, "discount": 0.999}
    run = domain.create_run(
        db,
        CreateRunRequest.model_validate(
            {
                "name": "million",
                "seed": 1,
                "arms": [{"name": f"level-{k}", "size": PER_ARM} for k in range(ARMS)],
                "problems": options,
            }
        ),
        settings,
    )
    rng = np.random.default_rng(0)
    with db.transaction(write=True) as session:
        for start in range(0, seen, 50_000):
            session.execute(
                insert(ProblemStat), _rows(run.run_id, start, min(50_000, seen - start), rng)
            )
    timings: dict[str, list[float]] = {"plain": [], "budget": []}
    for k in range(iterations + 3):
        for kind, request in (
            ("plain", SampleRequest(batch_size=256)),
            (
                "budget",
                SampleRequest(batch_size=256, rollout_budget=2048, min_rollouts=2, max_rollouts=16),
            ),
        ):
            t0 = time.perf_counter()
            answer = domain.sample(db, run.run_id, request, settings)
            elapsed = (time.perf_counter() - t0) * 1000
            if k >= 3:
                timings[kind].append(elapsed)
            results = [
                {"arm": i.arm, "index": i.index, "rewards": rng.choice([0.0, 1.0], 8).tolist()}
                for i in answer.items
            ]
            domain.report(
                db, run.run_id, ReportRequest.model_validate({"results": results}), settings
            )
    db.dispose()
    return {
        kind: {"median_ms": statistics.median(v), "p90_ms": float(np.quantile(v, 0.9)), "n": len(v)}
        for kind, v in timings.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rollouts", type=int, default=60_000, help="rollout budget per run")
    parser.add_argument("--batch", type=int, default=32, help="trained groups per step")
    parser.add_argument(
        "--max-rounds", type=int, default=4, help="dynamic sampling's generation rounds"
    )
    parser.add_argument("--json", default="benchmarks/results/rollout_savings_simulated.json")
    parser.add_argument(
        "--cost", action="store_true", help="time sample(256) at 1M problems instead"
    )
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--seen", type=int, default=400_000)
    args = parser.parse_args(argv)
    if args.cost:
        cost = prediction_cost(args.iterations, args.seen)
        print(json.dumps(cost, indent=2))
        path = Path(args.json)
        if path.exists():
            data = json.loads(path.read_text())
            data["prediction_cost"] = cost
            path.write_text(json.dumps(data, indent=1) + "\n")
        return 0
    started = time.perf_counter()
    result = benchmark(args.seeds, args.rollouts, args.batch, args.max_rounds)
    result["config"] = {
        "seeds": args.seeds,
        "rollout_budget": args.rollouts,
        "batch": args.batch,
        "max_rounds": args.max_rounds,
        "learner": "frontier model, 200 problems per level, logit offsets N(0, 1.5^2)",
        "seconds": time.perf_counter() - started,
    }
    print(table(result["summary"]))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
