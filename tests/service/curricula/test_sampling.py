from __future__ import annotations

import numpy as np
import pytest

from service.curricula import draw_batch, sample_rng
from service.curricula.permutation import (
    ROUNDS,
    SCALAR_MAX_SLOTS,
    TAIL_SLOTS,
    _draw_indices_vector,
    _half_bits_int,
    _permute_scalar,
    _permute_vector,
    _splitmix,
    _splitmix_int,
    arm_stream,
    draw_index_list,
    draw_indices,
    half_bits,
)
from service.curricula.sampling import _batch_indices, _small_batch_indices


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 1000, 4097])
def test_each_epoch_is_a_permutation_of_the_arm(size: int) -> None:
    indices = arm_stream(seed=3, arm=1, size=size, start=0, count=3 * size)
    for epoch in range(3):
        chunk = indices[epoch * size : (epoch + 1) * size]
        assert sorted(chunk.tolist()) == list(range(size))


def test_epochs_are_reshuffled_and_draws_continue_across_calls() -> None:
    whole = arm_stream(seed=9, arm=0, size=100, start=0, count=200)
    assert whole[:100].tolist() != whole[100:].tolist()
    # 30 then 170 draws give the same stream as 200 at once
    parts = np.concatenate([arm_stream(9, 0, 100, 0, 30), arm_stream(9, 0, 100, 30, 170)])
    assert parts.tolist() == whole.tolist()


def test_permutation_positions_look_uniform() -> None:
    # Over many epochs each index lands at each of 4 buckets of positions ~ equally often.
    size, epochs = 8, 4000
    stream = arm_stream(seed=1, arm=0, size=size, start=0, count=size * epochs)
    positions = stream.reshape(epochs, size)
    counts = np.zeros((size, size))
    for row in positions:
        counts[row, np.arange(size)] += 1
    expected = epochs / size
    chi2 = ((counts - expected) ** 2 / expected).sum()
    # 49 degrees of freedom; the 99.9% quantile of chi2(49) is about 85.4
    assert chi2 < 85.4


def test_arm_frequencies_follow_the_probabilities() -> None:
    p = np.array([0.7, 0.2, 0.1])
    batch = draw_batch(p, 20000, sample_rng(5, 0), seed=5, sizes=[None] * 3, drawn_before=[0] * 3)
    freq = batch.counts / 20000
    # binomial standard error at n = 20000 is below 0.0033; allow 4 sigma
    assert np.abs(freq - p).max() < 0.014
    assert (batch.indices == -1).all()


def test_zero_probability_arm_is_never_drawn() -> None:
    batch = draw_batch(
        np.array([0.0, 1.0]), 500, sample_rng(0, 0), seed=0, sizes=[10, 10], drawn_before=[0, 0]
    )
    assert batch.counts.tolist() == [0, 500]


def test_half_bits_cover_each_size_exactly() -> None:
    sizes = np.array([1, 2, 3, 4, 5, 16, 17, 2**20, 2**20 + 1, 2**53])
    half = half_bits(sizes)
    assert ((np.int64(4) ** half) >= sizes).all()
    # the smallest even-bit domain: one size fewer bits would not cover
    assert (((np.int64(4) ** (half - 1)) < sizes) | (half == 1)).all()


def test_batch_indices_continue_each_arms_stream() -> None:
    # Two batches drawn in sequence give, per arm, consecutive pieces of the arm's stream.
    p = np.array([0.5, 0.3, 0.2])
    sizes = [7, 50, 1000]
    first = draw_batch(p, 40, sample_rng(4, 0), seed=4, sizes=sizes, drawn_before=[0, 0, 0])
    second = draw_batch(
        p, 40, sample_rng(4, 1), seed=4, sizes=sizes, drawn_before=first.counts.tolist()
    )
    for arm in range(3):
        got = np.concatenate([first.indices[first.arms == arm], second.indices[second.arms == arm]])
        assert got.tolist() == arm_stream(4, arm, sizes[arm], 0, got.size).tolist()


# The pure-Python path for small batches and the vectorised path are two implementations of
# one function: compare them on many inputs, each path called explicitly.

_SEEDS = [0, 1, 42, 2**31 - 1, 2**53 - 1, 2**63 + 5, 2**64 - 1, 2**70 + 3, -1, -(2**40)]


def _edge_sizes() -> list[int]:
    sizes = {1, 2, 3, 4, 5, 6, 7, 2**40}
    for k in range(1, 41):
        sizes |= {2**k - 1, 2**k, 2**k + 1}
    for k in range(1, 21):  # 4**20 == 2**40: the Feistel domains themselves
        sizes |= {4**k - 1, 4**k, 4**k + 1}
    return sorted(s for s in sizes if 1 <= s <= 2**40)


