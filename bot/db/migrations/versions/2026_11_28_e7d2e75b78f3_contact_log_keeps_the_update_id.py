"""contact log keeps the update id

Revision ID: e7d2e75b78f3
Revises: b69866b824c2
Create Date: 2026-11-28 13:26:56.757979+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e7d2e75b78f3"
down_revision = "b69866b824c2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("update_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_contact_log_channel_update_id"), ["channel", "update_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_log_channel_update_id"))
        batch_op.drop_column("update_id")
