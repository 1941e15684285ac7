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
    """``softmax(Q / tau)``, computed stably (max subtracted before exp)."""
    z = np.asarray(q, dtype=np.float64) / tau
    z = np.exp(z - z.max())
    return z / z.sum()
