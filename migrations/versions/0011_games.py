"""games: badges, streaks, check-ins, nicknames and leaderboards (a counted tree per board)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "badges",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("emoji", sa.String(length=16), nullable=True),
        sa.Column("picture", sa.String(length=512), nullable=True),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges")),
        sa.UniqueConstraint("name", name=op.f("uq_badges_name")),
    )
    op.create_table(
        "boards",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boards")),
        sa.UniqueConstraint("key", name=op.f("uq_boards_key")),
    )
    op.create_table(
        "badge_awards",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("badge_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["badge_id"], ["badges.id"], name=op.f("fk_badge_awards_badge_id_badges")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_badge_awards_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badge_awards")),
        sa.UniqueConstraint("member_id", "badge_id", name="member_badge"),
    )
    op.create_index(op.f("ix_badge_awards_badge_id"), "badge_awards", ["badge_id"], unique=False)
    op.create_index(op.f("ix_badge_awards_member_id"), "badge_awards", ["member_id"], unique=False)

    op.create_table(
        "board_nodes",
        sa.Column("board_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"], ["boards.id"], name=op.f("fk_board_nodes_board_id_boards")
        ),
        sa.PrimaryKeyConstraint("board_id", "level", "bucket", name=op.f("pk_board_nodes")),
    )
    op.create_table(
        "board_scores",
        sa.Column("board_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rank_key", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"], ["boards.id"], name=op.f("fk_board_scores_board_id_boards")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_board_scores_member_id_members")
        ),
        sa.PrimaryKeyConstraint("board_id", "member_id", name=op.f("pk_board_scores")),
    )
    op.create_index(
        "ix_board_scores_board_rank",
        "board_scores",
        ["board_id", "rank_key", "member_id"],
        unique=False,
    )
    op.create_index("ix_board_scores_member_id", "board_scores", ["member_id"], unique=False)

    op.create_table(
        "game_facts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_game_facts_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_game_facts")),
        sa.UniqueConstraint("kind", "ref", name="kind_ref"),
    )
    op.create_index(op.f("ix_game_facts_member_id"), "game_facts", ["member_id"], unique=False)

    op.create_table(
        "game_profiles",
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("nickname", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_game_profiles_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_game_profiles")),
    )
    op.create_table(
        "streaks",
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("best", sa.Integer(), nullable=False),
        sa.Column("last_period", sa.Integer(), nullable=True),
        sa.Column("frozen_period", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_streaks_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", "key", name=op.f("pk_streaks")),
    )
    op.create_index("ix_streaks_key_last_period", "streaks", ["key", "last_period"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_streaks_key_last_period", table_name="streaks")

    op.drop_table("streaks")
    op.drop_table("game_profiles")
    op.drop_index(op.f("ix_game_facts_member_id"), table_name="game_facts")

    op.drop_table("game_facts")
    op.drop_index("ix_board_scores_member_id", table_name="board_scores")
    op.drop_index("ix_board_scores_board_rank", table_name="board_scores")

    op.drop_table("board_scores")
    op.drop_table("board_nodes")
    op.drop_index(op.f("ix_badge_awards_member_id"), table_name="badge_awards")
    op.drop_index(op.f("ix_badge_awards_badge_id"), table_name="badge_awards")

    op.drop_table("badge_awards")
    op.drop_table("boards")
    op.drop_table("badges")
