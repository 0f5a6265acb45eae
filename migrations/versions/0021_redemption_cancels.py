"""redemption cancels: points spent at the till given back when the order is returned (all or
a part, to lots with the spent lots' expiries), and a coupon's use cancelled (it no longer
counts; the coupon is usable again unless it has expired)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('redemption_cancels',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('cancel_key', sa.String(length=128), nullable=False),
    sa.Column('redemption_entry_id', ID, nullable=False),
    sa.Column('entry_id', ID, nullable=False),
    sa.Column('member_id', ID, nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('expired', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_redemption_cancels_points_positive')),
    sa.CheckConstraint('expired >= 0 AND expired <= points', name=op.f('ck_redemption_cancels_expired_in_range')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_redemption_cancels_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_redemption_cancels_member_id_members')),
    sa.ForeignKeyConstraint(['redemption_entry_id'], ['ledger_entries.id'], name=op.f('fk_redemption_cancels_redemption_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemption_cancels')),
    sa.UniqueConstraint('cancel_key', name=op.f('uq_redemption_cancels_cancel_key'))
    )
    with op.batch_alter_table('redemption_cancels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_redemption_cancels_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_redemption_cancels_redemption_entry_id'), ['redemption_entry_id'], unique=False)
    with op.batch_alter_table('coupon_redemptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('use_restored', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('coupon_redemptions', schema=None) as batch_op:
        batch_op.drop_column('use_restored')
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_by')
        batch_op.drop_column('cancelled_at')
    with op.batch_alter_table('redemption_cancels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redemption_cancels_redemption_entry_id'))
        batch_op.drop_index(batch_op.f('ix_redemption_cancels_member_id'))
    op.drop_table('redemption_cancels')
