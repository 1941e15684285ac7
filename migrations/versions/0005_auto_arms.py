"""automatic arms

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 14:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("arms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("members", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("problem_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_of", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("draw_key", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_problem_stats_member", ["run_id", "member_of", "draw_key"], unique=False
        )

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_arms", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("auto_arms")

    with op.batch_alter_table("problem_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_problem_stats_member")
        batch_op.drop_column("draw_key")
        batch_op.drop_column("member_of")

    with op.batch_alter_table("arms", schema=None) as batch_op:
        batch_op.drop_column("members")
