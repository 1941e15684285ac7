"""SQLAlchemy 2 models. Reports are append-only; run and arm rows are derived state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh opaque identifier (32 hex digits), for runs, samples and reports."""
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


M = TypeVar("M", bound=Base)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class (for Core statements on the hot paths)."""
    return cast(Table, model.__table__)


def insert_row(session: Session, row: Base) -> None:
    """Store a new, fully built ``row`` with one Core ``INSERT`` in ``session``'s transaction.

    For the hot paths (a sample or report row per call): the row object stays detached
    (no identity map, no flush); its generated primary key is not read back, and every
    column the database should fill must be set (``None`` columns are sent as NULL,
    except an unset autoincrement key).
    """
    table = table_of(type(row))
    values = {
        column.key: getattr(row, column.key)
        for column in table.columns
        if not (column.primary_key and column.autoincrement and getattr(row, column.key) is None)
    }
    session.connection().execute(table.insert(), values)


def find_by_key(session: Session, model: type[M], run_id: str, key: str, value: str) -> M | None:
    """The ``model`` row of ``run_id`` whose ``key`` column is ``value`` (a unique client
    id: ``sample_id``, ``report_id``), read with one prepared Core ``SELECT``, detached.

    The miss, the common case, costs one statement and builds no object.
    """
    statement = _BY_KEY.get((model, key))
    if statement is None:
        table = table_of(model)
        statement = select(table).where(
            table.c.run_id == bindparam("b_run_id"), table.c[key] == bindparam("b_key")
        )
        _BY_KEY[(model, key)] = statement
    found = session.connection().execute(statement, {"b_run_id": run_id, "b_key": value}).first()
    return None if found is None else model(**found._asdict())


_BY_KEY: dict[tuple[type[Base], str], Select[Any]] = {}


class Run(Base):
    """A training run's curriculum: its strategy, seed and derived state."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True, server_default="default")
    name: Mapped[str] = mapped_column(String(200))
    strategy_name: Mapped[str] = mapped_column(String(64))
    strategy_options: Mapped[dict[str, Any]] = mapped_column(JSON)
    strategy_state: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    samples: Mapped[int] = mapped_column(BigInteger, default=0)
    samples_expired: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # per-problem tracking (service.curricula.problems); None: arms only
    problem_options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    demonstrations: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # automatic arms (service.curricula.auto_arms): size, buckets, clusters; None: given arms
    auto_arms: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # a new random value at every locked write: a process's cached copy of the run is
    # current exactly while the stored generation is the one it cached (domain.locking)
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # no open sample's lease ends before this (None: not known); domain.leases
    lease_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    arms: Mapped[list[Arm]] = relationship(
        back_populates="run", order_by="Arm.position", cascade="all, delete-orphan"
    )


class Arm(Base):
    """One category of a run, with counters derived from samples and reports."""

    __tablename__ = "arms"
    __table_args__ = (
        UniqueConstraint("run_id", "position", name="uq_arms_run_position"),
        UniqueConstraint("run_id", "name", name="uq_arms_run_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    times_sampled: Mapped[int] = mapped_column(BigInteger, default=0)
    times_reported: Mapped[int] = mapped_column(BigInteger, default=0)
    last_reward: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome_sum: Mapped[float] = mapped_column(Float, default=0.0)
    outcome_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # position in the arm's shuffled stream: draws, plus candidates passed over
    cursor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # automatic arms: problems in the arm now (None for given arms)
    members: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    run: Mapped[Run] = relationship(back_populates="arms")


OPEN_SAMPLE = "reported_at IS NULL AND expired_at IS NULL"


class Sample(Base):
    """One answered /sample call, stored so a retry with its sample_id answers the same."""

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("run_id", "sample_id", name="uq_samples_run_sample_id"),
        UniqueConstraint("run_id", "seq", name="uq_samples_run_seq"),
        # only open samples (neither reported nor expired): the lease queries read these,
        # and the index stays as small as the leases outstanding, however old the run
        Index(
            "ix_samples_open_lease",
            "run_id",
            "lease_expires_at",
            sqlite_where=text(OPEN_SAMPLE),
            postgresql_where=text(OPEN_SAMPLE),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    sample_id: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)
    probabilities: Mapped[list[Any]] = mapped_column(JSON)
    arm_positions: Mapped[list[Any]] = mapped_column(JSON)
    indices: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A lease: a sample not reported by lease_expires_at is marked expired and counted.
    lease_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Report(Base):
    """One accepted /report, append-only. ``seq`` is the step it closed (1-based)."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("run_id", "report_id", name="uq_reports_run_report_id"),
        UniqueConstraint("run_id", "seq", name="uq_reports_run_seq"),
        Index("ix_reports_run_created", "run_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    report_id: Mapped[str] = mapped_column(String(128))
    sample_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    body_hash: Mapped[str] = mapped_column(String(64))
    results: Mapped[list[Any]] = mapped_column(JSON)
    rewards: Mapped[list[Any]] = mapped_column(JSON)
    counts: Mapped[list[Any]] = mapped_column(JSON)
    outcomes: Mapped[list[Any]] = mapped_column(JSON)
    q: Mapped[list[Any]] = mapped_column(JSON)
    probabilities: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Rewind(Base):
    """One ``POST /v1/runs/{run_id}/rewind``: the reports and samples it set aside.

    The set-aside rows leave ``reports`` and ``samples`` (so the steps and ids they held can
    be used again) and are kept here as they were stored, as JSON: nothing is deleted.
    """

    __tablename__ = "rewinds"
    __table_args__ = (Index("ix_rewinds_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    from_step: Mapped[int] = mapped_column(BigInteger)
    to_step: Mapped[int] = mapped_column(BigInteger)
    from_samples: Mapped[int] = mapped_column(BigInteger)
    to_samples: Mapped[int] = mapped_column(BigInteger)
    reports: Mapped[list[Any]] = mapped_column(JSON)
    samples: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; it acts for one tenant, read-only or not."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProblemStat(Base):
    """Discounted solved/failed rollouts of one problem (runs with per-problem tracking).

    Runs with automatic arms key every problem by ``arm`` 0 and its pool index, and keep
    the arm it belongs to now (``member_of``) and a stable random ``draw_key``: an arm's
    members are drawn by an index range scan over (run_id, member_of, draw_key).
    """

    __tablename__ = "problem_stats"
    __table_args__ = (Index("ix_problem_stats_member", "run_id", "member_of", "draw_key"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    arm: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    solved: Mapped[float] = mapped_column(Float)
    failed: Mapped[float] = mapped_column(Float)
    last_step: Mapped[int] = mapped_column(BigInteger)
    member_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    draw_key: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
