"""an account's first stretch is marked, so accounts placed during a period are read by index;
who wrote in during a period is read from an index alone

Revision ID: a4f1c2e9b8d3
Revises: 5c3e9a1d7b20
Create Date: 2026-12-07 00:45:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a4f1c2e9b8d3"
down_revision = "5c3e9a1d7b20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opening", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Each account's earliest stretch recorded so far is where it came into the book.
    op.execute(
        "UPDATE account_bucket SET opening = true WHERE id IN ("
        " SELECT b.id FROM account_bucket b WHERE b.from_day ="
        " (SELECT min(e.from_day) FROM account_bucket e WHERE e.account_id = b.account_id))"
    )
    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_bucket_opening_from_day",
            ["from_day"],
            unique=False,
            sqlite_where=sa.text("opening"),
            postgresql_where=sa.text("opening"),
        )
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_log_in_created_at_debtor_id",
            ["created_at", "debtor_id"],
            unique=False,
            sqlite_where=sa.text("direction = 'in'"),
            postgresql_where=sa.text("direction = 'in'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_contact_log_in_created_at_debtor_id",
            sqlite_where=sa.text("direction = 'in'"),
            postgresql_where=sa.text("direction = 'in'"),
        )
    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_account_bucket_opening_from_day",
            sqlite_where=sa.text("opening"),
            postgresql_where=sa.text("opening"),
        )
        batch_op.drop_column("opening")
