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

Run it:  ``zpd simulate`` (starts a service on a temporary SQLite file) or
``zpd simulate --url http://127.0.0.1:8000`` (an existing service).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer_client.client import CurriculumClient

_STRATEGY_DEFAULTS: dict[str, dict[str, Any]] = {
    "sec": {"name": "sec", "alpha": 0.5, "tau": 0.2},
    "random": {"name": "random"},
    "ordered": {"name": "ordered"},
    "reverse": {"name": "reverse"},
}


@dataclass
class LearnerConfig:
    """The simulated learner's knobs (see the module docstring for the model)."""

    levels: int = 6
    initial_skill: list[float] = field(default_factory=lambda: [2.0, 0.5, -1.0, -2.5, -4.0, -5.5])
    lr: float = 0.15
    transfer: float = 0.3
    forget: float = 0.004
    rollouts: int = 8
    format_rate: float = 0.9

    def __post_init__(self) -> None:
        if len(self.initial_skill) != self.levels:
            raise ValueError(f"initial_skill needs {self.levels} values (one per level)")
        if not 0 <= self.transfer <= 1 or not 0 <= self.format_rate <= 1:
            raise ValueError("transfer and format_rate must lie in [0, 1]")
        if self.rollouts < 1 or self.lr < 0 or self.forget < 0:
            raise ValueError("rollouts must be >= 1; lr and forget must be >= 0")


