"""Rollouts of one GRPO step: G completions per prompt, scored, and DAPO's dynamic sampling.

`rollout_step` generates and scores one round; `generate_groups` runs the rounds of a step
(one, or with `--dynamic-sampling` as many as it takes to keep `prompts_per_step` groups
with non-zero advantage) and counts every rollout and token, the discarded ones included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpu_worker.worker import Worker


def rollout_step(
    worker: Worker,
    prompt_ids: list[list[int]],
    problems: list[Any],
    step: int,
    sizes: list[int] | None = None,
    round_: int = 0,
) -> tuple[list[Any], list[list[float]]]:
    """Generate completions per prompt (G, or `sizes[i]` for prompt i) and score them:
    (completion groups, rewards). `round_` numbers dynamic sampling's generation rounds."""
    cfg = worker.config
    sizes = sizes or [cfg.rollouts_per_prompt] * len(prompt_ids)
    groups: list[Any] = [None] * len(prompt_ids)
    for n in sorted(set(sizes)):
        at = [i for i, size in enumerate(sizes) if size == n]
        seed = cfg.seed * 100_000 + step
        if round_ or len(set(sizes)) > 1:  # a stream of its own per round and group size
            seed = seed * 10_000 + round_ * 1_000 + n
        made = worker.engine.generate(
            [prompt_ids[i] for i in at], n, cfg.max_new_tokens, cfg.temperature, seed=seed
        )
        for i, group in zip(at, made, strict=True):
            groups[i] = group
    rewards = [
        [worker.suite.reward(p, c.text, c.finished) for c in group]
        for p, group in zip(problems, groups, strict=True)
    ]
    return groups, rewards


@dataclass
class Generation:
    """One step's generated groups (in generation order) and which of them are trained."""

    positions: list[int] = field(default_factory=list)  # the sample item of each group
    groups: list[Any] = field(default_factory=list)
    rewards: list[list[float]] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)  # into the lists above

    def counts(self) -> dict[str, float]:
        """Every rollout and generated token, the discarded ones included, and the share of
        generated groups whose rewards do not all agree (non-zero GRPO advantage)."""
        rollouts = sum(len(group) for group in self.groups)
        trained = sum(len(self.groups[k]) for k in self.kept)
        return {
            "rollouts": float(rollouts),
            "generated_tokens": float(
                sum(len(c.token_ids) for group in self.groups for c in group)
            ),
            "discarded_rollouts": float(rollouts - trained),
            "effective_ratio": sum(len(set(r)) > 1 for r in self.rewards) / len(self.rewards),
        }


def generate_groups(
    worker: Worker, prompt_ids: list[list[int]], problems: list[Any], sizes: list[int], step: int
) -> Generation:
    """Roll out the sampled prompts; with `--dynamic-sampling`, DAPO's filter.

    Without it every prompt is rolled out once and trained on. With it (DAPO, arXiv
    2503.14476) the sample holds `prompts_per_step * max_generation_rounds` problems,
    rolled out `prompts_per_step` at a time; a group whose rewards all agree has zero
    advantage and is dropped, and rounds continue until `prompts_per_step` groups are kept
    (a surplus is dropped too) or the rounds run out (the step then trains on fewer).
    """
    cfg = worker.config
    per_round = cfg.prompts_per_step if cfg.dynamic_sampling else len(prompt_ids)
    made = Generation()
    for round_, start in enumerate(range(0, len(prompt_ids), per_round)):
        at = list(range(start, min(start + per_round, len(prompt_ids))))
        groups, rewards = rollout_step(
            worker,
            [prompt_ids[i] for i in at],
            [problems[i] for i in at],
            step,
            [sizes[i] for i in at],
            round_,
        )
        for i, group, reward in zip(at, groups, rewards, strict=True):
            made.positions.append(i)
            made.groups.append(group)
            made.rewards.append(reward)
            if not cfg.dynamic_sampling or (
                len(set(reward)) > 1 and len(made.kept) < cfg.prompts_per_step
            ):
                made.kept.append(len(made.groups) - 1)
        if not cfg.dynamic_sampling or len(made.kept) >= cfg.prompts_per_step:
            break
    return made
