"""several processes, one bot: worker leases, claims on replies, the shared pace of sending

Revision ID: d486e9d118d2
Revises: 480268d98cdf
Create Date: 2026-12-04 19:30:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d486e9d118d2"
down_revision = "480268d98cdf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The pace of sending is worth nothing after a crash: PostgreSQL need not log it.
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "worker",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("alive_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker")),
    )
    op.create_table(
        "send_pace",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("paused_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_send_pace")),
        prefixes=unlogged,
    )
    op.create_table(
        "chat_pace",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "chat_id", name=op.f("pk_chat_pace")),
        prefixes=unlogged,
    )
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
    # A reply a sweep had taken over was being sent by a process from before this version.
    op.execute("UPDATE contact_log SET status = 'sending' WHERE status = 'resending'")


def downgrade() -> None:
    op.execute("UPDATE contact_log SET status = 'resending' WHERE status = 'sending'")
    op.execute("UPDATE reminder_outbox SET status = 'pending' WHERE status = 'claimed'")
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
    op.drop_table("chat_pace")
    op.drop_table("send_pace")
    op.drop_table("worker")
