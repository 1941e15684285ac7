"""`zpd` subcommands of the worker: `zpd train`, `zpd compare`, `zpd demo-worker`, `zpd sft`.

Each `register_*` function is an entry point of the `zpd.commands` group. This module imports
only the standard library, `gpu_worker.config` and `gpu_worker.sft` (whose heavy imports sit
inside its functions): the `zpd` command loads every entry point on start, and torch/vLLM are
imported only when one of these subcommands runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gpu_worker.config import add_config_arguments, config_from_args
from gpu_worker.sft import add_sft_arguments, sft_config_from_args


def _run_config(
    command: str,
    args: argparse.Namespace,
    parse: Callable[[argparse.Namespace], Any],
    start: Callable[[Any], object],
) -> int:
    """`start(parse(args))`; 2 with the reason when the flags make an invalid configuration."""
    try:
        config = parse(args)
    except ValueError as exc:
        print(f"zpd {command}: {exc}")
        return 2
    start(config)
    return 0


def run_train(args: argparse.Namespace) -> int:
    """Run the worker with the parsed flags; 2 on an invalid configuration."""

    def start(config: Any) -> None:
        from gpu_worker.train import train  # torch and vLLM: only when the command runs

        train(config)

    return _run_config("train", args, config_from_args, start)


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker's flags plus `--strategies`, `--seeds` and `--target`."""
    add_config_arguments(parser)
    parser.add_argument(
        "--strategies",
        default="sec,random,ordered",
        help="comma-separated, with options: 'sec,thompson,ducb:c=0.3,gamma=0.9' (a key=value "
        "without name: belongs to the strategy before it); replaces --strategy(-options)",
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument(
        "--target", type=float, default=0.15, help="held-out pass@1 on the hardest training "
        "level that ranks the strategies by steps to reach it (default: 0.15)"
    )  # fmt: skip


def run_compare(args: argparse.Namespace) -> int:
    """Run `gpu_worker.compare` with the parsed flags."""
    from gpu_worker.compare import run_from_args

    return run_from_args(args)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the demo."""
    parser.add_argument(
        "--service-url", default="", help="use this service instead of starting one"
    )
    parser.add_argument("--out-dir", default="runs/demo", help="where the database and metrics go")
    parser.add_argument("--steps", type=int, default=150, help="GRPO steps")
    parser.add_argument("--warmup-steps", type=int, default=1200, help="most SFT warmup steps")
    parser.add_argument(
        "--eval-problems", type=int, default=200, help="held-out problems per level"
    )


def run_demo(args: argparse.Namespace) -> int:
    """Run `gpu_worker.demo` with the parsed flags."""
    from gpu_worker.demo import run_demo as demo

    return demo(args)


def register_train(subparsers: argparse._SubParsersAction) -> None:
    """Entry point: adds `zpd train` (the reference GRPO worker against a service)."""
    parser = subparsers.add_parser(
        "train", help="run the reference GRPO worker (vLLM + torch) against a ZPD service"
    )
    add_config_arguments(parser)
    parser.set_defaults(func=run_train)


def register_compare(subparsers: argparse._SubParsersAction) -> None:
    """Entry point: adds `zpd compare` (sec vs random vs ordered, Table 1 style)."""
    parser = subparsers.add_parser(
        "compare", help="compare and rank curricula (any strategies) with the GRPO worker"
    )
    add_compare_arguments(parser)
    parser.set_defaults(func=run_compare)


def register_demo(subparsers: argparse._SubParsersAction) -> None:
    """Entry point: adds `zpd demo-worker` (service + tiny model + SEC on CPU)."""
    parser = subparsers.add_parser(
        "demo-worker", help="train the tiny model with SEC on CPU against a local service"
    )
    add_demo_arguments(parser)
    parser.set_defaults(func=run_demo)


def run_sft(args: argparse.Namespace) -> int:
    """Run the SFT-on-failures loop with the parsed flags; 2 on an invalid configuration."""
    from gpu_worker.sft import sft  # imports torch only inside

    return _run_config("sft", args, sft_config_from_args, sft)


def register_sft(subparsers: argparse._SubParsersAction) -> None:
    """Entry point: adds `zpd sft` (SFT with teacher demonstrations only where the model fails)."""
    parser = subparsers.add_parser(
        "sft", help="SFT on failures (or uniform SFT) of the tiny model against a ZPD service"
    )
    add_sft_arguments(parser)
    parser.set_defaults(func=run_sft)
