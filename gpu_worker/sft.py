"""SFT on failures: ask the teacher only where the model fails (autocurriculum for SFT).

Rajaraman et al. (arXiv 2603.18325) show that an SFT learner that spends teacher
demonstrations only on prompts the current model gets wrong (boosting, learning from
counterexamples) needs far fewer demonstrations than one that is shown random prompts.
This loop does that against the ZPD service. One round:

1. `sample`: `prompts_per_round` problems; `mode="failures"` asks with
   `purpose="demonstrations"` (the service picks them with weight 1 - E[pass rate] of its
   per-problem posterior, as boosting weights its mistakes), `mode="uniform"` samples the
   ordinary way (uniform over problems), and so does `mode="filter"` (the ablation: the
   worker's "teacher only on failure" filter without the service's weights).
2. attempt: the current model answers each problem greedily (plain torch decoding).
3. `report`: each problem's outcome, `rewards=[1]` if the answer verified, else `[0]`;
   the service folds them into its per-problem posteriors.
4. teacher: a demonstration (the task's reference answer, `TaskSuite.format_answer`) for
   every problem the model failed (`failures`, `filter`), or for every sampled problem
   (`uniform`).
5. SFT: `sft_steps` AdamW steps on `sft_loss` (the warmup's loss); each batch is the
   round's new demonstrations, filled up to `batch_size` with demonstrations of earlier
   rounds (collected demonstrations are reused for free; only teacher calls cost).

Every `eval_every` rounds the held-out greedy accuracy (each level's eval split, the mean
over levels) is measured; the loop stops at `target`, `max_demonstrations` or `max_rounds`.

Two counters, which differ on purpose: the worker's `teacher_calls` is the number of
demonstrations actually asked of the teacher (the cost the paper counts); the service's
`demonstrations` (`GET /v1/runs/{id}`) is the number of problems it handed out with
`purpose="demonstrations"`, i.e. `prompts_per_round` per round in `failures` mode (the model
solves some of them, and no teacher is asked for those) and 0 in `uniform` mode.

    zpd sft --service-url http://127.0.0.1:8000 --mode failures --out-dir runs/sft

Its flags are `SFTConfig`'s (`gpu_worker/config.py`). torch, transformers and reasoning-gym
are imported inside the functions that run the loop, so the pure helpers load without them.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpu_worker.config import SFTConfig, add_dataclass_arguments, config_or_report, log_line
from gpu_worker.greedy import evaluate_greedy, greedy_completions, verify

__all__ = ["SFTConfig", "fill_batch", "greedy_completions", "problems_to_ask", "run_sft", "sft"]

if TYPE_CHECKING:
    import torch

    from gpu_worker.tasks import Problem, TaskSuite
    from trainer_client import CurriculumClient

Teacher = Callable[["Problem"], str]


# -- pure helpers ---------------------------------------------------------------------------


def problems_to_ask(mode: str, verified: Sequence[bool]) -> list[int]:
    """Positions of the sampled problems the teacher is asked about: all of them in
    `uniform` mode, the failed ones in `failures` and `filter` modes."""
    if mode == "uniform":
        return list(range(len(verified)))
    return [i for i, ok in enumerate(verified) if not ok]


def fill_batch(
    new: Sequence[Any], earlier: Sequence[Any], batch_size: int, rng: random.Random
) -> list[Any]:
    """All of `new`, then distinct draws from `earlier` until `batch_size` items (if enough)."""
    room = max(0, batch_size - len(new))
    return list(new) + rng.sample(list(earlier), min(room, len(earlier)))


# -- the loop -------------------------------------------------------------------------------


@dataclass
class SFTWorker:
    """What the loop needs in hand."""

    config: SFTConfig
    suite: TaskSuite
    model: Any
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    client: CurriculumClient
    teacher: Teacher
    rng: random.Random
    pool: list[tuple[list[int], list[int]]]  # every demonstration so far: (prompt, answer + eos)
    teacher_calls: int = 0
    sft_steps: int = 0


def reference_teacher(suite: TaskSuite) -> Teacher:
    """The teacher: the task's reference answer (reasoning-gym's solver), as a completion."""

    def demonstrate(problem: Problem) -> str:
        return suite.format_answer(problem.answer)

    return demonstrate


def sft_round(worker: SFTWorker, run_id: str, round_no: int) -> dict[str, Any]:
    """One round: sample -> attempt -> report -> teacher (failures or all) -> SFT step(s)."""
    import torch

    from gpu_worker.model import encode_prompt
    from gpu_worker.warmup import sft_loss

    cfg, tok = worker.config, worker.tokenizer
    purpose = "demonstrations" if cfg.mode == "failures" else "train"
    sample = worker.client.sample(run_id, cfg.prompts_per_round, purpose=purpose)
    problems = [worker.suite.problem_of(item.arm, item.index) for item in sample.items]
    verified = verify(worker.model, tok, worker.suite, problems, cfg.max_new_tokens)
    results = [
        {"arm": p.level, "index": p.index, "rewards": [1.0 if ok else 0.0]}
        for p, ok in zip(problems, verified, strict=True)
    ]
    worker.client.report(run_id, results=results, sample_id=sample.sample_id)
    asked = [problems[i] for i in problems_to_ask(cfg.mode, verified)]
    new = []
    for problem in asked:
        answer = tok(worker.teacher(problem), add_special_tokens=False)["input_ids"]
        new.append((encode_prompt(tok, problem.prompt), answer + [tok.eos_token_id]))
    worker.teacher_calls += len(new)
    losses = []
    for _ in range(cfg.sft_steps if new else 0):
        batch = fill_batch(new, worker.pool, cfg.batch_size, worker.rng)
        loss = sft_loss(
            worker.model, [b[0] for b in batch], [b[1] for b in batch], tok.pad_token_id
        )
        worker.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(worker.model.parameters(), 1.0)
        worker.optimizer.step()
        worker.sft_steps += 1
        losses.append(loss.item())
    worker.pool.extend(new)
    rechecked = 0
    if cfg.recheck and asked:
        # boosting reweights with the *new* model's mistakes: tell the service which of the
        # demonstrated problems the model now solves
        again = verify(worker.model, tok, worker.suite, asked, cfg.max_new_tokens)
        worker.client.report(
            run_id,
            results=[
                {"arm": p.level, "index": p.index, "rewards": [1.0 if ok else 0.0]}
                for p, ok in zip(asked, again, strict=True)
            ],
        )
        rechecked = sum(again)
    return {
        "round": round_no,
        "sampled": len(problems),
        "solved": sum(verified),
        "asked": len(asked),
        "solved_after": rechecked,
        "loss": sum(losses) / len(losses) if losses else None,
    }


def open_sft_worker(
    config: SFTConfig, client: CurriculumClient | None = None, teacher: Teacher | None = None
) -> SFTWorker:
    """Build the suite, the model (tiny from scratch, or `config.model`) and the optimizer."""
    import torch

    from gpu_worker.model import build_char_tokenizer, build_tiny_llama, load_model
    from gpu_worker.tasks import TaskSuite, chain_sum_levels
    from trainer_client import CurriculumClient

    torch.set_num_threads(config.torch_threads)
    suite = TaskSuite(
        chain_sum_levels(config.level_digits(), size=config.train_size),
        ood_levels=0,
        seed=config.seed + 1234,
        eval_size=max(1_000, config.eval_problems),
    )
    if config.model:
        model, tokenizer = load_model(config.model)
    else:
        tokenizer = build_char_tokenizer()
        model = build_tiny_llama(tokenizer, seed=config.seed)
    if torch.cuda.is_available():
        torch.nn.Module.to(model, "cuda")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    return SFTWorker(
        config=config,
        suite=suite,
        model=model,
        tokenizer=tokenizer,
        optimizer=optimizer,
        client=client or CurriculumClient(config.service_url, timeout=config.request_timeout),
        teacher=teacher or reference_teacher(suite),
        rng=random.Random(config.seed),
        pool=[],
    )


def evaluation_point(
    worker: SFTWorker, run_id: str, round_no: int, seconds: float
) -> dict[str, Any]:
    """Held-out greedy accuracy (mean over levels) and both demonstration counters."""
    cfg = worker.config
    levels = evaluate_greedy(
        worker.model, worker.tokenizer, worker.suite, cfg.eval_problems, cfg.max_new_tokens
    )
    return {
        "round": round_no,
        "teacher_calls": worker.teacher_calls,
        "service_demonstrations": worker.client.get_run(run_id).demonstrations,
        "sft_steps": worker.sft_steps,
        "seconds": seconds,
        "accuracy": sum(levels.values()) / len(levels),
        "levels": levels,
    }


def run_sft(worker: SFTWorker, log: Callable[[str], None] = log_line) -> dict[str, Any]:
    """Create a run and train round by round until the target accuracy or a budget.

    Returns the run id, one record per round, the evaluation curve and what it took to
    reach the target (`None` where it was not reached).
    """
    cfg = worker.config
    run = worker.client.create_run(
        cfg.run_name,
        arms=worker.suite.arms(),
        strategy="random",  # uniform over problems: the per-problem choice is the subject here
        seed=cfg.seed,
        problems={"selection": "uniform", "candidates": cfg.candidates},
    )
    log(f"run {run.run_id} ({cfg.mode}): arms {[a.name for a in run.arms]}")
    start = time.perf_counter()
    rounds: list[dict[str, Any]] = []
    curve = [evaluation_point(worker, run.run_id, 0, 0.0)]
    round_no = 0
    while (
        curve[-1]["accuracy"] < cfg.target
        and worker.teacher_calls < cfg.max_demonstrations
        and round_no < cfg.max_rounds
    ):
        round_no += 1
        rounds.append(sft_round(worker, run.run_id, round_no))
        if round_no % cfg.eval_every == 0:
            point = evaluation_point(worker, run.run_id, round_no, time.perf_counter() - start)
            curve.append(point)
            levels = " ".join(f"{k}={v:.3f}" for k, v in point["levels"].items())
            log(
                f"sft {cfg.mode} round {round_no} teacher_calls={point['teacher_calls']} "
                f"service_demonstrations={point['service_demonstrations']} "
                f"acc={point['accuracy']:.3f} ({levels}) {point['seconds']:.1f}s"
            )
    if curve[-1]["round"] != round_no:  # a budget stopped it between evaluations
        curve.append(evaluation_point(worker, run.run_id, round_no, time.perf_counter() - start))
    reached = curve[-1]["accuracy"] >= cfg.target
    return {
        "run_id": run.run_id,
        "mode": cfg.mode,
        "reached": reached,
        "teacher_calls": worker.teacher_calls,
        "service_demonstrations": curve[-1]["service_demonstrations"],
        "rounds": round_no,
        "sft_steps": worker.sft_steps,
        "seconds": time.perf_counter() - start,
        "final_accuracy": curve[-1]["accuracy"],
        "curve": curve,
        "round_records": rounds,
    }


def sft(config: SFTConfig, client: CurriculumClient | None = None) -> dict[str, Any]:
    """Run the loop and write `out_dir/metrics.json` (config + `run_sft`'s answer)."""
    worker = open_sft_worker(config, client)
    metrics = {"config": asdict(config), **run_sft(worker)}
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    log_line(
        f"sft {config.mode}: reached={metrics['reached']} teacher_calls={metrics['teacher_calls']} "
        f"rounds={metrics['rounds']} accuracy={metrics['final_accuracy']:.3f} -> {out / 'metrics.json'}"
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    """`python -m gpu_worker.sft`: parse the flags and run the loop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dataclass_arguments(parser, SFTConfig)
    config = config_or_report("sft", SFTConfig, parser.parse_args(argv))
    if config is None:
        return 2
    sft(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
