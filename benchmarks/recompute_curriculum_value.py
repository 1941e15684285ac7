"""Recompute the curriculum-value table from the per-seed results alone.

    python benchmarks/recompute_curriculum_value.py [benchmarks/results/curriculum_value.json]
        [--gains 0.02,0.04]

Reads the `runs` of a `zpd compare` result (docs/curriculum_value.md), recomputes every
run's costs to target from its curve and the summary against the protocol's baseline with
`gpu_worker/protocol.py` (pure Python: no torch, no vLLM), prints the Markdown table, and
checks that it matches the summary stored in the file. `--gains` adds the same table for
other target gains: an exploratory reading, not the protocol's primary metric.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_worker.protocol import (  # noqa: E402
    COSTS,
    cost_to_target,
    format_summary,
    protocol_summary,
)

DEFAULT = Path(__file__).parent / "results" / "curriculum_value.json"


def rows_at_gain(rows: list[dict], gain: float) -> list[dict]:
    """The rows with their costs to target recomputed for `warm start + gain`."""
    out = []
    for row in rows:
        target = row["curve"][0]["id_pass1"] + gain
        costs = {f"{c}_to_target": cost_to_target(row["curve"], target, c) for c in COSTS}
        out.append({**row, "target_id_pass1": target, **costs})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(DEFAULT))
    parser.add_argument("--gains", default="", help="extra target gains, comma-separated")
    args = parser.parse_args(argv)
    result = json.loads(Path(args.path).read_text())
    protocol = result["protocol"]
    rows = rows_at_gain(result["runs"], protocol["id_gain"])
    summary = protocol_summary(rows, protocol["baseline"])
    print(f"protocol: ID pass@1 >= warm start + {protocol['id_gain']:g}, seeds {protocol['seeds']}")
    print(format_summary(rows, summary))
    stored = json.loads(json.dumps(result["summary"]))
    if json.loads(json.dumps(summary)) != stored:
        print("MISMATCH: the recomputed summary differs from the stored one")
        return 1
    print("the recomputed summary equals the stored one")
    for gain in [float(g) for g in args.gains.split(",") if g.strip()]:
        extra = rows_at_gain(result["runs"], gain)
        print(f"\nexploratory: ID pass@1 >= warm start + {gain:g}")
        print(format_summary(extra, protocol_summary(extra, protocol["baseline"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
