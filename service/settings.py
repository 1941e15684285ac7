"""Service settings, read from ``ZPD_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./zpd.db"


class Settings(BaseSettings):
    """Everything the service can be configured with. Env prefix ``ZPD_``."""

    model_config = SettingsConfigDict(env_prefix="ZPD_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///path.db (embedded default) or "
        "postgresql+psycopg://user@host:5432/db.",
    )
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0 to coordinate replicas; optional."
    )
    run_cache_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Lifetime of cached run state in Redis (writes invalidate it at once).",
    )
    auto_migrate: bool = Field(
        default=True,
        description="Create the schema when the database is empty. An existing database "
        "at an older revision is never upgraded silently: run `zpd migrate`.",
    )
    sqlite_synchronous: str = Field(
        default="FULL",
        description="SQLite PRAGMA synchronous: FULL makes every answered 2xx survive power "
        "loss; NORMAL is faster and survives process crashes only.",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Request and error logs on stderr: one JSON object per line, or plain text.",
    )
    allow_open: bool = Field(
        default=False,
        description="Let `zpd serve` bind a non-loopback address while no API key exists.",
    )
    sample_lease_seconds: int = Field(
        default=3600,
        ge=1,
        description="A sample not reported (by sample_id) within this time counts as expired.",
    )
    rate_limit_per_minute: int = Field(
        default=12000,
        ge=0,
        description="Requests per minute per API key (per client address while the service "
        "runs open); 0 turns limiting off. Shared through Redis when redis_url is set.",
    )
    max_batch_size: int = Field(default=8192, ge=1, description="Largest /sample batch_size.")
    max_arms: int = Field(default=1000, ge=1, description="Most arms a run may have.")
    max_results: int = Field(default=65536, ge=1, description="Most problems in one report.")
    max_rollouts: int = Field(default=1024, ge=1, description="Most rewards per problem.")
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest accepted request body."
    )
    db_pool_size: int = Field(
        default=8, ge=1, description="Connections kept open per process (PostgreSQL)."
    )

    @field_validator("sqlite_synchronous")
    @classmethod
    def _known_synchronous(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA")
        return upper

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests pass their own ``Settings`` to ``create_app``)."""
    return Settings()
