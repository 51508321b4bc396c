"""replies are stored before they are sent

Revision ID: 02a1f0d3dc4b
Revises: e7d2e75b78f3
Create Date: 2026-11-28 16:20:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "02a1f0d3dc4b"
down_revision = "e7d2e75b78f3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("markup", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_contact_log_status_created_at"), ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_log_status_created_at"))
        batch_op.drop_column("markup")
