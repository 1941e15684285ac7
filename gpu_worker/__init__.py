"""The reference GRPO worker: vLLM rollouts, torch updates, reasoning-gym tasks, ZPD curriculum.

Modules: `model` (tiny char-level Llama), `tasks` (levels as arms, verifier rewards),
`rollout` (vLLM engine, weight sync, log-prob probe), `grpo` (advantages and loss),
`warmup` (SFT before RL), `evaluate` (held-out pass@1), `train` (the loop; `zpd train`).
The service is reached only through `trainer_client`.
"""
