from __future__ import annotations

import math

import numpy as np
import pytest

from service.curricula import (
    ArmFeedback,
    ArmInfo,
    StrategyError,
    build_strategy,
    draw_batch,
    register,
    sample_rng,
    strategy_names,
)
from service.curricula.td import boltzmann_probabilities


def arms(*sizes: int | None) -> list[ArmInfo]:
    return [ArmInfo(name=f"a{i}", size=s, tags={}) for i, s in enumerate(sizes)]


def feedback(rewards: list[float], present: list[bool]) -> ArmFeedback:
    n = len(rewards)
    return ArmFeedback(
        present=np.array(present),
        reward=np.array(rewards),
        count=np.array([1 if p else 0 for p in present]),
        outcome=np.full(n, np.nan),
    )


def test_registry_knows_the_strategies_and_refuses_duplicates() -> None:
    assert {"sec", "random", "ordered", "reverse"} <= set(strategy_names())
    with pytest.raises(ValueError, match="already registered"):
        register("sec")(object)


def test_sec_td_update_hold_by_hand() -> None:
    sec = build_strategy("sec", {"alpha": 0.5, "tau": 1.0}, arms(None, None, None))
    state = sec.initial_state(arms(None, None, None))
    assert state == {"q": [0.0, 0.0, 0.0]}
    state = sec.update(state, feedback([0.8, 0.0, 0.4], [True, False, True]), 0)
    assert state["q"] == pytest.approx([0.4, 0.0, 0.2])
    state = sec.update(state, feedback([0.0, 0.6, 0.0], [False, True, False]), 1)
    # only arm 1 moves: 0.5 * 0.6 + 0.5 * 0
    assert state["q"] == pytest.approx([0.4, 0.3, 0.2])


def test_sec_decay_updates_absent_arms_with_zero() -> None:
    sec = build_strategy("sec", {"alpha": 0.2, "unsampled": "decay"}, arms(None, None))
    state = sec.update({"q": [0.5, 1.0]}, feedback([1.0, 0.0], [True, False]), 3)
    # arm 0: 0.2 * 1 + 0.8 * 0.5 = 0.6 ; arm 1: 0.8 * 1.0 = 0.8
    assert state["q"] == pytest.approx([0.6, 0.8])


def test_sec_boltzmann_probabilities_by_hand() -> None:
    sec = build_strategy("sec", {"tau": 0.5}, arms(None, None, None))
    p = sec.probabilities({"q": [1.0, 0.5, 0.0]}, 0)
    weights = [math.exp(2.0), math.exp(1.0), 1.0]
    assert p.tolist() == pytest.approx([w / sum(weights) for w in weights])


def test_boltzmann_is_stable_for_large_values() -> None:
    p = boltzmann_probabilities(np.array([1000.0, 999.0]), 0.01)
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"tau": 0}, "tau"),
        ({"tau": -1}, "tau"),
        ({"tau": "hot"}, "tau"),
        ({"alpha": True}, "alpha"),
        ({"unsampled": "forget"}, "unsampled"),
        ({"advantage_std": "sample"}, "advantage_std"),
        ({"gamma": 1}, "unknown option"),
    ],
)
def test_sec_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError, match=message):
        build_strategy("sec", options, arms(None))


def test_alpha_one_is_allowed() -> None:
    assert build_strategy("sec", {"alpha": 1}, arms(None)).options()["alpha"] == 1.0


def test_unknown_strategy_names_the_known_ones() -> None:
    with pytest.raises(StrategyError, match="known: .*sec"):
        build_strategy("bandit9000", {}, arms(None))


def test_random_weights_arms_by_size() -> None:
    rnd = build_strategy("random", {}, arms(10, 30, 60))
    assert rnd.probabilities({"q": [0, 0, 0]}, 5).tolist() == pytest.approx([0.1, 0.3, 0.6])
    uniform = build_strategy("random", {}, arms(None, None))
    assert uniform.probabilities({"q": [0, 0]}, 0).tolist() == [0.5, 0.5]
    with pytest.raises(StrategyError, match="every arm or on none"):
        build_strategy("random", {}, arms(10, None))


def test_ordered_and_reverse_schedules_by_hand() -> None:
    infos = arms(None, None, None, None)
    ordered = build_strategy("ordered", {"total_steps": 10}, infos)
    reverse = build_strategy("reverse", {"total_steps": 10}, infos)
    state = ordered.initial_state(infos)
    # arm floor(step * 4 / 10): steps 0-2 -> 0, 3-4 -> 1, 5-7 -> 2, 8-9 -> 3, beyond -> 3
    expected = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    for step, arm in enumerate(expected):
        assert int(np.argmax(ordered.probabilities(state, step))) == arm
        assert int(np.argmax(reverse.probabilities(state, step))) == 3 - arm
    with pytest.raises(StrategyError, match="total_steps"):
        build_strategy("ordered", {}, infos)
    with pytest.raises(StrategyError, match="integer"):
        build_strategy("ordered", {"total_steps": 2.5}, infos)


@pytest.mark.parametrize(
    ("name", "options"),
    [("sec", {"tau": 0.3}), ("random", {}), ("ordered", {"total_steps": 5})],
)
def test_reproducible(name: str, options: dict[str, object]) -> None:
    """Same seed, same calls, same draws; another seed, other draws."""
    infos = arms(50, 20, 30)

    def run(seed: int) -> list[list[int]]:
        strategy = build_strategy(name, options, infos)
        state = strategy.initial_state(infos)
        drawn = [0, 0, 0]
        out = []
        for k in range(4):
            batch = draw_batch(
                strategy.probabilities(state, k),
                64,
                sample_rng(seed, k),
                seed=seed,
                sizes=[a.size for a in infos],
                drawn_before=drawn,
            )
            drawn = [d + int(c) for d, c in zip(drawn, batch.counts, strict=True)]
            state = strategy.update(state, feedback([0.5, 0.1, 0.9], [True, True, True]), k)
            out.append(batch.arms.tolist() + batch.indices.tolist())
        return out

    assert run(11) == run(11)
    if name != "ordered":
        assert run(11) != run(12)
