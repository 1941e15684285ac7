"""A home-made RL loop driven by ZPD: copy it and swap the toy parts for your trainer's.

The "policy" is a toy with one skill number; a problem of level d is solved with
probability sigmoid(3 (skill - d)), and training on it helps most near a 50% pass rate,
so SEC's curriculum should move from easy to hard levels as the skill grows.

    python examples/plain_loop.py --url http://127.0.0.1:8000 --steps 30
"""

from __future__ import annotations

import argparse
import math
import random

from trainer_client import Curriculum, CurriculumClient

LEVELS = [1, 2, 3, 4, 5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    client = CurriculumClient(args.url, api_key=args.api_key)
    client.wait_until_ready(timeout=30)
    arms = [{"name": f"level-{d}", "size": 100, "tags": {"difficulty": d}} for d in LEVELS]
    cur = Curriculum.create(client, "plain-loop", arms, {"name": "sec", "alpha": 0.5, "tau": 0.3})
    skill = 1.0
    for step in range(args.steps):
        batch = cur.next_batch(args.batch_size)  # 1. which problems to train on
        rewards = []
        for item in batch:  # 2. rollouts and their rewards (your generator + verifier)
            level = int(item.arm.split("-")[1])
            p_solve = 1.0 / (1.0 + math.exp(-3.0 * (skill - level)))
            rewards.append([float(rng.random() < p_solve) for _ in range(args.rollouts)])
        # 3. the policy update (yours): the toy learns most from ~50% pass rates
        for group in rewards:
            pass_rate = sum(group) / len(group)
            skill += 0.02 * pass_rate * (1.0 - pass_rate)
        report = cur.report(batch, rewards)  # 4. the service learns from the same rewards
        best = max(report.probabilities, key=report.probabilities.__getitem__)
        print(f"step {step + 1:3d} skill {skill:.2f} favourite {best} "
              f"p={report.probabilities[best]:.2f}")  # fmt: skip
    print(f"run {cur.run_id}: {cur.run().step} steps reported")
    client.close()


if __name__ == "__main__":
    main()