def _random_slots(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arms, sizes and positions of ``n`` slots; arms repeat so that slots share keys."""
    edge = np.array(_edge_sizes(), dtype=np.int64)
    arm_sizes = np.where(
        rng.random(8) < 0.5, rng.choice(edge, 8), rng.integers(1, 2**40, 8, endpoint=True)
    )
    arm_ids = rng.choice([0, 1, 2, 5, 63, 1000, 2**31 - 1, -3], 8, replace=False)
    which = rng.integers(0, 8, n)
    sizes = arm_sizes[which]
    positions = np.where(
        rng.random(n) < 0.5,
        rng.integers(0, 3 * sizes),  # the first epochs
        rng.integers(0, 2**62, n),  # epochs up to 2**62 when the size is 1
    )
    positions[rng.random(n) < 0.05] *= -1  # negative epochs wrap the same way in both paths
    return arm_ids[which].astype(np.int64), sizes.astype(np.int64), positions.astype(np.int64)


def test_splitmix_matches_the_published_reference_outputs() -> None:
    # SplitMix64 (Vigna's splitmix64.c) from state s outputs mix(s + k * golden) for
    # k = 1, 2, ...; our _splitmix(x) is mix(x + golden). Published first outputs for the
    # states 0 and 1234567.
    golden = 0x9E3779B97F4A7C15
    expected = {
        0: [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F],
        1234567: [6457827717110365317, 3203168211198807973, 9817491932198370423],
    }
    for state, outputs in expected.items():
        inputs = [(state + k * golden) % 2**64 for k in range(3)]
        assert [_splitmix_int(x) for x in inputs] == outputs
        assert _splitmix(np.array(inputs, dtype=np.uint64)).tolist() == outputs


def test_half_bits_of_one_size_equals_the_vectorised_half_bits() -> None:
    sizes = _edge_sizes() + [2**k + d for k in range(41, 63) for d in (-1, 0, 1)]
    assert [_half_bits_int(s) for s in sizes] == half_bits(np.array(sizes)).tolist()


@pytest.mark.parametrize("seed", _SEEDS)
def test_scalar_and_vector_draws_are_identical(seed: int) -> None:
    rng = np.random.default_rng(abs(seed) % 2**32)
    for n in (1, 2, 7, 16, 17, 64):
        for _ in range(6):
            arms, sizes, positions = _random_slots(rng, n)
            vector = _draw_indices_vector(seed, arms, sizes, positions)
            scalar = draw_index_list(seed, arms.tolist(), sizes.tolist(), positions.tolist())
            assert scalar == vector.tolist()
            assert ((vector >= 0) & (vector < sizes)).all()


def test_scalar_and_vector_draws_agree_at_every_edge_size() -> None:
    sizes = np.array(_edge_sizes(), dtype=np.int64)
    for epoch in (0, 1, 2**20 + 3, 2**62 // 2**40):
        arms = np.arange(len(sizes), dtype=np.int64)
        positions = epoch * sizes + (sizes - 1) // 3
        vector = _draw_indices_vector(7, arms, sizes, positions)
        assert draw_index_list(7, arms.tolist(), sizes.tolist(), positions.tolist()) == (
            vector.tolist()
        )


def test_scalar_and_vector_permute_are_identical() -> None:
    rng = np.random.default_rng(11)
    sizes = np.array(_edge_sizes(), dtype=np.int64)
    keys = rng.integers(0, 2**64, (len(sizes), ROUNDS), dtype=np.uint64)
    offsets = rng.integers(0, sizes)
    assert _permute_scalar(offsets, sizes, keys).tolist() == (
        _permute_vector(offsets, sizes, keys).tolist()
    )


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 15, 16, 17])
def test_each_epoch_is_a_permutation_on_the_scalar_path(size: int) -> None:
    for epoch in (0, 1, 2**40):
        positions = list(range(epoch * size, (epoch + 1) * size))
        indices = draw_index_list(3, [1] * size, [size] * size, positions)
        assert sorted(indices) == list(range(size))


def test_draw_indices_gives_the_same_stream_below_and_above_the_scalar_cutoff() -> None:
    assert SCALAR_MAX_SLOTS < 40
    for size in (1, 2, 7, 1000, 2**40):
        whole = arm_stream(seed=8, arm=2, size=size, start=5, count=40)  # vectorised
        for count in (1, 2, SCALAR_MAX_SLOTS - 1, SCALAR_MAX_SLOTS, SCALAR_MAX_SLOTS + 1):
            part = arm_stream(seed=8, arm=2, size=size, start=5, count=count)
            assert part.tolist() == whole[:count].tolist()
        for start in range(5, 45, 8):  # pieces of 8 take the scalar path
            piece = arm_stream(seed=8, arm=2, size=size, start=start, count=8)
            assert piece.tolist() == whole[start - 5 : start + 3].tolist()


def test_small_and_vectorised_batch_indices_are_identical() -> None:
    rng = np.random.default_rng(23)
    sizes: list[int | None] = [None, 1, 2, 7, 1000, None, 2**40, 4**10]
    for batch_size in range(0, 21):
        for _ in range(10):
            arms = rng.integers(0, len(sizes), batch_size)
            drawn_before = rng.integers(0, 2**50, len(sizes)).tolist()
            seed = int(rng.integers(0, 2**53))
            args = {"seed": seed, "sizes": sizes, "drawn_before": drawn_before}
            small = _small_batch_indices(arms, **args)
            assert small.dtype == np.int64
            assert small.tolist() == _batch_indices(arms, **args).tolist()


@pytest.mark.parametrize("batch_size", [1, 3, 8, 16])
def test_small_batches_continue_each_arms_stream(batch_size: int) -> None:
    p = np.array([0.4, 0.3, 0.2, 0.1])
    sizes: list[int | None] = [5, 50, None, 2**40]
    drawn = np.zeros(4, dtype=np.int64)
    batches = []
    for sample_number in range(12):
        batch = draw_batch(
            p, batch_size, sample_rng(6, sample_number), seed=6, sizes=sizes, drawn_before=drawn
        )
        batches.append(batch)
        drawn = drawn + batch.counts
    for arm, size in enumerate(sizes):
        got = np.concatenate([b.indices[b.arms == arm] for b in batches])
        if size is None:
            assert (got == -1).all()
        else:  # 200 > 12 * 16 slots: the whole stream comes from the vectorised path
            assert got.tolist() == arm_stream(6, arm, size, 0, 200)[: got.size].tolist()


@pytest.mark.parametrize("tail", [1, 5, TAIL_SLOTS, 300])
def test_finishing_the_cycle_walk_in_python_changes_no_index(tail: int) -> None:
    # sizes just above a power of four: the domain is ~4x the arm, so walks are long
    rng = np.random.default_rng(tail)
    sizes = rng.choice(np.array([5, 17, 65, 257, 4097, 4**9 + 1], dtype=np.int64), 600)
    keys = rng.integers(0, 2**64, (600, ROUNDS), dtype=np.uint64)
    offsets = rng.integers(0, sizes)
    numpy_only = _permute_vector(offsets, sizes, keys, tail=0)
    assert _permute_vector(offsets, sizes, keys, tail=tail).tolist() == numpy_only.tolist()
    assert _permute_scalar(offsets, sizes, keys).tolist() == numpy_only.tolist()


def test_draws_read_from_epoch_tables_equal_the_direct_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.curricula import permutation

    tables = permutation.EpochTables(max_size=5000, capacity=6_000)
    monkeypatch.setattr(permutation, "EPOCH_TABLES", tables)
    rng = np.random.default_rng(5)
    sizes_of = np.array([1, 2, 17, 257, 1000, 4097, 5001, 2**40], dtype=np.int64)
    drawn = np.zeros(len(sizes_of), dtype=np.int64)
    built = set()
    for call in range(120):  # consecutive batches: the same epochs come back, then the next
        arms = rng.integers(0, len(sizes_of), 64)
        rank = np.array([np.sum(arms[:i] == a) for i, a in enumerate(arms)], dtype=np.int64)
        positions = drawn[arms] + rank
        drawn += np.bincount(arms, minlength=len(sizes_of))
        sizes = sizes_of[arms]
        expected = _draw_indices_vector(3, arms, sizes, positions)
        got = draw_indices(3, arms, sizes, positions)
        assert got.tolist() == expected.tolist(), call
        built |= set(tables._tables)
    # tables were built (the arm of 4,097 too, and its first table was dropped for capacity),
    # only for arms up to max_size, and within capacity
    assert {key[3] for key in built} == {1, 2, 17, 257, 1000, 4097}
    assert len(built) > len(tables._tables)
    assert all(key[3] <= 5000 for key in tables._tables)
    assert tables._held <= 6_000
    assert sum(t.size for t in tables._tables.values()) == tables._held


def test_an_epoch_table_is_built_once_an_eighth_of_it_was_drawn() -> None:
    from service.curricula.permutation import EpochTables, _whole_epoch

    tables = EpochTables(max_size=100)
    # 80 problems: walked directly until 10 slots (an eighth) have been drawn from it
    assert tables.get(1, 2, 0, 80, slots=4) is None
    assert tables.get(1, 2, 0, 80, slots=5) is None
    table = tables.get(1, 2, 0, 80, slots=1)
    assert table is not None and sorted(table.tolist()) == list(range(80))
    assert (
        table.tolist()
        == _draw_indices_vector(1, np.full(80, 2), np.full(80, 80), np.arange(80)).tolist()
    )
    assert tables.get(1, 2, 0, 80, slots=1) is table
    assert tables.get(1, 3, 0, 80, slots=10) is not None  # enough in one call
    assert tables.get(1, 2, 1, 80, slots=9) is None  # another epoch counts apart
    assert tables.get(1, 2, 0, 101, slots=101) is None  # above max_size: never a table
    assert (
        _whole_epoch(9, 0, 4, 7).tolist()
        == _draw_indices_vector(
            9, np.zeros(7, dtype=np.int64), np.full(7, 7), np.arange(28, 35)
        ).tolist()
    )
