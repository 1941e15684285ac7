"""Per-problem state: a pass-rate posterior per problem, for picking individual problems.

Arms say *which category* to train on; inside an arm the default draw is uniform without
replacement. With per-problem tracking a run keeps, for every problem it has seen, the
discounted number of solved and failed rollouts, and a Beta(1 + s, 1 + f) posterior of
its pass rate p. Two selections use it:

* ``frontier`` (for RL): candidates are drawn from the arm's own shuffled stream (so
  every problem keeps coming round), each gets a Thompson draw p ~ Beta(1 + s, 1 + f),
  and the k with p nearest 0.5 win, where a GRPO group teaches most; problems whose
  posterior mean says *mastered* (>= ``mastered``) or *hopeless* (<= ``hopeless``) with at
  least ``min_evidence`` rollouts behind it are skipped unless nothing else is left. This
  is online difficulty filtering (as DAPO's dynamic sampling) without extra rollouts.
* ``demonstrations`` (for SFT, the autocurriculum seed): candidates are drawn the same
  way and k are chosen without replacement with weights proportional to the posterior
  failure probability 1 - E[p], as boosting weights its mistakes: the teacher is asked
  for demonstrations where the model fails.

Old evidence fades with ``discount`` per training step, since the model keeps changing.
``target`` moves the pass rate the draws are pulled to (MoPPS), ``reprobe`` tries a
settled candidate again with that probability (GRESO), and ``prior: "pooled"`` replaces
Beta(1, 1) by a Beta fitted to the arm (:mod:`service.curricula.predictions`).
Everything here is pure numpy; the caller passes the generator and the stored counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from service.curricula.base import OptionReader, StrategyError

SELECTIONS = ("uniform", "frontier")
PRIORS = ("uniform", "pooled")


@dataclass(frozen=True)
class ProblemOptions:
    """How a run tracks and picks individual problems."""

    selection: str = "uniform"
    success_reward: float = 1.0
    discount: float = 1.0
    mastered: float = 0.9
    hopeless: float = 0.05
    min_evidence: float = 4.0
    candidates: int = 4
    target: float = 0.5
    reprobe: float = 0.0
    prior: str = "uniform"
    prior_strength: float = 20.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_problem_options(options: Mapping[str, Any]) -> ProblemOptions:
    """Validate a run's ``problems`` options (defaults filled in).

    Raises:
        StrategyError: an unknown option or a value out of range.
    """
    read = OptionReader("problems", options)
    parsed = ProblemOptions(
        selection=read.choice("selection", "frontier", SELECTIONS),
        success_reward=read.number("success_reward", 1.0),
        discount=read.number("discount", 1.0, low=0.0, high=1.0, low_open=True),
        mastered=read.number("mastered", 0.9, low=0.0, high=1.0),
        hopeless=read.number("hopeless", 0.05, low=0.0, high=1.0),
        min_evidence=read.number("min_evidence", 4.0, low=0.0, high=1e9),
        candidates=int(read.number("candidates", 4, low=1, high=64, integer=True)),
        target=read.number("target", 0.5, low=0.0, high=1.0),
        reprobe=read.number("reprobe", 0.0, low=0.0, high=1.0),
        prior=read.choice("prior", "uniform", PRIORS),
        prior_strength=read.number("prior_strength", 20.0, low=2.0, high=1e6),
    )
    read.finish()
    if parsed.hopeless >= parsed.mastered:
        raise StrategyError("problems: hopeless must be below mastered")
    return parsed


def rollout_outcomes(rewards: np.ndarray, success_reward: float) -> tuple[float, float]:
    """(solved, failed) rollouts of one problem: solved when reward >= ``success_reward``."""
    solved = float(np.count_nonzero(np.asarray(rewards) >= success_reward))
    return solved, float(len(rewards)) - solved


def decay(counts: np.ndarray, last_step: np.ndarray, step: int, discount: float) -> np.ndarray:
    """Counts seen at ``last_step`` as they weigh at ``step``: ``counts * discount**age``."""
    age = np.maximum(0, step - np.asarray(last_step, dtype=np.float64))
    return np.asarray(counts, dtype=np.float64) * discount**age


def choose_frontier(
    solved: np.ndarray,
    failed: np.ndarray,
    k: int,
    rng: np.random.Generator,
    options: ProblemOptions,
    prior: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Positions (into the candidate arrays) of the k candidates to train on.

    Each candidate gets a Thompson draw from ``Beta(prior_a + s, prior_b + f)`` (MoPPS,
    arXiv 2507.04632); the k draws nearest ``options.target`` win. Settled candidates
    (mastered or hopeless) sort after every open one, except that each is re-probed with
    probability ``options.reprobe`` (GRESO, arXiv 2506.02177): a re-probed candidate goes
    first, so a skipped problem is tried again at that rate and forgetting is caught.
    """
    alpha, beta = prior[0] + solved, prior[1] + failed
    mean = alpha / (alpha + beta)
    evidence = solved + failed
    settled = (evidence >= options.min_evidence) & (
        (mean >= options.mastered) | (mean <= options.hopeless)
    )
    draw = rng.beta(alpha, beta)
    # settled problems sort after every open one; inside each group, nearest target first
    score = np.abs(draw - options.target) + settled.astype(np.float64)
    if options.reprobe > 0.0:  # no extra draw otherwise: older runs keep their streams
        reprobed = settled & (rng.random(len(score)) < options.reprobe)
        score = np.where(reprobed, score - 3.0, score)
    return np.argsort(score, kind="stable")[:k]


def choose_failures(
    solved: np.ndarray, failed: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Positions of k candidates drawn without replacement, weight 1 - E[p] (boosting)."""
    weight = 1.0 - (1.0 + solved) / (2.0 + solved + failed)
    k = min(k, len(weight))
    return rng.choice(len(weight), size=k, replace=False, p=weight / weight.sum())
