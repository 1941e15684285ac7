"""The CPU demo: a ZPD service on SQLite, the tiny model trained with the SEC curriculum.

    python -m gpu_worker.demo            # or: zpd demo-worker (gpu_worker.cli)

Starts `zpd serve` on a free port (SQLite file under `--out-dir`) unless `--service-url` is
given, prints the dashboard URL of the run, warms the tiny model up with SFT, runs GRPO steps
with a progress bar, and ends with held-out pass@1 per level before and after RL (in
distribution and OOD). About five to ten minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gpu_worker.cli import add_demo_arguments
from gpu_worker.config import TrainConfig
from trainer_client.local import local_service as serve


@contextmanager
def local_service(out_dir: Path) -> Iterator[str]:
    """Run `zpd serve` on a free port with a SQLite file in `out_dir`; yield its URL."""
    out_dir.mkdir(parents=True, exist_ok=True)
    database = f"sqlite:///{(out_dir / 'zpd.db').resolve()}"
    with (
        (out_dir / "service.log").open("w") as log,
        serve(database, output=log, log_level="info") as url,
    ):
        yield url


class ProgressLog:
    """Turns the worker's log lines into a progress bar plus the lines worth reading."""

    def __init__(self, steps: int, service_url: str) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar: Any = None
        self.steps = steps
        self.service_url = service_url

    def __call__(self, line: str) -> None:
        if line.startswith("step ") and self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(line.split(" ", 2)[2].split(" loss=")[0])
            return
        if line.startswith("run "):
            run_id = line.split()[1]
            line += f"\ndashboard: {self.service_url}/dashboard/runs/{run_id}"
            self._tqdm.write(line)
            self.bar = self._tqdm(total=self.steps, desc="GRPO", unit="step")
            return
        self._tqdm.write(line)

    def close(self) -> None:
        """Close the progress bar."""
        if self.bar is not None:
            self.bar.close()


def results_table(metrics: dict[str, Any]) -> str:
    """Held-out pass@1 and success-in-k per level, before RL (step 0) and after."""
    before, after = metrics["curve"][0], metrics["evaluation"]
    rows = [
        f"{'level':<16}{'split':<6}{'pass@1 before':>15}{'pass@1 after':>14}{'success-in-k after':>20}"
    ]
    for level, score in after.items():
        split = "OOD" if score["ood"] else "ID"
        rows.append(
            f"{level:<16}{split:<6}{before[level]['pass_at_1']:>15.3f}{score['pass_at_1']:>14.3f}"
            f"{score['success_in_k']:>20.3f}"
        )
    return "\n".join(rows)


def run_demo(args: argparse.Namespace) -> int:
    """Start (or use) a service, train with SEC, print the table."""
    # vLLM's per-call INFO lines would bury the progress bar (inherited by its processes).
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    from gpu_worker.train import train

    out_dir = Path(args.out_dir)
    config_args = dict(
        run_name="demo",
        strategy="sec",
        out_dir=str(out_dir / "worker"),
        steps=args.steps,
        warmup_steps=args.warmup_steps,
        warmup_target=0.4,
        eval_every=args.steps,  # evaluate before RL (step 0) and at the end
        eval_problems=args.eval_problems,
    )
    with local_service(out_dir) if not args.service_url else _given(args.service_url) as url:
        print(f"zpd service: {url} (dashboard: {url}/dashboard)", flush=True)
        progress = ProgressLog(args.steps, url)
        try:
            metrics = train(TrainConfig(service_url=url, **config_args), log=progress)
        finally:
            progress.close()
    print(
        f"\nheld-out pass@1 (mean of 8 samples at temperature 1, {args.eval_problems} problems per level)"
    )
    print(results_table(metrics))
    print(f"metrics: {out_dir / 'worker' / 'metrics.json'}")
    return 0


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


def main(argv: list[str] | None = None) -> int:
    """`python -m gpu_worker.demo`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_demo_arguments(parser)
    return run_demo(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
