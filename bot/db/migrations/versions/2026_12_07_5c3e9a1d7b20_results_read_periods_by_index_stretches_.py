"""results read periods by index; stretches name their debtor

Revision ID: 5c3e9a1d7b20
Revises: 8bba901fe71b
Create Date: 2026-12-07 00:30:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5c3e9a1d7b20"
down_revision = "8bba901fe71b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "debtor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
    # Stretches recorded before this version belonged to their account's debtor of today.
    op.execute(
        "UPDATE account_bucket SET debtor_id ="
        " (SELECT debtor_id FROM account WHERE account.id = account_bucket.account_id)"
    )
    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.alter_column(
            "debtor_id",
            existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_account_bucket_debtor_id_debtor"), "debtor", ["debtor_id"], ["id"]
        )
        batch_op.create_index(
            batch_op.f("ix_account_bucket_bucket_until_day"), ["bucket", "until_day"], unique=False
        )

    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_log_created_at"), ["created_at"], unique=False
        )

    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_paid_at"), ["paid_at"], unique=False)

    with op.batch_alter_table("reminder_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reminder_outbox_experiment_exposure",
            ["experiment_id", "arm", "debtor_id", "status", "sent_at"],
            unique=False,
            sqlite_where=sa.text("experiment_id IS NOT NULL"),
            postgresql_where=sa.text("experiment_id IS NOT NULL"),
        )
        batch_op.create_index(
            batch_op.f("ix_reminder_outbox_planned_at"), ["planned_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reminder_outbox_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminder_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_outbox_sent_at"))
        batch_op.drop_index(batch_op.f("ix_reminder_outbox_planned_at"))
        batch_op.drop_index(
            "ix_reminder_outbox_experiment_exposure",
            sqlite_where=sa.text("experiment_id IS NOT NULL"),
            postgresql_where=sa.text("experiment_id IS NOT NULL"),
        )

    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_paid_at"))

    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_log_created_at"))

    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_bucket_bucket_until_day"))
        batch_op.drop_constraint(
            batch_op.f("fk_account_bucket_debtor_id_debtor"), type_="foreignkey"
        )
        batch_op.drop_column("debtor_id")
