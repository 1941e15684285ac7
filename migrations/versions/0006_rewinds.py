"""rewinds: reports and samples set aside by POST /v1/runs/{run_id}/rewind

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rewinds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("from_step", sa.BigInteger(), nullable=False),
        sa.Column("to_step", sa.BigInteger(), nullable=False),
        sa.Column("from_samples", sa.BigInteger(), nullable=False),
        sa.Column("to_samples", sa.BigInteger(), nullable=False),
        sa.Column("reports", sa.JSON(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rewinds_run", "rewinds", ["run_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rewinds_run", table_name="rewinds")
    op.drop_table("rewinds")
