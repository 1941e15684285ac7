"""The reference GRPO worker: a curriculum from the ZPD service, rollouts in vLLM, updates in torch.

Algorithm (one step; the SEC paper's setting with the service choosing the problems):

1. `sample`: ask the service for `prompts_per_step` problems `{arm, index}`; each arm is a
   difficulty level of a reasoning-gym task (the hardest level is held out as OOD).
2. rollout: vLLM samples `rollouts_per_prompt` (G) completions per prompt.
3. reward: the task's verifier gives 1 (correct), 0.1 (well-formatted, wrong) or 0.
4. advantage: per prompt, `(r - mean(r)) / (std(r) + 1e-6)` over its G rollouts
   (`trainer_client.grpo_advantages`, the same numbers the service computes).
5. update: one AdamW step (or `minibatches` steps) on the clipped-ratio policy-gradient loss,
   by default a token mean over all response tokens of the batch, zero-advantage rollouts
   included (`--loss-agg`; `gpu_worker/grpo.py` states each choice); no KL term by default.
6. sync: load the weights into the engine (vLLM: save and `reload_weights`; or a transformers
   copy, `--rollout-backend transformers`); every `probe_every` steps check that engine and
   trainer log-probs agree on a fixed probe.
7. `report`: send each problem's rewards; the service turns them into arm values (mean |A|)
   and updates its sampling distribution.

Before RL a warmup (SFT on solved traces) gives the from-scratch model non-zero reward.
Run it against a service (`zpd serve --port 8000`) on CPU with the tiny model:

    python -m gpu_worker.train --service-url http://127.0.0.1:8000 --steps 100

or with a local Hugging Face model folder on a GPU:

    python -m gpu_worker.train --model /models/Qwen2.5-0.5B-Instruct --prompt-style question \\
        --prompts-per-step 256 --lr 1e-6 --warmup-steps 0 --gpu-memory-utilization 0.5
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from gpu_worker.config import (
    RolloutBackendName,
    TrainConfig,
    add_config_arguments,
    config_or_report,
    log_line,
)
from gpu_worker.evaluate import evaluate_levels
from gpu_worker.grpo import LossConfig, grpo_update, loss_rows, pack_sequences
from gpu_worker.model import (
    build_char_tokenizer,
    build_tiny_llama,
    encode_prompt,
    load_model,
    save_model,
)
from gpu_worker.rollout import (
    EngineConfig,
    RolloutBackend,
    RolloutEngine,
    WeightSyncError,
    check_sync,
)
from gpu_worker.tasks import PromptStyle, RewardScheme, TaskSuite, chain_sum_levels
from gpu_worker.warmup import WarmupConfig, run_warmup
from trainer_client import CurriculumClient, InvalidRequestError, Run
from trainer_client.advantages import grpo_advantages

StepCallback = Callable[[dict[str, Any]], None]


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
    """The task suite the config describes."""
    rewards = RewardScheme(config.reward_correct, config.reward_formatted, config.reward_invalid)
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


def rollout_step(
    worker: Worker, prompt_ids: list[list[int]], problems: list[Any], step: int
) -> tuple[list[Any], list[list[float]]]:
    """Generate G completions per prompt and score them: (completion groups, rewards)."""
    cfg = worker.config
    groups = worker.engine.generate(
        prompt_ids,
        cfg.rollouts_per_prompt,
        cfg.max_new_tokens,
        cfg.temperature,
        seed=cfg.seed * 100_000 + step,
    )
    rewards = [
        [worker.suite.reward(p, c.text, c.finished) for c in group]
        for p, group in zip(problems, groups, strict=True)
    ]
    return groups, rewards


def update_policy(
    worker: Worker, prompt_ids: list[list[int]], groups: list[Any], rewards: list[list[float]]
) -> dict[str, float]:
    """GRPO update on one step's rollouts, normalised as `--loss-agg` says (`grpo.loss_rows`).

    Also counts the step's rollouts, generated tokens and the share of groups whose
    advantages are not all zero (`effective_ratio`).
    """
    cfg = worker.config
    advantages = [grpo_advantages(r, cfg.adv_std) for r in rewards]
    lengths = [[len(c.token_ids) for c in group] for group in groups]
    counts = {
        "rollouts": float(sum(len(group) for group in groups)),
        "generated_tokens": float(sum(sum(group) for group in lengths)),
        "effective_ratio": sum(any(a != 0.0 for a in adv) for adv in advantages) / len(groups),
    }
    rows, denominator, aggregation = loss_rows(
        advantages, lengths, cfg.loss_agg, keep_zero=cfg.kl_coef > 0
    )
    if not rows:
        return {"loss": 0.0, "grad_norm": 0.0, "trained_sequences": 0.0, **counts}
    batch = pack_sequences(
        [prompt_ids[g] for g, _ in rows],
        [groups[g][j].token_ids for g, j in rows],
        worker.tokenizer.pad_token_id,
    )
    loss_config = LossConfig(
        clip_low=cfg.clip, clip_high=cfg.clip, aggregation=aggregation, kl_coef=cfg.kl_coef
    )
    stats = grpo_update(
        worker.model,
        worker.optimizer,
        batch,
        torch.tensor([advantages[g][j] for g, j in rows]),
        loss_config,
        minibatches=min(cfg.minibatches, len(rows)),
        denominator=denominator,
    )
    return {**stats, "trained_sequences": float(len(rows)), **counts}


def train_step(worker: Worker, run_id: str, step: int) -> dict[str, Any]:
    """One GRPO step: sample -> rollout -> reward -> advantage -> update -> sync -> report."""
    cfg = worker.config
    t0 = time.perf_counter()
    sample = worker.client.sample(run_id, batch_size=cfg.prompts_per_step)
    problems = [worker.suite.problem_of(item.arm, item.index) for item in sample.items]
    prompt_ids = [encode_prompt(worker.tokenizer, p.prompt, cfg.chat_template) for p in problems]
    t1 = time.perf_counter()
    groups, rewards = rollout_step(worker, prompt_ids, problems, step)
    t2 = time.perf_counter()
    stats = update_policy(worker, prompt_ids, groups, rewards)
    t3 = time.perf_counter()
    stats.update(sync_engine(worker, step))
    t4 = time.perf_counter()
    results = [
        {"arm": p.level, "index": p.index, "rewards": r}
        for p, r in zip(problems, rewards, strict=True)
    ]
    report = worker.client.report(run_id, results=results, sample_id=sample.sample_id)
    t5 = time.perf_counter()
    times = {
        "sample_s": t1 - t0,
        "rollout_s": t2 - t1,
        "update_s": t3 - t2,
        "sync_s": t4 - t3,
        "report_s": t5 - t4,
    }
    flat = [r for group in rewards for r in group]
    return {
        "step": step,
        "service_step": report.step,
        **times,
        **stats,
        "reward_mean": sum(flat) / len(flat),
        "accuracy": sum(r == cfg.reward_correct for r in flat) / len(flat),
        "probabilities": report.probabilities,
        "q": report.q,
        "arm_rewards": report.arm_rewards,
        "results": results,
    }


def sync_engine(worker: Worker, step: int) -> dict[str, float]:
    """Load the trainer's weights into vLLM; on probe steps check that both score alike.

    Raises:
        WeightSyncError: engine and trainer log-probs differ by more than `probe_tolerance`.
    """
    cfg = worker.config
    stats = {"sync_seconds": worker.engine.sync_weights(worker.model, worker.weights_dir)}
    if cfg.probe_every and step % cfg.probe_every == 0:
        gap = check_sync(worker.engine, worker.model, worker.probe, worker.tokenizer.pad_token_id)
        stats["probe_gap"] = gap
        if gap > cfg.probe_tolerance:
            raise WeightSyncError(
                f"step {step}: engine and trainer log-probs differ by {gap:.3g} > "
                f"{cfg.probe_tolerance:g} after the weight sync (tied embeddings? a dtype mismatch?)"
            )
    return stats


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
    """SFT warmup; stops once success-in-8 on the hardest training level reaches the target."""
    cfg = worker.config
    hardest = worker.suite.train_levels[-1]

    def success_in_8(model: Any) -> float:
        """Share of 64 held-out hardest-level problems solved by at least one of 8 samples."""
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
    )
    history = run_warmup(worker.model, worker.tokenizer, worker.suite, warmup, success_in_8, log)
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


def log_step(record: dict[str, Any], log: Any) -> None:
    """One progress line per step."""
    seconds = sum(record[k] for k in ("sample_s", "rollout_s", "update_s", "sync_s", "report_s"))
    probs = " ".join(f"{k}={v:.2f}" for k, v in record["probabilities"].items())
    log(
        f"step {record['step']} reward={record['reward_mean']:.3f} acc={record['accuracy']:.3f} "
        f"loss={record['loss']:.4f} probe={record.get('probe_gap', float('nan')):.1e} "
        f"time={seconds:.2f}s p: {probs}"
    )


def create_curriculum_run(worker: Worker) -> Run:
    """Create the config's run (its strategy spec, the suite's arms) on the service.

    Called before the warmup, so that a strategy the service refuses fails in seconds.

    Raises:
        ValueError: the service refused the strategy or its options (its 422 message).
    """
    cfg = worker.config
    spec = cfg.strategy_spec()
    try:
        return worker.client.create_run(
            cfg.run_name, arms=worker.suite.arms(), strategy=spec, seed=cfg.seed
        )
    except InvalidRequestError as exc:
        raise ValueError(
            f"the service refused strategy {json.dumps(spec)} (--strategy/--strategy-options): "
            f"{exc}"
        ) from exc


def run_curriculum(
    worker: Worker,
    log: Any = log_line,
    run: Run | None = None,
    on_step: StepCallback | None = None,
) -> dict[str, Any]:
    """Train `steps` GRPO steps from the worker's current model on `run` (created if None).

    `on_step(record)` is called after each step with its record (the one kept in the
    metrics); without it, each step logs one line (`log_step`).

    Returns the run id, one record per step, the held-out evaluation every `eval_every`
    steps (`curve`) and at the end (`evaluation`).
    """
    cfg = worker.config
    run = run or create_curriculum_run(worker)
    log(
        f"run {run.run_id} ({cfg.strategy} {cfg.strategy_options}): "
        f"arms {[a.name for a in run.arms]}, OOD {worker.suite.ood_levels}"
    )
    steps, curve = [], []
    for step in range(cfg.steps):
        if cfg.eval_every and cfg.eval_problems and step % cfg.eval_every == 0:
            curve.append({"step": step, **final_evaluation(worker)})
        record = train_step(worker, run.run_id, step)
        steps.append(record)
        if on_step is not None:
            on_step(record)
        else:
            log_step(record, log)
    evaluation = final_evaluation(worker) if cfg.eval_problems > 0 else {}
    if evaluation:
        curve.append({"step": cfg.steps, **evaluation})
    for level, score in evaluation.items():
        log(
            f"eval {level}: pass@1={score['pass_at_1']:.3f} "
            f"success_in_{cfg.eval_samples}={score['success_in_k']:.3f}"
        )
    return {"run_id": run.run_id, "steps": steps, "curve": curve, "evaluation": evaluation}


def train(
    config: TrainConfig,
    client: CurriculumClient | None = None,
    engine: RolloutBackend | None = None,
    log: Any = log_line,
    on_run: Callable[[Run], None] | None = None,
    on_step: StepCallback | None = None,
) -> dict[str, Any]:
    """Warm up, then run `config.steps` GRPO steps against the service; return the metrics.

    `on_run(run)` is called once the run exists on the service (before the warmup), and
    `on_step(record)` after every GRPO step with that step's record (instead of the step's
    log line). The metrics (also
    written to `out_dir/metrics.json`) hold the config, the warmup history, the run id, one
    record per step (times, loss, rewards, `rollouts`, `generated_tokens`,
    `effective_ratio`, the service's arm values and probabilities) and the held-out
    evaluations.
    """
    worker = open_worker(config, client, engine)
    try:
        worker.client.wait_until_ready(timeout=30)
        run = create_curriculum_run(worker)
        if on_run is not None:
            on_run(run)
        warmup = warm_start(worker, log) if config.warmup_steps > 0 else []
        result = run_curriculum(worker, log, run, on_step)
        metrics = {"config": asdict(config), "warmup": warmup, **result}
    finally:
        if engine is None:  # the engine is ours: stop its processes
            worker.engine.close()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def main(argv: list[str] | None = None) -> int:
    """`python -m gpu_worker.train`: parse the flags and train."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    config = config_or_report("train", TrainConfig, parser.parse_args(argv))
    if config is None:
        return 2
    train(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
