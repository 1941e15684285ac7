"""samples: a partial index over open samples for the lease queries

The lease queries (expire overdue samples, count pending ones) read only samples that are
neither reported nor expired. The full (run_id, lease_expires_at) index also held every
reported sample, so the expiry query's range grew with a run's age; the partial index
holds only the leases outstanding.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OPEN_SAMPLE = "reported_at IS NULL AND expired_at IS NULL"


def upgrade() -> None:
    op.drop_index("ix_samples_run_lease", table_name="samples")
    op.create_index(
        "ix_samples_open_lease",
        "samples",
        ["run_id", "lease_expires_at"],
        unique=False,
        sqlite_where=sa.text(OPEN_SAMPLE),
        postgresql_where=sa.text(OPEN_SAMPLE),
    )


def downgrade() -> None:
    op.drop_index("ix_samples_open_lease", table_name="samples")
    op.create_index("ix_samples_run_lease", "samples", ["run_id", "lease_expires_at"], unique=False)
