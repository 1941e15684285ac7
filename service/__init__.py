"""ZPD: curriculum as a service for LLM reinforcement learning.

The service keeps per-run bandit state over problem categories ("arms"), answers
``/sample`` with the problems to train on next and learns from ``/report``.
"""

from __future__ import annotations

__version__ = "0.1.0"
