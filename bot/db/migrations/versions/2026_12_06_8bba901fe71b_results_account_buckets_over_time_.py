"""results: account buckets over time, template experiments, queue timings

Revision ID: 8bba901fe71b
Revises: d486e9d118d2
Create Date: 2026-12-06 22:32:27.132171+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "8bba901fe71b"
down_revision = "d486e9d118d2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_experiment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("control_version", sa.Integer(), nullable=False),
        sa.Column("challenger_version", sa.Integer(), nullable=False),
        sa.Column("challenger_percent", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column(
            "started_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "stopped_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kept_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["started_by"],
            ["staff_user.id"],
            name=op.f("fk_template_experiment_started_by_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["stopped_by"],
            ["staff_user.id"],
            name=op.f("fk_template_experiment_stopped_by_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_experiment")),
    )
    with op.batch_alter_table("template_experiment", schema=None) as batch_op:
        batch_op.create_index(
            "uq_template_experiment_running",
            ["key", "locale"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "account_bucket",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("from_day", sa.Date(), nullable=False),
        sa.Column("until_day", sa.Date(), nullable=True),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_bucket_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_bucket")),
    )
    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_bucket_account_id_from_day"),
            ["account_id", "from_day"],
            unique=True,
        )
        batch_op.create_index(
            batch_op.f("ix_account_bucket_from_day_until_day"),
            ["from_day", "until_day"],
            unique=False,
        )

    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_locale", sa.String(length=16), nullable=True))

    with op.batch_alter_table("handoff_ticket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_claimed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("first_reply_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("bot_seconds", sa.Integer(), server_default="0", nullable=False)
        )
    # A ticket claimed before this version was first claimed no later than its last claim.
    op.execute(
        "UPDATE handoff_ticket SET first_claimed_at = claimed_at WHERE claimed_at IS NOT NULL"
    )

    with op.batch_alter_table("reminder_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "experiment_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("arm", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("window_deferrals", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("gap_deferrals", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_reminder_outbox_experiment_id_template_experiment"),
            "template_experiment",
            ["experiment_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("reminder_outbox", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_reminder_outbox_experiment_id_template_experiment"), type_="foreignkey"
        )
        batch_op.drop_column("gap_deferrals")
        batch_op.drop_column("window_deferrals")
        batch_op.drop_column("arm")
        batch_op.drop_column("experiment_id")

    with op.batch_alter_table("handoff_ticket", schema=None) as batch_op:
        batch_op.drop_column("bot_seconds")
        batch_op.drop_column("released_at")
        batch_op.drop_column("first_reply_at")
        batch_op.drop_column("first_claimed_at")

    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.drop_column("template_locale")

    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_bucket_from_day_until_day"))
        batch_op.drop_index(batch_op.f("ix_account_bucket_account_id_from_day"))

    op.drop_table("account_bucket")
    with op.batch_alter_table("template_experiment", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_template_experiment_running",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )

    op.drop_table("template_experiment")
