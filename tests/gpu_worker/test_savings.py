"""The rollout-savings protocol on the worker: method configs and per-seed rows, by hand."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gpu_worker.config import TrainConfig
from gpu_worker.evaluate import evaluation_due, reached
from gpu_worker.protocol import spearman
from gpu_worker.savings import (
    FRONTIER,
    against_baseline,
    method_config,
    savings_rows,
    summarise,
)


def test_methods_map_to_worker_flags() -> None:
    base = TrainConfig(prompts_per_step=32, rollouts_per_prompt=8, seed=3, run_name="s")
    uniform = method_config(base, "uniform")
    assert (uniform.strategy, uniform.dynamic_sampling, uniform.problems_selection) == (
        "random",
        False,
        "none",
    )
    assert uniform.rollout_budget == 0 and uniform.run_name == "s-uniform-seed3"
    assert method_config(base, "dynamic_sampling").dynamic_sampling
    zpd = method_config(base, "sec+frontier+budget")
    assert zpd.strategy == "sec" and zpd.problems_selection == "frontier"
    assert zpd.rollout_budget == 32 * 8
    assert zpd.problems_spec() == {**FRONTIER, "selection": "frontier"}
    budget_only = method_config(base, "uniform+budget")
    assert budget_only.problems_spec() == {"prior": "pooled", "selection": "uniform"}
    sec = method_config(base, "sec")
    assert sec.strategy_spec()["name"] == "sec" and sec.problems_spec() is None


def test_problems_options_flag_is_checked() -> None:
    spec = TrainConfig(problems_selection="frontier", problems_options='{"reprobe": 0.2}')
    assert spec.problems_spec() == {"reprobe": 0.2, "selection": "frontier"}
    for options, message in (
        ('{"reprobe": 0.2}', "needs a run with per-problem tracking"),
        ('{"selection": "uniform"}', "cannot hold 'selection'"),
        ("[1]", "must be a JSON object, got list"),
    ):
        selection = "none" if "reprobe" in options else "frontier"
        with pytest.raises(ValueError, match=message):
            TrainConfig(problems_selection=selection, problems_options=options)
    assert json.loads(method_config(TrainConfig(), "frontier").problems_options) == FRONTIER


@pytest.mark.parametrize(
    "method", ["uniform+sec", "dynamic_sampling+budget", "frontier+frontier", "greedy"]
)
def test_bad_methods_are_refused(method: str) -> None:
    with pytest.raises(ValueError):
        method_config(TrainConfig(), method)


def _point(rollouts: float, tokens: float, d2: float, d3: float) -> dict:
    return {
        "step": rollouts / 100,
        "rollouts": rollouts,
        "tokens": tokens,
        "seconds": rollouts / 1000,
        "add/d2": {"pass_at_1": d2, "ood": False},
        "add/d3": {"pass_at_1": d3, "ood": False},
        "add/d8": {"pass_at_1": 0.0, "ood": True},
    }


def _run(points: list[dict], discarded: float = 0.0, predictions: list | None = None) -> dict:
    return {
        "curve": points,
        "steps": [
            {
                "effective_ratio": 0.5,
                "discarded_rollouts": discarded,
                "predictions": predictions or [],
            }
        ],
        "warmup": [{"step": 800.0, "loss": 0.3}],
    }


def test_rows_measure_each_method_to_dynamic_samplings_final_accuracy() -> None:
    # seed 1: dynamic sampling ends at ID (0.6 + 0.4) / 2 = 0.5 after 1,000 rollouts
    ds1 = _run(
        [_point(0, 0, 0.2, 0.0), _point(500, 4000, 0.5, 0.3), _point(1000, 9000, 0.6, 0.4)], 300
    )
    # uniform reaches 0.5 only at its last point (600 rollouts); zpd at 200
    un1 = _run([_point(0, 0, 0.2, 0.0), _point(300, 2000, 0.5, 0.2), _point(600, 4400, 0.7, 0.3)])
    zp1 = _run(
        [_point(0, 0, 0.2, 0.0), _point(200, 1500, 0.6, 0.45), _point(400, 3000, 0.7, 0.5)],
        predictions=[[0.1, 0.0], [0.5, 0.25], [0.9, 1.0], [0.3, 0.5]],
    )
    # seed 2: target (0.4 + 0.2) / 2 = 0.3; uniform never reaches it (censored at 600)
    ds2 = _run([_point(0, 0, 0.1, 0.0), _point(800, 7000, 0.4, 0.2)], 100)
    un2 = _run([_point(0, 0, 0.1, 0.0), _point(600, 5000, 0.3, 0.2)])
    zp2 = _run([_point(0, 0, 0.1, 0.0), _point(300, 2500, 0.4, 0.3)])
    runs = {
        "dynamic_sampling": {1: ds1, 2: ds2},
        "uniform": {1: un1, 2: un2},
        "sec+frontier+budget": {1: zp1, 2: zp2},
    }
    rows = {(r["method"], r["seed"]): r for r in savings_rows(runs)}
    assert rows[("dynamic_sampling", 1)]["target_id_pass1"] == pytest.approx(0.5)
    assert rows[("dynamic_sampling", 1)]["rollouts_to_target"] == 1000
    assert rows[("dynamic_sampling", 1)]["discarded_rollouts"] == 300
    assert rows[("uniform", 1)]["rollouts_to_target"] == 600
    assert rows[("sec+frontier+budget", 1)]["rollouts_to_target"] == 200
    assert rows[("sec+frontier+budget", 1)]["tokens_to_target"] == 1500
    assert rows[("uniform", 2)]["rollouts_to_target"] is None
    assert rows[("uniform", 2)]["rollouts_spent"] == 600
    assert rows[("sec+frontier+budget", 2)]["rollouts_to_target"] == 300
    # predicted 0.1, 0.5, 0.9, 0.3 -> ranks 0, 2, 3, 1; observed 0, 0.25, 1, 0.5 -> 0, 1, 3, 2
    # rho = 1 - 6 * (0 + 1 + 0 + 1) / (4 * 15) = 0.8
    assert rows[("sec+frontier+budget", 1)]["spearman"] == pytest.approx(0.8)
    assert rows[("uniform", 1)]["spearman"] is None
    assert rows[("uniform", 1)]["warmup_steps"] == 800

    summary = summarise(list(rows.values()))
    # zpd / dynamic sampling = (200 + 300) / (1000 + 800); uniform (censored) = (600 + 600) / 1800
    assert summary["sec+frontier+budget"]["rollouts_vs_dynamic_sampling"][0] == pytest.approx(
        500 / 1800
    )
    assert summary["uniform"]["rollouts_vs_dynamic_sampling"][0] == pytest.approx(1200 / 1800)
    assert summary["sec+frontier+budget"]["rollouts_vs_uniform"][0] == pytest.approx(500 / 1200)
    assert summary["sec+frontier+budget"]["tokens_vs_dynamic_sampling"][0] == pytest.approx(
        (1500 + 2500) / (9000 + 7000)
    )
    assert summary["uniform"]["reached"] == 1 and summary["uniform"]["seeds"] == 2
    assert summary["dynamic_sampling"]["discarded_share"] == pytest.approx(400 / 1800)


def test_spearman_with_ties_by_hand() -> None:
    # x ranks (ties averaged): 0.5, 0.5, 2; y: 0, 1, 2 -> pearson of (.5,.5,2) and (0,1,2)
    # means 1 and 1; cov = (-.5*-1 + -.5*0 + 1*1) = 1.5; var x = .25+.25+1 = 1.5; var y = 2
    assert spearman([0.0, 0.0, 1.0], [0.1, 0.2, 0.3]) == pytest.approx(1.5 / (1.5 * 2) ** 0.5)
    assert spearman([1.0, 1.0, 1.0], [0.0, 1.0, 2.0]) is None
    with pytest.raises(ValueError):
        spearman([1.0], [1.0, 2.0])


def test_methods_after_the_baseline_stop_at_its_accuracy_or_its_rollouts() -> None:
    base = TrainConfig(eval_every=0, eval_every_rollouts=2560, eval_problems=10, steps=60)
    done = {"dynamic_sampling": _run([_point(0, 0, 0.2, 0.0), _point(9000, 1, 0.5, 0.3)])}
    uniform = against_baseline("uniform", method_config(base, "uniform"), done)
    assert uniform.stop_at_id_pass1 == pytest.approx(0.4) and uniform.rollout_limit == 9000
    assert uniform.steps > 9000  # the rollout limit ends it, not the step count
    ds = method_config(base, "dynamic_sampling")
    assert against_baseline("dynamic_sampling", ds, {}) is ds


def test_evaluation_grid_and_early_stop() -> None:
    cfg = TrainConfig(eval_every=0, eval_every_rollouts=1000, eval_problems=10)
    assert evaluation_due(cfg, 0, 0.0, 0.0)
    assert not evaluation_due(cfg, 3, 900.0, 1000.0)
    assert evaluation_due(cfg, 4, 1200.0, 1000.0)
    steps = TrainConfig(eval_every=5, eval_problems=10)
    assert [s for s in range(12) if evaluation_due(steps, s, 0.0, 10**9)] == [0, 5, 10]
    evaluation = {
        "add/d2": {"pass_at_1": 0.5, "ood": 0.0},
        "add/d3": {"pass_at_1": 0.2, "ood": 0.0},
        "add/d8": {"pass_at_1": 0.9, "ood": 1.0},
    }
    assert reached(replace(cfg, stop_at_id_pass1=0.35), evaluation)  # (0.5 + 0.2) / 2
    assert not reached(replace(cfg, stop_at_id_pass1=0.36), evaluation)
    assert not reached(cfg, evaluation)  # 0: never
    with pytest.raises(ValueError, match="needs evaluations during RL"):
        TrainConfig(stop_at_id_pass1=0.3, eval_every=0, eval_every_rollouts=0)


def test_the_stored_result_recomputes_from_its_rows(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.recompute_rollout_savings import main

    assert main([]) == 0  # benchmarks/results/rollout_savings.json
    assert "the stored summary matches" in capsys.readouterr().out
