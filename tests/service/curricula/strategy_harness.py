"""Shared helpers of the strategy tests: arms, hand-made feedback, a seeded replay."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from service.curricula import ArmFeedback, ArmInfo, build_strategy, draw_batch, sample_rng


def arms(*sizes: int | None, difficulties: Sequence[float] | None = None) -> list[ArmInfo]:
    """Arms ``a0, a1, ...`` with the given sizes (and ``difficulty`` tags if given)."""
    return [
        ArmInfo(
            name=f"a{i}",
            size=s,
            tags={} if difficulties is None else {"difficulty": difficulties[i]},
        )
        for i, s in enumerate(sizes)
    ]


def feedback(
    rewards: Sequence[float],
    present: Sequence[bool],
    outcomes: Sequence[float] | None = None,
    counts: Sequence[int] | None = None,
) -> ArmFeedback:
    """Per-arm feedback as the service would compute it (NaN outcome where none given)."""
    n = len(rewards)
    return ArmFeedback(
        present=np.array(present, dtype=bool),
        reward=np.array(rewards, dtype=np.float64),
        count=np.array(counts if counts is not None else [1 if p else 0 for p in present]),
        outcome=np.array(outcomes if outcomes is not None else [np.nan] * n, dtype=np.float64),
    )


def seeded_run(
    name: str, options: Mapping[str, Any], infos: list[ArmInfo], seed: int, steps: int = 6
) -> list[list[int]]:
    """Draw ``steps`` batches of 64 through the real sampling path, feeding back a pass
    rate per arm that depends on the draws; return every slot's arm and index.

    The state must survive a JSON round trip at every step (it is stored in a row).
    """
    strategy = build_strategy(name, options, infos)
    state = strategy.initial_state(infos)
    drawn = [0] * len(infos)
    true_pass = np.linspace(0.9, 0.1, len(infos))
    out = []
    for k in range(steps):
        batch = draw_batch(
            strategy.probabilities(state, k),
            64,
            sample_rng(seed, k),
            seed=seed,
            sizes=[a.size for a in infos],
            drawn_before=drawn,
        )
        drawn = [d + int(c) for d, c in zip(drawn, batch.counts, strict=True)]
        present = batch.counts > 0
        # the outcome moves with how often the arm was drawn, so the state depends on draws
        outcome = np.where(present, np.clip(true_pass + 0.002 * batch.counts * k, 0, 1), np.nan)
        reward = np.where(present, 2 * np.sqrt(true_pass * (1 - true_pass)), 0.0)
        fb = ArmFeedback(present=present, reward=reward, count=batch.counts, outcome=outcome)
        state = json.loads(json.dumps(strategy.update(state, fb, k)))
        out.append(batch.arms.tolist() + batch.indices.tolist())
    return out
