"""Every flag of the worker's commands, and their configurations, in one torch-free module.

`TrainConfig` (`zpd train`, `zpd compare`), `SFTConfig` (`zpd sft`) and `DemoConfig`
(`zpd demo-worker`) are dataclasses whose fields are also the `--flags` (`option` carries the
help text); `__post_init__` refuses bad combinations and says the fix. `zpd compare`'s own
flags (`add_compare_arguments`) live here too. This module imports neither torch, vLLM nor
transformers, so the `zpd` command line builds its subcommands without loading them; the
modules that run a command (`train`, `compare`, `demo`, `sft`) import it, never the reverse.
It runs past 350 lines on purpose: every flag in one place, declarations and validation only.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from trainer_client.advantages import StdMode

# The service's registered strategies (docs/strategies.md), for help texts only: the worker
# passes any well-formed name on and the service answers 422 for one it does not know, so a
# new strategy needs no worker change.
KNOWN_STRATEGIES = (
    "sec", "random", "ordered", "reverse", "ducb", "thompson", "exp3",
    "learning_progress", "adarft", "threshold",
)  # fmt: skip
_STRATEGY_NAME = re.compile(r"[a-z][a-z0-9_]*")
T = TypeVar("T")

# How the policy-gradient loss of a batch is normalised (gpu_worker/grpo.py states the formulas;
# docs/gpu_worker.md names verl's `loss_agg_mode` equivalents).
LossAgg = Literal["token-mean", "nonzero-token-mean", "seq-mean-token-mean"]
LOSS_AGGS: tuple[str, ...] = get_args(LossAgg)
# Where rollouts are generated: a vLLM engine, or a transformers copy of the model (no vLLM).
RolloutBackendName = Literal["vllm", "transformers"]
ROLLOUT_BACKENDS: tuple[str, ...] = get_args(RolloutBackendName)
STD_MODES: tuple[str, ...] = get_args(StdMode)
DEVICES = ("auto", "cpu", "cuda")
PROBLEM_SELECTIONS = ("none", "uniform", "frontier")


def parse_digits(text: str) -> list[int]:
    """`"1,2,3"` -> `[1, 2, 3]`: chain_sum levels by digits per number.

    Raises:
        ValueError: not comma-separated ints.
    """
    try:
        return [int(d) for d in text.split(",") if d.strip()]
    except ValueError as exc:
        raise ValueError(f"digits must be comma-separated ints, got {text!r}") from exc


def log_line(line: str) -> None:
    """Print one progress line at once (runs are often piped to a file)."""
    print(line, flush=True)


def option(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field carrying its command-line help text (and e.g. `choices`)."""
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """Everything the worker can be configured with; each field is also a `--flag`."""

    service_url: str = option("http://127.0.0.1:8000", "URL of the ZPD service")
    run_name: str = option("gpu-worker", "name of the run created on the service")
    strategy: str = option(
        "sec",
        f"curriculum strategy, any name the service registers ({', '.join(KNOWN_STRATEGIES)})",
    )
    strategy_options: str = option(
        "{}",
        'JSON object of strategy options, e.g. \'{"objective": "pass_rate"}\'; '
        "they override --alpha/--tau (sec) and total_steps (ordered, reverse)",
    )
    alpha: float = option(0.5, "SEC TD(0) learning rate (sec only)")
    tau: float = option(
        0.3, "SEC Boltzmann temperature, 0.2-0.5 suits rewards in [0, 1] (sec only)"
    )
    seed: int = option(0, "seed of the run, the model init, sampling and the warmup")
    model: str = option("", "local model folder; empty builds the tiny char-level Llama")
    out_dir: str = option("runs/gpu-worker", "where the model, synced weights and metrics go")
    suite: str = option(
        "chain_sum",
        "the levels: 'chain_sum' (+/- of two numbers by --digits, compact prompts, index "
        "split) or 'addition' (the curriculum testbed: two-number addition by --digits, "
        "numbers written least significant digit first, train/dev/eval split by prompt content)",
        choices=("chain_sum", "addition"),
    )
    digits: str = option("1,2,3,4", "levels by digits per number, comma-separated")
    ood_levels: int = option(1, "how many of the hardest levels are held out (never arms)")
    chat_template: bool = option(
        False, "wrap each prompt in the tokenizer's chat template (instruct models)"
    )
    prompt_style: str = option(
        "compact", "'compact' (12+34=) for the char model, 'question' otherwise"
    )
    steps: int = option(100, "GRPO steps")
    prompts_per_step: int = option(16, "problems sampled from the service per step")
    rollouts_per_prompt: int = option(8, "G: completions per problem")
    dynamic_sampling: bool = option(
        False,
        "DAPO's dynamic sampling (baseline): sample prompts_per_step * max_generation_rounds "
        "problems, roll them out prompts_per_step at a time, drop groups whose rewards all "
        "agree, until prompts_per_step groups are kept; every rollout counts",
    )
    max_generation_rounds: int = option(
        4, "with --dynamic-sampling: the most generation rounds per step"
    )
    problems_selection: str = option(
        "none",
        "per-problem tracking of the run: 'none' (the strategy draws arms, problems uniformly "
        "within them), 'uniform' or 'frontier' (the service picks problems by their predicted "
        "pass rate); needed by --rollout-budget",
        choices=PROBLEM_SELECTIONS,
    )
    problems_options: str = option(
        "{}",
        "JSON object of the run's other per-problem options, e.g. "
        '\'{"prior": "pooled", "reprobe": 0.1, "discount": 0.95}\' (see docs/problems.md); '
        "needs --problems-selection uniform|frontier",
    )
    rollout_budget: int = option(
        0,
        "rollouts per step the service spreads over the step's problems, each getting "
        "[--min-rollouts, --max-rollouts], more where the group is least likely to all agree "
        "(0 = off: --rollouts-per-prompt each; needs --problems-selection uniform|frontier)",
    )
    min_rollouts: int = option(2, "with --rollout-budget: the fewest rollouts of a problem")
    max_rollouts: int = option(16, "with --rollout-budget: the most rollouts of a problem")
    max_new_tokens: int = option(8, "longest completion")
    temperature: float = option(1.0, "sampling temperature of the rollouts")
    lr: float = option(1e-4, "AdamW learning rate of the RL updates")
    weight_decay: float = option(0.0, "AdamW weight decay")
    minibatches: int = option(1, "optimizer steps per GRPO step (the batch is split)")
    clip: float = option(0.2, "PPO ratio clip epsilon (both sides)")
    kl_coef: float = option(0.0, "KL penalty to the initial policy (0 = off, as in the paper)")
    adv_std: StdMode = option(
        "unbiased", "advantage scale: unbiased, population, none (Dr. GRPO)", choices=STD_MODES
    )
    loss_agg: LossAgg = option(
        "token-mean",
        "loss normalisation: 'token-mean' divides by all response tokens of the batch, "
        "zero-advantage rollouts included (verl's token-mean); 'nonzero-token-mean' drops "
        "zero-advantage rollouts first (the worker's old default); 'seq-mean-token-mean' "
        "averages per sequence, then over all sequences",
        choices=LOSS_AGGS,
    )
    reward_correct: float = option(1.0, "reward of a correct answer")
    reward_formatted: float = option(0.1, "reward of a well-formatted wrong answer")
    reward_invalid: float = option(0.0, "reward of anything else")
    warmup_steps: int = option(600, "SFT warmup steps before RL (0 = none)")
    warmup_lr: float = option(1e-3, "SFT warmup learning rate")
    warmup_task: str = option(
        "levels",
        "'levels': solved problems of the training levels; 'knights_knaves': step-by-step "
        "Knights & Knaves solutions from our solver (needs a --model with a long context)",
    )
    warmup_target: float = option(
        0.6,
        "stop warmup once success-in-8 on 64 dev-split problems of the hardest level it trains "
        "on (the hardest training level, or of --warmup-levels) reaches this, checked every 100 "
        "steps (<= 0: never, and nothing is evaluated during the warmup)",
    )
    warmup_levels: int = option(
        0, "warm up on the N easiest training levels only (0: all training levels)"
    )
    probe_every: int = option(1, "check engine vs trainer log-probs every N steps (0 = never)")
    probe_tolerance: float = option(1e-3, "largest allowed log-prob gap after a sync")
    eval_problems: int = option(
        200, "held-out problems per level in the final evaluation (0 = skip)"
    )
    eval_samples: int = option(8, "samples per problem in the final evaluation")
    eval_every: int = option(
        0, "also evaluate every N steps, for accuracy curves (0 = only at the end)"
    )
    eval_every_rollouts: int = option(
        0,
        "also evaluate before the first step after every N more rollouts generated by RL (a "
        "grid in rollouts, the same for methods that spend different rollouts per step; 0 = off)",
    )
    stop_at_id_pass1: float = option(
        0.0,
        "stop RL at the first evaluation whose mean held-out in-distribution pass@1 reaches "
        "this (0 = never)",
    )
    rollout_limit: int = option(
        0, "stop RL once it has generated this many rollouts, discarded included (0 = no limit)"
    )
    rollout_backend: RolloutBackendName = option(
        "vllm",
        "'vllm': a vLLM engine; 'transformers': a transformers copy of the model generates "
        "(no vLLM needed, slower)",
        choices=ROLLOUT_BACKENDS,
    )
    device: str = option(
        "auto",
        "device of the trainer (and of the transformers backend): auto, cpu, cuda",
        choices=DEVICES,
    )
    gpu_memory_utilization: float = option(0.15, "vLLM memory share (CPU RAM share on CPU)")
    max_model_len: int = option(256, "vLLM context length")
    tensor_parallel_size: int = option(1, "vLLM tensor parallel degree (GPUs per engine)")
    torch_threads: int = option(1, "torch threads of the trainer process (1 is robust when shared)")
    request_timeout: float = option(10.0, "seconds per service request")
    checkpoint_every: int = option(
        0,
        "save a checkpoint (model, optimizer, step, generator states) every N GRPO steps "
        "under out_dir/checkpoints/step-N (0 = never)",
    )
    resume_from: str = option(
        "",
        "a checkpoint folder (out_dir/checkpoints/step-N) to resume from: the service's run "
        "is rewound to step N and training continues to --steps (no warmup)",
    )

    def __post_init__(self) -> None:
        problems = []
        if not _STRATEGY_NAME.fullmatch(self.strategy):
            problems.append(
                f"strategy must be a strategy name (lowercase letters, digits, _; known: "
                f"{', '.join(KNOWN_STRATEGIES)}), got {self.strategy!r}"
            )
        try:
            self.options()
        except ValueError as exc:
            problems.append(str(exc))
        if self.prompt_style not in ("compact", "question"):
            problems.append("prompt_style must be 'compact' or 'question'")
        for name, allowed in (
            ("adv_std", STD_MODES),
            ("loss_agg", LOSS_AGGS),
            ("rollout_backend", ROLLOUT_BACKENDS),
            ("device", DEVICES),
        ):
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}")
        if self.rollouts_per_prompt < 2:
            problems.append(
                "rollouts_per_prompt must be >= 2: GRPO compares rollouts of one prompt"
            )
        if self.max_generation_rounds < 1:
            problems.append("max_generation_rounds must be >= 1")
        if min(self.steps, self.prompts_per_step, self.max_new_tokens, self.minibatches) < 1:
            problems.append("steps, prompts_per_step, max_new_tokens and minibatches must be >= 1")
        if self.minibatches > self.prompts_per_step * self.rollouts_per_prompt:
            problems.append("minibatches cannot exceed prompts_per_step * rollouts_per_prompt")
        if self.lr <= 0 or self.tau <= 0 or not 0 < self.alpha <= 1:
            problems.append("need lr > 0, tau > 0 and 0 < alpha <= 1")
        if self.probe_tolerance <= 0 or self.torch_threads < 1:
            problems.append("need probe_tolerance > 0 and torch_threads >= 1")
        if self.suite not in ("chain_sum", "addition"):
            problems.append("suite must be 'chain_sum' or 'addition'")
        if self.warmup_levels < 0:
            problems.append("warmup_levels must be >= 0 (0: all training levels)")
        if min(self.eval_every, self.eval_problems, self.warmup_steps, self.probe_every) < 0:
            problems.append("eval_every, eval_problems, warmup_steps and probe_every must be >= 0")
        if min(self.eval_every_rollouts, self.rollout_limit) < 0:
            problems.append("eval_every_rollouts and rollout_limit must be >= 0")
        if not 0.0 <= self.stop_at_id_pass1 <= 1.0:
            problems.append("stop_at_id_pass1 must be in [0, 1] (0: never stop early)")
        if self.stop_at_id_pass1 > 0 and not (
            self.eval_problems and (self.eval_every or self.eval_every_rollouts)
        ):
            problems.append(
                "stop_at_id_pass1 needs evaluations during RL: --eval-problems and "
                "--eval-every or --eval-every-rollouts"
            )
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
        if self.checkpoint_every < 0:
            problems.append("checkpoint_every must be >= 0 (0: no checkpoints)")
        if self.resume_from and not (Path(self.resume_from) / "checkpoint.json").is_file():
            problems.append(
                f"resume_from: {self.resume_from!r} holds no checkpoint.json (pass a folder "
                "out_dir/checkpoints/step-N written by --checkpoint-every)"
            )
        if self.eval_problems and self.eval_samples < 1:
            problems.append("eval_samples must be >= 1")
        problems.extend(self._rollout_budget_problems())
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))
        self.level_digits()  # validates the digits list

    def _rollout_budget_problems(self) -> list[str]:
        if self.problems_selection not in PROBLEM_SELECTIONS:
            return [f"problems_selection must be one of {', '.join(PROBLEM_SELECTIONS)}"]
        try:
            extra = self.problem_options()
        except ValueError as exc:
            return [str(exc)]
        if extra and self.problems_selection == "none":
            return [
                "problems_options needs a run with per-problem tracking: pass "
                "--problems-selection uniform or frontier"
            ]
        if self.rollout_budget < 0:
            return ["rollout_budget must be >= 0 (0: off)"]
        if self.rollout_budget == 0:
            return []
        problems = []
        if self.problems_selection == "none":
            problems.append(
                "rollout_budget needs a run with per-problem tracking: pass "
                "--problems-selection uniform or frontier"
            )
        if self.dynamic_sampling:
            problems.append(
                "rollout_budget and dynamic_sampling are two ways to spend rollouts: pick one"
            )
        if self.min_rollouts < 2:
            problems.append("min_rollouts must be >= 2: GRPO compares rollouts of one prompt")
        if self.min_rollouts > self.max_rollouts:
            problems.append(
                f"min_rollouts ({self.min_rollouts}) must not exceed max_rollouts "
                f"({self.max_rollouts})"
            )
        if self.rollout_budget < self.min_rollouts * self.prompts_per_step:
            problems.append(
                f"rollout_budget must be >= min_rollouts * prompts_per_step = "
                f"{self.min_rollouts * self.prompts_per_step}, got {self.rollout_budget}"
            )
        return problems

    def problems_spec(self) -> dict[str, Any] | None:
        """The run's `problems` object for the service, or None without per-problem tracking."""
        if self.problems_selection == "none":
            return None
        return {**self.problem_options(), "selection": self.problems_selection}

    def problem_options(self) -> dict[str, Any]:
        """The `problems_options` field as a dict (without `selection`).

        Raises:
            ValueError: not a JSON object, or it names the selection (`--problems-selection`
                does).
        """
        return _json_object("problems_options", self.problems_options, "selection")

    def sample_options(self) -> dict[str, Any]:
        """The rollout-budget keywords of `client.sample` (none when the budget is off)."""
        if self.rollout_budget == 0:
            return {}
        return {
            "rollout_budget": self.rollout_budget,
            "min_rollouts": self.min_rollouts,
            "max_rollouts": self.max_rollouts,
        }

    def level_digits(self) -> list[int]:
        """The `digits` field as a list of ints."""
        return parse_digits(self.digits)

    def options(self) -> dict[str, Any]:
        """The `strategy_options` field as a dict.

        Raises:
            ValueError: not a JSON object, or it names the strategy (`--strategy` does).
        """
        return _json_object("strategy_options", self.strategy_options, "name")

    def strategy_spec(self) -> dict[str, Any]:
        """The service's strategy object: the worker's defaults, then `strategy_options`.

        The defaults are SEC's `--alpha`/`--tau` and the schedules' `total_steps = steps`;
        every other strategy starts from the service's own defaults.
        """
        defaults: dict[str, Any] = {}
        if self.strategy == "sec":
            defaults = {"alpha": self.alpha, "tau": self.tau}
        elif self.strategy in ("ordered", "reverse"):
            defaults = {"total_steps": self.steps}
        return {"name": self.strategy, **defaults, **self.options()}


