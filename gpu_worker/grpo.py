"""GRPO in torch: the clipped-ratio loss, its normalisation over a batch, and one update.

Advantages come from `trainer_client.grpo_advantages`, the client's function that agrees
with the service: for one prompt with G rollouts and rewards r, rollout i gets
`A_i = (r_i - mean(r)) / (std(r) + 1e-6)` (unbiased std by default, as verl's GRPO; options:
population std, or no division as in Dr. GRPO). A group whose rewards are all equal gets 0.

Every completion token t of rollout i has the PPO clipped surrogate
`l_it = -min(rho_t * A_i, clip(rho_t, 1 - eps_low, 1 + eps_high) * A_i)` with
`rho_t = exp(logp_new - logp_old)`, plus `kl_coef * k3` to a frozen reference when asked
(the k3 estimator; off by default, as in the SEC paper).

The batch loss, over ALL prompts x G rollouts of a step (`--loss-agg`, a modelling choice):

- `token-mean` (default; verl's `loss_agg_mode="token-mean"`):
  `L = sum_i sum_t l_it / N`, N = response tokens of every rollout of the batch. A rollout
  with A_i = 0 adds 0 to the sum but counts in N, so a batch with many all-equal groups
  takes a smaller step: a curriculum that wastes fewer groups is not hidden.
- `nonzero-token-mean`: zero-advantage rollouts are dropped first, N counts only the tokens
  of rollouts with A_i != 0 (the worker's behaviour before; every batch with any signal
  takes a full-size step).
- `seq-mean-token-mean` (verl's name): `L = (1/S) sum_i (1/|o_i|) sum_t l_it`, S = every
  rollout of the batch.

With `minibatches` M > 1 the batch is split into M optimizer steps and chunk k's loss is
`sum_{i in k} sum_t l_it / N` with N (or S) of the WHOLE batch: the M losses add up to L and
the denominator does not depend on where the split falls (verl divides each mini-batch by
its own global token count; with M = 1, our default, the two are the same).

When `kl_coef` is 0 a zero-advantage rollout's `l_it` is exactly 0, so the worker leaves it
out of the forward pass and keeps only its count in N or S (`loss_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from gpu_worker.config import LossAgg

LossAggregation = Literal["token-mean", "seq-mean-token-mean"]


def loss_rows(
    advantages: Sequence[Sequence[float]],
    lengths: Sequence[Sequence[int]],
    mode: LossAgg,
    keep_zero: bool = False,
) -> tuple[list[tuple[int, int]], float, LossAggregation]:
    """Which rollouts enter the forward pass, the batch's denominator and the aggregation.

    Args:
        advantages: per group, one advantage per rollout.
        lengths: per group, the response length (tokens) of each rollout.
        mode: the `--loss-agg` choice (see the module docstring).
        keep_zero: also forward zero-advantage rollouts (needed when they carry a KL term);
            `nonzero-token-mean` drops them regardless.

    Returns:
        `(group, member)` pairs to train on, the denominator (tokens for the token means,
        rollouts for `seq-mean-token-mean`) and the aggregation for `grpo_update`.
    """
    every = [
        (g, j, a, n)
        for g, (group_adv, group_len) in enumerate(zip(advantages, lengths, strict=True))
        for j, (a, n) in enumerate(zip(group_adv, group_len, strict=True))
        if n > 0  # an empty response has no token to score
    ]
    nonzero = [row for row in every if row[2] != 0.0]
    if mode == "nonzero-token-mean":
        return [(g, j) for g, j, _, _ in nonzero], float(sum(r[3] for r in nonzero)), "token-mean"
    rows = every if keep_zero else nonzero
    if mode == "token-mean":
        return [(g, j) for g, j, _, _ in rows], float(sum(r[3] for r in every)), "token-mean"
    if mode == "seq-mean-token-mean":
        return [(g, j) for g, j, _, _ in rows], float(len(every)), "seq-mean-token-mean"
    raise ValueError(f"unknown loss aggregation {mode!r}")


@dataclass(frozen=True)
class LossConfig:
    """Knobs of the policy-gradient loss."""

    clip_low: float = 0.2
    clip_high: float = 0.2
    aggregation: LossAggregation = "token-mean"
    kl_coef: float = 0.0


@dataclass
class TokenBatch:
    """Right-padded sequences `prompt + completion` with a mask over completion tokens."""

    input_ids: torch.Tensor  # (B, T) long
    attention_mask: torch.Tensor  # (B, T) long
    completion_mask: torch.Tensor  # (B, T-1) float: 1 where target token t+1 is a completion token

    def to(self, device: torch.device | str) -> TokenBatch:
        """The same batch on `device`."""
        return TokenBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.completion_mask.to(device),
        )


def pack_sequences(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int
) -> TokenBatch:
    """Pack token-id sequences into a right-padded `TokenBatch`."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    lengths = [len(p) + len(c) for p, c in zip(prompts, completions, strict=True)]
    width = max(lengths)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    targets = torch.zeros((len(prompts), width - 1))
    for row, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        ids[row, : len(p) + len(c)] = torch.tensor(list(p) + list(c), dtype=torch.long)
        attention[row, : len(p) + len(c)] = 1
        # Position t predicts token t+1: completion tokens sit at len(p)..len(p)+len(c)-1.
        targets[row, len(p) - 1 : len(p) + len(c) - 1] = 1.0
    return TokenBatch(ids, attention, targets)


