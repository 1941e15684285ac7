"""Rollouts with transformers: the `RolloutBackend` for machines with torch but no vLLM.

`HFRolloutEngine` holds its own copy of the model (loaded from the model folder, on
`EngineConfig.device`) and samples with `model.generate`; the worker picks it with
`--rollout-backend transformers`. It is slower than vLLM (no paged attention, no continuous
batching) and exists so that the worker runs where vLLM cannot be installed, such as a GPU
machine that has torch and transformers only.

- `generate`: prompts are left-padded and sampled together, `n` per prompt, from the full
  distribution (no top-k, no top-p), in chunks of at most `batch_sequences` sequences. With a
  `seed` the torch RNG is seeded inside `torch.random.fork_rng`, so the same seed and the same
  prompts give the same completions and the caller's RNG state is left as it was.
  Completions keep their `<eos>` (as vLLM's do); their log-probs are scored afterwards,
  teacher-forced, by the engine's copy at temperature 1 (vLLM's raw log-probs).
- `sync_weights`: copies the trainer's tensors into the engine's copy (`load_state_dict`);
  nothing is written to `folder`.
- `probe_logprobs`: the engine copy's teacher-forced log-probs, for `check_sync`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gpu_worker.rollout import Completion, EngineConfig, trainer_logprobs

DTYPES = {
    "half": torch.float16,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float": torch.float32,
    "float32": torch.float32,
}


class HFRolloutEngine:
    """A transformers copy of the model that generates rollouts (see the module docstring)."""

    batch_sequences = 1024  # most sequences (prompts x n) per `model.generate` call

    def __init__(self, model_dir: str | Path, config: EngineConfig | None = None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        self.config = config or EngineConfig()
        self.device = torch.device(self.config.device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        dtype = DTYPES.get(self.config.dtype, "auto")
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a "Loading weights" bar would interleave the log
        try:
            model = AutoModelForCausalLM.from_pretrained(
                str(model_dir), local_files_only=True, dtype=dtype
            )
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.model: Any = model.to(self.device).eval().requires_grad_(False)
        eos = self.tokenizer.eos_token_id
        self.eos_id: int = eos if eos is not None else model.config.eos_token_id
        pad = self.tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else self.eos_id

    def close(self) -> None:
        """Drop the model copy (idempotent)."""
        if getattr(self, "model", None) is not None:
            self.model = None
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def __enter__(self) -> HFRolloutEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        n: int,
        max_tokens: int,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Sample `n` completions for each prompt (token ids); one list per prompt, in order.

        `temperature=0` is greedy decoding. The same `seed` and prompts give the same result.
        """
        per_call = max(1, self.batch_sequences // max(n, 1))
        devices = [self.device] if self.device.type == "cuda" else []
        groups: list[list[Completion]] = []
        with torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(seed)
            for start in range(0, len(prompts), per_call):
                chunk = prompts[start : start + per_call]
                groups.extend(self._generate_chunk(chunk, n, max_tokens, temperature))
        return groups

    def _generate_chunk(
        self, prompts: Sequence[Sequence[int]], n: int, max_tokens: int, temperature: float
    ) -> list[list[Completion]]:
        from transformers import GenerationConfig

        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):  # left padding: every prompt ends at `width`
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        sample = temperature > 0
        copies = n if sample else 1  # greedy: one decode per prompt, repeated n times below
        generation = GenerationConfig(
            max_new_tokens=max_tokens,
            do_sample=sample,
            temperature=temperature if sample else None,
            top_k=0 if sample else None,  # the full distribution, as vLLM's defaults
            top_p=1.0 if sample else None,
            num_return_sequences=copies,
            eos_token_id=self.eos_id,
            pad_token_id=self.pad_id,
        )
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                generation_config=generation,
            )
        made = [self._cut(row) for row in out[:, width:].tolist()]
        if not sample:
            made = [m for m in made for _ in range(n)]
        # num_return_sequences repeats each prompt n times in a row
        sequences = [list(prompts[i // n]) + tokens for i, (tokens, _) in enumerate(made)]
        scores = trainer_logprobs(self.model, sequences, self.pad_id)
        completions = [
            Completion(
                token_ids=tokens,
                text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                logprobs=row[len(prompts[i // n]) - 1 :],
                finished=finished,
            )
            for i, ((tokens, finished), row) in enumerate(zip(made, scores, strict=True))
        ]
        return [completions[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _cut(self, generated: list[int]) -> tuple[list[int], bool]:
        """Tokens up to and including the first `<eos>`, and whether there was one."""
        if self.eos_id in generated:
            return generated[: generated.index(self.eos_id) + 1], True
        return generated, False

    def sync_weights(self, model: Any, folder: str | Path) -> float:
        """Copy `model`'s tensors into the engine's copy; seconds taken (`folder` is unused)."""
        start = time.perf_counter()
        with torch.no_grad():
            self.model.load_state_dict(model.state_dict())
        return time.perf_counter() - start

    def probe_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """Engine log-prob of tokens 1..L-1 of each sequence given its prefix (teacher-forced)."""
        return trainer_logprobs(self.model, sequences, self.pad_id)
