"""A simulated learner that trains against a running ZPD service: the demo and a testbed.

The learner stands in for an LLM under RL. It has K difficulty levels (arms). Level k
has a latent skill s_k and the model solves one of its problems with probability
p_k = sigmoid(s_k). A training step on a batch does, for every level k:

    s_k <- s_k + lr * sum_j share_j * g_j * transfer^|j - k|  -  forget

where share_j is the fraction of the batch drawn from level j and g_j the mean over
those problems of 4 c (1 - c), c being the fraction of the problem's G rollouts that
were correct. As in GRPO, a group whose rollouts all agree teaches nothing, and the
expected signal 4 p (1 - p) peaks at p = 0.5: training teaches most at the model's
frontier, spills over to neighbouring levels with factor ``transfer`` per level of
distance, and every level slowly decays (``forget``) unless trained.
Mastered (p ~ 1) and hopeless (p ~ 0) levels teach nothing, which is exactly what a
curriculum has to discover.

Each problem gets G rollouts scored as in the SEC paper: 1 if correct, 0.1 if wrong but
well formatted (probability ``format_rate``), 0 otherwise. Only the rewards reach the
service; the true p_k are what the table at the end reports.

Variations of this learner (stronger forgetting, stronger or weaker transfer, several
tasks at once, held-out levels that are never trained) live in
:mod:`trainer_client.sim_learners`; pick one with ``--learner``.

Run it:  ``zpd simulate`` (starts a service on a temporary SQLite file) or
``zpd simulate --url http://127.0.0.1:8000`` (an existing service). Any strategy the
service knows can run, with options:
``zpd simulate --strategies 'sec,random,ducb:gamma=0.9,c=0.5,sec:objective=pass_rate'``
(a ``key=value`` without a ``name:`` belongs to the strategy before it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer_client.client import CurriculumClient
from trainer_client.errors import CurriculumError
from trainer_client.local import local_service
from trainer_client.models import Run
from trainer_client.sim_learners import (
    LEARNER_MODELS,
    LearnerConfig,
    LearnerModel,
    SimulatedLearner,
)

_STRATEGY_DEFAULTS: dict[str, dict[str, Any]] = {
    "sec": {"alpha": 0.5, "tau": 0.2},
}


def _option_value(text: str) -> Any:
    """``0.9`` -> 0.9, ``true`` -> True, anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_strategies(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``'sec,ducb:gamma=0.9,c=0.5'`` -> ``[("sec", {...}), ("ducb:gamma=0.9,c=0.5", {...})]``.

    Each entry is (label, strategy dict). A ``key=value`` piece without ``name:`` adds an
    option to the strategy before it. Raises ValueError on a malformed piece.
    """
    specs: list[tuple[str, dict[str, Any]]] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if "=" in piece and ":" not in piece.split("=", 1)[0]:
            if not specs:
                raise ValueError(f"option {piece!r} comes before any strategy name")
            key, value = piece.split("=", 1)
            label, previous = specs[-1]
            specs[-1] = (f"{label},{piece}", {**previous, key.strip(): _option_value(value)})
            continue
        name, _, first = piece.partition(":")
        strategy: dict[str, Any] = {"name": name.strip()}
        if first:
            if "=" not in first:
                raise ValueError(f"expected key=value after {name!r}:, got {first!r}")
            key, value = first.split("=", 1)
            strategy[key.strip()] = _option_value(value)
        specs.append((piece, strategy))
    if not specs:
        raise ValueError("no strategy given")
    return specs


def with_defaults(strategy: dict[str, Any], steps: int) -> dict[str, Any]:
    """The demo's defaults under the given options: SEC's tau 0.2, schedules over ``steps``."""
    defaults = dict(_STRATEGY_DEFAULTS.get(strategy["name"], {}))
    if strategy["name"] in {"ordered", "reverse"}:
        defaults["total_steps"] = steps
    return {**defaults, **strategy}


@dataclass
class SimulationResult:
    strategy: str
    seed: int
    run_id: str
    accuracy: list[float]
    probabilities: list[list[float]]
    checkpoints: list[int]
    learner: str = "frontier"


def create_simulation_run(
    client: CurriculumClient, label: str, strategy: dict[str, Any], model: LearnerModel, seed: int
) -> Run:
    """Create the run of one (strategy, seed): the model's training units are its arms."""
    return client.create_run(
        f"simulate-{label}-{model.name}-seed{seed}", model.arms(), strategy, seed
    )


def simulate(
    client: CurriculumClient,
    strategy: dict[str, Any],
    *,
    steps: int,
    batch_size: int,
    seed: int,
    model: LearnerModel | None = None,
    label: str | None = None,
    run: Run | None = None,
    log_every: int = 0,
    dashboard: str | None = None,
) -> SimulationResult:
    """Train one simulated learner for ``steps`` steps with the curriculum ``strategy``.

    ``model`` defaults to the frontier learner; ``run`` to a new run made for it.
    """
    model = model or LEARNER_MODELS["frontier"]
    label = label or str(strategy["name"])
    run = run or create_simulation_run(client, label, strategy, model, seed)
    learner = model.build(np.random.default_rng(seed))
    if dashboard:
        print(f"  [{label} seed {seed}] live: {dashboard}/runs/{run.run_id}", flush=True)
    names = [arm["name"] for arm in model.arms()]
    unit_of = dict(zip(names, model.training_units, strict=True))
    checkpoints, probabilities = [], []
    for step in range(steps):
        sample = client.sample(run.run_id, batch_size)
        units = [unit_of[item.arm] for item in sample.items]
        rewards = [learner.rollout_rewards(unit) for unit in units]
        results = [
            {"arm": item.arm, "index": item.index, "rewards": r}
            for item, r in zip(sample.items, rewards, strict=True)
        ]
        learner.train(units, rewards)
        client.report(run.run_id, results, sample_id=sample.sample_id)
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            checkpoints.append(step)
            probabilities.append([sample.probabilities[n] for n in names])
        if log_every and (step + 1) % log_every == 0:
            acc = " ".join(f"{a:.2f}" for a in learner.accuracy)
            print(f"  [{label} seed {seed}] step {step + 1}/{steps}  accuracy {acc}", flush=True)
    return SimulationResult(
        label, seed, run.run_id, learner.accuracy.tolist(), probabilities, checkpoints, model.name
    )


def format_report(results: list[SimulationResult], model: LearnerModel) -> str:
    """The end-of-run table: final accuracy per level, mean and spread over seeds.

    Held-out levels (never drawn) are marked ``*``; ``mean`` is over the training levels.
    """
    lines = []
    held_out = set(model.held_out_units)
    columns = [
        model.unit_name(u).replace("level-", "L").replace("task-", "T")
        + ("*" if u in held_out else "")
        for u in range(len(model.units))
    ]
    width = max(len(r.strategy) for r in results)
    header = f"{'strategy':<{width}} " + " ".join(f"{c:>11}" for c in columns)
    header += f" {'mean':>11}"
    lines.append("Final accuracy per level (true solve probability; mean ± std over seeds)")
    lines.append(f"learner {model.name}: {model.description}; * = held out, never drawn")
    lines.append(header)
    for name in dict.fromkeys(r.strategy for r in results):
        acc = np.array([r.accuracy for r in results if r.strategy == name])
        mean, std = acc.mean(axis=0), acc.std(axis=0)
        overall = acc[:, model.training_units].mean(axis=1)
        cells = " ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(mean, std, strict=True))
        lines.append(f"{name:<{width}} {cells} {overall.mean():.3f}±{overall.std():.3f}")
    lines.append("")
    lines.append("How the curriculum moved (sampling probability per level, first seed)")
    for name in dict.fromkeys(r.strategy for r in results):
        first = next(r for r in results if r.strategy == name)
        lines.append(f"  {name}:")
        for step, probs in zip(first.checkpoints, first.probabilities, strict=True):
            bar = " ".join(f"{p:.2f}" for p in probs)
            best = model.unit_name(model.training_units[int(np.argmax(probs))])
            lines.append(f"    step {step:>5}: {bar}   argmax {best}")
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    """``zpd simulate``: run each strategy on the simulated learner and print the table."""
    try:
        specs = [
            (label, with_defaults(s, args.steps)) for label, s in parse_strategies(args.strategies)
        ]
    except ValueError as exc:
        print(f"zpd simulate: --strategies: {exc}", file=sys.stderr)
        return 2
    if args.learner not in LEARNER_MODELS:
        print(
            f"zpd simulate: unknown learner {args.learner!r}; choose from {sorted(LEARNER_MODELS)}",
            file=sys.stderr,
        )
        return 2
    model = LEARNER_MODELS[args.learner]
    for label, strategy in specs:
        if label == strategy["name"] and strategy["name"] == "sec":
            strategy.update(alpha=args.alpha, tau=args.tau)
    seeds = list(range(args.seeds))
    with _service(args) as url:
        print(f"zpd simulate: service {url}  (dashboard: {url}/dashboard)", flush=True)
        started = time.perf_counter()
        results = []
        with CurriculumClient(url) as client:
            # every run first: the service validates each strategy before any training
            runs = {}
            for label, strategy in specs:
                for seed in seeds:
                    try:
                        runs[label, seed] = create_simulation_run(
                            client, label, strategy, model, seed
                        )
                    except CurriculumError as exc:
                        print(f"zpd simulate: strategy {label!r}: {exc}", file=sys.stderr)
                        return 2
            for label, strategy in specs:
                for seed in seeds:
                    results.append(
                        simulate(
                            client,
                            strategy,
                            steps=args.steps,
                            batch_size=args.batch_size,
                            seed=seed,
                            model=model,
                            label=label,
                            run=runs[label, seed],
                            log_every=max(1, args.steps // 4),
                            dashboard=f"{url}/dashboard",
                        )
                    )
        elapsed = time.perf_counter() - started
    print()
    print(format_report(results, model))
    calls = 2 * args.steps * len(results)
    print(
        f"\n{calls} service calls in {elapsed:.1f} s ({1000 * elapsed / calls:.1f} ms per call, "
        "simulation included)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
        print(f"wrote {args.json}")
    return 0


@contextmanager
def _service(args: argparse.Namespace) -> Iterator[str]:
    if args.url:
        yield args.url
        return
    with (
        tempfile.TemporaryDirectory(prefix="zpd-simulate-") as folder,
        local_service(f"sqlite:///{Path(folder) / 'zpd.db'}") as url,
    ):
        yield url


def register_command(subparsers: Any) -> None:
    """Add ``zpd simulate`` to the ``zpd`` command line."""
    parser = subparsers.add_parser(
        "simulate",
        help="train a simulated learner against the service (any strategies, any options)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="a running service; default: start one on a temp SQLite")
    parser.add_argument(
        "--strategies",
        default="sec,random",
        help="comma-separated strategies with options, e.g. 'sec,random,ducb:gamma=0.9,c=0.5' "
        "(sec,random)",
    )
    parser.add_argument(
        "--learner",
        default="frontier",
        help=f"learner model, one of {', '.join(LEARNER_MODELS)} (frontier)",
    )
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (300)")
    parser.add_argument("--batch-size", type=int, default=64, help="problems per step (64)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per strategy (3)")
    parser.add_argument("--alpha", type=float, default=0.5, help="alpha of a plain 'sec' (0.5)")
    parser.add_argument("--tau", type=float, default=0.2, help="tau of a plain 'sec' (0.2)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(func=run_command)


__all__ = [
    "LEARNER_MODELS",
    "LearnerConfig",
    "LearnerModel",
    "SimulatedLearner",
    "SimulationResult",
    "parse_strategies",
    "register_command",
    "simulate",
]
