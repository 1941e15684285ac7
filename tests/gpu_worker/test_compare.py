"""The compare table: mean and spread over seeds, worked by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from tests.conftest import require

require("torch")
require("transformers")
require("reasoning_gym")

from gpu_worker.compare import format_table, plot_curves, summary_table  # noqa: E402


def _run(d1: float, d4: float) -> dict:
    evaluation = {
        "chain_sum/d1": {"pass_at_1": d1, "success_in_k": 1.0, "ood": 0.0},
        "chain_sum/d4": {"pass_at_1": d4, "success_in_k": d4, "ood": 1.0},
    }
    return {
        "evaluation": evaluation,
        "curve": [
            {"step": 0, "rollouts": 0.0, "tokens": 0.0, "seconds": 0.0, **evaluation},
            {"step": 10, "rollouts": 80.0, "tokens": 560.0, "seconds": 3.0, **evaluation},
        ],
    }


RUNS = {
    "sec": {0: _run(0.5, 0.1), 1: _run(0.7, 0.3)},
    "random": {0: _run(0.4, 0.0), 1: _run(0.4, 0.0)},
}


def test_summary_table_is_mean_and_sample_std_over_seeds() -> None:
    table = summary_table(RUNS)
    assert table["sec"]["chain_sum/d1"] == pytest.approx([0.6, statistics.stdev([0.5, 0.7])])
    assert table["sec"]["chain_sum/d1"][1] == pytest.approx(0.1414, abs=1e-4)
    assert table["random"]["chain_sum/d4"] == pytest.approx([0.0, 0.0])


def test_format_table_marks_ood_levels() -> None:
    text = format_table(summary_table(RUNS), ood=["chain_sum/d4"])
    lines = text.splitlines()
    assert "chain_sum/d4 (OOD)" in lines[0] and "chain_sum/d1 (OOD)" not in lines[0]
    assert lines[1].startswith("sec") and "0.600 +- 0.141" in lines[1]


def test_plot_is_written(tmp_path) -> None:
    plot_curves(RUNS, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_table_shows_the_warm_start_and_both_strategies_after() -> None:
    from gpu_worker.demo import results_table

    sec, rnd = _run(0.9, 0.05), _run(0.6, 0.0)
    sec["curve"][0]["chain_sum/d1"] = {"pass_at_1": 0.25, "success_in_k": 0.5, "ood": 0.0}
    lines = results_table({"sec": {0: sec}, "random": {0: rnd}}).splitlines()
    assert lines[0].split() == [
        "level",
        "split",
        "warm",
        "start",
        "sec",
        "after",
        "random",
        "after",
    ]
    assert lines[1].split() == ["chain_sum/d1", "ID", "0.250", "0.900", "0.600"]
    assert lines[2].split() == ["chain_sum/d4", "OOD", "0.050", "0.050", "0.000"]


# --- the ranking: strategy variants, steps to target, aggregation over seeds ---------------


def test_strategy_variants_use_the_simulate_syntax() -> None:
    from gpu_worker.compare import strategy_variants

    variants = strategy_variants("sec, thompson:objective=pass_rate,ducb:c=0.3,gamma=0.9,random")
    assert variants == {
        "sec": {"name": "sec"},
        "thompson:objective=pass_rate": {"name": "thompson", "objective": "pass_rate"},
        "ducb:c=0.3,gamma=0.9": {"name": "ducb", "c": 0.3, "gamma": 0.9},
        "random": {"name": "random"},
    }
    with pytest.raises(ValueError, match="listed twice"):
        strategy_variants("sec,random,sec")
    with pytest.raises(ValueError, match="before any strategy"):
        strategy_variants("c=0.3,ducb")
    with pytest.raises(ValueError, match="key=value"):
        strategy_variants("ducb:c")
    with pytest.raises(ValueError, match="no strategy"):
        strategy_variants(" , ")


def test_variant_config_carries_name_options_and_label() -> None:
    from gpu_worker.compare import variant_config
    from gpu_worker.config import TrainConfig

    base = TrainConfig(run_name="rank", seed=3, tau=0.3)
    spec = {"name": "sec", "objective": "pass_rate", "tau": 0.5}
    config = variant_config(base, "sec:objective=pass_rate,tau=0.5", spec)
    assert config.run_name == "rank-sec-objective-pass_rate-tau-0.5-seed3"
    assert config.strategy_spec() == {
        "name": "sec",
        "alpha": 0.5,
        "tau": 0.5,
        "objective": "pass_rate",
    }
    assert variant_config(base, "ducb", {"name": "ducb"}).strategy_spec() == {"name": "ducb"}


def _ranked_run(d1: float, d3: list[float], d4: float) -> dict:
    """A run evaluated at steps 0, 10, 20 with pass@1 `d3` on the hardest training level."""

    def point(step: int, hard: float) -> dict:
        return {
            "step": step,
            "chain_sum/d1": {"pass_at_1": d1, "success_in_k": 1.0, "ood": 0.0},
            "chain_sum/d3": {"pass_at_1": hard, "success_in_k": 1.0, "ood": 0.0},
            "chain_sum/d4": {"pass_at_1": d4, "success_in_k": d4, "ood": 1.0},
        }

    curve = [point(step, hard) for step, hard in zip((0, 10, 20), d3, strict=True)]
    return {"curve": curve, "evaluation": {k: v for k, v in curve[-1].items() if k != "step"}}


def test_steps_to_target_is_the_first_evaluated_step_at_or_above() -> None:
    from gpu_worker.compare import steps_to_target

    curve = _ranked_run(0.9, [0.1, 0.3, 0.2], 0.0)["curve"]
    assert steps_to_target(curve, "chain_sum/d3", 0.3) == 10  # equal counts
    assert steps_to_target(curve, "chain_sum/d3", 0.05) == 0  # the warm start already there
    assert steps_to_target(curve, "chain_sum/d3", 0.31) is None


def test_ranking_by_hand() -> None:
    from gpu_worker.compare import format_ranking, ranking

    runs = {
        # reaches 0.3 at step 10 and step 20: mean 15, std sqrt(50) = 7.071
        "slow": {
            0: _ranked_run(0.8, [0.1, 0.3, 0.4], 0.0),
            1: _ranked_run(0.6, [0.2, 0.25, 0.5], 0.1),
        },
        # seed 0 never (counted as 20 + 1), seed 1 at step 0: mean 10.5, std 21/sqrt(2)
        "mixed": {
            0: _ranked_run(1.0, [0.1, 0.2, 0.2], 0.0),
            1: _ranked_run(0.9, [0.35, 0.3, 0.3], 0.0),
        },
    }
    rows = ranking(runs, target=0.3, steps=20)
    assert [r["strategy"] for r in rows] == ["mixed", "slow"]
    mixed, slow = rows
    assert mixed["steps_to_target"] == [None, 0] and mixed["reached"] == 1
    assert mixed["steps_to_target_mean_std"] == pytest.approx([10.5, 21 / math.sqrt(2)])
    assert slow["steps_to_target"] == [10, 20] and slow["reached"] == 2
    assert slow["steps_to_target_mean_std"] == pytest.approx([15.0, math.sqrt(50)])
    # final d3: 0.4 and 0.5; ID = mean(d1, d3) per seed: 0.6 and 0.55; OOD = d4: 0.0 and 0.1
    assert slow["hardest_mean_std"] == pytest.approx([0.45, math.sqrt(0.005)])
    assert slow["id_mean_std"] == pytest.approx([0.575, math.sqrt(0.00125)])
    assert slow["ood_mean_std"] == pytest.approx([0.05, math.sqrt(0.005)])
    assert mixed["id_mean_std"] == pytest.approx([0.6, 0.0])
    text = format_ranking(rows, 0.3).splitlines()
    assert "reached 0.3" in text[0] and "chain_sum/d3 (hardest)" in text[0]
    assert text[2].startswith("| 1 | `mixed` | 1/2 | ≥ 10 ± 15 (-/0) | 0.250 ± 0.071 |")
    assert text[3].startswith("| 2 | `slow` | 2/2 | 15 ± 7 (10/20) | 0.450 ± 0.071 |")


def test_ranking_ties_on_steps_go_to_the_hardest_level() -> None:
    from gpu_worker.compare import ranking

    runs = {
        "low": {0: _ranked_run(0.9, [0.1, 0.1, 0.2], 0.0)},
        "high": {0: _ranked_run(0.5, [0.1, 0.1, 0.25], 0.0)},
    }
    # neither reaches 0.3: both 21; d3 0.25 beats 0.2 although the ID mean is lower
    assert [r["strategy"] for r in ranking(runs, 0.3, 20)] == ["high", "low"]


@pytest.mark.slow
def test_compare_runs_a_non_sec_strategy_through_a_live_service(server, engine, tmp_path) -> None:
    from gpu_worker.compare import compare, strategy_variants
    from gpu_worker.config import TrainConfig
    from trainer_client import CurriculumClient

    base = TrainConfig(
        service_url=server.url,
        run_name="cmp",
        steps=2,
        prompts_per_step=4,
        rollouts_per_prompt=2,
        max_new_tokens=6,
        warmup_steps=0,
        eval_problems=3,
        eval_every=1,
        eval_samples=2,
        out_dir=str(tmp_path / "cmp"),
    )
    variants = strategy_variants("thompson:objective=pass_rate,gamma=0.9,ducb")
    runs = compare(base, variants, [0], log=lambda line: None, engine=engine)
    client = CurriculumClient(server.url)
    run = client.get_run(runs["thompson:objective=pass_rate,gamma=0.9"][0]["run_id"])
    assert run.strategy == {
        **run.strategy,
        "name": "thompson",
        "objective": "pass_rate",
        "gamma": 0.9,
    }
    assert run.name == "cmp-thompson-objective-pass_rate-gamma-0.9-seed0"
    assert len(client.history(run.run_id).points) == 2  # both reports reached the service
    assert [p["step"] for p in runs["ducb"][0]["curve"]] == [0, 1, 2]


@pytest.mark.slow
def test_a_strategy_the_service_refuses_fails_before_the_warmup(server, engine, tmp_path) -> None:
    from gpu_worker.compare import compare, strategy_variants
    from gpu_worker.config import TrainConfig

    base = TrainConfig(service_url=server.url, warmup_steps=50, out_dir=str(tmp_path / "cmp"))
    lines: list[str] = []
    with pytest.raises(ValueError, match="the service refused strategy.*gamma"):
        compare(base, strategy_variants("random,thompson:gamma=7"), [0], lines.append, engine)
    assert not [line for line in lines if line.startswith("warmup")]
