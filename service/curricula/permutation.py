"""Problem indices "uniform without replacement, reshuffled per epoch", with no stored list.

The j-th draw ever made from an arm of ``size`` problems is position ``j``: epoch
``j // size``, offset ``j % size``. Its index is ``permute(offset)`` under a pseudo-random
permutation of ``range(size)`` keyed by (seed, arm, epoch): an 8-round Feistel network
over the smallest even-bit domain that covers ``size``, with cycle walking to stay inside
it. A bijection needs no memory, so an arm of millions of problems costs nothing to
store, and the only state is the arm's draw counter. Everything is vectorised over the
slots of a batch, whatever arms and epochs they fall in.

Larger batches read an epoch that is drawn from again and again from a table of the whole
epoch, computed once (:class:`EpochTables`). Small batches (up to ``SCALAR_MAX_SLOTS`` slots)
take a pure-Python path over ints masked
to 64 bits instead: numpy's per-call overhead on 1-element arrays costs more than the
arithmetic. Both paths compute the same function bit for bit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

ROUNDS = 8
# At or below this many slots the pure-Python path is the faster one. Measured crossover:
# about 13 slots when every slot has its own arm (8 round keys each), about 40 when the
# slots share an arm and epoch (keys computed once); at 1-8 slots Python is 2-10x faster.
SCALAR_MAX_SLOTS = 16
# Cycle walking: the domain 4**half can be up to 4x the arm, so a slot needs a geometric
# number of passes and a 256-slot batch waits ~15 passes for its unluckiest slots, each
# pass ~70 numpy calls. The last few slots finish faster in Python.
TAIL_SLOTS = 24
_GOLDEN_INT = 0x9E3779B97F4A7C15
_M1_INT = 0xBF58476D1CE4E5B9
_M2_INT = 0x94D049BB133111EB
_MASK64 = 2**64 - 1
_GOLDEN = np.uint64(_GOLDEN_INT)
_M1 = np.uint64(_M1_INT)
_M2 = np.uint64(_M2_INT)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fast, well-mixing bijection of uint64."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _splitmix_int(x: int) -> int:
    """:func:`_splitmix` on one Python int in ``[0, 2**64)``."""
    x = (x + _GOLDEN_INT) & _MASK64
    x = ((x ^ (x >> 30)) * _M1_INT) & _MASK64
    x = ((x ^ (x >> 27)) * _M2_INT) & _MASK64
    return x ^ (x >> 31)


def round_keys(seed: int, arms: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Keys of shape ``(len(arms), ROUNDS)`` for each (seed, arm, epoch)."""
    with np.errstate(over="ignore"):
        base = _splitmix(np.full(arms.shape, np.uint64(seed % 2**64)))
        base = _splitmix(base ^ arms.astype(np.uint64))
        base = _splitmix(base ^ epochs.astype(np.uint64))
        rounds = np.arange(1, ROUNDS + 1, dtype=np.uint64)
        return _splitmix(base[:, None] + rounds[None, :] * _GOLDEN)


def _round_keys_int(seed: int, arm: int, epoch: int) -> list[int]:
    """:func:`round_keys` for one (seed, arm, epoch); negative ints wrap as numpy's casts do."""
    base = _splitmix_int(int(seed) & _MASK64)
    base = _splitmix_int(base ^ (arm & _MASK64))
    base = _splitmix_int(base ^ (epoch & _MASK64))
    return [_splitmix_int((base + r * _GOLDEN_INT) & _MASK64) for r in range(1, ROUNDS + 1)]


def half_bits(sizes: np.ndarray) -> np.ndarray:
    """Bits of each half of the Feistel domain: the domain 4**half is >= size."""
    bits = np.maximum(2, np.ceil(np.log2(np.maximum(sizes, 2))).astype(np.int64))
    # float log2 can round across a power of two; fix up so that 2**bits >= size > 2**(bits-1)
    bits = np.where((np.int64(1) << bits) < sizes, bits + 1, bits)
    return (bits + 1) // 2


def _half_bits_int(size: int) -> int:
    """:func:`half_bits` of one size, in exact integer arithmetic."""
    bits = max(2, (max(size, 2) - 1).bit_length())
    return (bits + 1) // 2


def _feistel(x: np.ndarray, keys: np.ndarray, half: np.ndarray) -> np.ndarray:
    shift = half.astype(np.uint64)
    mask = (np.uint64(1) << shift) - np.uint64(1)
    left, right = x >> shift, x & mask
    for r in range(keys.shape[1]):
        mixed = _splitmix(right ^ keys[:, r])
        left, right = right, left ^ (mixed & mask)
    return (left << shift) | right


