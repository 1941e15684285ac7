"""GRPO math against hand computations, and real torch updates on the tiny model."""

from __future__ import annotations

import math

import pytest

from tests.conftest import require

torch = require("torch")

from gpu_worker.grpo import (  # noqa: E402
    LossConfig,
    grpo_update,
    loss_rows,
    pack_sequences,
    policy_loss,
    token_logprobs,
)

# Three groups of two rollouts: group 1 has no signal (all-equal rewards); in group 2 one
# rollout sits at the group mean (advantage 0) while the other does not.
ADVANTAGES = [[1.0, -1.0], [0.0, 0.0], [2.0, 0.0]]
LENGTHS = [[3, 1], [2, 4], [5, 2]]  # response tokens of each rollout: 17 in all
TRAINED = [(0, 0), (0, 1), (2, 0)]  # the rollouts with a non-zero advantage: 3 + 1 + 5 tokens


def test_loss_rows_by_hand() -> None:
    assert loss_rows(ADVANTAGES, LENGTHS, "token-mean") == (TRAINED, 17.0, "token-mean")
    assert loss_rows(ADVANTAGES, LENGTHS, "nonzero-token-mean") == (TRAINED, 9.0, "token-mean")
    assert loss_rows(ADVANTAGES, LENGTHS, "seq-mean-token-mean") == (
        TRAINED,
        6.0,  # every rollout counts as one sequence
        "seq-mean-token-mean",
    )
    # with a KL term the zero-advantage rollouts are forwarded too (they carry its gradient)
    every = [(g, j) for g in range(3) for j in range(2)]
    assert loss_rows(ADVANTAGES, LENGTHS, "token-mean", keep_zero=True) == (
        every,
        17.0,
        "token-mean",
    )
    assert loss_rows(ADVANTAGES, LENGTHS, "nonzero-token-mean", keep_zero=True)[0] == TRAINED
    assert loss_rows([[0.0, 0.0]], [[4, 4]], "token-mean") == ([], 8.0, "token-mean")


def ratio_one_loss(mode: str) -> float:
    """policy_loss of the three trained rollouts at ratio 1 (per-token loss -A_i)."""
    rows, denominator, aggregation = loss_rows(ADVANTAGES, LENGTHS, mode)  # type: ignore[arg-type]
    lengths = [LENGTHS[g][j] for g, j in rows]
    mask = torch.zeros(len(rows), max(lengths))
    for row, n in enumerate(lengths):
        mask[row, :n] = 1.0
    logprobs = torch.zeros_like(mask)
    advantages = torch.tensor([ADVANTAGES[g][j] for g, j in rows])
    loss, _ = policy_loss(
        logprobs, logprobs, advantages, mask, LossConfig(aggregation=aggregation), None, denominator
    )
    return loss.item()


def test_loss_normalisations_by_hand() -> None:
    # sum_i A_i * |o_i| over the trained rollouts: 1*3 - 1*1 + 2*5 = 12
    assert ratio_one_loss("token-mean") == pytest.approx(-12 / 17)  # all 17 tokens count
    assert ratio_one_loss("nonzero-token-mean") == pytest.approx(-12 / 9)  # only their 9
    # per-sequence means 1, -1, 2 (the zero rollouts' are 0), over all 6 sequences
    assert ratio_one_loss("seq-mean-token-mean") == pytest.approx(-(1 - 1 + 2) / 6)


def test_pack_sequences_masks_only_completion_targets() -> None:
    batch = pack_sequences([[1, 5, 6], [1, 7]], [[8, 2], [9, 9, 2]], pad_id=0)
    assert batch.input_ids.tolist() == [[1, 5, 6, 8, 2], [1, 7, 9, 9, 2]]
    # position t predicts token t+1; completions start at index 3 and 2
    assert batch.completion_mask.tolist() == [[0, 0, 1, 1], [0, 1, 1, 1]]
    batch = pack_sequences([[1]], [[4]], pad_id=0)
    assert batch.attention_mask.tolist() == [[1, 1]]


def test_clipped_loss_by_hand() -> None:
    old = torch.zeros(4, 1)
    new = torch.log(torch.tensor([[1.5], [1.5], [0.5], [1.0]]))
    adv = torch.tensor([1.0, -1.0, 1.0, -2.0])
    mask = torch.ones(4, 1)
    loss, stats = policy_loss(new, old, adv, mask, LossConfig(clip_low=0.2, clip_high=0.2))
    # -min(r*A, clip(r)*A): 1.5,+1 -> -1.2; 1.5,-1 -> 1.5; 0.5,+1 -> -0.5; 1.0,-2 -> 2.0
    assert loss.item() == pytest.approx((-1.2 + 1.5 - 0.5 + 2.0) / 4)
    assert stats["clip_fraction"] == pytest.approx(
        0.75
    )  # the first three ratios are outside [0.8, 1.2]


