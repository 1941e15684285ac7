"""Adapters that plug ZPD into real trainers.

- :mod:`trainer_client.adapters.arms`: dataset rows -> arms (pure, no trainer library).
- :mod:`trainer_client.adapters.trl`: ``ZPDGRPOTrainer``, TRL's ``GRPOTrainer`` with ZPD
  choosing the prompts and receiving each group's rewards (needs ``trl``).
- :mod:`trainer_client.adapters.verl`: ``ZPDCurriculumSampler``, verl's curriculum sampler
  (needs ``verl``).
- :mod:`trainer_client.adapters.async_rl`: ``AsyncPromptSource``, leased prompts for the
  rollout workers of an asynchronous trainer (AReaL, SkyRL style; no trainer library).

Each trainer adapter imports its library only when it is imported itself.
"""
