"""quests: definitions, joins, progress keyed by the events' ids, completions (one per
member, quest and period) and proofs waiting for staff

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('quests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slug', sa.String(length=32), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quests')),
    sa.UniqueConstraint('slug', name=op.f('uq_quests_slug'))
    )
    op.create_table('quest_joins',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('quest_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_quest_joins_member_id_members')),
    sa.ForeignKeyConstraint(['quest_id'], ['quests.id'], name=op.f('fk_quest_joins_quest_id_quests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quest_joins')),
    sa.UniqueConstraint('member_id', 'quest_id', name='member_quest')
    )
    with op.batch_alter_table('quest_joins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quest_joins_quest_id'), ['quest_id'], unique=False)

    op.create_table('quest_progress',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('quest_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=160), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_quest_progress_member_id_members')),
    sa.ForeignKeyConstraint(['quest_id'], ['quests.id'], name=op.f('fk_quest_progress_quest_id_quests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quest_progress')),
    sa.UniqueConstraint('quest_id', 'member_id', 'period', 'step', 'source', name='source_once')
    )
    with op.batch_alter_table('quest_progress', schema=None) as batch_op:
        batch_op.create_index('ix_quest_progress_member_source', ['member_id', 'source'], unique=False)

    op.create_table('quest_proofs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('quest_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('photo', sa.String(length=512), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=512), nullable=True),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_quest_proofs_status_known')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_quest_proofs_member_id_members')),
    sa.ForeignKeyConstraint(['quest_id'], ['quests.id'], name=op.f('fk_quest_proofs_quest_id_quests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quest_proofs'))
    )
    with op.batch_alter_table('quest_proofs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quest_proofs_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quest_proofs_status'), ['status'], unique=False)

    op.create_table('quest_completions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('quest_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('ledger_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('badge', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_quest_completions_coupon_id_coupons')),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entries.id'], name=op.f('fk_quest_completions_ledger_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_quest_completions_member_id_members')),
    sa.ForeignKeyConstraint(['quest_id'], ['quests.id'], name=op.f('fk_quest_completions_quest_id_quests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quest_completions')),
    sa.UniqueConstraint('quest_id', 'member_id', 'period', name='once_per_period')
    )
    with op.batch_alter_table('quest_completions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quest_completions_member_id'), ['member_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quest_completions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quest_completions_member_id'))

    op.drop_table('quest_completions')
    with op.batch_alter_table('quest_proofs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quest_proofs_status'))
        batch_op.drop_index(batch_op.f('ix_quest_proofs_member_id'))

    op.drop_table('quest_proofs')
    with op.batch_alter_table('quest_progress', schema=None) as batch_op:
        batch_op.drop_index('ix_quest_progress_member_source')

    op.drop_table('quest_progress')
    with op.batch_alter_table('quest_joins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quest_joins_quest_id'))

    op.drop_table('quest_joins')
    op.drop_table('quests')
