"""Drawing one batch: an arm per slot from the strategy's probabilities, then problem indices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.curricula.permutation import draw_indices


@dataclass(frozen=True)
class Batch:
    """One drawn batch: per slot its arm (position) and problem index (-1 if the arm has no size)."""

    arms: np.ndarray
    indices: np.ndarray
    counts: np.ndarray


def sample_rng(seed: int, sample_number: int) -> np.random.Generator:
    """The generator of a run's ``sample_number``-th sample call.

    Derived from (seed, sample number) alone, so a restarted service or another replica
    draws the same batch for the same call without any stored generator state.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, sample_number]))


def draw_batch(
    probabilities: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    *,
    seed: int,
    sizes: Sequence[int | None],
    drawn_before: Sequence[int],
) -> Batch:
    """Draw ``batch_size`` slots, each arm independently from ``probabilities``.

    Inside an arm with a size, indices are uniform without replacement and reshuffled
    per epoch of that arm (see :mod:`service.curricula.permutation`).
    """
    n = len(probabilities)
    p = np.asarray(probabilities, dtype=np.float64)
    arms = rng.choice(n, size=batch_size, p=p / p.sum())
    counts = np.bincount(arms, minlength=n)
    indices = np.full(batch_size, -1, dtype=np.int64)
    sized = np.array([s is not None for s in sizes])
    slots = np.flatnonzero(sized[arms])
    if slots.size:
        slot_arms = arms[slots]
        # rank of each slot among the earlier slots of the same arm
        order = np.argsort(slot_arms, kind="stable")
        first = np.searchsorted(slot_arms[order], slot_arms[order])
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size) - first
        size_of = np.array([s if s is not None else 1 for s in sizes], dtype=np.int64)
        before = np.asarray(drawn_before, dtype=np.int64)
        indices[slots] = draw_indices(seed, slot_arms, size_of[slot_arms], before[slot_arms] + rank)
    return Batch(arms=arms, indices=indices, counts=counts)
