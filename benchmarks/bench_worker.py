"""Benchmark of the GRPO worker: vLLM vs transformers rollouts, and one step's time split.

    python benchmarks/bench_worker.py --out runs/bench_worker.json

1. Rollout throughput: the same model and prompts, `n` samples each, `max_tokens` new tokens,
   with vLLM (`RolloutEngine.generate`) and with `transformers` `generate` (sampling,
   KV cache). Generated tokens per second, best of `--repeats` after one warm-up call.
2. GRPO step split: a real `zpd serve` on a temporary SQLite file, a short SFT warmup so the
   update has signal, then `--steps` worker steps; mean seconds of sample (service call),
   rollout, update, sync (save + reload + probe) and report (service call).

Prints a table and writes JSON. Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpu_worker.model import build_char_tokenizer, build_tiny_llama, load_model, save_model  # noqa: E402
from gpu_worker.rollout import EngineConfig, RolloutEngine  # noqa: E402
from gpu_worker.tasks import default_suite  # noqa: E402

PHASES = ("sample_s", "rollout_s", "update_s", "sync_s", "report_s")


def bench_vllm(
    engine: RolloutEngine, prompts: list[list[int]], n: int, max_tokens: int, repeats: int
) -> dict[str, float]:
    """Best generated-tokens/s of vLLM over `repeats` calls (after one warm-up call)."""
    engine.generate(prompts, n, max_tokens, seed=0)
    best = 0.0
    for r in range(repeats):
        start = time.perf_counter()
        groups = engine.generate(prompts, n, max_tokens, seed=r + 1)
        seconds = time.perf_counter() - start
        tokens = sum(len(c.token_ids) for g in groups for c in g)
        best = max(best, tokens / seconds)
    return {"tokens_per_s": best, "sequences": len(prompts) * n}


def bench_transformers(
    model: Any, tokenizer: Any, prompts: list[list[int]], n: int, max_tokens: int, repeats: int
) -> dict[str, float]:
    """Best generated-tokens/s of `model.generate` (sampling, KV cache, left padding)."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts])
    mask = (
        torch.arange(width)[None, :] >= torch.tensor([width - len(p) for p in prompts])[:, None]
    ).long()
    model.eval()
    best = 0.0
    for r in range(repeats + 1):
        torch.manual_seed(r)
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                num_return_sequences=n,
                max_new_tokens=max_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        seconds = time.perf_counter() - start
        new = out[:, width:]
        # Tokens up to and including the first eos (the rest is padding after a finished row).
        finished = (new == tokenizer.eos_token_id).cumsum(-1)
        tokens = int(((finished == 0) | ((finished == 1) & (new == tokenizer.eos_token_id))).sum())
        if r > 0:  # the first call is the warm-up
            best = max(best, tokens / seconds)
    return {"tokens_per_s": best, "sequences": len(prompts) * n}


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_steps(
    engine: RolloutEngine, workdir: Path, steps: int, warmup_steps: int
) -> dict[str, float]:
    """Mean seconds per phase of `steps` worker steps against a fresh `zpd serve`."""
    from gpu_worker.config import TrainConfig
    from gpu_worker.train import open_worker, train_step, warm_start
    from trainer_client import CurriculumClient

    port = free_port()
    env = {**os.environ, "ZPD_DATABASE_URL": f"sqlite:///{workdir / 'zpd.db'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        client = CurriculumClient(url, timeout=10.0)
        client.wait_until_ready(timeout=30)
        config = TrainConfig(
            service_url=url,
            steps=steps,
            warmup_steps=warmup_steps,
            warmup_target=0.0,
            out_dir=str(workdir / "run"),
        )
        worker = open_worker(config, client, engine)
        if warmup_steps:
            warm_start(worker, log=lambda line: None)
        run = client.create_run(
            "bench", arms=worker.suite.arms(), strategy=config.strategy_spec(), seed=0
        )
        records = [train_step(worker, run.run_id, step) for step in range(steps)]
    finally:
        server.terminate()
        server.wait(timeout=15)
    means = {k: sum(r[k] for r in records) / len(records) for k in PHASES}
    means["total_s"] = sum(means.values())
    means["trained_sequences"] = sum(r["trained_sequences"] for r in records) / len(records)
    return means


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="local model folder (default: the tiny model)")
    parser.add_argument("--prompts", type=int, default=64, help="prompts per generate call")
    parser.add_argument("--n", type=int, default=8, help="samples per prompt")
    parser.add_argument("--max-tokens", type=int, default=32, help="new tokens per sample")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (best is kept)")
    parser.add_argument("--steps", type=int, default=10, help="worker steps to time (0 = skip)")
    parser.add_argument(
        "--warmup-steps", type=int, default=100, help="SFT steps before timing worker steps"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process")
    parser.add_argument("--out", default="runs/bench_worker.json", help="JSON output path")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="bench_worker_"))
    if args.model:
        model, tokenizer = load_model(args.model)
        model_dir = Path(args.model)
    else:
        tokenizer = build_char_tokenizer()
        model = build_tiny_llama(tokenizer)
        model_dir = save_model(model, tokenizer, workdir / "model")
    suite = default_suite()
    prompts = [
        tokenizer(suite.problem("chain_sum/d2", i).prompt)["input_ids"] for i in range(args.prompts)
    ]
    with RolloutEngine(model_dir, EngineConfig(seed=0)) as engine:
        results: dict[str, Any] = {
            "setup": vars(args),
            "device": "cuda" if torch.cuda.is_available() else "cpu",
        }
        results["vllm"] = bench_vllm(engine, prompts, args.n, args.max_tokens, args.repeats)
        results["transformers"] = bench_transformers(
            model, tokenizer, prompts, args.n, args.max_tokens, args.repeats
        )
        if args.steps:
            results["grpo_step"] = bench_steps(engine, workdir, args.steps, args.warmup_steps)
    print(f"rollouts: {args.prompts} prompts x n={args.n}, {args.max_tokens} new tokens")
    for name in ("vllm", "transformers"):
        print(f"  {name:<13} {results[name]['tokens_per_s']:>10.0f} tokens/s")
    if "grpo_step" in results:
        print(
            "GRPO step (mean seconds): "
            + "  ".join(f"{k[:-2]} {results['grpo_step'][k]:.3f}" for k in (*PHASES, "total_s"))
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
