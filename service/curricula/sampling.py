"""Drawing one batch: an arm per slot from the strategy's probabilities, then problem indices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.curricula.permutation import SCALAR_MAX_SLOTS, draw_index_list, draw_indices


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
    slot_indices = _small_batch_indices if batch_size <= SCALAR_MAX_SLOTS else _batch_indices
    indices = slot_indices(arms, seed=seed, sizes=sizes, drawn_before=drawn_before)
    return Batch(arms=arms, indices=indices, counts=counts)


def _batch_indices(
    arms: np.ndarray, *, seed: int, sizes: Sequence[int | None], drawn_before: Sequence[int]
) -> np.ndarray:
    """Each slot's problem index (-1 where its arm has no size), vectorised over the slots."""
    indices = np.full(len(arms), -1, dtype=np.int64)
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
    return indices


def _small_batch_indices(
    arms: np.ndarray, *, seed: int, sizes: Sequence[int | None], drawn_before: Sequence[int]
) -> np.ndarray:
    """:func:`_batch_indices` for a few slots, in plain Python (the same values).

    A few slots cost less as ints than through a dozen numpy calls on tiny arrays.
    """
    slots: list[int] = []
    slot_arms: list[int] = []
    slot_sizes: list[int] = []
    positions: list[int] = []
    drawn: dict[int, int] = {}  # per arm, its slots so far in this batch
    for slot, arm in enumerate(arms.tolist()):
        size = sizes[arm]
        if size is None:
            continue
        rank = drawn.get(arm, 0)
        drawn[arm] = rank + 1
        slots.append(slot)
        slot_arms.append(arm)
        slot_sizes.append(size)
        positions.append(int(drawn_before[arm]) + rank)
    indices = [-1] * len(arms)
    drawn_indices = draw_index_list(seed, slot_arms, slot_sizes, positions)
    for slot, index in zip(slots, drawn_indices, strict=True):
        indices[slot] = index
    return np.array(indices, dtype=np.int64)
