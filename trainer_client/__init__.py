"""Client of the ZPD curriculum service, for any RL training loop.

    from trainer_client import CurriculumClient, Curriculum

    client = CurriculumClient("http://127.0.0.1:8000")
    cur = Curriculum.create(client, "countdown", ["easy", "medium", "hard"], {"name": "sec"})
    batch = cur.next_batch(256)
    ...
    cur.report(batch, rewards)

Adapters for real trainers live in :mod:`trainer_client.adapters` (``trl``, ``verl``); they
import their trainer library only when imported themselves.
"""

from __future__ import annotations

from trainer_client._core import DEFAULT_TIMEOUT, RetryPolicy
from trainer_client.advantages import grpo_advantages, mean_abs_advantage
from trainer_client.async_client import AsyncCurriculumClient
from trainer_client.client import CurriculumClient
from trainer_client.curriculum import Batch, Curriculum
from trainer_client.errors import (
    AuthError,
    ConflictError,
    ConnectionFailedError,
    CurriculumError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ServerError,
    StorageError,
    UnavailableError,
    UnexpectedResponseError,
)
from trainer_client.models import (
    ArmSpec,
    ArmState,
    AutoArms,
    History,
    HistoryPoint,
    ProblemResult,
    Report,
    Run,
    Sample,
    SampleItem,
    StepResult,
    Strategy,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ArmSpec",
    "ArmState",
    "AsyncCurriculumClient",
    "AutoArms",
    "AuthError",
    "Batch",
    "ConflictError",
    "ConnectionFailedError",
    "Curriculum",
    "CurriculumClient",
    "CurriculumError",
    "History",
    "HistoryPoint",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProblemResult",
    "RateLimitedError",
    "Report",
    "RetryPolicy",
    "Run",
    "Sample",
    "SampleItem",
    "ServerError",
    "StepResult",
    "StorageError",
    "Strategy",
    "UnavailableError",
    "UnexpectedResponseError",
    "grpo_advantages",
    "mean_abs_advantage",
]
