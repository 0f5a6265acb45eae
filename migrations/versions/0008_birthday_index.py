"""member lookups that read every member: by birthday's month and day, by merged card

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The same expressions as core.db.models.birthday_month_day, compiled per dialect
    # (EXTRACT on PostgreSQL, STRFTIME on SQLite), which the greeter's lookup compares; then
    # the id, by which it pages.
    birthday = sa.column("birthday", sa.Date())
    op.create_index(
        "ix_members_birthday_month_day",
        "members",
        [sa.extract("month", birthday), sa.extract("day", birthday), sa.column("id")],
        unique=False,
    )
    merged = sa.text("merged_into_id IS NOT NULL")
    op.create_index(
        "ix_members_merged_into_id",
        "members",
        ["merged_into_id"],
        unique=False,
        postgresql_where=merged,
        sqlite_where=merged,
    )


def downgrade() -> None:
    op.drop_index("ix_members_merged_into_id", table_name="members")
    op.drop_index("ix_members_birthday_month_day", table_name="members")
