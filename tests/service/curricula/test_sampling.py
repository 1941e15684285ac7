from __future__ import annotations

import numpy as np
import pytest

from service.curricula import draw_batch, sample_rng
from service.curricula.permutation import arm_stream, half_bits


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
