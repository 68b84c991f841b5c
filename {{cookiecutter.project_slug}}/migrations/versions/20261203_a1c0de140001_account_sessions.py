"""account sessions

Revision ID: a1c0de140001
Revises: cee076392af5
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c0de140001"
down_revision: str | None = "cee076392af5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Server defaults fill the rows that exist: every earlier token carries no generation
    # and is refused, so everyone signs in once more after the upgrade.
    with op.batch_alter_table("user") as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "email_unproven_from_provider",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_column("email_unproven_from_provider")
        batch_op.drop_column("session_generation")