class SimulatedLearner:
    """The frontier learner: pure numpy, seeded."""

    def __init__(self, config: LearnerConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.skill = np.asarray(config.initial_skill, dtype=np.float64).copy()
        self.rng = rng
        distance = np.abs(np.subtract.outer(np.arange(config.levels), np.arange(config.levels)))
        self._transfer = config.transfer**distance

    @property
    def accuracy(self) -> np.ndarray:
        """True solve probability per level, p_k = sigmoid(s_k)."""
        return 1.0 / (1.0 + np.exp(-self.skill))

    def rollout_rewards(self, level: int) -> list[float]:
        """G rollout rewards of one problem of ``level``: 1 / 0.1 / 0."""
        c = self.config
        correct = self.rng.random(c.rollouts) < self.accuracy[level]
        formatted = self.rng.random(c.rollouts) < c.format_rate
        return np.where(correct, 1.0, np.where(formatted, 0.1, 0.0)).tolist()

    def train(self, levels: Sequence[int], rewards: Sequence[Sequence[float]]) -> None:
        """One training step on a batch: problem i came from ``levels[i]`` and got ``rewards[i]``."""
        n = self.config.levels
        correct = np.array([np.mean(np.asarray(r) == 1.0) for r in rewards])
        per_problem = 4.0 * correct * (1.0 - correct)
        # share_j * g_j = (sum of the level's problem signals) / batch size
        signal = np.bincount(np.asarray(levels), weights=per_problem, minlength=n) / len(levels)
        self.skill += self.config.lr * (self._transfer @ signal) - self.config.forget


@dataclass
class SimulationResult:
    strategy: str
    seed: int
    run_id: str
    accuracy: list[float]
    probabilities: list[list[float]]
    checkpoints: list[int]


def simulate(
    client: CurriculumClient,
    strategy: dict[str, Any],
    *,
    steps: int,
    batch_size: int,
    seed: int,
    config: LearnerConfig,
    log_every: int = 0,
    dashboard: str | None = None,
) -> SimulationResult:
    """Train one simulated learner for ``steps`` steps with the curriculum ``strategy``."""
    names = [f"level-{k + 1}" for k in range(config.levels)]
    arms = [{"name": n, "size": 1000, "tags": {"difficulty": k + 1}} for k, n in enumerate(names)]
    if strategy["name"] in {"ordered", "reverse"}:
        strategy = {"total_steps": steps, **strategy}
    run = client.create_run(f"simulate-{strategy['name']}-seed{seed}", arms, strategy, seed)
    learner = SimulatedLearner(config, np.random.default_rng(seed))
    if dashboard:
        print(f"  [{strategy['name']} seed {seed}] live: {dashboard}/runs/{run.run_id}", flush=True)
    position = {n: k for k, n in enumerate(names)}
    checkpoints, probabilities = [], []
    for step in range(steps):
        sample = client.sample(run.run_id, batch_size)
        levels = [position[item.arm] for item in sample.items]
        rewards = [learner.rollout_rewards(level) for level in levels]
        results = [
            {"arm": item.arm, "index": item.index, "rewards": r}
            for item, r in zip(sample.items, rewards, strict=True)
        ]
        learner.train(levels, rewards)
        client.report(run.run_id, results, sample_id=sample.sample_id)
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            checkpoints.append(step)
            probabilities.append([sample.probabilities[n] for n in names])
        if log_every and (step + 1) % log_every == 0:
            acc = " ".join(f"{a:.2f}" for a in learner.accuracy)
            print(
                f"  [{strategy['name']} seed {seed}] step {step + 1}/{steps}  accuracy {acc}",
                flush=True,
            )
    return SimulationResult(
        strategy["name"], seed, run.run_id, learner.accuracy.tolist(), probabilities, checkpoints
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_service(database: Path) -> Iterator[str]:
    """Start ``zpd serve`` on a free port over a SQLite file; yield its URL."""
    port = _free_port()
    env = {**os.environ, "ZPD_DATABASE_URL": f"sqlite:///{database}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with CurriculumClient(url) as probe:
            probe.wait_until_ready(timeout=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def format_report(results: list[SimulationResult], levels: int) -> str:
    """The end-of-run table: final accuracy per level, mean and spread over seeds."""
    lines = []
    header = "strategy  " + " ".join(f"{'L' + str(k + 1):>11}" for k in range(levels))
    header += f" {'mean':>11}"
    lines.append("Final accuracy per level (true solve probability; mean ± std over seeds)")
    lines.append(header)
    for name in dict.fromkeys(r.strategy for r in results):
        acc = np.array([r.accuracy for r in results if r.strategy == name])
        mean, std = acc.mean(axis=0), acc.std(axis=0)
        overall = acc.mean(axis=1)
        cells = " ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(mean, std, strict=True))
        lines.append(f"{name:<9} {cells} {overall.mean():.3f}±{overall.std():.3f}")
    lines.append("")
    lines.append("How the curriculum moved (sampling probability per level, first seed)")
    for name in dict.fromkeys(r.strategy for r in results):
        first = next(r for r in results if r.strategy == name)
        lines.append(f"  {name}:")
        for step, probs in zip(first.checkpoints, first.probabilities, strict=True):
            bar = " ".join(f"{p:.2f}" for p in probs)
            lines.append(f"    step {step:>5}: {bar}   argmax L{int(np.argmax(probs)) + 1}")
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    """``zpd simulate``: run each strategy on the simulated learner and print the table."""
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in _STRATEGY_DEFAULTS]
    if unknown:
        print(
            f"zpd simulate: unknown strategies {unknown}; choose from {sorted(_STRATEGY_DEFAULTS)}",
            file=sys.stderr,
        )
        return 2
    config = LearnerConfig()
    seeds = list(range(args.seeds))
    with _service(args) as url:
        print(f"zpd simulate: service {url}  (dashboard: {url}/dashboard)", flush=True)
        started = time.perf_counter()
        results = []
        with CurriculumClient(url) as client:
            for name in strategies:
                strategy = dict(_STRATEGY_DEFAULTS[name])
                if name == "sec":
                    strategy.update(alpha=args.alpha, tau=args.tau)
                for seed in seeds:
                    results.append(
                        simulate(
                            client,
                            strategy,
                            steps=args.steps,
                            batch_size=args.batch_size,
                            seed=seed,
                            config=config,
                            log_every=max(1, args.steps // 4),
                            dashboard=f"{url}/dashboard",
                        )
                    )
        elapsed = time.perf_counter() - started
    print()
    print(format_report(results, config.levels))
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
        local_service(Path(folder) / "zpd.db") as url,
    ):
        yield url


def register_command(subparsers: Any) -> None:
    """Add ``zpd simulate`` to the ``zpd`` command line."""
    parser = subparsers.add_parser(
        "simulate",
        help="train a simulated learner against the service (sec vs random)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="a running service; default: start one on a temp SQLite")
    parser.add_argument("--strategies", default="sec,random", help="comma-separated (sec,random)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (300)")
    parser.add_argument("--batch-size", type=int, default=64, help="problems per step (64)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per strategy (3)")
    parser.add_argument("--alpha", type=float, default=0.5, help="SEC alpha (0.5)")
    parser.add_argument("--tau", type=float, default=0.2, help="SEC temperature (0.2)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(func=run_command)


__all__ = ["LearnerConfig", "SimulatedLearner", "SimulationResult", "simulate", "register_command"]
