"""mechanics

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('coupon_campaigns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slug', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('item', sa.String(length=128), nullable=True),
    sa.Column('terms', sa.Text(), nullable=True),
    sa.Column('min_order', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('total_limit', sa.Integer(), nullable=True),
    sa.Column('per_member_limit', sa.Integer(), nullable=True),
    sa.Column('budget', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('spent', sa.Numeric(precision=14, scale=2), server_default='0', nullable=False),
    sa.Column('redemptions', sa.Integer(), server_default='0', nullable=False),
    sa.Column('uses_per_coupon', sa.Integer(), server_default='1', nullable=False),
    sa.Column('transferable', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('percent', 'fixed', 'free_item')", name=op.f('ck_coupon_campaigns_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_campaigns')),
    sa.UniqueConstraint('slug', name=op.f('uq_coupon_campaigns_slug'))
    )
    op.create_table('job_runs',
    sa.Column('run_key', sa.String(length=96), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_key', name=op.f('pk_job_runs'))
    )
    op.create_table('coupons',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('uses', sa.Integer(), server_default='0', nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['coupon_campaigns.id'], name=op.f('fk_coupons_campaign_id_coupon_campaigns')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_coupons_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('code', name=op.f('uq_coupons_code'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupons_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_member_id'), ['member_id'], unique=False)

    op.create_table('notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=128), nullable=False),
    sa.Column('marketing', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('error', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_notices_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notices_dedupe_key'))
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_status'), ['status'], unique=False)

    op.create_table('rewards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('slug', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('picture', sa.String(length=512), nullable=True),
    sa.Column('cost', sa.BigInteger(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('per_member_limit', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cost > 0', name=op.f('ck_rewards_cost_positive')),
    sa.CheckConstraint('stock IS NULL OR stock >= 0', name=op.f('ck_rewards_stock_not_negative')),
    sa.ForeignKeyConstraint(['campaign_id'], ['coupon_campaigns.id'], name=op.f('fk_rewards_campaign_id_coupon_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards')),
    sa.UniqueConstraint('slug', name=op.f('uq_rewards_slug'))
    )
    op.create_table('tier_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_tier', sa.String(length=32), nullable=True),
    sa.Column('to_tier', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_tier_changes_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_changes'))
    )
    with op.batch_alter_table('tier_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tier_changes_member_id'), ['member_id'], unique=False)

    op.create_table('coupon_redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('redemption_id', sa.String(length=64), nullable=False),
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('order_amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('discount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_coupon_redemptions_coupon_id_coupons')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_coupon_redemptions_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_redemptions')),
    sa.UniqueConstraint('redemption_id', name=op.f('uq_coupon_redemptions_redemption_id'))
    )
    with op.batch_alter_table('coupon_redemptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_redemptions_coupon_id'), ['coupon_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupon_redemptions_member_id'), ['member_id'], unique=False)

    op.create_table('member_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('ledger_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entries.id'], name=op.f('fk_member_events_ledger_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_events_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_events')),
    sa.UniqueConstraint('kind', 'event_id', name='kind_event_id')
    )
    with op.batch_alter_table('member_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_events_member_id'), ['member_id'], unique=False)

    op.create_table('point_lots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('earned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('remaining >= 0 AND remaining <= points', name=op.f('ck_point_lots_remaining_in_range')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_point_lots_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_point_lots_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_lots'))
    )
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_point_lots_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_point_lots_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_point_lots_member_id'), ['member_id'], unique=False)

    op.create_table('reward_claims',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.String(length=64), nullable=False),
    sa.Column('reward_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ledger_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_reward_claims_coupon_id_coupons')),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entries.id'], name=op.f('fk_reward_claims_ledger_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_reward_claims_member_id_members')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_reward_claims_reward_id_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_claims')),
    sa.UniqueConstraint('claim_id', name=op.f('uq_reward_claims_claim_id'))
    )
    with op.batch_alter_table('reward_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reward_claims_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reward_claims_reward_id'), ['reward_id'], unique=False)

    op.create_table('lot_allocations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_lot_allocations_points_positive')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_lot_allocations_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['lot_id'], ['point_lots.id'], name=op.f('fk_lot_allocations_lot_id_point_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_allocations'))
    )
    with op.batch_alter_table('lot_allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lot_allocations_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lot_allocations_lot_id'), ['lot_id'], unique=False)

    # Plain ADD COLUMN: a batch copy of `members` would fight the foreign keys pointing at it.
    op.add_column('members', sa.Column('tier', sa.String(length=32), nullable=True))
    op.add_column('members', sa.Column('tier_since', sa.DateTime(timezone=True), nullable=True))
    op.add_column('members', sa.Column('tier_grace_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('members', sa.Column('time_zone', sa.String(length=64), nullable=True))
    op.add_column('purchases', sa.Column('store', sa.String(length=64), nullable=True))
    op.add_column('purchases', sa.Column('categories', sa.Text(), nullable=True))

    # Points earned before lots existed become one lot per member that never expires, tied
    # to the member's latest earning entry, so spending them works like any other lot.
    op.execute(
        """
        INSERT INTO point_lots (member_id, entry_id, points, remaining, earned_at, expires_at)
        SELECT m.id, e.id, m.balance, m.balance, e.created_at, NULL
        FROM members m
        JOIN ledger_entries e ON e.id = (
            SELECT MAX(x.id) FROM ledger_entries x WHERE x.member_id = m.id AND x.points > 0
        )
        WHERE m.balance > 0
        """
    )


def downgrade() -> None:
    with op.batch_alter_table('lot_allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lot_allocations_lot_id'))
        batch_op.drop_index(batch_op.f('ix_lot_allocations_entry_id'))

    op.drop_table('lot_allocations')
    with op.batch_alter_table('reward_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reward_claims_reward_id'))
        batch_op.drop_index(batch_op.f('ix_reward_claims_member_id'))

    op.drop_table('reward_claims')
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_point_lots_member_id'))
        batch_op.drop_index(batch_op.f('ix_point_lots_expires_at'))
        batch_op.drop_index(batch_op.f('ix_point_lots_entry_id'))

    op.drop_table('point_lots')
    with op.batch_alter_table('member_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_events_member_id'))

    op.drop_table('member_events')
    with op.batch_alter_table('coupon_redemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_redemptions_member_id'))
        batch_op.drop_index(batch_op.f('ix_coupon_redemptions_coupon_id'))

    op.drop_table('coupon_redemptions')
    with op.batch_alter_table('tier_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tier_changes_member_id'))

    op.drop_table('tier_changes')
    op.drop_table('rewards')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_status'))
        batch_op.drop_index(batch_op.f('ix_notices_member_id'))

    op.drop_table('notices')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupons_member_id'))
        batch_op.drop_index(batch_op.f('ix_coupons_campaign_id'))

    op.drop_table('coupons')
    op.drop_table('job_runs')
    op.drop_table('coupon_campaigns')
    op.drop_column('purchases', 'categories')
    op.drop_column('purchases', 'store')
    op.drop_column('members', 'time_zone')
    op.drop_column('members', 'tier_grace_until')
    op.drop_column('members', 'tier_since')
    op.drop_column('members', 'tier')