def token_logprobs(model: torch.nn.Module, batch: TokenBatch) -> torch.Tensor:
    """Log-probability of each next token under `model`: shape (B, T-1), float32, on its device."""
    batch = batch.to(next(model.parameters()).device)
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    logprobs = F.log_softmax(logits[:, :-1].float(), dim=-1)
    return logprobs.gather(-1, batch.input_ids[:, 1:, None]).squeeze(-1)


def aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    mode: LossAggregation,
    denominator: float | None = None,
) -> torch.Tensor:
    """Sum of `per_token` over masked tokens, divided by the batch's size in `mode`'s unit.

    `token-mean`: masked sum / `denominator` tokens; `seq-mean-token-mean`: the sum over rows
    of each row's token mean / `denominator` sequences. Without a `denominator`, the tokens
    (rows) of this batch: a plain mean.
    """
    if mode == "token-mean":
        total = (per_token * mask).sum()
        return total / (denominator if denominator is not None else mask.sum().clamp(min=1.0))
    per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return per_seq.sum() / (denominator if denominator is not None else per_seq.shape[0])


def policy_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    config: LossConfig,
    ref_logprobs: torch.Tensor | None = None,
    denominator: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped-ratio GRPO loss (plus the optional k3 KL term) and its statistics.

    Args:
        new_logprobs, old_logprobs: (B, T) token log-probs under the current / sampling policy.
        advantages: (B,) one advantage per sequence.
        mask: (B, T) 1.0 on completion tokens.
        config: clipping, aggregation and KL coefficient.
        ref_logprobs: (B, T) log-probs of a frozen reference model; needed when kl_coef > 0.
        denominator: the whole batch's tokens (token-mean) or sequences (seq-mean-token-mean)
            when these rows are a part of it; None: these rows' own (a plain mean).
    """
    ratio = torch.exp(new_logprobs - old_logprobs)
    adv = advantages[:, None]
    clipped = torch.clamp(ratio, 1.0 - config.clip_low, 1.0 + config.clip_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    stats: dict[str, float] = {}
    if config.kl_coef > 0.0:
        if ref_logprobs is None:
            raise ValueError("kl_coef > 0 needs ref_logprobs from a reference model")
        log_ratio = ref_logprobs - new_logprobs
        kl = torch.exp(log_ratio) - log_ratio - 1.0
        per_token = per_token + config.kl_coef * kl
        stats["kl"] = float(aggregate(kl.detach(), mask, "token-mean"))
    loss = aggregate(per_token, mask, config.aggregation, denominator)
    with torch.no_grad():
        was_clipped = ((ratio - clipped).abs() > 0).float()
        stats["clip_fraction"] = float(aggregate(was_clipped, mask, "token-mean"))
        stats["ratio_max"] = float((ratio * mask).max())
    return loss, stats


def grpo_update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: TokenBatch,
    advantages: torch.Tensor,
    config: LossConfig,
    minibatches: int = 1,
    max_grad_norm: float = 1.0,
    ref_model: torch.nn.Module | None = None,
    denominator: float | None = None,
) -> dict[str, float]:
    """One GRPO update on a batch of rollouts: `minibatches` optimizer steps.

    The sampling policy's log-probs are recomputed by `model` before the first step, so the
    ratio is exactly 1 on the first minibatch and measures drift on the later ones. Every
    minibatch divides by the same `denominator` (default: this batch's tokens, or rows for
    `seq-mean-token-mean`), so the minibatch losses add up to the batch loss.

    Returns:
        The batch loss (the sum of the minibatch losses), and the mean over minibatches of
        the gradient norm (before clipping), the clip fraction and the largest ratio.
    """
    model.train()
    device = next(model.parameters()).device
    batch, advantages = batch.to(device), advantages.to(device)
    with torch.no_grad():
        old = token_logprobs(model, batch)
        ref = token_logprobs(ref_model, batch) if ref_model is not None else None
    if denominator is None:
        rows = batch.input_ids.shape[0]
        whole = float(batch.completion_mask.sum().clamp(min=1.0))
        denominator = whole if config.aggregation == "token-mean" else float(rows)
    chunks = torch.arange(batch.input_ids.shape[0]).chunk(minibatches)
    totals: dict[str, float] = {}
    for chunk in chunks:
        sub = TokenBatch(
            batch.input_ids[chunk], batch.attention_mask[chunk], batch.completion_mask[chunk]
        )
        new = token_logprobs(model, sub)
        loss, stats = policy_loss(
            new,
            old[chunk],
            advantages[chunk],
            sub.completion_mask,
            config,
            None if ref is None else ref[chunk],
            denominator,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        stats.update(grad_norm=float(grad_norm))
        for key, value in stats.items():
            totals[key] = totals.get(key, 0.0) + value / len(chunks)
        totals["loss"] = totals.get("loss", 0.0) + loss.item()
    return totals
