"""Greedy answers of a model in plain torch, checked by the task's verifier.

`greedy_completions` decodes without a KV cache (each step re-reads the right-padded rows),
so it runs on any device and for any causal LM; it is also the independent greedy decoder
the tests hold the rollout engines against. `verify` and `evaluate_greedy` score answers
with a `TaskSuite` (the SFT-on-failures loop, `gpu_worker/sft.py`, uses them). torch is
imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from gpu_worker.tasks import Problem, TaskSuite


def greedy_completions(
    model: torch.nn.Module,
    prompt_ids: Sequence[Sequence[int]],
    eos_id: int,
    pad_id: int,
    max_new_tokens: int,
    chunk: int = 512,
) -> list[tuple[list[int], bool]]:
    """Greedy completion of each prompt: (token ids without eos, whether it wrote eos).

    No KV cache: every step re-reads the right-padded sequences, so a row never attends to
    padding (causal mask) and positions are plain `0..len-1`; cheap for short answers, and
    it runs on whatever device the model is on.
    """
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results: list[tuple[list[int], bool]] = []
    with torch.no_grad():
        for start in range(0, len(prompt_ids), chunk):
            rows = [list(p) for p in prompt_ids[start : start + chunk]]
            made: list[list[int]] = [[] for _ in rows]
            done = [False] * len(rows)
            for _ in range(max_new_tokens):
                open_rows = [i for i, d in enumerate(done) if not d]
                if not open_rows:
                    break
                lengths = [len(rows[i]) for i in open_rows]
                ids = torch.full((len(open_rows), max(lengths)), pad_id, dtype=torch.long)
                for r, i in enumerate(open_rows):
                    ids[r, : len(rows[i])] = torch.tensor(rows[i])
                logits = model(input_ids=ids.to(device)).logits
                last = torch.tensor(lengths, device=device) - 1
                picks = logits[torch.arange(len(open_rows), device=device), last].argmax(-1)
                for i, token in zip(open_rows, picks.tolist(), strict=True):
                    if token == eos_id:
                        done[i] = True
                    else:
                        made[i].append(token)
                        rows[i].append(token)
            results.extend(zip(made, done, strict=True))
    model.train(was_training)
    return results


def verify(
    model: torch.nn.Module,
    tokenizer: Any,
    suite: TaskSuite,
    problems: Sequence[Problem],
    max_new_tokens: int,
) -> list[bool]:
    """Whether the model's greedy answer to each problem verifies (the suite's correct reward)."""
    from gpu_worker.model import encode_prompt

    prompts = [encode_prompt(tokenizer, p.prompt) for p in problems]
    outputs = greedy_completions(
        model, prompts, tokenizer.eos_token_id, tokenizer.pad_token_id, max_new_tokens
    )
    return [
        suite.reward(p, tokenizer.decode(ids, skip_special_tokens=True), finished)
        == suite.rewards.correct
        for p, (ids, finished) in zip(problems, outputs, strict=True)
    ]


def evaluate_greedy(
    model: torch.nn.Module, tokenizer: Any, suite: TaskSuite, problems: int, max_new_tokens: int
) -> dict[str, float]:
    """Greedy accuracy on the first `problems` held-out problems of each training level."""
    accuracy = {}
    for level in suite.train_levels:
        held_out = suite.eval_problems(level, problems)
        accuracy[level] = sum(verify(model, tokenizer, suite, held_out, max_new_tokens)) / problems
    return accuracy
