"""Thompson sampling on a discounted Gaussian posterior (Raj and Kalyani 2017, "Taming
non-stationary bandits: a Bayesian approach", arXiv 1707.09727, with a Gaussian in place
of their Beta so that non-binary rewards such as |advantage| fit).

Each report discounts every arm's evidence by ``gamma`` and adds the arms that earned a
reward: ``N <- gamma N + 1[earned]``, ``S <- gamma S + r 1[earned]``. With a prior
``N(prior_mean, prior_std^2)`` and reward noise ``noise_std``, the arm's posterior is
Gaussian with precision ``1 / prior_std^2 + N / noise_std^2`` and mean
``(prior_mean / prior_std^2 + S / noise_std^2) / precision``; as evidence fades, the
posterior widens back towards the prior, so a stale arm is tried again.

Thompson sampling draws one value per arm from the posterior and takes the best. Every
slot of a batch doing so independently draws arm ``i`` with probability
``P(i is the posterior max) = integral of pdf_i(x) prod_{j != i} cdf_j(x) dx``, and that is
what :meth:`probabilities` returns, computed by the trapezoid rule on a uniform grid over
``[min(mean - 8 sd), max(mean + 8 sd)]`` of 4001 points, or more (up to 200001) so that
the narrowest posterior gets at least 4 points per standard deviation. No randomness, so
probabilities stay a pure function of the state; the draw itself uses the caller's
generator as for every strategy. Cost: K x grid points (a few ms for 10 arms).

Options:
    gamma: discount in (0, 1] (0.95).
    prior_mean: prior mean of every arm's reward, in [-1e6, 1e6] (0.0).
    prior_std: prior standard deviation in [1e-6, 1e6] (1.0).
    noise_std: reward noise standard deviation in [1e-6, 1e6] (0.3).
    objective: the arm reward, as in ``sec`` (``"abs_advantage"``).
    advantage_std: how rewards become advantages (``"unbiased"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from service.curricula.base import ArmFeedback, ArmInfo, OptionReader, State, register
from service.curricula.objectives import (
    OBJECTIVES,
    initial_state_with,
    memory_to_json,
    objective_reward,
    outcome_memory,
)
from service.curricula.rewards import ADVANTAGE_STD_MODES

GRID_POINTS = 4001
MAX_GRID_POINTS = 200_001
GRID_HALF_WIDTH = 8.0  # standard deviations each side


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7); numpy has none."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = np.full_like(t, 1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly = coefficient + t * poly
    poly = t * poly
    return sign * (1.0 - poly * np.exp(-x * x))


def probability_of_max(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """P(arm i's draw is the largest) for independent Gaussians N(mean_i, std_i^2)."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.size == 1:
        return np.ones(1)
    low = float((mean - GRID_HALF_WIDTH * std).min())
    high = float((mean + GRID_HALF_WIDTH * std).max())
    # at least 4 points per standard deviation of the narrowest posterior
    points = int(np.clip(np.ceil(4.0 * (high - low) / std.min()), GRID_POINTS, MAX_GRID_POINTS))
    x = np.linspace(low, high, points)
    z = (x[None, :] - mean[:, None]) / std[:, None]
    pdf = np.exp(-0.5 * z * z) / (std[:, None] * np.sqrt(2.0 * np.pi))
    # floor at 1e-300 so that "all but i" is a subtraction of finite logs (never inf - inf)
    log_cdf = np.log(np.clip(0.5 * (1.0 + _erf(z / np.sqrt(2.0))), 1e-300, 1.0))
    others = log_cdf.sum(axis=0, keepdims=True) - log_cdf  # sum over j != i
    integrand = pdf * np.exp(others)
    # trapezoid rule by hand: np.trapezoid needs numpy 2
    p = ((integrand[:, 1:] + integrand[:, :-1]) * 0.5 * np.diff(x)).sum(axis=1)
    p = np.clip(p, 0.0, None)
    return p / p.sum()


@register("thompson")
class DiscountedThompson:
    """Thompson sampling on discounted Gaussian posteriors, as exact per-slot probabilities."""

    name: ClassVar[str] = "thompson"

    def __init__(self, options: Mapping[str, Any], arms: list[ArmInfo]) -> None:
        read = OptionReader(self.name, options)
        self.gamma = read.number("gamma", 0.95, low=0.0, high=1.0, low_open=True)
        # bounded so that 1 / std^2 and the integration grid stay finite
        self.prior_mean = read.number("prior_mean", 0.0, low=-1e6, high=1e6)
        self.prior_std = read.number("prior_std", 1.0, low=1e-6, high=1e6)
        self.noise_std = read.number("noise_std", 0.3, low=1e-6, high=1e6)
        self.objective = read.choice("objective", "abs_advantage", OBJECTIVES)
        self.advantage_std = read.choice("advantage_std", "unbiased", ADVANTAGE_STD_MODES)
        read.finish()

    def options(self) -> dict[str, Any]:
        return {
            "gamma": self.gamma,
            "prior_mean": self.prior_mean,
            "prior_std": self.prior_std,
            "noise_std": self.noise_std,
            "objective": self.objective,
            "advantage_std": self.advantage_std,
        }

    def initial_state(self, arms: list[ArmInfo]) -> State:
        return initial_state_with({"n": 0.0, "s": 0.0}, len(arms), self.objective)

    def posterior(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of every arm's reward."""
        counts = np.asarray(state["n"], dtype=np.float64)
        sums = np.asarray(state["s"], dtype=np.float64)
        prior_precision = 1.0 / self.prior_std**2
        noise_precision = 1.0 / self.noise_std**2
        precision = prior_precision + counts * noise_precision
        mean = (prior_precision * self.prior_mean + noise_precision * sums) / precision
        return mean, 1.0 / np.sqrt(precision)

    def probabilities(self, state: State, step: int) -> np.ndarray:
        return probability_of_max(*self.posterior(state))

    def update(self, state: State, feedback: ArmFeedback, step: int) -> State:
        counts = np.asarray(state["n"], dtype=np.float64)
        sums = np.asarray(state["s"], dtype=np.float64)
        earned = objective_reward(
            self.objective, feedback, outcome_memory(state.get("last_outcome"), counts.size)
        )
        new_state: State = {
            "n": (self.gamma * counts + earned.present).tolist(),
            "s": (self.gamma * sums + np.where(earned.present, earned.reward, 0.0)).tolist(),
        }
        if earned.last_outcome is not None:
            new_state["last_outcome"] = memory_to_json(earned.last_outcome)
        return new_state

    def values(self, state: State) -> np.ndarray:
        """The posterior mean reward of each arm."""
        return self.posterior(state)[0]
