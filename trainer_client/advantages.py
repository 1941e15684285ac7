"""GRPO advantages and the SEC learning signal, computed as the service computes them.

The service turns reported rollout rewards into advantages itself; these helpers let a
trainer compute the same numbers locally (to report ``advantages`` it already has, to log,
or to check). They agree exactly with the service's math (a test feeds both the same data).

- advantage of rollout ``i``: ``(r_i - mean(r)) / (std(r) + 1e-6)`` with ``std`` the unbiased
  one (ddof=1, as verl's GRPO), the population one (ddof=0), or none at all (Dr. GRPO);
- a group whose rewards are all equal, or a group of one rollout, has advantage 0 everywhere;
- a problem's signal is the mean over its rollouts of ``|A|``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from trainer_client.errors import InvalidRequestError

ADVANTAGE_EPS = 1e-6
StdMode = Literal["unbiased", "population", "none"]
_STD_MODES: tuple[str, ...] = ("unbiased", "population", "none")


def grpo_advantages(rewards: Sequence[float], std: StdMode = "unbiased") -> list[float]:
    """GRPO advantages of one problem's rollouts.

    Args:
        rewards: the rewards of the problem's rollouts (one group).
        std: ``"unbiased"`` (ddof=1, default), ``"population"`` (ddof=0) or ``"none"``
            (Dr. GRPO: centre only).

    Returns:
        One advantage per rollout; all zeros when the rewards are all equal or there is
        only one rollout.

    Raises:
        InvalidRequestError: empty or non-finite rewards, or an unknown ``std``.
    """
    r = _group(rewards, "rewards")
    if std not in _STD_MODES:
        raise InvalidRequestError(f"std must be one of {list(_STD_MODES)}, got {std!r}")
    # Equal rewards carry no learning signal; test it exactly, because r - mean(r) can leave
    # rounding residue (0.1 * 3 / 3 != 0.1) that would be divided by a tiny std.
    if r.size < 2 or bool(np.all(r == r[0])):
        return [0.0] * int(r.size)
    centred = r - r.mean()
    if std == "none":
        return [float(a) for a in centred]
    spread = r.std(ddof=1 if std == "unbiased" else 0)
    return [float(a) for a in centred / (spread + ADVANTAGE_EPS)]


def mean_abs_advantage(advantages: Sequence[float]) -> float:
    """A problem's SEC signal: the mean over its rollouts of ``|A|``.

    Raises:
        InvalidRequestError: empty or non-finite advantages.
    """
    return float(np.abs(_group(advantages, "advantages")).mean())


def _group(values: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise InvalidRequestError(f"{what} must be a non-empty list of numbers")
    if not np.all(np.isfinite(array)):
        raise InvalidRequestError(f"{what} must be finite")
    return array
