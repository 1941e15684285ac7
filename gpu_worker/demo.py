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

from gpu_worker.config import DemoConfig, TrainConfig, add_dataclass_arguments, config_or_report
from trainer_client.local import local_service as serve
from trainer_client.models import Run


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


class Progress:
    """The demo's screen: the worker's log lines, the run's dashboard URL, a GRPO progress bar.

    It is fed by `train`'s callbacks (`on_run`, `on_step`), never by parsing the log.
    """

    def __init__(self, steps: int, service_url: str) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar: Any = None
        self.steps = steps
        self.service_url = service_url

    def log(self, line: str) -> None:
        """Print a worker log line above the bar (the steps show in the bar: `on_step`)."""
        self._tqdm.write(line)

    def on_run(self, run: Run) -> None:
        """The run exists on the service: say where to watch it."""
        self._tqdm.write(f"dashboard: {self.service_url}/dashboard/runs/{run.run_id}")

    def on_step(self, record: dict[str, Any]) -> None:
        """One GRPO step done: advance the bar and show its reward and accuracy."""
        if self.bar is None:
            self.bar = self._tqdm(total=self.steps, desc="GRPO", unit="step")
        self.bar.update(1)
        self.bar.set_postfix_str(
            f"reward={record['reward_mean']:.3f} acc={record['accuracy']:.3f} "
            f"effective={record['effective_ratio']:.2f}"
        )

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


def run_demo(args: DemoConfig) -> int:
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
        progress = Progress(args.steps, url)
        try:
            metrics = train(
                TrainConfig(service_url=url, **config_args),
                log=progress.log,
                on_run=progress.on_run,
                on_step=progress.on_step,
            )
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
    add_dataclass_arguments(parser, DemoConfig)
    config = config_or_report("demo-worker", DemoConfig, parser.parse_args(argv))
    return 2 if config is None else run_demo(config)


if __name__ == "__main__":
    raise SystemExit(main())
