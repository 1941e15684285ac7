"""The worker's configuration: one dataclass whose fields are also the `--flags`.

Kept free of torch, vLLM and transformers so that the `zpd` command line can build its
subcommands without importing them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from typing import Any

STRATEGIES = ("sec", "random", "ordered", "reverse")


def log_line(line: str) -> None:
    """Print one progress line at once (runs are often piped to a file)."""
    print(line, flush=True)


def _opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field carrying its command-line help text."""
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """Everything the worker can be configured with; each field is also a `--flag`."""

    service_url: str = _opt("http://127.0.0.1:8000", "URL of the ZPD service")
    run_name: str = _opt("gpu-worker", "name of the run created on the service")
    strategy: str = _opt("sec", f"curriculum strategy, one of {STRATEGIES}")
    alpha: float = _opt(0.5, "SEC TD(0) learning rate")
    tau: float = _opt(0.3, "SEC Boltzmann temperature (0.2-0.5 suits rewards in [0, 1])")
    seed: int = _opt(0, "seed of the run, the model init, sampling and the warmup")
    model: str = _opt("", "local model folder; empty builds the tiny char-level Llama")
    out_dir: str = _opt("runs/gpu-worker", "where the model, synced weights and metrics go")
    digits: str = _opt("1,2,3,4", "chain_sum levels by digits per number, comma-separated")
    ood_levels: int = _opt(1, "how many of the hardest levels are held out (never arms)")
    chat_template: bool = _opt(
        False, "wrap each prompt in the tokenizer's chat template (instruct models)"
    )
    prompt_style: str = _opt(
        "compact", "'compact' (12+34=) for the char model, 'question' otherwise"
    )
    steps: int = _opt(100, "GRPO steps")
    prompts_per_step: int = _opt(16, "problems sampled from the service per step")
    rollouts_per_prompt: int = _opt(8, "G: completions per problem")
    max_new_tokens: int = _opt(8, "longest completion")
    temperature: float = _opt(1.0, "sampling temperature of the rollouts")
    lr: float = _opt(1e-4, "AdamW learning rate of the RL updates")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    minibatches: int = _opt(1, "optimizer steps per GRPO step (the batch is split)")
    clip: float = _opt(0.2, "PPO ratio clip epsilon (both sides)")
    kl_coef: float = _opt(0.0, "KL penalty to the initial policy (0 = off, as in the paper)")
    adv_std: str = _opt("unbiased", "advantage scale: unbiased, population, none (Dr. GRPO)")
    reward_correct: float = _opt(1.0, "reward of a correct answer")
    reward_formatted: float = _opt(0.1, "reward of a well-formatted wrong answer")
    reward_invalid: float = _opt(0.0, "reward of anything else")
    warmup_steps: int = _opt(600, "SFT warmup steps before RL (0 = none)")
    warmup_lr: float = _opt(1e-3, "SFT warmup learning rate")
    warmup_task: str = _opt(
        "levels",
        "'levels': solved problems of the training levels; 'knights_knaves': step-by-step "
        "Knights & Knaves solutions from our solver (needs a --model with a long context)",
    )
    warmup_target: float = _opt(
        0.6,
        "stop warmup once success-in-8 on the hardest training level reaches this (<= 0: never)",
    )
    probe_every: int = _opt(1, "check engine vs trainer log-probs every N steps (0 = never)")
    probe_tolerance: float = _opt(1e-3, "largest allowed log-prob gap after a sync")
    eval_problems: int = _opt(200, "held-out problems per level in the final evaluation (0 = skip)")
    eval_samples: int = _opt(8, "samples per problem in the final evaluation")
    eval_every: int = _opt(
        0, "also evaluate every N steps, for accuracy curves (0 = only at the end)"
    )
    gpu_memory_utilization: float = _opt(0.15, "vLLM memory share (CPU RAM share on CPU)")
    max_model_len: int = _opt(256, "vLLM context length")
    tensor_parallel_size: int = _opt(1, "vLLM tensor parallel degree (GPUs per engine)")
    torch_threads: int = _opt(1, "torch threads of the trainer process (1 is robust when shared)")
    request_timeout: float = _opt(10.0, "seconds per service request")

    def __post_init__(self) -> None:
        problems = []
        if self.strategy not in STRATEGIES:
            problems.append(f"strategy must be one of {STRATEGIES}")
        if self.prompt_style not in ("compact", "question"):
            problems.append("prompt_style must be 'compact' or 'question'")
        if self.adv_std not in ("unbiased", "population", "none"):
            problems.append("adv_std must be unbiased, population or none")
        if self.rollouts_per_prompt < 2:
            problems.append(
                "rollouts_per_prompt must be >= 2: GRPO compares rollouts of one prompt"
            )
        if min(self.steps, self.prompts_per_step, self.max_new_tokens, self.minibatches) < 1:
            problems.append("steps, prompts_per_step, max_new_tokens and minibatches must be >= 1")
        if self.minibatches > self.prompts_per_step * self.rollouts_per_prompt:
            problems.append("minibatches cannot exceed prompts_per_step * rollouts_per_prompt")
        if self.lr <= 0 or self.tau <= 0 or not 0 < self.alpha <= 1:
            problems.append("need lr > 0, tau > 0 and 0 < alpha <= 1")
        if self.probe_tolerance <= 0 or self.torch_threads < 1:
            problems.append("need probe_tolerance > 0 and torch_threads >= 1")
        if min(self.eval_every, self.eval_problems, self.warmup_steps, self.probe_every) < 0:
            problems.append("eval_every, eval_problems, warmup_steps and probe_every must be >= 0")
        if self.chat_template and not self.model:
            problems.append(
                "chat_template needs --model: the tiny char tokenizer has no chat template"
            )
        if self.warmup_task not in ("levels", "knights_knaves"):
            problems.append("warmup_task must be 'levels' or 'knights_knaves'")
        if self.warmup_task == "knights_knaves" and not self.model:
            problems.append(
                "warmup_task knights_knaves writes traces of several hundred tokens: pass --model "
                "(the tiny model has 256 positions)"
            )
        if self.eval_problems and self.eval_samples < 1:
            problems.append("eval_samples must be >= 1")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))
        self.level_digits()  # validates the digits list

    def level_digits(self) -> list[int]:
        """The `digits` field as a list of ints."""
        try:
            return [int(d) for d in self.digits.split(",") if d.strip()]
        except ValueError as exc:
            raise ValueError(f"digits must be comma-separated ints, got {self.digits!r}") from exc

    def strategy_spec(self) -> dict[str, Any]:
        """The service's strategy object for this config."""
        if self.strategy == "sec":
            return {"name": "sec", "alpha": self.alpha, "tau": self.tau}
        if self.strategy in ("ordered", "reverse"):
            return {"name": self.strategy, "total_steps": self.steps}
        return {"name": self.strategy}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one `--flag` per `TrainConfig` field, with its help text and default."""
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        text = f"{f.metadata['help']} (default: {f.default})"
        if str(f.type) == "bool":
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag, action=action, default=f.default, help=text)
            continue
        kind = {"int": int, "float": float, "str": str}[str(f.type)]
        parser.add_argument(flag, type=kind, default=f.default, help=text)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The `TrainConfig` of parsed arguments."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
