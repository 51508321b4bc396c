"""each debtor's spells in the book, with their first link sent, linked and verified, so the
funnel counts a period's debtors without grouping; indexes for its sparse steps

Revision ID: b7d2e4f6a1c9
Revises: a4f1c2e9b8d3
Create Date: 2026-12-07 02:40:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b7d2e4f6a1c9"
down_revision = "a4f1c2e9b8d3"
branch_labels = None
depends_on = None

# Each debtor's accounts' stretches outside paid and closed, run together where they touch or
# overlap (the same rule as bot/results/owing.py, written out here as of this revision).
SPELLS = """
INSERT INTO debtor_owing (debtor_id, from_day, until_day, prev_until, link_sent_at, linked_at,
                          verified_at, refreshed_at)
SELECT s.debtor_id, s.from_day, s.until_day, s.prev_until, t.sent, c.linked, c.verified, {now}
FROM (
  SELECT debtor_id, from_day, until_day,
         lag(until_day) OVER (PARTITION BY debtor_id ORDER BY from_day) AS prev_until
  FROM (
    SELECT debtor_id, min(from_day) AS from_day,
           CASE WHEN count(*) > count(until_day) THEN NULL ELSE max(until_day) END AS until_day
    FROM (
      SELECT debtor_id, from_day, until_day,
             sum(CASE WHEN reach IS NOT NULL AND from_day <= reach THEN 0 ELSE 1 END)
               OVER (PARTITION BY debtor_id ORDER BY from_day, until_day
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS spell
      FROM (
        SELECT debtor_id, from_day, until_day,
               CASE WHEN count(*) OVER w > count(until_day) OVER w THEN {open_end}
                    ELSE max(until_day) OVER w END AS reach
        FROM account_bucket WHERE bucket NOT IN ('paid', 'closed')
        WINDOW w AS (PARTITION BY debtor_id ORDER BY from_day, until_day
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
      ) reached
    ) numbered
    GROUP BY debtor_id, spell
  ) spell
) s
LEFT JOIN (SELECT debtor_id, min(created_at) AS sent FROM link_token GROUP BY debtor_id) t
  ON t.debtor_id = s.debtor_id
LEFT JOIN (SELECT debtor_id, min(linked_at) AS linked, min(verified_at) AS verified
           FROM channel_link GROUP BY debtor_id) c
  ON c.debtor_id = s.debtor_id
"""


def spells_sql(dialect: str) -> str:
    """SPELLS in ``dialect``'s words for now and for a day later than any real one."""
    if dialect == "postgresql":
        return SPELLS.format(now="now()", open_end="DATE '9999-12-31'")
    return SPELLS.format(now="strftime('%Y-%m-%d %H:%M:%S', 'now')", open_end="'9999-12-31'")


def upgrade() -> None:
    op.create_table(
        "debtor_owing",
        sa.Column(
            "debtor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("from_day", sa.Date(), nullable=False),
        sa.Column("until_day", sa.Date(), nullable=True),
        sa.Column("prev_until", sa.Date(), nullable=True),
        sa.Column("link_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["debtor.id"], name=op.f("fk_debtor_owing_debtor_id_debtor")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debtor_owing")),
    )
    op.execute(spells_sql(op.get_bind().dialect.name))
    with op.batch_alter_table("debtor_owing", schema=None) as batch_op:
        batch_op.create_index(
            "ix_debtor_owing_debtor_id_from_day", ["debtor_id", "from_day"], unique=True
        )
        batch_op.create_index("ix_debtor_owing_from_day_until_day", ["from_day", "until_day"])
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_log_in_debtor_id_created_at",
            ["debtor_id", "created_at"],
            sqlite_where=sa.text("direction = 'in'"),
            postgresql_where=sa.text("direction = 'in'"),
        )
    with op.batch_alter_table("reminder_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reminder_outbox_stage_sent_at",
            ["sent_at", "debtor_id"],
            sqlite_where=sa.text("status = 'sent' AND kind = 'stage'"),
            postgresql_where=sa.text("status = 'sent' AND kind = 'stage'"),
        )
    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.create_index(
            "ix_account_bucket_paid_from_day",
            ["from_day", "debtor_id"],
            sqlite_where=sa.text("bucket = 'paid'"),
            postgresql_where=sa.text("bucket = 'paid'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("account_bucket", schema=None) as batch_op:
        batch_op.drop_index("ix_account_bucket_paid_from_day")
    with op.batch_alter_table("reminder_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_outbox_stage_sent_at")
    with op.batch_alter_table("contact_log", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_log_in_debtor_id_created_at")
    op.drop_table("debtor_owing")
