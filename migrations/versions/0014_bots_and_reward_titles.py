"""bots and reward titles: when a messenger first said one of a member's accounts is a bot
(contests re-check it at the draw and when a reserve steps up), and an index from a quest
reward's ledger entry to its completion (History names the quest in the member's language)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('members', sa.Column('bot_seen_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('quest_completions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quest_completions_ledger_entry_id'), ['ledger_entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('quest_completions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quest_completions_ledger_entry_id'))

    op.drop_column('members', 'bot_seen_at')
