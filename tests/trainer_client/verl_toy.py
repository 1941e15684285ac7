"""The toy verl data both verl adapters' tests use (verl 0.7 in ``.venv``, 0.9 in
``.venv-verl09``): 16 rows of two tasks x two difficulties, the rollout rewards per arm, the
mean |advantage| each arm earns (worked by hand), and the trained batch verl's trainer holds.

Import it after the optional packages were checked (``tests.conftest.require``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from verl import DataProto
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

from tests.trainer_client.tiny_lm import tiny_tokenizer

N, T, BATCH = 4, 5, 4
REWARDS = {  # per (task, difficulty): the 4 rollouts' rewards
    ("a", 1): [1.0, 0.0, 0.0, 0.0],
    ("a", 2): [0.0, 0.0, 0.0, 0.0],
    ("b", 1): [1.0, 1.0, 0.0, 0.0],
    ("b", 2): [1.0, 1.0, 1.0, 1.0],
}
# mean |A| by hand (unbiased std, eps 1e-6): [1,0,0,0] -> 0.375 / 0.5; [1,1,0,0] -> 0.5 / sqrt(1/3)
SIGNAL = {
    "task=a,difficulty=1": 0.375 / (0.5 + 1e-6),
    "task=a,difficulty=2": 0.0,
    "task=b,difficulty=1": 0.5 / (math.sqrt(1 / 3) + 1e-6),
    "task=b,difficulty=2": 0.0,
}


def write_rows(parquet: Path, n: int = 16) -> None:
    """``n`` prompts alternating task a/b and difficulty 1/2, ``extra_info.index`` = row."""
    rows = []
    for i in range(n):
        task, difficulty = "ab"[i % 2], 1 + (i // 2) % 2
        rows.append(
            {
                "data_source": "toy",
                "prompt": [{"role": "user", "content": f"{task}{difficulty}:{i}?"}],
                "reward_model": {"style": "rule", "ground_truth": "a"},
                "extra_info": {"task": task, "difficulty": difficulty, "index": i},
            }
        )
    pd.DataFrame(rows).to_parquet(parquet)


def chat_tokenizer() -> Any:
    """The tiny tokenizer with a chat template that joins the messages' contents."""
    tokenizer: Any = tiny_tokenizer()
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    return tokenizer


def trained_batch(batch_dict: dict[str, Any]) -> DataProto:
    """What verl's trainer holds after a GRPO step: rollouts, response mask, advantages."""
    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array(
        [str(uuid.uuid4()) for _ in range(len(batch))], dtype=object
    )
    batch = batch.repeat(repeat_times=N, interleave=True)
    mask = torch.zeros(len(batch), T)
    scores = torch.zeros(len(batch), T)
    for i, info in enumerate(batch.non_tensor_batch["extra_info"]):
        length = 1 + i % T  # responses of different lengths
        mask[i, :length] = 1.0
        scores[i, length - 1] = REWARDS[(info["task"], int(info["difficulty"]))][i % N]
    advantages, _ = compute_grpo_outcome_advantage(scores, mask, batch.non_tensor_batch["uid"])
    batch.batch["response_mask"] = mask
    batch.batch["advantages"] = advantages
    return batch


def endless(loader: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Batches epoch after epoch, as verl's trainer loops."""
    while True:
        yield from loader