def _permute_int(offset: int, size: int, keys: list[int]) -> int:
    """:func:`permute` of one offset in ``[0, 2**64)``, the Feistel rounds inlined."""
    half = _half_bits_int(size)
    mask = (1 << half) - 1
    x = offset
    while True:  # at least one pass, like the vectorised loop, then cycle-walk
        left, right = x >> half, x & mask
        for key in keys:
            y = ((right ^ key) + _GOLDEN_INT) & _MASK64
            y = ((y ^ (y >> 30)) * _M1_INT) & _MASK64
            y = ((y ^ (y >> 27)) * _M2_INT) & _MASK64
            left, right = right, left ^ ((y ^ (y >> 31)) & mask)
        x = ((left << half) & _MASK64) | right
        if x < size:
            return x


def _permute_vector(
    offsets: np.ndarray, sizes: np.ndarray, keys: np.ndarray, tail: int = TAIL_SLOTS
) -> np.ndarray:
    """The vectorised permutation; the last ``tail`` or fewer slots still cycle-walking
    finish on the pure-Python path (0: numpy to the end)."""
    x = np.asarray(offsets).astype(np.uint64)
    limit = np.asarray(sizes).astype(np.uint64)
    half = half_bits(np.asarray(sizes, dtype=np.int64))
    todo = np.ones(x.shape, dtype=bool)
    with np.errstate(over="ignore"):
        while todo.any():
            x[todo] = _feistel(x[todo], keys[todo], half[todo])
            todo = x >= limit
            left = np.flatnonzero(todo)
            if 0 < left.size <= tail and x.ndim == 1:
                # each further pass of the loop is one pass of _permute_int from here on
                rows = keys[left].astype(np.uint64).tolist()
                sizes_left = limit[left].tolist()
                x[left] = [
                    _permute_int(int(v), int(n), k)
                    for v, n, k in zip(x[left].tolist(), sizes_left, rows, strict=True)
                ]
                break
    return x.astype(np.int64)


