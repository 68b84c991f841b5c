"""delivery outcomes

Revision ID: a1c0de140003
Revises: a1c0de140002
Create Date: 2026-12-03 10:00:02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c0de140003"
down_revision: str | None = "a1c0de140002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The new `unknown` status fits the existing String(16) column: only the per-recipient
    # progress is new. Rows that exist have none recorded (NULL): nobody has it yet.
    with op.batch_alter_table("notification") as batch_op:
        batch_op.add_column(sa.Column("delivered_recipients", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_column("delivered_recipients")
