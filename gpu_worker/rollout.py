"""Rollouts with vLLM, weight sync trainer -> engine, and the log-prob probe.

`RolloutBackend` is what the worker needs of a rollout engine: `RolloutEngine` (vLLM, here)
or `HFRolloutEngine` (a transformers copy of the model, `gpu_worker/rollout_hf.py`, for
machines without vLLM); `gpu_worker.train.open_engine` picks one by name. `RolloutEngine` owns one `vllm.LLM`. It generates G completions per prompt from token ids
(the trainer tokenizes, so engine and trainer see the same tokens), with the sampled tokens'
log-probs. `sync_weights` saves the torch model to a folder and asks every engine worker to
`reload_weights` from it, then drops the prefix cache (its KV was computed by the old
weights). `probe_logprobs` scores fixed sequences teacher-forced in the engine
(`prompt_logprobs`) so that `check_sync` can compare them with the trainer's log-probs.

vLLM starts worker processes: create the engine under `if __name__ == "__main__":` (or in a
function only called from there).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch

from gpu_worker.grpo import pack_sequences, token_logprobs

# vLLM warns "<Layer>: Failed to load weights" on every reload for a layer whose tensors are
# not in the checkpoint. For the rotary embedding that is expected: its cos/sin cache is
# computed, not saved, and vLLM puts it back. Only that one line is dropped.
RELOAD_LOGGER = "vllm.model_executor.model_loader.reload.layerwise"


class RotaryReloadFilter(logging.Filter):
    """Drops vLLM's reload warning about the rotary embedding's (computed) cos/sin cache."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("RotaryEmbedding: Failed to load weights")


def quiet_rotary_reload_warning() -> None:
    """Install `RotaryReloadFilter` here and in the engine's worker processes.

    A forked worker inherits this process's logger; a spawned one applies the engine's
    `LoggingConfig`, which reads `VLLM_LOGGING_CONFIG_PATH` when the engine is created, so the
    filter also goes into such a file (vLLM's default config plus the filter). Call it before
    creating the engine. A config file the user set is left alone.
    """
    logging.getLogger(RELOAD_LOGGER).addFilter(RotaryReloadFilter())
    if os.environ.get("VLLM_LOGGING_CONFIG_PATH"):
        return
    from vllm.logger import DEFAULT_LOGGING_CONFIG

    config = deepcopy(DEFAULT_LOGGING_CONFIG)
    config["filters"] = {"zpd_rotary": {"()": f"{__name__}.RotaryReloadFilter"}}
    config["loggers"][RELOAD_LOGGER] = {"filters": ["zpd_rotary"]}
    with tempfile.NamedTemporaryFile(
        "w", prefix="zpd-vllm-logging-", suffix=".json", delete=False
    ) as file:
        json.dump(config, file)
    os.environ["VLLM_LOGGING_CONFIG_PATH"] = file.name


class WeightSyncError(RuntimeError):
    """The engine does not score like the trainer after a weight sync."""


@dataclass(frozen=True)
class EngineConfig:
    """Settings of the vLLM engine (on CPU `gpu_memory_utilization` is a share of CPU RAM)."""

    gpu_memory_utilization: float = 0.15
    max_model_len: int = 256
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] = "float32"
    seed: int = 0
    enforce_eager: bool = True
    tensor_parallel_size: int = 1
    device: str = "cpu"  # the transformers backend's device (vLLM picks its own)
    max_num_batched_tokens: int = 65_536  # tokens per engine step (prefills never split)
    max_num_seqs: int = 1_024  # sequences per engine step


@dataclass
class Completion:
    """One sampled completion: its tokens, text, per-token log-probs, and whether it stopped."""

    token_ids: list[int]
    text: str
    logprobs: list[float]
    finished: bool


class RolloutBackend(Protocol):
    """What the worker needs of a rollout engine (vLLM's `RolloutEngine`, `HFRolloutEngine`)."""

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        n: int,
        max_tokens: int,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """`n` completions per prompt (token ids), reproducible for a given `seed`;
        `temperature=0` is greedy."""
        ...

    def sync_weights(self, model: Any, folder: str | Path) -> float:
        """Make the engine generate with `model`'s current weights; seconds taken."""
        ...

    def probe_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """Engine log-prob of tokens 1..L-1 of each sequence (teacher-forced), for `check_sync`."""
        ...

    def close(self) -> None:
        """Free the engine (idempotent)."""
        ...