def _json_object(field_name: str, text: str, reserved: str) -> dict[str, Any]:
    """`text` parsed as a JSON object that must not hold the key `reserved`.

    Raises:
        ValueError: not JSON, not an object, or it holds `reserved`.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{field_name} must be a JSON object such as '{{\"gamma\": 0.9}}', "
            f"got {text!r} ({exc.msg})"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{field_name} must be a JSON object, got {type(value).__name__} {text!r}")
    if reserved in value:
        flag = "--strategy" if reserved == "name" else "--problems-selection"
        raise ValueError(f"{field_name} cannot hold {reserved!r}: pass {flag} instead")
    return value


SFT_MODES = ("failures", "filter", "uniform")


@dataclass
class SFTConfig:
    """Settings of the SFT-on-failures loop (`gpu_worker/sft.py`); each field is a `zpd sft --flag`."""

    service_url: str = option("http://127.0.0.1:8000", "URL of the ZPD service")
    run_name: str = option("sft", "name of the run created on the service")
    mode: str = option(
        "failures",
        "'failures': problems the service weights toward failures, teacher only for the "
        "failed ones; 'filter': ordinary samples, teacher only for the failed ones (the "
        "ablation without the service's weights); 'uniform': teacher for every sampled one",
        choices=SFT_MODES,
    )
    seed: int = option(0, "seed of the run, the model init and the replay draws")
    model: str = option("", "local model folder; empty builds the tiny char-level Llama")
    out_dir: str = option("runs/sft", "where metrics.json goes")
    digits: str = option("1", "chain_sum levels by digits per number, comma-separated")
    train_size: int = option(10_000, "training problems per level (the arm sizes)")
    prompts_per_round: int = option(128, "problems sampled from the service per round")
    batch_size: int = option(128, "SFT batch: new demonstrations, filled with earlier ones")
    sft_steps: int = option(1, "SFT optimizer steps per round")
    recheck: bool = option(
        False,
        "after the SFT step(s), answer the demonstrated problems again and report that, so "
        "the service's weights follow the current model (one more report per round)",
    )
    lr: float = option(1e-3, "AdamW learning rate")
    weight_decay: float = option(0.0, "AdamW weight decay")
    max_new_tokens: int = option(8, "longest answer the model may write")
    candidates: int = option(4, "service candidate pool per slot (boosting picks among them)")
    eval_every: int = option(5, "evaluate every N rounds")
    eval_problems: int = option(200, "held-out problems per level (greedy accuracy)")
    target: float = option(0.9, "stop once the mean held-out greedy accuracy reaches this")
    max_demonstrations: int = option(200_000, "stop after this many teacher calls")
    max_rounds: int = option(5_000, "stop after this many rounds")
    torch_threads: int = option(1, "torch threads (1 is robust on a shared machine)")
    request_timeout: float = option(10.0, "seconds per service request")

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in SFT_MODES:
            problems.append(f"mode must be one of {SFT_MODES}")
        counts = (self.train_size, self.prompts_per_round, self.batch_size, self.sft_steps)
        if min(*counts, self.max_new_tokens, self.eval_every, self.eval_problems) < 1:
            problems.append(
                "train_size, prompts_per_round, batch_size, sft_steps, max_new_tokens, "
                "eval_every and eval_problems must be >= 1"
            )
        if self.lr <= 0 or not 0 < self.target <= 1:
            problems.append("need lr > 0 and 0 < target <= 1")
        if self.max_demonstrations < 1 or self.max_rounds < 1 or self.torch_threads < 1:
            problems.append("max_demonstrations, max_rounds and torch_threads must be >= 1")
        if not 1 <= self.candidates <= 64:
            problems.append("candidates must be in [1, 64] (the service's range)")
        if problems:
            raise ValueError("invalid SFTConfig: " + "; ".join(problems))
        self.level_digits()

    def level_digits(self) -> list[int]:
        """The `digits` field as a list of ints."""
        return parse_digits(self.digits)


@dataclass
class DemoConfig:
    """Flags of `zpd demo-worker` (`gpu_worker/demo.py`)."""

    service_url: str = option("", "use this service instead of starting one")
    out_dir: str = option("runs/demo", "where the database and metrics go")
    steps: int = option(150, "GRPO steps per strategy")
    warmup_steps: int = option(800, "SFT warmup steps (once, shared by both strategies)")
    eval_problems: int = option(200, "held-out problems per level")
    eval_every: int = option(25, "evaluate every N GRPO steps (the rollouts-to-target grid)")
    seed: int = option(0, "seed of the model, the warmup and both runs")

    def __post_init__(self) -> None:
        if min(self.steps, self.eval_problems, self.eval_every) < 1 or self.warmup_steps < 0:
            raise ValueError(
                "invalid DemoConfig: need steps, eval_problems and eval_every >= 1 and "
                "warmup_steps >= 0"
            )


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one `--flag` per field of the dataclass `cls`, with its help text and default.

    A field with `choices` takes a string (its type may be a `Literal`).
    """
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        text = f"{f.metadata['help']} (default: {f.default})"
        if str(f.type) == "bool":
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag, action=action, default=f.default, help=text)
            continue
        choices = f.metadata.get("choices")
        kind = str if choices else {"int": int, "float": float, "str": str}[str(f.type)]
        parser.add_argument(flag, type=kind, default=f.default, choices=choices, help=text)


