"""The protocol's arithmetic against values worked by hand (pure Python, nothing optional)."""

from __future__ import annotations

import pytest

from gpu_worker.protocol import (
    area_under_curve,
    censored,
    cost_to_target,
    format_summary,
    paired_bootstrap,
    paired_difference,
    protocol_row,
    protocol_summary,
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


def level_point(step: int, rollouts: int, ids: list[float], ood: float) -> dict:
    """A `run_curriculum` curve point: costs plus one entry per level."""
    point: dict = {"step": step, "rollouts": rollouts, "tokens": 10 * rollouts, "seconds": step}
    for i, value in enumerate(ids):
        point[f"d{i}"] = {"pass_at_1": value, "success_in_k": value, "ood": 0.0}
    point["ood"] = {"pass_at_1": ood, "success_in_k": ood, "ood": 1.0}
    return point


def run_of(id_values: list[list[float]], ratio: float) -> dict:
    curve = [level_point(10 * i, 100 * i, ids, 0.0) for i, ids in enumerate(id_values)]
    return {"curve": curve, "steps": [{"effective_ratio": ratio}] * 3}


def test_protocol_rows_and_summary_by_hand() -> None:
    # seed 1: warm start ID (0.1+0.3)/2 = 0.2, target 0.3; sec reaches 0.3 at 100 rollouts,
    # random at 200. seed 2: warm 0.1, target 0.2; sec at 100, random never (budget 300).
    sec1 = run_of([[0.1, 0.3], [0.2, 0.4], [0.3, 0.5], [0.3, 0.5]], 0.8)
    rnd1 = run_of([[0.1, 0.3], [0.1, 0.3], [0.2, 0.4], [0.3, 0.3]], 0.5)
    sec2 = run_of([[0.0, 0.2], [0.1, 0.3], [0.2, 0.3], [0.3, 0.3]], 0.7)
    rnd2 = run_of([[0.0, 0.2], [0.0, 0.2], [0.1, 0.2], [0.1, 0.2]], 0.4)
    rows = [
        protocol_row("sec", 1, sec1, 0.1, 300),
        protocol_row("random", 1, rnd1, 0.1, 300),
        protocol_row("sec", 2, sec2, 0.1, 300),
        protocol_row("random", 2, rnd2, 0.1, 300),
    ]
    assert [r["rollouts_to_target"] for r in rows] == [100, 200, 100, None]
    assert rows[0]["tokens_to_target"] == 1000 and rows[0]["seconds_to_target"] == 10
    assert rows[0]["final_id_pass1"] == pytest.approx(0.4)
    assert rows[0]["effective_ratio"] == pytest.approx(0.8)
    # AUC of sec seed 1: ID 0.2, 0.3, 0.4, 0.4 every 100 -> (25 + 35 + 40) / 300
    assert rows[0]["auc_id_pass1"] == pytest.approx(100 / 300)
    summary = {s["strategy"]: s for s in protocol_summary(rows, "random")}
    assert summary["sec"]["reached"] == 2 and summary["random"]["reached"] == 1
    ratio, low, high = summary["sec"]["rollouts_ratio"]
    # (100 + 100) / (200 + 300 censored at the budget) = 0.4; resamples: 0.5, 1/3 or 0.4
    assert ratio == pytest.approx(0.4)
    assert 1 / 3 - 1e-9 <= low <= 0.4 <= high <= 0.5 + 1e-9
    diff = summary["sec"]["final_id_pass1_diff"]
    assert diff[0] == pytest.approx(((0.4 - 0.3) + (0.3 - 0.15)) / 2)
    assert "rollouts_ratio" not in summary["random"]
    table = format_summary(rows, list(summary.values()))
    assert "| `sec` | 2/2 | 100 | 0.40 [" in table


def test_the_recompute_script_agrees_with_a_stored_result_and_catches_a_tampered_one(
    tmp_path, capsys
) -> None:
    import json

    from benchmarks.recompute_curriculum_value import main

    runs = {1: (run_of([[0.1, 0.3], [0.3, 0.5]], 0.8), run_of([[0.1, 0.3], [0.1, 0.3]], 0.5))}
    runs[2] = (run_of([[0.0, 0.2], [0.2, 0.2]], 0.6), run_of([[0.0, 0.2], [0.1, 0.3]], 0.6))
    rows = [
        protocol_row(name, seed, run, 0.1, 200)
        for seed, pair in runs.items()
        for name, run in zip(("sec", "random"), pair, strict=True)
    ]
    stored = {
        "protocol": {"id_gain": 0.1, "baseline": "random", "seeds": [1, 2]},
        "summary": protocol_summary(rows, "random"),
        "runs": rows,
    }
    path = tmp_path / "result.json"
    path.write_text(json.dumps(stored))
    assert main([str(path), "--gains", "0.05"]) == 0
    assert "equals the stored one" in capsys.readouterr().out
    stored["summary"][0]["reached"] = 0
    path.write_text(json.dumps(stored))
    assert main([str(path)]) == 1
