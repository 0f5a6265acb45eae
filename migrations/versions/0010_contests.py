"""contests: giveaways with a verifiable draw (entries, tickets per event, winners)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("draw_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("reserves", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("seed_sha256", sa.String(length=64), nullable=False),
        sa.Column("beacon_chain", sa.String(length=16), nullable=False),
        sa.Column("beacon_round", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entries_frozen", sa.Text(), nullable=True),
        sa.Column("entries_sha256", sa.String(length=64), nullable=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("beacon", sa.String(length=128), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("reserves >= 0", name=op.f("ck_contests_reserves_not_negative")),
        sa.CheckConstraint("winners > 0", name=op.f("ck_contests_winners_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contests")),
        sa.UniqueConstraint("slug", name=op.f("uq_contests_slug")),
    )
    with op.batch_alter_table("contests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contests_ends_at"), ["ends_at"], unique=False)

    op.create_table(
        "contest_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "contest_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("joined", sa.Boolean(), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=True),
        sa.Column("frozen_tickets", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contest_id"], ["contests.id"], name=op.f("fk_contest_entries_contest_id_contests")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_contest_entries_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contest_entries")),
        sa.UniqueConstraint("contest_id", "member_id", name=op.f("uq_contest_entries_contest_id")),
    )
    with op.batch_alter_table("contest_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contest_entries_contest_id"), ["contest_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contest_entries_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "contest_tickets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "contest_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_key", sa.String(length=128), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contest_id"], ["contests.id"], name=op.f("fk_contest_tickets_contest_id_contests")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["contest_entries.id"],
            name=op.f("fk_contest_tickets_entry_id_contest_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contest_tickets")),
        sa.UniqueConstraint("contest_id", "event_key", name=op.f("uq_contest_tickets_contest_id")),
    )
    with op.batch_alter_table("contest_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contest_tickets_contest_id"), ["contest_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contest_tickets_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "contest_winners",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "contest_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claim_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "claimed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "ledger_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("coupon_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["members.id"], name=op.f("fk_contest_winners_claimed_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["contest_id"], ["contests.id"], name=op.f("fk_contest_winners_contest_id_contests")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_contest_winners_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["contest_entries.id"],
            name=op.f("fk_contest_winners_entry_id_contest_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_contest_winners_ledger_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contest_winners")),
        sa.UniqueConstraint("contest_id", "position", name=op.f("uq_contest_winners_contest_id")),
    )
    with op.batch_alter_table("contest_winners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contest_winners_contest_id"), ["contest_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contest_winners_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contest_winners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contest_winners_status"))
        batch_op.drop_index(batch_op.f("ix_contest_winners_contest_id"))

    op.drop_table("contest_winners")
    with op.batch_alter_table("contest_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contest_tickets_entry_id"))
        batch_op.drop_index(batch_op.f("ix_contest_tickets_contest_id"))

    op.drop_table("contest_tickets")
    with op.batch_alter_table("contest_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contest_entries_member_id"))
        batch_op.drop_index(batch_op.f("ix_contest_entries_contest_id"))

    op.drop_table("contest_entries")
    with op.batch_alter_table("contests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contests_ends_at"))

    op.drop_table("contests")
