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
`--checkpoint-every N` saves model, optimizer, step and generator states every N steps;
`--resume-from out_dir/checkpoints/step-N` loads one, rewinds the service's run to step N
(`POST /v1/runs/{id}/rewind`) and continues, exactly as an uninterrupted run would.
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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from gpu_worker.config import TrainConfig, add_config_arguments, config_or_report, log_line
from gpu_worker.evaluate import evaluation_due, reached
from gpu_worker.generation import Generation, generate_groups, rollout_step
from gpu_worker.grpo import LossConfig, grpo_update, loss_rows, pack_sequences
from gpu_worker.model import encode_prompt
from gpu_worker.rollout import RolloutBackend, WeightSyncError, check_sync
from gpu_worker.worker import (
    Worker,
    final_evaluation,
    open_worker,
    resume_worker,
    save_checkpoint,
    warm_start,
)
from trainer_client import CurriculumClient, InvalidRequestError, Run
from trainer_client.advantages import grpo_advantages

__all__ = [
    "Generation",
    "create_curriculum_run",
    "generate_groups",
    "open_worker",
    "rollout_step",
    "run_curriculum",
    "train",
    "train_step",
    "warm_start",
]

StepCallback = Callable[[dict[str, Any]], None]


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


# The parts of a step's wall time (its record's keys).
STEP_SECONDS = ("sample_s", "rollout_s", "update_s", "sync_s", "report_s")


def train_step(worker: Worker, run_id: str, step: int) -> dict[str, Any]:
    """One GRPO step: sample -> rollout -> reward -> advantage -> update -> sync -> report."""
    cfg = worker.config
    t0 = time.perf_counter()
    rounds = cfg.max_generation_rounds if cfg.dynamic_sampling else 1
    sample = worker.client.sample(
        run_id, batch_size=cfg.prompts_per_step * rounds, **cfg.sample_options()
    )
    problems = [worker.suite.problem_of(item.arm, item.index) for item in sample.items]
    prompt_ids = [encode_prompt(worker.tokenizer, p.prompt, cfg.chat_template) for p in problems]
    # the service's n_rollouts when the sample asked for a rollout budget
    sizes = [item.n_rollouts or cfg.rollouts_per_prompt for item in sample.items]
    t1 = time.perf_counter()
    made = generate_groups(worker, prompt_ids, problems, sizes, step)
    t2 = time.perf_counter()
    stats: dict[str, float] = {"loss": 0.0, "grad_norm": 0.0, "trained_sequences": 0.0}
    if made.kept:
        stats = update_policy(
            worker,
            [prompt_ids[made.positions[k]] for k in made.kept],
            [made.groups[k] for k in made.kept],
            [made.rewards[k] for k in made.kept],
        )
    stats.update(made.counts())  # every group generated counts, the dropped ones too
    # the service's prediction before the rollouts against the group's fraction correct
    predictions = [
        [sample.items[i].predicted_pass_rate, sum(r == cfg.reward_correct for r in rw) / len(rw)]
        for i, rw in zip(made.positions, made.rewards, strict=True)
        if sample.items[i].predicted_pass_rate is not None
    ]
    problems = [problems[i] for i in made.positions]  # every generated group is reported
    rewards = made.rewards
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
        "predictions": predictions,
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


def log_step(record: dict[str, Any], log: Any) -> None:
    """One progress line per step."""
    seconds = sum(record[k] for k in STEP_SECONDS)
    probs = " ".join(f"{k}={v:.2f}" for k, v in record["probabilities"].items())
    log(
        f"step {record['step']} reward={record['reward_mean']:.3f} acc={record['accuracy']:.3f} "
        f"loss={record['loss']:.4f} probe={record.get('probe_gap', float('nan')):.1e} "
        f"time={seconds:.2f}s p: {probs}"
    )


def create_curriculum_run(worker: Worker) -> Run:
    """Create the config's run (its strategy spec, the suite's arms, per-problem tracking
    with --problems-selection) on the service.

    Called before the warmup, so that a strategy the service refuses fails in seconds.

    Raises:
        ValueError: the service refused the strategy or its options (its 422 message).
    """
    cfg = worker.config
    spec = cfg.strategy_spec()
    try:
        return worker.client.create_run(
            cfg.run_name,
            arms=worker.suite.arms(),
            strategy=spec,
            seed=cfg.seed,
            problems=cfg.problems_spec(),
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
    start: int = 0,
) -> dict[str, Any]:
    """Train GRPO steps `start`..`steps - 1` from the worker's current model on `run`
    (created if None), saving a checkpoint after every `checkpoint_every`-th step.

    RL stops early at the first evaluation that reaches `stop_at_id_pass1`, or once it has
    generated `rollout_limit` rollouts (both off by default).

    `on_step(record)` is called after each step with its record (the one kept in the
    metrics); without it, each step logs one line (`log_step`).

    Returns the run id, one record per step, the held-out evaluation every `eval_every`
    steps (`curve`, each point with the `rollouts`, generated `tokens` and `seconds` that RL
    had spent by then) and at the end (`evaluation`).
    """
    cfg = worker.config
    run = run or create_curriculum_run(worker)
    log(
        f"run {run.run_id} ({cfg.strategy} {cfg.strategy_options}): "
        f"arms {[a.name for a in run.arms]}, OOD {worker.suite.ood_levels}"
    )
    steps, curve = [], []
    spent = {"rollouts": 0.0, "tokens": 0.0, "seconds": 0.0}  # by RL so far, evaluation excluded
    next_eval = 0.0  # the rollouts at which the rollout grid evaluates next
    step, evaluation = start, {}
    for step in range(start, cfg.steps):
        if cfg.rollout_limit and spent["rollouts"] >= cfg.rollout_limit:
            log(f"step {step}: {spent['rollouts']:.0f} rollouts reached the limit, stopping")
            break  # the final evaluation below is this point's
        if evaluation_due(cfg, step, spent["rollouts"], next_eval):
            evaluation = final_evaluation(worker)
            curve.append({"step": step, **spent, **evaluation})
            next_eval = spent["rollouts"] + cfg.eval_every_rollouts
            if reached(cfg, evaluation):
                log(f"step {step}: mean ID pass@1 reached {cfg.stop_at_id_pass1:g}, stopping")
                break
            evaluation = {}
        record = train_step(worker, run.run_id, step)
        steps.append(record)
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0:
            save_checkpoint(worker, run.run_id, record["service_step"])
        spent["rollouts"] += record["rollouts"]
        spent["tokens"] += record["generated_tokens"]
        spent["seconds"] += sum(record[k] for k in STEP_SECONDS)
        if on_step is not None:
            on_step(record)
        else:
            log_step(record, log)
    else:
        step = cfg.steps
    if not evaluation and cfg.eval_problems > 0:
        evaluation = final_evaluation(worker)
        curve.append({"step": step, **spent, **evaluation})
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
        start, warmup = 0, []
        if config.resume_from:  # the checkpoint holds the warmed-up model
            run, start = resume_worker(worker, Path(config.resume_from))
            log(f"resumed run {run.run_id} at step {start} from {config.resume_from}")
        else:
            run = create_curriculum_run(worker)
        if on_run is not None:
            on_run(run)
        if not config.resume_from and config.warmup_steps > 0:
            warmup = warm_start(worker, log)
        result = run_curriculum(worker, log, run, on_step, start)
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
