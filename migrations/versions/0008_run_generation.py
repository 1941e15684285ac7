"""runs: a generation for cached run state, and the next lease check

``generation`` takes a new random value at every locked write of a run; a process that
holds a copy of the run's state uses it only while the stored generation is the one it
cached. ``lease_check_at``: no open sample of the run has a lease ending before it, so
the write path skips the expiry statement until then (NULL: not known, check now).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("lease_check_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("lease_check_at")
        batch_op.drop_column("generation")
