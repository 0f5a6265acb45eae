"""feedback: triggered broadcasts' firings per (broadcast, member, period), and the
"would you recommend us?" questions with their answers

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('trigger_firings',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('broadcast_id', ID, nullable=False),
    sa.Column('member_id', ID, nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('cause', sa.String(length=64), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], name=op.f('fk_trigger_firings_broadcast_id_broadcasts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_trigger_firings_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trigger_firings')),
    sa.UniqueConstraint('broadcast_id', 'member_id', 'period', name='trigger_member_period')
    )
    with op.batch_alter_table('trigger_firings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trigger_firings_member_id'), ['member_id'], unique=False)
    op.create_table('feedback_requests',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('broadcast_id', ID, nullable=True),
    sa.Column('member_id', ID, nullable=False),
    sa.Column('purchase_id', sa.String(length=64), nullable=False),
    sa.Column('store', sa.String(length=64), nullable=True),
    sa.Column('reward_points', sa.Integer(), server_default='0', nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], name=op.f('fk_feedback_requests_broadcast_id_broadcasts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_feedback_requests_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_requests')),
    sa.UniqueConstraint('broadcast_id', 'purchase_id', name='feedback_broadcast_purchase')
    )
    with op.batch_alter_table('feedback_requests', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_requests_store_answered', ['store', 'answered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_requests_member_id'), ['member_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feedback_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_requests_member_id'))
        batch_op.drop_index('ix_feedback_requests_store_answered')
    op.drop_table('feedback_requests')
    with op.batch_alter_table('trigger_firings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trigger_firings_member_id'))
    op.drop_table('trigger_firings')