class RolloutEngine:
    """A vLLM engine loaded from a local model folder."""

    def __init__(self, model_dir: str | Path, config: EngineConfig | None = None) -> None:
        from vllm import LLM  # imported here: vLLM is heavy and only the engine needs it

        self.config = config or EngineConfig()
        quiet_rotary_reload_warning()
        self.llm: Any = LLM(
            model=str(model_dir),
            gpu_memory_utilization=self.config.gpu_memory_utilization,
            max_model_len=self.config.max_model_len,
            dtype=self.config.dtype,
            seed=self.config.seed,
            enforce_eager=self.config.enforce_eager,
            tensor_parallel_size=self.config.tensor_parallel_size,
            disable_log_stats=True,
            use_tqdm_on_load=False,  # else every weight sync draws a loading bar
            # A prompt whose prefill is split across engine steps makes vLLM rewind the
            # request's seeded generator, which the CPU generator cannot do ("CPU Generator
            # does not use offset"): give one step room for every prompt of a batch.
            max_num_batched_tokens=self.config.max_num_batched_tokens,
            max_num_seqs=self.config.max_num_seqs,
        )

    def close(self) -> None:
        """Stop the engine's worker processes (idempotent)."""
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
            self.llm = None

    def __enter__(self) -> RolloutEngine:
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

        With a `seed` the result is reproducible. vLLM seeds the j-th of the n samples of a
        request with `seed + j`, so prompt i gets `seed * 1_000_003 + i * n`: two copies of
        one prompt in a batch still draw different samples.
        """
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [
            SamplingParams(
                n=n,
                temperature=temperature,
                max_tokens=max_tokens,
                logprobs=0,
                seed=None if seed is None else seed * 1_000_003 + i * n,
            )
            for i in range(len(prompts))
        ]
        requests = [TokensPrompt(prompt_token_ids=list(p)) for p in prompts]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        return [[_completion(c) for c in out.outputs] for out in outputs]

    def sync_weights(self, model: Any, folder: str | Path) -> float:
        """Save `model` (a `PreTrainedModel`) to `folder`, reload it in the engine; seconds taken."""
        from transformers.utils import logging as hf_logging

        start = time.perf_counter()
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # "Writing model shards" on every step otherwise
        try:
            model.save_pretrained(str(folder), safe_serialization=True)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.llm.collective_rpc("reload_weights", kwargs={"weights_path": str(folder)})
        # Why: cached prefix KV was computed with the old weights and would be reused.
        self.llm.reset_prefix_cache()
        return time.perf_counter() - start

    def probe_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """Engine log-prob of tokens 1..L-1 of each sequence given its prefix (teacher-forced)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, temperature=1.0, prompt_logprobs=0)
        requests = [TokensPrompt(prompt_token_ids=list(s)) for s in sequences]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        result = []
        for seq, out in zip(sequences, outputs, strict=True):
            scored = out.prompt_logprobs[1:]  # the first token has no prefix to score it
            result.append(
                [step[token].logprob for step, token in zip(scored, seq[1:], strict=True)]
            )
        return result


def _completion(output: Any) -> Completion:
    """Convert one vLLM `CompletionOutput` into a `Completion`."""
    token_ids = list(output.token_ids)
    logprobs = [step[token].logprob for step, token in zip(output.logprobs, token_ids, strict=True)]
    return Completion(token_ids, output.text, logprobs, output.finish_reason == "stop")


def trainer_logprobs(
    model: torch.nn.Module, sequences: Sequence[Sequence[int]], pad_id: int
) -> list[list[float]]:
    """Trainer log-prob of tokens 1..L-1 of each sequence (the same quantity as the probe)."""
    batch = pack_sequences([s[:1] for s in sequences], [s[1:] for s in sequences], pad_id)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logprobs = token_logprobs(model, batch)
    model.train(was_training)
    return [logprobs[row, : len(s) - 1].tolist() for row, s in enumerate(sequences)]


def check_sync(
    engine: RolloutBackend, model: torch.nn.Module, sequences: Sequence[Sequence[int]], pad_id: int
) -> float:
    """Largest absolute difference between engine and trainer log-probs on `sequences`."""
    engine_lp = engine.probe_logprobs(sequences)
    trainer_lp = trainer_logprobs(model, sequences, pad_id)
    return max(
        abs(a - b)
        for e_row, t_row in zip(engine_lp, trainer_lp, strict=True)
        for a, b in zip(e_row, t_row, strict=True)
    )
