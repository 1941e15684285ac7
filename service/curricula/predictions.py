"""Predicted pass rates, pooled priors and rollout budgets: the math, pure numpy.

A problem with discounted counts ``s`` solved and ``f`` failed, under a prior
``Beta(a0, b0)``, has the posterior ``Beta(a0 + s, b0 + f)`` for its pass rate p. Its
prediction for a group of n rollouts is the Beta-Binomial predictive of the number solved
k; a group teaches GRPO nothing when all n rollouts agree (k = 0 or k = n), with
probability::

    P(all agree | n) = prod_{j<n} (b + j) / (a + b + j) + prod_{j<n} (a + j) / (a + b + j)

(the two Beta-Binomial masses at 0 and n, written as products so no log-gamma is needed).

**Pooled prior** (empirical Bayes, method of moments): from problems of one arm with
evidence, each observed rate ``r_i = s_i / m_i`` (``m_i = s_i + f_i`` rollouts) has mean
``mu`` and variance ``var(r) = var(p) + E[p (1 - p) / m]``; so the spread of the true
rates is ``v = var(r) - mean(r_i (1 - r_i) / (m_i - 1))`` (the unbiased binomial noise;
problems with ``m_i < 2`` count for the mean only). A ``Beta(a0, b0)`` with that mean and
variance has ``a0 + b0 = mu (1 - mu) / v - 1``; the strength is clipped to
``[2, max_strength]`` so a sparse or uniform arm never swamps a problem's own evidence
(``v <= 0``: the arm looks homogeneous, take ``max_strength``).

**Budgets** (Knapsack-RL, arXiv 2509.25849; CurES, arXiv 2510.01037, also sizes groups
from a Beta-Binomial): give item i ``n_i`` rollouts, ``min <= n_i <= max`` and
``sum n_i <= budget``, maximising the expected number of informative groups
``sum_i 1 - A_i(n_i)`` with ``A_i(n) = P(all agree | n)``. ``A_i(n) = E[p^n + (1-p)^n]``
is an average of convex decreasing functions of n, hence convex decreasing, so the
marginal gains ``A_i(n) - A_i(n + 1)`` are non-increasing in n. For a separable concave
objective under one budget and box constraints, adding one rollout at a time where the
gain is largest is optimal (the classic greedy for resource allocation, Gross 1956).
"""

from __future__ import annotations

import numpy as np


def posterior(
    solved: np.ndarray, failed: np.ndarray, prior_a: np.ndarray | float, prior_b: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """The Beta posterior (alpha, beta) of each problem's pass rate."""
    return np.asarray(prior_a + solved, dtype=np.float64), np.asarray(
        prior_b + failed, dtype=np.float64
    )


def all_agree_table(alpha: np.ndarray, beta: np.ndarray, top: int) -> np.ndarray:
    """``P(all agree | n)`` for n = 0 .. top, one row per item (a running product)."""
    alpha = np.atleast_1d(np.asarray(alpha, dtype=np.float64))[:, None]
    beta = np.atleast_1d(np.asarray(beta, dtype=np.float64))[:, None]
    j = np.arange(top, dtype=np.float64)[None, :]
    ones = np.ones((alpha.shape[0], 1))
    none = np.cumprod(np.hstack([ones, (beta + j) / (alpha + beta + j)]), axis=1)
    every = np.cumprod(np.hstack([ones, (alpha + j) / (alpha + beta + j)]), axis=1)
    return np.asarray(none + every)


def all_agree_probability(alpha: np.ndarray, beta: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """P(k = 0) + P(k = n) under Beta-Binomial(n, alpha, beta), per item (n >= 1)."""
    alpha = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    n = np.broadcast_to(np.asarray(n, dtype=np.int64), alpha.shape)
    table = all_agree_table(alpha, beta, int(n.max()) if n.size else 0)
    return np.asarray(table[np.arange(len(alpha)), n])


def pooled_prior(
    solved: np.ndarray,
    failed: np.ndarray,
    max_strength: float,
    min_problems: int = 8,
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """Method-of-moments Beta(a0, b0) of an arm's pass rates (see the module docstring).

    ``weights`` (one per problem, default equal) make the moments weighted averages: a
    stratified sample (a few problems read from each of several groups) counts each
    problem for the share of its group it stands for. Falls back to Beta(1, 1) when fewer
    than ``min_problems`` problems carry a rollout.
    """
    solved = np.asarray(solved, dtype=np.float64)
    failed = np.asarray(failed, dtype=np.float64)
    w = np.ones(len(solved)) if weights is None else np.asarray(weights, dtype=np.float64)
    m = solved + failed
    seen = (m > 0) & (w > 0)
    if np.count_nonzero(seen) < min_problems:
        return 1.0, 1.0
    rate, m, w = solved[seen] / m[seen], m[seen], w[seen]
    mu = float(np.average(rate, weights=w))
    edge = 0.5 / (float(m.sum()) + 1.0)  # all solved (or none): keep a0, b0 > 0
    several = m >= 2
    noise = (
        float(
            np.average(rate[several] * (1 - rate[several]) / (m[several] - 1), weights=w[several])
        )
        if several.any()
        else 0.0
    )
    spread = float(np.average((rate - mu) ** 2, weights=w)) - noise
    mu = min(max(mu, edge), 1.0 - edge)
    strength = mu * (1 - mu) / spread - 1.0 if spread > 0 else max_strength
    strength = float(np.clip(strength, 2.0, max_strength))
    return mu * strength, (1.0 - mu) * strength


def allocate_rollouts(
    alpha: np.ndarray, beta: np.ndarray, budget: int, low: int, high: int
) -> np.ndarray:
    """Rollouts per item: ``low <= n_i <= high``, ``sum <= budget``, greedy marginal gain.

    Ties go to the lower item index, so the answer is a function of its inputs. Picking
    the largest marginal gains at once equals adding one rollout at a time, as the gains
    of each item shrink with n.

    Raises:
        ValueError: ``low > high`` or the budget cannot give every item ``low``.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    count = len(alpha)
    if low > high:
        raise ValueError("min_rollouts must not exceed max_rollouts")
    if budget < low * count:
        raise ValueError(f"rollout_budget {budget} cannot give {count} items {low} rollouts each")
    left = min(budget, high * count) - low * count
    table = all_agree_table(alpha, beta, high)[:, low:]
    gains = (table[:, :-1] - table[:, 1:]).ravel()  # item i, step t: low + t -> low + t + 1
    items = np.repeat(np.arange(count), high - low)
    steps = np.tile(np.arange(high - low), count)
    # the `left` largest gains; each item's gains shrink with n, so the chosen steps of an
    # item are a prefix and this is the one-rollout-at-a-time greedy (ties: lower item)
    order = np.lexsort((steps, items, -gains))[:left]
    return low + np.bincount(items[order], minlength=count).astype(np.int64)
