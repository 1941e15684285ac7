"""The clients send rollout budgets and group sizes to a real service (uvicorn over HTTP).

Expected numbers come from the request itself (a reachable budget is spent in full) and from
the Beta-Binomial formula worked here with ``math.lgamma``, not from the service's code.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from trainer_client import AsyncCurriculumClient, CurriculumClient, InvalidRequestError
from trainer_client.models import Sample

ARMS = [{"name": "easy", "size": 4}, {"name": "hard", "size": 4}]
BUDGET = dict(rollout_budget=28, min_rollouts=2, max_rollouts=8, group_size=8)


def _p_all_agree(alpha: float, beta: float, n: int) -> float:
    """E[p^n + (1 - p)^n] for p ~ Beta(alpha, beta): B(a+n, b)/B(a, b) + B(a, b+n)/B(a, b)."""

    def log_beta(a: float, b: float) -> float:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    base = log_beta(alpha, beta)
    return math.exp(log_beta(alpha + n, beta) - base) + math.exp(log_beta(alpha, beta + n) - base)


def _check_budget(batch: Sample) -> None:
    counts = [item.n_rollouts for item in batch.items]
    assert len(counts) == 8 and all(n is not None and 2 <= n <= 8 for n in counts), counts
    # 28 <= max_rollouts * batch_size = 64, so the whole budget is given out
    assert sum(n for n in counts if n is not None) == 28
    for item in batch.items:
        assert item.evidence is not None and item.p_all_agree is not None
        assert item.n_rollouts is not None
        expected = _p_all_agree(item.evidence["alpha"], item.evidence["beta"], item.n_rollouts)
        assert item.p_all_agree == pytest.approx(expected, rel=1e-9)


def _check_group_size(batch: Sample, n: int) -> None:
    for item in batch.items:
        assert item.n_rollouts is None
        assert item.evidence is not None and item.p_all_agree is not None
        expected = _p_all_agree(item.evidence["alpha"], item.evidence["beta"], n)
        assert item.p_all_agree == pytest.approx(expected, rel=1e-9)


def test_sync_client_sends_rollout_budget(zpd_url: str) -> None:
    with CurriculumClient(zpd_url) as client:
        run = client.create_run("budget-sync", ARMS, seed=1, problems={"selection": "frontier"})
        # some evidence, so the posteriors differ between problems
        client.report(
            run.run_id,
            [
                {"arm": "easy", "index": 0, "rewards": [1, 1, 1, 0]},
                {"arm": "hard", "index": 2, "rewards": [0, 0, 0, 0, 0, 0]},
            ],
        )
        _check_budget(client.sample(run.run_id, 8, **BUDGET))  # type: ignore[arg-type]
        _check_group_size(client.sample(run.run_id, 8, group_size=3), 3)

        before = client.get_run(run.run_id)
        with pytest.raises(InvalidRequestError):
            client.sample(run.run_id, 8, rollout_budget=28, min_rollouts=5, max_rollouts=4)
        with pytest.raises(InvalidRequestError):  # below min_rollouts * batch_size = 16
            client.sample(run.run_id, 8, rollout_budget=15, min_rollouts=2, max_rollouts=8)
        assert client.get_run(run.run_id).samples == before.samples

        plain = client.create_run("budget-plain", ARMS, seed=1)
        with pytest.raises(InvalidRequestError):  # no per-problem tracking
            client.sample(plain.run_id, 8, rollout_budget=28)


def test_async_client_sends_rollout_budget(zpd_url: str) -> None:
    async def main() -> None:
        async with AsyncCurriculumClient(zpd_url) as client:
            run = await client.create_run(
                "budget-async", ARMS, seed=2, problems={"selection": "uniform"}
            )
            batch = await client.sample(run.run_id, 8, **BUDGET)  # type: ignore[arg-type]
            _check_budget(batch)
            _check_group_size(await client.sample(run.run_id, 8, group_size=5), 5)
            with pytest.raises(InvalidRequestError):
                await client.sample(
                    run.run_id, 8, rollout_budget=28, min_rollouts=5, max_rollouts=4
                )

    asyncio.run(main())
