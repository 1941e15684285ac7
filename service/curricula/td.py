"""TD(0) arm values and the Boltzmann distribution over them (pure numpy)."""

from __future__ import annotations

import numpy as np

from service.curricula.base import ArmFeedback

UNSAMPLED_MODES = ("hold", "decay")


def td_update(q: np.ndarray, feedback: ArmFeedback, alpha: float, unsampled: str) -> np.ndarray:
    """``Q <- alpha * r + (1 - alpha) * Q`` per arm.

    With ``unsampled="hold"`` (the SEC paper's text) only arms present in the report
    move; with ``"decay"`` (SEC's released code) absent arms are updated with ``r = 0``.
    """
    updated = alpha * feedback.reward + (1.0 - alpha) * q
    if unsampled == "decay":
        return updated
    return np.where(feedback.present, updated, q)


def boltzmann_probabilities(q: np.ndarray, tau: float) -> np.ndarray:
    """``softmax(Q / tau)``, computed stably.

    The max is subtracted before dividing by ``tau``, so ``Q / tau`` never overflows: every
    exponent is <= 0, the best arm's is exactly 0, and the sum is at least 1 whatever the
    scale of ``Q`` or how small ``tau`` is.
    """
    q = np.asarray(q, dtype=np.float64)
    best = q.max()
    with np.errstate(over="ignore"):  # a gap of -inf is fine: its exp is 0
        z = np.exp(np.where(q == best, 0.0, (q - best) / tau))
    return z / z.sum()
