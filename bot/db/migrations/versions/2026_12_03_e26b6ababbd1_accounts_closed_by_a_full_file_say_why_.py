"""accounts closed by a full file say why; a link remembers the phone that verified it

Revision ID: e26b6ababbd1
Revises: 78cad39064be
Create Date: 2026-12-03 08:48:56.840525+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e26b6ababbd1"
down_revision = "78cad39064be"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("channel_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_phone", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel_link", schema=None) as batch_op:
        batch_op.drop_column("verified_phone")

    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
        batch_op.drop_column("closed_reason")
