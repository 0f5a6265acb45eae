"""beacon signatures: drand's BLS signature of a giveaway's beacon round (and, on a chained
chain, the previous round's), kept with the draw so its transcript can be checked offline

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('contests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('beacon_signature', sa.String(length=192), nullable=True))
        batch_op.add_column(
            sa.Column('beacon_previous_signature', sa.String(length=192), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('contests', schema=None) as batch_op:
        batch_op.drop_column('beacon_previous_signature')
        batch_op.drop_column('beacon_signature')
