"""oauth state

Revision ID: a1c0de140002
Revises: a1c0de140001
Create Date: 2026-12-03 10:00:01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import app.core.orm.base

revision: str = "a1c0de140002"
down_revision: str | None = "a1c0de140001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Provider sign-in states already used at a callback: the unique jti refuses a replay.
    op.create_table(
        "oauth_state",
        sa.Column(
            "jti",
            sa.String(length=64)
            .with_variant(
                mysql.VARCHAR(charset="ascii", collation="ascii_bin", length=64), "mariadb"
            )
            .with_variant(
                mysql.VARCHAR(charset="ascii", collation="ascii_bin", length=64), "mysql"
            ),
            nullable=False,
        ),
        sa.Column("expires_at", app.core.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", app.core.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.orm.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_state")),
        sa.UniqueConstraint("jti", name=op.f("uq_oauth_state_jti")),
    )
    with op.batch_alter_table("oauth_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_state_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("oauth_state")
