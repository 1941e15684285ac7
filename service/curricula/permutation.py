"""Problem indices "uniform without replacement, reshuffled per epoch", with no stored list.

The j-th draw ever made from an arm of ``size`` problems is position ``j``: epoch
``j // size``, offset ``j % size``. The index is ``permute(offset)`` under a pseudo-random
permutation of ``range(size)`` keyed by (seed, arm, epoch): an 8-round Feistel network over
the smallest even-bit domain that covers ``size``, with cycle walking to stay inside it.
A bijection needs no memory, so a run with millions of problems per arm costs nothing
to store, and the only state is the arm's draw counter.
"""

from __future__ import annotations

import numpy as np

_ROUNDS = 8
_MIX = np.uint64(0x9E3779B97F4A7C15)


def epoch_keys(seed: int, arm_position: int, epoch: int) -> np.ndarray:
    """The round keys of one arm's epoch."""
    return np.random.SeedSequence([seed, arm_position, epoch]).generate_state(
        _ROUNDS, dtype=np.uint64
    )


def _half_bits(size: int) -> int:
    bits = max(2, int(size - 1).bit_length())
    return (bits + 1) // 2


def _round(x: np.ndarray, key: np.uint64, half: int) -> np.ndarray:
    mask = np.uint64((1 << half) - 1)
    h = (x ^ key) * _MIX
    h ^= h >> np.uint64(29)
    h *= _MIX
    return (h >> np.uint64(32)) & mask


def _feistel(x: np.ndarray, keys: np.ndarray, half: int) -> np.ndarray:
    mask = np.uint64((1 << half) - 1)
    shift = np.uint64(half)
    left, right = x >> shift, x & mask
    for key in keys:
        left, right = right, left ^ _round(right, key, half)
    return (left << shift) | right


def permute(offsets: np.ndarray, size: int, keys: np.ndarray) -> np.ndarray:
    """Map ``offsets`` (each in ``[0, size)``) through the keyed permutation of ``range(size)``."""
    half = _half_bits(size)
    x = np.asarray(offsets, dtype=np.uint64).copy()
    limit = np.uint64(size)
    todo = np.ones(x.shape, dtype=bool)
    with np.errstate(over="ignore"):
        while todo.any():
            x[todo] = _feistel(x[todo], keys, half)
            todo = x >= limit
    return x.astype(np.int64)


def draw_indices(seed: int, arm_position: int, size: int, drawn_before: int, k: int) -> np.ndarray:
    """Indices of draws ``drawn_before .. drawn_before + k - 1`` of one arm."""
    positions = np.arange(drawn_before, drawn_before + k, dtype=np.int64)
    epochs = positions // size
    out = np.empty(k, dtype=np.int64)
    for epoch in np.unique(epochs):
        members = epochs == epoch
        keys = epoch_keys(seed, arm_position, int(epoch))
        out[members] = permute(positions[members] % size, size, keys)
    return out
