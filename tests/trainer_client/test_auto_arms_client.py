"""Automatic arms end to end: the sync and async clients against a real uvicorn (SQLite + PG)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.trainer_client.conftest import REPO_ROOT
from trainer_client import AsyncCurriculumClient, CurriculumClient, InvalidRequestError
from trainer_client.models import AutoArms


def test_auto_arms_re_form_through_the_sync_client(live_server: LiveServer) -> None:
    with CurriculumClient(live_server.url) as client:
        run = client.create_run(
            "auto", auto_arms={"size": 1000, "buckets": [0.25, 0.75]}, strategy="sec", seed=1
        )
        assert [a.name for a in run.arms] == ["unseen", "pass>=0.75", "pass 0.25-0.75", "pass<0.25"]
        assert run.arm("unseen").members == 1000
        batch = client.sample(run.run_id, 16)
        assert {item.arm for item in batch.items} == {"unseen"}
        picked = sorted({item.index for item in batch.items if item.index is not None})
        assert len(picked) == 16
        half = picked[:8]
        # 4 failures: mean 1/6 -> pass<0.25; 4 successes: 5/6 -> pass>=0.75
        client.report(
            run.run_id,
            [
                {"arm": "unseen", "index": i, "rewards": [0.0 if i in half else 1.0] * 4}
                for i in picked
            ],
            sample_id=batch.sample_id,
        )
        after = client.get_run(run.run_id)
        assert [a.members for a in after.arms] == [984, 8, 0, 8]
        assert after.arm("pass 0.25-0.75").probability == 0.0
        # later successes lift the failing half: 16 solved, 4 failed -> 17/22 = 0.77
        client.report(
            run.run_id, [{"arm": "pass<0.25", "index": i, "rewards": [1.0] * 16} for i in half]
        )
        assert [a.members for a in client.get_run(run.run_id).arms] == [984, 16, 0, 0]
        nxt = client.sample(run.run_id, 64)
        assert {i.index for i in nxt.items if i.arm == "pass>=0.75"} <= set(picked)


def test_clusters_through_the_async_client(live_server: LiveServer) -> None:
    vectors = [[0.0, 0.1], [5.0, 5.0], [0.1, 0.0], [5.1, 4.9], [0.0, 0.0], [4.9, 5.1]]

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            client = AsyncCurriculumClient(http_client=http)
            run = await client.create_run(
                "clusters",
                auto_arms=AutoArms(buckets=[0.5], clusters=2, embeddings=vectors),
                seed=3,
            )
            assert run.auto_arms == {"size": 6, "buckets": [0.5], "clusters": 2}
            assert [a.members for a in run.arms] == [3, 0, 0, 3, 0, 0]
            batch = await client.sample(run.run_id, 6)
            for item in batch.items:
                assert item.index is not None
                assert item.arm == ("c0 unseen" if item.index % 2 == 0 else "c1 unseen")

    asyncio.run(scenario())


def test_the_client_needs_exactly_one_kind_of_arms() -> None:
    client = CurriculumClient("http://127.0.0.1:1")
    with pytest.raises(InvalidRequestError, match="exactly one"):
        client.create_run("x")
    with pytest.raises(InvalidRequestError, match="exactly one"):
        client.create_run("x", ["a"], auto_arms={"size": 3})
    with pytest.raises(InvalidRequestError, match="AutoArms"):
        client.create_run("x", auto_arms={"size": 3, "bucket": [0.5]})


def test_the_doc_snippet_runs_as_written(zpd_url: str) -> None:
    text = (REPO_ROOT / "docs" / "auto_arms.md").read_text()
    snippet = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    namespace: dict[str, Any] = {"__name__": "doc"}
    exec(
        compile(snippet.replace("http://127.0.0.1:8000", zpd_url), "auto_arms.md", "exec"),
        namespace,
    )
    members = namespace["members"]
    assert sum(members.values()) == 1000
    # 5 x 32 slots: index % 3 == 0 always solves (9/10 -> pass>=0.8), the rest fail (pass<0.2)
    assert members["pass 0.2-0.5"] == members["pass 0.5-0.8"] == 0
    assert members["pass>=0.8"] > 0 and members["pass<0.2"] > 0
