"""service mail

Revision ID: a1c0de140005
Revises: a1c0de140004
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c0de140005"
down_revision: str | None = "a1c0de140004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The account mails go through the outbox as the service's own: no account sent them.
    with op.batch_alter_table("notification") as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # The schema before had no place for the service's own mail: it goes.
    op.execute(sa.text("DELETE FROM notification WHERE user_id IS NULL"))
    with op.batch_alter_table("notification") as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
