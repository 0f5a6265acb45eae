"""broadcast attribution: a broadcast's button taps, and purchases by time

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('broadcast_taps',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('broadcast_id', ID, nullable=False),
    sa.Column('member_id', ID, nullable=False),
    sa.Column('variant', sa.String(length=16), nullable=False),
    sa.Column('tapped_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], name=op.f('fk_broadcast_taps_broadcast_id_broadcasts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_broadcast_taps_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcast_taps')),
    sa.UniqueConstraint('broadcast_id', 'member_id', name='broadcast_tap_member')
    )
    with op.batch_alter_table('broadcast_taps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_broadcast_taps_member_id'), ['member_id'], unique=False)
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.create_index('ix_purchases_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_purchases_created_at')
    with op.batch_alter_table('broadcast_taps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_broadcast_taps_member_id'))
    op.drop_table('broadcast_taps')
