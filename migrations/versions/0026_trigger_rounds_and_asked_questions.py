"""trigger rounds and asked questions: a standing rule's delivery row per (broadcast, member,
round) with the time its firing made it due (each round keeps its own outcome and attribution;
the holdout's window starts when it would have been sent); a feedback question names the
delivery row that carries it and is asked (answerable) only once that row was sent

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0026"
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint("broadcast_member", type_="unique")
        batch_op.create_unique_constraint(
            "broadcast_member_round", ["broadcast_id", "member_id", "round"]
        )
    with op.batch_alter_table("feedback_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_id", ID, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_feedback_requests_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_feedback_requests_delivery_id_broadcast_deliveries"),
            "broadcast_deliveries",
            ["delivery_id"],
            ["id"],
        )
        batch_op.alter_column("asked_at", existing_type=sa.DateTime(timezone=True), nullable=True)
    # An unanswered question is carried by its member's delivery row of its broadcast (one per
    # (broadcast, member) until now); asked only if that row was sent: a held-out, skipped or
    # failed member's question is closed, a still queued one opens when it is sent.
    op.execute(
        "UPDATE feedback_requests SET delivery_id = (SELECT d.id FROM broadcast_deliveries d"
        " WHERE d.broadcast_id = feedback_requests.broadcast_id"
        " AND d.member_id = feedback_requests.member_id)"
        " WHERE score IS NULL AND delivery_id IS NULL"
    )
    op.execute(
        "UPDATE feedback_requests SET asked_at = NULL WHERE score IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM broadcast_deliveries d WHERE d.id = feedback_requests.delivery_id"
        " AND d.status = 'sent')"
    )


def downgrade() -> None:
    # Questions never asked: asked (and long closed) before, as the schema wants a time.
    op.execute(
        "UPDATE feedback_requests SET asked_at = '1970-01-01 00:00:00' WHERE asked_at IS NULL"
    )
    with op.batch_alter_table("feedback_requests", schema=None) as batch_op:
        batch_op.alter_column("asked_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_constraint(
            batch_op.f("fk_feedback_requests_delivery_id_broadcast_deliveries"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_feedback_requests_delivery_id"))
        batch_op.drop_column("delivery_id")
    # One row per (broadcast, member) again: a standing rule's latest round is kept.
    op.execute(
        "DELETE FROM broadcast_deliveries WHERE EXISTS (SELECT 1 FROM broadcast_deliveries"
        " later WHERE later.broadcast_id = broadcast_deliveries.broadcast_id"
        " AND later.member_id = broadcast_deliveries.member_id"
        " AND later.round > broadcast_deliveries.round)"
    )
    with op.batch_alter_table("broadcast_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("broadcast_member_round", type_="unique")
        batch_op.create_unique_constraint("broadcast_member", ["broadcast_id", "member_id"])
        batch_op.drop_column("due_at")
