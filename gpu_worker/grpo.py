"""GRPO in torch: group-normalised advantages, the clipped-ratio loss, and one update.

For one prompt with G rollouts and rewards r, rollout i gets the advantage
`A_i = (r_i - mean(r)) / (std(r) + eps)` (unbiased std by default, as verl's GRPO; options:
population std, or no division as in Dr. GRPO). A group whose rewards are all equal gets 0.

Every completion token t of rollout i contributes the PPO clipped surrogate
`-min(rho_t * A_i, clip(rho_t, 1 - eps_low, 1 + eps_high) * A_i)` with
`rho_t = exp(logp_new - logp_old)`, averaged over all completion tokens of the batch
("token-mean", verl's default) or per sequence then over sequences ("seq-mean").
An optional KL penalty to a frozen reference model (the k3 estimator) is off by default, as
in the SEC paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

StdMode = Literal["unbiased", "population", "none"]
LossAggregation = Literal["token-mean", "seq-mean"]


def group_advantages(
    rewards: Sequence[float], std: StdMode = "unbiased", eps: float = 1e-6
) -> list[float]:
    """GRPO advantages of one group of rollout rewards (never NaN).

    Args:
        rewards: rewards of the G rollouts of one prompt.
        std: `unbiased` (divide by the n-1 std), `population` (n), or `none` (Dr. GRPO).
        eps: added to the std before dividing.

    Returns:
        One advantage per rollout; all zeros when the rewards are all equal or G == 1.
    """
    n = len(rewards)
    if n == 0:
        return []
    # Why test equality directly: r - mean(r) can leave rounding residue (0.1 * 3 / 3 != 0.1)
    # that a tiny std would blow up.
    if n == 1 or all(r == rewards[0] for r in rewards):
        return [0.0] * n
    mean = sum(rewards) / n
    centred = [r - mean for r in rewards]
    if std == "none":
        return centred
    ddof = 1 if std == "unbiased" else 0
    scale = (sum(c * c for c in centred) / (n - ddof)) ** 0.5
    return [c / (scale + eps) for c in centred]


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


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: LossAggregation) -> torch.Tensor:
    """Mean of `per_token` over masked tokens: over the whole batch or per sequence first."""
    if mode == "token-mean":
        return (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    per_seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return per_seq.mean()


def policy_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    config: LossConfig,
    ref_logprobs: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped-ratio GRPO loss (plus the optional k3 KL term) and its statistics.

    Args:
        new_logprobs, old_logprobs: (B, T) token log-probs under the current / sampling policy.
        advantages: (B,) one advantage per sequence.
        mask: (B, T) 1.0 on completion tokens.
        config: clipping, aggregation and KL coefficient.
        ref_logprobs: (B, T) log-probs of a frozen reference model; needed when kl_coef > 0.
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
        stats["kl"] = float(aggregate(kl.detach(), mask, config.aggregation))
    loss = aggregate(per_token, mask, config.aggregation)
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
) -> dict[str, float]:
    """One GRPO update on a batch of rollouts: `minibatches` optimizer steps.

    The sampling policy's log-probs are recomputed by `model` before the first step, so the
    ratio is exactly 1 on the first minibatch and measures drift on the later ones.

    Returns:
        Mean loss, gradient norm (before clipping) and clip fraction over the minibatches.
    """
    model.train()
    device = next(model.parameters()).device
    batch, advantages = batch.to(device), advantages.to(device)
    with torch.no_grad():
        old = token_logprobs(model, batch)
        ref = token_logprobs(ref_model, batch) if ref_model is not None else None
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
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        stats.update(loss=loss.item(), grad_norm=float(grad_norm))
        for key, value in stats.items():
            totals[key] = totals.get(key, 0.0) + value / len(chunks)
    return totals