def _permute_scalar(offsets: np.ndarray, sizes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    x = np.asarray(offsets).astype(np.uint64).tolist()
    limit = np.asarray(sizes, dtype=np.int64).tolist()
    rows = np.asarray(keys).astype(np.uint64).tolist()
    out = [_permute_int(o, s, k) for o, s, k in zip(x, limit, rows, strict=True)]
    return np.array(out, dtype=np.uint64).astype(np.int64)


def permute(offsets: np.ndarray, sizes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Map each ``offsets[i]`` in ``[0, sizes[i])`` through the permutation keyed ``keys[i]``."""
    if np.ndim(offsets) == 1 and np.size(offsets) <= SCALAR_MAX_SLOTS:
        return _permute_scalar(offsets, sizes, keys)
    return _permute_vector(offsets, sizes, keys)


def _draw_indices_vector(
    seed: int, arms: np.ndarray, sizes: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    epochs, offsets = np.divmod(positions, sizes)
    return _permute_vector(offsets, sizes, round_keys(seed, arms, epochs))


class EpochTables:
    """Whole epochs of the permutation, computed once and kept (a pure-function cache).

    A run draws one arm's epoch over many calls (an arm of 5,000 problems, ~25 slots per
    call, for ~200 calls), and each draw would walk the Feistel network again. Once the
    slots drawn from an epoch of an arm of at most ``max_size`` problems reach an eighth of
    the arm, the epoch is computed whole, in one vectorised pass, and later draws from it
    are a table lookup. Computing a whole epoch costs about what walking an eighth of it
    slot by slot costs (measured: ~1.3 against ~10 microseconds a slot), so a table is
    built only once it has paid for itself in the walks already made, and the rest of the
    epoch is then almost free. At most ``capacity`` indices are kept, least recently used
    dropped first. Thread-safe; the indices are exactly :func:`_draw_indices_vector`'s.
    """

    def __init__(self, max_size: int = 1 << 16, capacity: int = 1 << 22) -> None:
        self.max_size = max_size
        self.capacity = capacity
        self._tables: OrderedDict[tuple[int, int, int, int], np.ndarray] = OrderedDict()
        # slots drawn so far from each epoch that has no table yet
        self._drawn: OrderedDict[tuple[int, int, int, int], int] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, seed: int, arm: int, epoch: int, size: int, slots: int) -> np.ndarray | None:
        """The epoch's indices (``table[offset]``) for a call drawing ``slots`` from it, or
        None while a table is not worth it (the caller walks those slots directly)."""
        if size > self.max_size:
            return None
        key = (seed, arm, epoch, size)
        with self._lock:
            table = self._tables.get(key)
            if table is not None:
                self._tables.move_to_end(key)
                return table
            drawn = self._drawn.pop(key, 0) + slots
            if drawn * 8 < size:
                self._drawn[key] = drawn
                while len(self._drawn) > 4096:
                    self._drawn.popitem(last=False)
                return None
        table = _whole_epoch(seed, arm, epoch, size)
        with self._lock:
            if key not in self._tables:
                self._tables[key] = table
                self._held += table.size
                while self._held > self.capacity and len(self._tables) > 1:
                    _, dropped = self._tables.popitem(last=False)
                    self._held -= dropped.size
        return table


def _whole_epoch(seed: int, arm: int, epoch: int, size: int) -> np.ndarray:
    offsets = np.arange(size, dtype=np.int64)
    keys = np.repeat(round_keys(seed, np.array([arm]), np.array([epoch])), size, axis=0)
    sizes = np.full(size, size, dtype=np.int64)
    dtype = np.int32 if size <= 2**31 else np.int64
    return _permute_vector(offsets, sizes, keys).astype(dtype)


EPOCH_TABLES = EpochTables()


def _draw_indices_tabled(
    seed: int, arms: np.ndarray, sizes: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """:func:`_draw_indices_vector` with each (arm, epoch) group read from its table when
    :data:`EPOCH_TABLES` holds (or now builds) one; the other slots walk directly."""
    epochs, offsets = np.divmod(positions, sizes)
    out = np.empty(positions.shape, dtype=np.int64)
    walk = np.zeros(positions.shape, dtype=bool)
    groups: dict[tuple[int, int, int], list[int]] = {}
    for slot, key in enumerate(zip(arms.tolist(), epochs.tolist(), sizes.tolist(), strict=True)):
        groups.setdefault(key, []).append(slot)
    for (arm, epoch, size), slots in groups.items():
        table = EPOCH_TABLES.get(seed, arm, epoch, size, len(slots))
        if table is None:
            walk[slots] = True
        else:
            out[slots] = table[offsets[slots]]
    if walk.any():
        out[walk] = _permute_vector(
            offsets[walk], sizes[walk], round_keys(seed, arms[walk], epochs[walk])
        )
    return out


def draw_index_list(
    seed: int, arms: Sequence[int], sizes: Sequence[int], positions: Sequence[int]
) -> list[int]:
    """:func:`draw_indices` in pure Python, for a few slots held as ints.

    Slot i is draw number ``positions[i]`` of arm ``arms[i]`` of ``sizes[i]`` problems.
    Bit-identical to the vectorised path; faster up to about ``SCALAR_MAX_SLOTS`` slots.
    """
    keys: dict[tuple[int, int], list[int]] = {}  # slots of one arm and epoch share keys
    out = []
    for arm, size, position in zip(
        map(int, arms), map(int, sizes), map(int, positions), strict=True
    ):
        epoch, offset = divmod(position, size)
        arm_keys = keys.get((arm, epoch))
        if arm_keys is None:
            arm_keys = keys[(arm, epoch)] = _round_keys_int(seed, arm, epoch)
        out.append(_permute_int(offset, size, arm_keys))
    return out


def draw_indices(
    seed: int, arms: np.ndarray, sizes: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """Index of each draw: slot i is draw number ``positions[i]`` of arm ``arms[i]``."""
    arms = np.asarray(arms, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    small = positions.ndim == 1 and positions.size <= SCALAR_MAX_SLOTS
    if small and arms.shape == sizes.shape == positions.shape:
        indices = draw_index_list(seed, arms.tolist(), sizes.tolist(), positions.tolist())
        return np.array(indices, dtype=np.int64)
    if positions.ndim == 1 and arms.shape == sizes.shape == positions.shape:
        return _draw_indices_tabled(seed, arms, sizes, positions)
    return _draw_indices_vector(seed, arms, sizes, positions)


def arm_stream(seed: int, arm: int, size: int, start: int, count: int) -> np.ndarray:
    """Draws ``start .. start + count - 1`` of one arm (a convenience for tests and tools)."""
    positions = np.arange(start, start + count, dtype=np.int64)
    return draw_indices(seed, np.full(count, arm), np.full(count, size), positions)
