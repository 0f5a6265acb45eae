"""broadcast rounds: which sending of a broadcast to a member a delivery row is (a triggered
broadcast queues the same row again each period), so a platform that de-duplicates sends (VK's
random_id) tells one period's message from the next and a retry from a new one

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('broadcast_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('round', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('broadcast_deliveries', schema=None) as batch_op:
        batch_op.drop_column('round')