def test_token_mean_and_seq_mean_by_hand() -> None:
    per_token = torch.zeros(2, 3)  # ratio 1 everywhere: per-token loss is -A
    adv = torch.tensor([1.0, -3.0])
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    token_mean, _ = policy_loss(
        per_token, per_token, adv, mask, LossConfig(aggregation="token-mean")
    )
    seq_mean, _ = policy_loss(
        per_token, per_token, adv, mask, LossConfig(aggregation="seq-mean-token-mean")
    )
    assert token_mean.item() == pytest.approx((-1.0 + 3.0 * 3) / 4)
    assert seq_mean.item() == pytest.approx((-1.0 + 3.0) / 2)


def test_kl_term_needs_a_reference_and_is_zero_at_the_reference() -> None:
    lp = torch.log(torch.tensor([[0.3, 0.6]]))
    config = LossConfig(kl_coef=0.5)
    with pytest.raises(ValueError, match="ref_logprobs"):
        policy_loss(lp, lp, torch.tensor([1.0]), torch.ones(1, 2), config)
    _, stats = policy_loss(lp, lp, torch.tensor([1.0]), torch.ones(1, 2), config, ref_logprobs=lp)
    assert stats["kl"] == pytest.approx(0.0, abs=1e-7)
    _, stats = policy_loss(
        lp, lp, torch.tensor([1.0]), torch.ones(1, 2), config, ref_logprobs=lp - 1.0
    )
    assert stats["kl"] == pytest.approx(math.exp(-1.0) + 1.0 - 1.0)  # k3: e^x - x - 1 at x = -1


def test_update_moves_probability_towards_positive_advantage() -> None:
    from gpu_worker.model import build_char_tokenizer, build_tiny_llama

    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer, seed=3)
    prompt = tokenizer("12+34=")["input_ids"]
    good = tokenizer("46", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    bad = tokenizer("99", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    batch = pack_sequences([prompt, prompt], [good, bad], tokenizer.pad_token_id)
    with torch.no_grad():
        before = (token_logprobs(model, batch) * batch.completion_mask).sum(-1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stats = grpo_update(model, optimizer, batch, torch.tensor([1.0, -1.0]), LossConfig())
    with torch.no_grad():
        after = (token_logprobs(model, batch) * batch.completion_mask).sum(-1)
    assert after[0] > before[0] and after[1] < before[1]
    assert all(math.isfinite(v) for v in stats.values())


def test_minibatches_share_the_whole_batch_denominator() -> None:
    """lr 0 keeps every ratio at exactly 1, so each minibatch's loss is -sum(A_i |o_i|) / N
    with N the whole batch's tokens: the reported batch loss does not depend on the split."""
    from gpu_worker.model import build_char_tokenizer, build_tiny_llama

    tokenizer = build_char_tokenizer()
    model = build_tiny_llama(tokenizer, seed=5)
    prompt = tokenizer("1+2=")["input_ids"]
    completions = [[20, 21, 2], [22], [23, 24, 25, 26, 2]]  # 3, 1 and 5 tokens
    batch = pack_sequences([prompt] * 3, completions, tokenizer.pad_token_id)
    advantages = torch.tensor([1.0, -1.0, 2.0])
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)
    for minibatches in (1, 2, 3):
        stats = grpo_update(
            model, optimizer, batch, advantages, LossConfig(), minibatches, denominator=17.0
        )
        assert stats["loss"] == pytest.approx(-12 / 17, abs=1e-6)
    # no denominator: this batch's own 9 tokens, still one denominator for every minibatch
    # (three per-minibatch means would give (-1 + 1 - 2) / 3 instead)
    stats = grpo_update(model, optimizer, batch, advantages, LossConfig(), minibatches=3)
    assert stats["loss"] == pytest.approx(-12 / 9, abs=1e-6)
    stats = grpo_update(
        model, optimizer, batch, advantages, LossConfig(aggregation="seq-mean-token-mean"), 2
    )
    assert stats["loss"] == pytest.approx(-(1 - 1 + 2) / 3, abs=1e-6)
