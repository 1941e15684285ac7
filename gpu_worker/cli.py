"""`zpd` subcommands of the worker: `zpd train`, `zpd compare`, `zpd demo-worker`, `zpd sft`.

Each `register_*` function is an entry point of the `zpd.commands` group. This module imports
only the standard library and `gpu_worker.config` (torch-free): the `zpd` command loads an
entry point only when its subcommand runs (or for `zpd --help`), and each handler imports the
module that does the work (torch, vLLM, transformers) only then. No worker module imports
this one.
"""

from __future__ import annotations

import argparse

from gpu_worker.config import (
    DemoConfig,
    SFTConfig,
    TrainConfig,
    add_compare_arguments,
    add_config_arguments,
    add_dataclass_arguments,
    config_or_report,
)


def run_train(args: argparse.Namespace) -> int:
    """Run the worker with the parsed flags; 2 on an invalid configuration."""
    config = config_or_report("train", TrainConfig, args)
    if config is None:
        return 2
    from gpu_worker.train import train  # torch and vLLM: only when the command runs

    train(config)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Run `gpu_worker.compare` with the parsed flags."""
    from gpu_worker.compare import run_from_args

    return run_from_args(args)


def run_demo(args: argparse.Namespace) -> int:
    """Run `gpu_worker.demo` with the parsed flags; 2 on invalid flags."""
    config = config_or_report("demo-worker", DemoConfig, args)
    if config is None:
        return 2
    from gpu_worker.demo import run_demo as demo

    return demo(config)


def run_sft(args: argparse.Namespace) -> int:
    """Run the SFT-on-failures loop with the parsed flags; 2 on an invalid configuration."""
    config = config_or_report("sft", SFTConfig, args)
    if config is None:
        return 2
    from gpu_worker.sft import sft

    sft(config)
    return 0


def register_train(subparsers: argparse._SubParsersAction) -> None:
    """Entry point: adds `zpd train` (the reference GRPO worker against a service)."""
    parser = subparsers.add_parser(
        "train",
        help="run the reference GRPO worker (vLLM or transformers + torch) against a ZPD service",
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
    """Entry point: adds `zpd demo-worker` (service + tiny model, SEC and random, CPU)."""
    parser = subparsers.add_parser(
        "demo-worker",
        help="SEC against random sampling on the tiny model, CPU, local service (~6 min)",
    )
    add_dataclass_arguments(parser, DemoConfig)
    parser.set_defaults(func=run_demo)


def register_sft(subparsers: argparse._SubParsersAction) -> None:
    """Entry point: adds `zpd sft` (SFT with teacher demonstrations only where the model fails)."""
    parser = subparsers.add_parser(
        "sft", help="SFT on failures (or uniform SFT) of the tiny model against a ZPD service"
    )
    add_dataclass_arguments(parser, SFTConfig)
    parser.set_defaults(func=run_sft)
