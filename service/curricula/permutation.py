"""Problem indices "uniform without replacement, reshuffled per epoch", with no stored list.

The j-th draw ever made from an arm of ``size`` problems is position ``j``: epoch
``j // size``, offset ``j % size``. Its index is ``permute(offset)`` under a pseudo-random
permutation of ``range(size)`` keyed by (seed, arm, epoch): an 8-round Feistel network
over the smallest even-bit domain that covers ``size``, with cycle walking to stay inside
it. A bijection needs no memory, so an arm of millions of problems costs nothing to
store, and the only state is the arm's draw counter. Everything is vectorised over the
slots of a batch, whatever arms and epochs they fall in.
"""

from __future__ import annotations

import numpy as np

ROUNDS = 8
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fast, well-mixing bijection of uint64."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def round_keys(seed: int, arms: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Keys of shape ``(len(arms), ROUNDS)`` for each (seed, arm, epoch)."""
    with np.errstate(over="ignore"):
        base = _splitmix(np.full(arms.shape, np.uint64(seed % 2**64)))
        base = _splitmix(base ^ arms.astype(np.uint64))
        base = _splitmix(base ^ epochs.astype(np.uint64))
        rounds = np.arange(1, ROUNDS + 1, dtype=np.uint64)
        return _splitmix(base[:, None] + rounds[None, :] * _GOLDEN)


def half_bits(sizes: np.ndarray) -> np.ndarray:
    """Bits of each half of the Feistel domain: the domain 4**half is >= size."""
    bits = np.maximum(2, np.ceil(np.log2(np.maximum(sizes, 2))).astype(np.int64))
    # float log2 can round across a power of two; fix up so that 2**bits >= size > 2**(bits-1)
    bits = np.where((np.int64(1) << bits) < sizes, bits + 1, bits)
    return (bits + 1) // 2


def _feistel(x: np.ndarray, keys: np.ndarray, half: np.ndarray) -> np.ndarray:
    shift = half.astype(np.uint64)
    mask = (np.uint64(1) << shift) - np.uint64(1)
    left, right = x >> shift, x & mask
    for r in range(keys.shape[1]):
        mixed = _splitmix(right ^ keys[:, r])
        left, right = right, left ^ (mixed & mask)
    return (left << shift) | right


def permute(offsets: np.ndarray, sizes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Map each ``offsets[i]`` in ``[0, sizes[i])`` through the permutation keyed ``keys[i]``."""
    x = np.asarray(offsets).astype(np.uint64)
    limit = np.asarray(sizes).astype(np.uint64)
    half = half_bits(np.asarray(sizes, dtype=np.int64))
    todo = np.ones(x.shape, dtype=bool)
    with np.errstate(over="ignore"):
        while todo.any():
            x[todo] = _feistel(x[todo], keys[todo], half[todo])
            todo = x >= limit
    return x.astype(np.int64)


def draw_indices(
    seed: int, arms: np.ndarray, sizes: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """Index of each draw: slot i is draw number ``positions[i]`` of arm ``arms[i]``."""
    arms = np.asarray(arms, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    epochs, offsets = np.divmod(positions, sizes)
    return permute(offsets, sizes, round_keys(seed, arms, epochs))


def arm_stream(seed: int, arm: int, size: int, start: int, count: int) -> np.ndarray:
    """Draws ``start .. start + count - 1`` of one arm (a convenience for tests and tools)."""
    positions = np.arange(start, start + count, dtype=np.int64)
    return draw_indices(seed, np.full(count, arm), np.full(count, size), positions)
