"""The worker's setup: the model, the rollout engine, the task suite, the warmup, evaluation.

`open_worker(config)` builds everything the GRPO loop (`gpu_worker/train.py`) needs in hand,
a `Worker`; `warm_start` runs the SFT warmup before RL and `final_evaluation` scores the
held-out problems. The engine is vLLM's (`RolloutEngine`) or, with `--rollout-backend
transformers`, a transformers copy of the model (`HFRolloutEngine`). `save_checkpoint` and
`resume_worker` are `--checkpoint-every` and `--resume-from` (docs/resume.md).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gpu_worker.config import RolloutBackendName, TrainConfig
from gpu_worker.evaluate import evaluate_levels
from gpu_worker.model import (
    build_char_tokenizer,
    build_tiny_llama,
    encode_prompt,
    load_model,
    save_model,
)
from gpu_worker.rollout import EngineConfig, RolloutBackend, RolloutEngine
from gpu_worker.tasks import (
    PromptStyle,
    RewardScheme,
    TaskSuite,
    addition_levels,
    chain_sum_levels,
)
from gpu_worker.warmup import WarmupConfig, run_warmup
from trainer_client import CurriculumClient, Run


@dataclass
class Worker:
    """What the loop needs in hand: model, tokenizer, optimizer, engine, tasks, service."""

    config: TrainConfig
    suite: TaskSuite
    model: Any
    tokenizer: Any
    engine: RolloutBackend
    client: CurriculumClient
    optimizer: torch.optim.Optimizer
    weights_dir: Path
    probe: list[list[int]]


def build_suite(config: TrainConfig) -> TaskSuite:
    """The task suite the config describes (`suite`, `digits`, `ood_levels`, rewards)."""
    rewards = RewardScheme(config.reward_correct, config.reward_formatted, config.reward_invalid)
    if config.suite == "addition":
        return TaskSuite(
            addition_levels(config.level_digits()),
            ood_levels=config.ood_levels,
            seed=config.seed + 1234,
            prompt_style="reversed",
            rewards=rewards,
            split="content",
        )
    style: PromptStyle = "compact" if config.prompt_style == "compact" else "question"
    return TaskSuite(
        chain_sum_levels(config.level_digits()),
        ood_levels=config.ood_levels,
        seed=config.seed + 1234,
        prompt_style=style,
        rewards=rewards,
    )


def trainer_device(config: TrainConfig) -> str:
    """`config.device`, with `auto` meaning the GPU when there is one."""
    if config.device != "auto":
        return config.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def prepare_model(config: TrainConfig) -> tuple[Any, Any, Path]:
    """Load `config.model`, or build the tiny model and save it under `out_dir/init`.

    The trainer's copy goes to `trainer_device` (the engine holds its own copy).
    """
    if config.model:
        model, tokenizer = load_model(config.model)
        folder = Path(config.model)
    else:
        tokenizer = build_char_tokenizer()
        model = build_tiny_llama(tokenizer, seed=config.seed)
        folder = save_model(model, tokenizer, Path(config.out_dir) / "init")
    torch.nn.Module.to(model, trainer_device(config))
    return model, tokenizer, folder


def open_engine(
    backend: RolloutBackendName, model_dir: str | Path, config: EngineConfig
) -> RolloutBackend:
    """The rollout engine named `backend` on the model folder: `vllm` (`RolloutEngine`) or
    `transformers` (`HFRolloutEngine`, for machines without vLLM)."""
    if backend == "transformers":
        from gpu_worker.rollout_hf import HFRolloutEngine

        return HFRolloutEngine(model_dir, config)
    return RolloutEngine(model_dir, config)


def make_probe(
    suite: TaskSuite, tokenizer: Any, count: int = 4, chat: bool = False
) -> list[list[int]]:
    """Fixed probe sequences (prompt + reference answer + eos) used to compare log-probs."""
    probe = []
    for i in range(count):
        level = suite.train_levels[i % len(suite.train_levels)]
        problem = suite.eval_problems(level, count)[i]
        answer = tokenizer(suite.format_answer(problem.answer), add_special_tokens=False)[
            "input_ids"
        ]
        prompt = encode_prompt(tokenizer, problem.prompt, chat)
        probe.append(prompt + answer + [tokenizer.eos_token_id])
    return probe


def warm_start(worker: Worker, log: Any) -> list[dict[str, float]]:
    """SFT warmup on the `warmup_levels` easiest training levels (0: all).

    With `warmup_target > 0` it stops once success-in-8 on the dev split of the hardest
    level it trains on (the hardest training level, or the hardest of the `warmup_levels`)
    reaches the target (never on the problems of the final evaluation); otherwise it runs
    `warmup_steps` steps and evaluates nothing.
    """
    cfg = worker.config
    levels = worker.suite.train_levels[: cfg.warmup_levels] if cfg.warmup_levels else []
    hardest = (levels or worker.suite.train_levels)[-1]

    def success_in_8(model: Any) -> float:
        """Share of 64 dev-split problems of `hardest` solved by at least one of 8 samples."""
        worker.engine.sync_weights(model, worker.weights_dir)
        scores = evaluate_levels(
            worker.engine,
            worker.tokenizer,
            worker.suite,
            [hardest],
            64,
            8,
            cfg.max_new_tokens,
            seed=cfg.seed,
            chat=cfg.chat_template,
            split="dev",
        )
        return scores[hardest].success_in_k

    warmup = WarmupConfig(
        steps=cfg.warmup_steps,
        lr=cfg.warmup_lr,
        seed=cfg.seed,
        eval_every=100,
        target=cfg.warmup_target if cfg.warmup_target > 0 else None,
        task=cfg.warmup_task,
        chat=cfg.chat_template,
        levels=tuple(levels),
    )
    evaluate = success_in_8 if cfg.warmup_target > 0 else None
    history = run_warmup(worker.model, worker.tokenizer, worker.suite, warmup, evaluate, log)
    worker.engine.sync_weights(worker.model, worker.weights_dir)
    return history


def final_evaluation(worker: Worker) -> dict[str, dict[str, float]]:
    """pass@1 (mean over `eval_samples` samples) and success-in-k on held-out problems per level."""
    cfg = worker.config
    levels = worker.suite.train_levels + worker.suite.ood_levels
    scores = evaluate_levels(
        worker.engine,
        worker.tokenizer,
        worker.suite,
        levels,
        cfg.eval_problems,
        cfg.eval_samples,
        cfg.max_new_tokens,
        temperature=cfg.temperature,
        seed=cfg.seed + 1,
        chat=cfg.chat_template,
    )
    return {
        name: {
            "pass_at_1": s.pass_at_1,
            "success_in_k": s.success_in_k,
            "ood": float(name in worker.suite.ood_levels),
        }
        for name, s in scores.items()
    }


def open_worker(
    config: TrainConfig,
    client: CurriculumClient | None = None,
    engine: RolloutBackend | None = None,
) -> Worker:
    """Build everything the loop needs; creates the rollout engine (call under `__main__`).

    An existing `engine` of the same architecture may be passed in: the worker loads its
    own weights into it before anything else.
    """
    torch.set_num_threads(config.torch_threads)
    suite = build_suite(config)
    model, tokenizer, model_dir = prepare_model(config)
    engine_config = EngineConfig(
        gpu_memory_utilization=config.gpu_memory_utilization,
        max_model_len=config.max_model_len,
        seed=config.seed,
        tensor_parallel_size=config.tensor_parallel_size,
        enforce_eager=not torch.cuda.is_available(),
        device=trainer_device(config),
    )
    engine = engine or open_engine(config.rollout_backend, model_dir, engine_config)
    client = client or CurriculumClient(config.service_url, timeout=config.request_timeout)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    weights_dir = Path(config.out_dir) / "synced"
    tokenizer.save_pretrained(str(weights_dir))
    engine.sync_weights(model, weights_dir)
    return Worker(
        config,
        suite,
        model,
        tokenizer,
        engine,
        client,
        optimizer,
        weights_dir,
        make_probe(suite, tokenizer, chat=config.chat_template),
    )


CHECKPOINT_META = "checkpoint.json"


def save_checkpoint(worker: Worker, run_id: str, step: int) -> Path:
    """Write `out_dir/checkpoints/step-{step}`: model, optimizer, generator states and the
    run's step (= the number of reports the service holds for it after this step).

    The folder is written under a temporary name and renamed, so a crash mid-write leaves
    the previous checkpoints and no half-written one.
    """
    root = Path(worker.config.out_dir) / "checkpoints"
    final, partial = root / f"step-{step}", root / f".step-{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch.save(worker.model.state_dict(), partial / "model.pt")
    torch.save(worker.optimizer.state_dict(), partial / "optimizer.pt")
    generators = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    torch.save(generators, partial / "rng.pt")
    meta = {"run_id": run_id, "step": step, "seed": worker.config.seed}
    (partial / CHECKPOINT_META).write_text(json.dumps(meta))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    return final


def resume_worker(worker: Worker, folder: Path) -> tuple[Run, int]:
    """Load a `save_checkpoint` folder into `worker` and rewind the service's run to its step.

    Returns the run (as the service holds it after the rewind) and the step to continue from.

    Raises:
        trainer_client.InvalidRequestError: the run is behind the checkpoint's step.
    """
    meta = json.loads((folder / CHECKPOINT_META).read_text())
    worker.model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    worker.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    generators = torch.load(folder / "rng.pt", weights_only=False)
    torch.set_rng_state(generators["torch"])
    if generators["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(generators["cuda"])
    random.setstate(generators["python"])
    np.random.set_state(generators["numpy"])
    worker.engine.sync_weights(worker.model, worker.weights_dir)
    step = int(meta["step"])
    worker.client.rewind(meta["run_id"], step)
    return worker.client.get_run(meta["run_id"]), step
