"""coupon voids: why a coupon was cancelled and by whom (coupon-void)

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0023'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('void_reason', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('voided_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_column('voided_by')
        batch_op.drop_column('void_reason')
