"""suppression list

Revision ID: a1c0de140004
Revises: a1c0de140003
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.orm.base

revision: str = "a1c0de140004"
down_revision: str | None = "a1c0de140003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Addresses delivery skips (hard bounces, complaints), one row per channel and address.
    op.create_table(
        "suppressed_recipient",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", app.core.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressed_recipient")),
        sa.UniqueConstraint(
            "channel", "address", name=op.f("uq_suppressed_recipient_channel_address")
        ),
    )
    # Each recipient's outcome besides delivered ones. Rows that exist have none (NULL):
    # their recipients read as pending until an attempt records them.
    with op.batch_alter_table("notification") as batch_op:
        batch_op.add_column(
            sa.Column("undelivered_recipients", sa.JSON(none_as_null=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_column("undelivered_recipients")
    op.drop_table("suppressed_recipient")
