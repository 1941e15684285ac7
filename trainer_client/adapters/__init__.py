"""Adapters that plug ZPD into real trainers.

- :mod:`trainer_client.adapters.arms`: dataset rows -> arms (pure, no trainer library).
- :mod:`trainer_client.adapters.trl`: ``ZPDGRPOTrainer``, TRL's ``GRPOTrainer`` with ZPD
  choosing the prompts and receiving each group's rewards (needs ``trl``).
- :mod:`trainer_client.adapters.verl`: picks by the installed verl: ``ZPDCurriculumSampler``
  (verl 0.6-0.7, :mod:`~trainer_client.adapters.verl_v07`) or ``ZPDDataset`` (verl 0.9,
  :mod:`~trainer_client.adapters.verl_v09`).
- :mod:`trainer_client.adapters.openrlhf`: ZPD's prompt loader and samples generator for
  OpenRLHF 0.11, dynamic filtering included (needs ``openrlhf``).
- :mod:`trainer_client.adapters.async_rl`: ``AsyncPromptSource``, leased prompts for the
  rollout workers of an asynchronous trainer (AReaL, SkyRL style; no trainer library).
- :mod:`trainer_client.adapters.areal`: ``ZPDWorkflow``, AReaL episodes on leased prompts,
  and ``report_trajectories`` for its trainer loop (needs ``areal``).

Each trainer adapter imports its library only when it is imported itself.
"""
