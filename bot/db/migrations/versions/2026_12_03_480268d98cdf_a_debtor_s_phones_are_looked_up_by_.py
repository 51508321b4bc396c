"""a debtor's phones are looked up by debtor, never by number alone: no index on the number

Revision ID: 480268d98cdf
Revises: e26b6ababbd1
Create Date: 2026-12-03 13:33:01.026801+00:00
"""

from __future__ import annotations

from alembic import op

revision = "480268d98cdf"
down_revision = "e26b6ababbd1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("debtor_phone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debtor_phone_phone_e164"))


def downgrade() -> None:
    with op.batch_alter_table("debtor_phone", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_debtor_phone_phone_e164"), ["phone_e164"], unique=False
        )
