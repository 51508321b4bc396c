"""template versions are drafts until published; canned replies count their saves

Revision ID: 78cad39064be
Revises: 8f647fbc4661
Create Date: 2026-12-02 23:38:53.616363+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "78cad39064be"
down_revision = "8f647fbc4661"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("canned_reply", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))

    with op.batch_alter_table("template_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comment", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("based_on", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "published_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_template_version_published_by_staff_user"),
            "staff_user",
            ["published_by"],
            ["id"],
        )
    # Before drafts, the newest saved version was the one in use: they were all published.
    op.execute("UPDATE template_version SET published_at = created_at, published_by = created_by")


def downgrade() -> None:
    with op.batch_alter_table("template_version", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_template_version_published_by_staff_user"), type_="foreignkey"
        )
        batch_op.drop_column("published_at")
        batch_op.drop_column("published_by")
        batch_op.drop_column("based_on")
        batch_op.drop_column("comment")

    with op.batch_alter_table("canned_reply", schema=None) as batch_op:
        batch_op.drop_column("version")
