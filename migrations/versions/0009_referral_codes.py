"""members get a referral code of their own: invite links stop carrying the card code

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As core.shared.cards.generate_referral (a migration keeps its own copy: it must not change
# when the code does).
REFERRAL_BYTES = 10


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (with a default, as SQLite wants for NOT NULL): a
    # batch copy of `members` on SQLite would have to drop a table every other table points at.
    op.add_column(
        "members",
        sa.Column(
            "referral_code", sa.String(length=32), server_default=sa.text("''"), nullable=False
        ),
    )
    # Every existing member gets one; the unique index below would catch a collision.
    members = sa.table("members", sa.column("id", sa.BigInteger()), sa.column("referral_code"))
    connection = op.get_bind()
    ids = connection.execute(sa.select(members.c.id)).scalars().all()
    for member_id in ids:
        connection.execute(
            members.update()
            .where(members.c.id == member_id)
            .values(referral_code=secrets.token_hex(REFERRAL_BYTES))
        )
    op.create_index(op.f("ix_members_referral_code"), "members", ["referral_code"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_members_referral_code"), table_name="members")
    op.drop_column("members", "referral_code")
