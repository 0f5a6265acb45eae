"""segments: members' tags, when a member was last active and on which channel, when each
messenger account last wrote (WhatsApp's 24-hour window), and the indexes of simple segments

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The same predicate and columns as core.db.models (REACHABLE, _SEGMENT_INDEXES).
REACHABLE = "marketing_opt_in AND erased_at IS NULL AND merged_into_id IS NULL"
SEGMENT_INDEXES = {
    "ix_members_reachable_channel_language": ["last_channel", "language"],
    "ix_members_reachable_tier": ["tier", "last_channel"],
    "ix_members_reachable_active": ["last_active_at", "last_channel"],
    "ix_members_reachable_created": ["created_at", "last_channel"],
}


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_channel", sa.String(length=16), nullable=True))
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    # Nullable only because SQLite cannot make an added column NOT NULL without rebuilding
    # the table (and its expression index): every member has one from here on.
    # Nobody's last message was recorded before: a member was last active at their latest
    # purchase, or when they joined; their last channel is the account they added last.
    op.execute(
        "UPDATE members SET last_active_at = COALESCE("
        "(SELECT MAX(purchases.created_at) FROM purchases"
        " WHERE purchases.member_id = members.id), members.created_at)"
    )
    op.execute(
        "UPDATE members SET last_channel = (SELECT identities.channel FROM identities"
        " WHERE identities.member_id = members.id ORDER BY identities.id DESC LIMIT 1)"
    )
    for name, columns in SEGMENT_INDEXES.items():
        op.create_index(
            name,
            "members",
            columns,
            unique=False,
            postgresql_where=sa.text(REACHABLE),
            sqlite_where=sa.text(REACHABLE),
        )
    op.create_table(
        "member_tags",
        sa.Column("member_id", Id, nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_tags_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", "tag", name=op.f("pk_member_tags")),
    )
    op.create_index("ix_member_tags_tag_member_id", "member_tags", ["tag", "member_id"])


def downgrade() -> None:
    op.drop_index("ix_member_tags_tag_member_id", table_name="member_tags")
    op.drop_table("member_tags")
    for name in reversed(SEGMENT_INDEXES):
        op.drop_index(name, table_name="members")
    # ALTER TABLE, not a batch: SQLite's batch rebuilds the table and would lose the
    # members' expression index (which it cannot reflect); both backends drop a column.
    op.execute("ALTER TABLE identities DROP COLUMN last_seen_at")
    op.execute("ALTER TABLE members DROP COLUMN last_channel")
    op.execute("ALTER TABLE members DROP COLUMN last_active_at")
