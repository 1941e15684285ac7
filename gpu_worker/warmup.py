"""Warmup: supervised fine-tuning on solved traces before RL (Shrestha et al., 2505.13718).

A from-scratch model has reward 0 everywhere, so RL has nothing to learn from. The warmup
trains on `prompt -> answer <eos>` traces of the training levels (the answers come from
reasoning-gym, i.e. from a solver) with cross-entropy on the completion tokens only. It stops
after `steps`, or earlier once an optional `evaluate(model)` callback reaches `target`: the
worker uses success-in-8 on the hardest training level, so that this level is hard but
reachable when RL starts (the regime where a curriculum matters).

`task="knights_knaves"` distils the step-by-step Knights & Knaves solutions written by
`gpu_worker.knights` instead (the warmup paper's toy domain); those traces are several hundred
tokens, so they suit a real model with a long context, not the 256-position tiny model.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import reasoning_gym
import torch
from reasoning_gym.dataset import ProceduralDataset

from gpu_worker.grpo import aggregate, pack_sequences, token_logprobs
from gpu_worker.knights import solution_trace
from gpu_worker.model import encode_prompt
from gpu_worker.tasks import TaskSuite


@dataclass(frozen=True)
class WarmupConfig:
    """Settings of the SFT warmup."""

    steps: int = 600
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    levels: tuple[str, ...] = ()  # empty: all training levels of the suite
    eval_every: int = 100
    target: float | None = None  # stop once evaluate(model) >= target
    seed: int = 0
    task: str = "levels"  # "levels": the suite's own problems; "knights_knaves": solver traces
    chat: bool = False  # wrap prompts in the tokenizer's chat template

    def __post_init__(self) -> None:
        if self.task not in ("levels", "knights_knaves"):
            raise ValueError(f"warmup task must be 'levels' or 'knights_knaves', got {self.task!r}")
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0 or self.eval_every < 1:
            raise ValueError(
                f"invalid warmup config {self}: need steps >= 0, batch_size >= 1, lr > 0, eval_every >= 1"
            )


def sft_traces(
    suite: TaskSuite,
    tokenizer: Any,
    levels: Sequence[str],
    count: int,
    rng: random.Random,
    chat: bool = False,
) -> tuple[list[list[int]], list[list[int]]]:
    """`count` random solved traces from `levels`: (prompt ids, answer ids + eos)."""
    prompts, answers = [], []
    for _ in range(count):
        level = rng.choice(list(levels))
        problem = suite.problem(level, rng.randrange(suite.levels[level].size))
        prompts.append(encode_prompt(tokenizer, problem.prompt, chat))
        completion = tokenizer(suite.format_answer(problem.answer), add_special_tokens=False)
        answers.append(completion["input_ids"] + [tokenizer.eos_token_id])
    return prompts, answers


def knights_traces(
    dataset: ProceduralDataset, tokenizer: Any, count: int, rng: random.Random, chat: bool = False
) -> tuple[list[list[int]], list[list[int]]]:
    """`count` random Knights & Knaves puzzles with their step-by-step solutions."""
    prompts, answers = [], []
    for _ in range(count):
        entry = dataset[rng.randrange(len(dataset))]
        prompts.append(encode_prompt(tokenizer, entry["question"] + "\n", chat))
        trace = tokenizer(solution_trace(entry), add_special_tokens=False)["input_ids"]
        answers.append(trace + [tokenizer.eos_token_id])
    return prompts, answers


def sft_loss(
    model: torch.nn.Module, prompts: list[list[int]], answers: list[list[int]], pad_id: int
) -> torch.Tensor:
    """Mean token cross-entropy of `answers` given `prompts`."""
    batch = pack_sequences(prompts, answers, pad_id).to(next(model.parameters()).device)
    return -aggregate(token_logprobs(model, batch), batch.completion_mask, "token-mean")


def run_warmup(
    model: torch.nn.Module,
    tokenizer: Any,
    suite: TaskSuite,
    config: WarmupConfig,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, float]]:
    """Run the SFT warmup in place on `model`; return the evaluation history."""
    levels = list(config.levels) or suite.train_levels
    rng = random.Random(config.seed)
    knights = None
    if config.task == "knights_knaves":
        knights = reasoning_gym.create_dataset(
            "knights_knaves",
            seed=config.seed,
            size=100_000,
            n_people=3,
            depth_constraint=2,
            width_constraint=2,
        )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    model.train()
    for step in range(1, config.steps + 1):
        if knights is None:
            prompts, answers = sft_traces(
                suite, tokenizer, levels, config.batch_size, rng, config.chat
            )
        else:
            prompts, answers = knights_traces(
                knights, tokenizer, config.batch_size, rng, config.chat
            )
        loss = sft_loss(model, prompts, answers, tokenizer.pad_token_id)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % config.eval_every == 0 or step == config.steps:
            record = {
                "step": float(step),
                "loss": loss.item(),
                "seconds": time.perf_counter() - start,
            }
            if evaluate is not None:
                record["score"] = evaluate(model)
            history.append(record)
            (log or print)("warmup " + " ".join(f"{k}={v:.4g}" for k, v in record.items()))
            if config.target is not None and record.get("score", -1.0) >= config.target:
                break
    return history