def dataclass_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """The `cls` instance of parsed arguments (its `__post_init__` validates them)."""
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})  # type: ignore[arg-type]


def config_or_report(command: str, cls: type[T], args: argparse.Namespace) -> T | None:
    """The `cls` of parsed arguments, or None after printing why the flags are invalid.

    Commands return 2 on None, before anything heavy starts.
    """
    try:
        return dataclass_from_args(cls, args)
    except ValueError as exc:
        print(f"zpd {command}: {exc}")
        return None


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one `--flag` per `TrainConfig` field, with its help text and default."""
    add_dataclass_arguments(parser, TrainConfig)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The `TrainConfig` of parsed arguments."""
    return dataclass_from_args(TrainConfig, args)


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """`zpd compare`'s flags: the worker's flags plus `--strategies`, `--seeds` and `--target`."""
    add_config_arguments(parser)
    parser.add_argument(
        "--strategies",
        default="sec,random,ordered",
        help="comma-separated, with options: 'sec,thompson,ducb:c=0.3,gamma=0.9' (a key=value "
        "without name: belongs to the strategy before it); replaces --strategy(-options)",
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument(
        "--id-gain", type=float, default=0.06, help="the protocol's target: mean held-out "
        "in-distribution pass@1 at least this much above the seed's warm start (default 0.06)"
    )  # fmt: skip
    parser.add_argument(
        "--baseline", default="random", help="the strategy label the others' costs to the "
        "target are divided by (default: random)"
    )  # fmt: skip
    parser.add_argument(
        "--target", type=float, default=0.15, help="held-out pass@1 on the hardest training "
        "level that ranks the strategies by steps to reach it (default: 0.15)"
    )  # fmt: skip
