"""Recompute the rollout-savings table of the real worker from the per-seed results alone.

    python benchmarks/recompute_rollout_savings.py [benchmarks/results/rollout_savings.json]
        [--seeds 2,3]

Reads the `runs` written by `python -m gpu_worker.savings` (docs/rollout_savings.md),
recomputes every run's rollouts and tokens to its target from its curve, then the summary
(ratios to dynamic sampling and to uniform, paired bootstrap 95% intervals) with
`gpu_worker/savings.py` and `gpu_worker/protocol.py` (pure Python: no torch, no vLLM),
prints the Markdown table and checks it against the summary stored in the file. `--seeds`
restricts the table to some seeds: an exploratory reading, not the protocol's result.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_worker.protocol import cost_to_target  # noqa: E402
from gpu_worker.savings import format_table, summarise  # noqa: E402

DEFAULT = Path(__file__).parent / "results" / "rollout_savings.json"


def recomputed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with their costs to target recomputed from their curves."""
    return [
        {
            **row,
            "rollouts_to_target": cost_to_target(row["curve"], row["target_id_pass1"], "rollouts"),
            "tokens_to_target": cost_to_target(row["curve"], row["target_id_pass1"], "tokens"),
        }
        for row in rows
    ]


def same(a: Any, b: Any) -> bool:
    """Equal up to float rounding (JSON round trips), lists and dicts element-wise."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(DEFAULT))
    parser.add_argument("--seeds", default="", help="only these seeds (exploratory)")
    args = parser.parse_args(argv)
    result = json.loads(Path(args.path).read_text())
    rows = recomputed(result["runs"])
    summary = summarise(rows)
    print(format_table(summary))
    if not same(summary, result["summary"]):
        print("MISMATCH: the stored summary differs from the recomputed one")
        return 1
    print("the stored summary matches")
    if args.seeds:
        keep = {int(s) for s in args.seeds.split(",")}
        print(f"\nexploratory, seeds {sorted(keep)} only:")
        print(format_table(summarise([r for r in rows if r["seed"] in keep])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
