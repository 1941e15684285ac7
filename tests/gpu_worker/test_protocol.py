"""The protocol's arithmetic against values worked by hand (pure Python, nothing optional)."""

from __future__ import annotations

import pytest

from gpu_worker.protocol import (
    area_under_curve,
    censored,
    cost_to_target,
    paired_bootstrap,
    paired_difference,
    ratio_of_means,
)

CURVE = [
    {"rollouts": 0, "tokens": 0, "seconds": 0.0, "id_pass1": 0.10},
    {"rollouts": 100, "tokens": 700, "seconds": 2.0, "id_pass1": 0.30},
    {"rollouts": 200, "tokens": 1500, "seconds": 4.5, "id_pass1": 0.50},
    {"rollouts": 300, "tokens": 2400, "seconds": 6.0, "id_pass1": 0.40},
]


def test_cost_to_target_reads_the_first_point_at_or_above_it() -> None:
    assert cost_to_target(CURVE, 0.30) == 100
    assert cost_to_target(CURVE, 0.31, "tokens") == 1500
    assert cost_to_target(CURVE, 0.45, "seconds") == 4.5
    assert cost_to_target(CURVE, 0.05) == 0  # the warm start already reaches it
    assert cost_to_target(CURVE, 0.51) is None


def test_area_under_curve_by_trapezoids() -> None:
    # (0.1+0.3)/2*100 + (0.3+0.5)/2*100 + (0.5+0.4)/2*100 = 20 + 40 + 45 = 105, over 300
    assert area_under_curve(CURVE) == pytest.approx(105 / 300)
    assert area_under_curve(CURVE[:1]) == pytest.approx(0.10)


def test_censored_counts_an_unreached_target_as_the_budget() -> None:
    assert censored(None, 500) == 500
    assert censored(120, 500) == 120


def test_ratio_and_paired_bootstrap() -> None:
    sec, rnd = [50.0, 60.0, 70.0], [100.0, 100.0, 100.0]
    assert ratio_of_means(sec, rnd) == pytest.approx(0.6)
    ratio, low, high = paired_bootstrap(sec, rnd, resamples=2_000)
    assert ratio == pytest.approx(0.6)
    # every resample's ratio is a mean of three of {0.5, 0.6, 0.7}: within [0.5, 0.7]
    assert 0.5 <= low <= 0.6 <= high <= 0.7
    assert low < high
    same = paired_bootstrap([3.0, 3.0], [6.0, 6.0], resamples=100)
    assert same == pytest.approx((0.5, 0.5, 0.5))
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [2.0])
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 2.0], [2.0])


def test_paired_difference() -> None:
    mean, low, high = paired_difference([0.5, 0.7, 0.6], [0.4, 0.4, 0.6], resamples=2_000)
    assert mean == pytest.approx((0.1 + 0.3 + 0.0) / 3)
    assert 0.0 <= low <= mean <= high <= 0.3
