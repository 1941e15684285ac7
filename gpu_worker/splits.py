"""The content split of a task level: train / dev / eval by a hash of the prompt text.

Each generated problem falls into `train` (80%), `dev` (10%) or `eval` (10%) by a stable
hash of its prompt, so the same prompt can never be both trained on and evaluated, even on
a level with few distinct problems (`TaskSuite(split="content")`, gpu_worker/tasks.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from reasoning_gym.dataset import ProceduralDataset

# Shares of the content split, in percent of the prompt hash's buckets.
TRAIN_SHARE, DEV_SHARE = 80, 10


def prompt_bucket(prompt: str) -> int:
    """Bucket 0-99 of a prompt, from a hash of its text (stable across processes)."""
    return int.from_bytes(hashlib.blake2b(prompt.encode(), digest_size=8).digest(), "big") % 100


def split_of(prompt: str) -> str:
    """`train`, `dev` or `eval`: the content split a prompt belongs to."""
    bucket = prompt_bucket(prompt)
    if bucket < TRAIN_SHARE:
        return "train"
    return "dev" if bucket < TRAIN_SHARE + DEV_SHARE else "eval"


class ContentSplit:
    """One level's dataset indices per split, found by scanning the dataset in order (lazily).

    `train` keeps every generated problem of its share (repeats included: they are what a
    uniform draw over the generator gives); `dev` and `eval` keep distinct prompts only.
    """

    def __init__(self, dataset: ProceduralDataset, prompt_of: Any) -> None:
        self._dataset = dataset
        self._prompt_of = prompt_of
        self._ids: dict[str, list[int]] = {"train": [], "dev": [], "eval": []}
        self._seen: set[str] = set()
        self._scanned = 0

    def index(self, split: str, position: int) -> int:
        """Dataset index of the `position`-th problem of `split`.

        Raises:
            ValueError: the level ran out of distinct problems for `split` (a share holds at
                least a tenth of all problems, so 100x the wanted count, plus slack, is scanned
                before giving up).
        """
        ids = self._ids[split]
        while len(ids) <= position:
            if self._scanned >= 20_000 + 100 * position:
                raise ValueError(
                    f"the level has too few distinct {split} problems: found {len(ids)} in "
                    f"{self._scanned:,} generated problems; ask for fewer or use a harder level"
                )
            prompt = self._prompt_of(self._dataset[self._scanned])
            share = split_of(prompt)
            if share == "train":
                self._ids["train"].append(self._scanned)
            elif prompt not in self._seen:
                self._seen.add(prompt)
                self._ids[share].append(self._scanned)
            self._scanned += 1
        return ids[position]
