"""linking and merging members

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('link_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('identity', sa.String(length=96), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_attempts'))
    )
    with op.batch_alter_table('link_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_attempts_identity'), ['identity'], unique=False)

    op.create_table('link_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by', sa.String(length=96), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_link_codes_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_link_codes_code'))
    )
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_codes_member_id'), ['member_id'], unique=False)

    op.create_table('merges',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('survivor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('absorbed_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points_moved', sa.BigInteger(), nullable=False),
    sa.Column('identities_moved', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=96), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['absorbed_id'], ['members.id'], name=op.f('fk_merges_absorbed_id_members')),
    sa.ForeignKeyConstraint(['survivor_id'], ['members.id'], name=op.f('fk_merges_survivor_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merges')),
    sa.UniqueConstraint('absorbed_id', name=op.f('uq_merges_absorbed_id'))
    )
    with op.batch_alter_table('merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merges_survivor_id'), ['survivor_id'], unique=False)

    # SQLite accepts REFERENCES in ADD COLUMN; a batch copy of `members` instead would have to
    # drop a table that every other table points at.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'ALTER TABLE members ADD COLUMN merged_into_id INTEGER '
            'CONSTRAINT fk_members_merged_into_id_members REFERENCES members (id)'
        )
    else:
        op.add_column('members', sa.Column('merged_into_id', sa.BigInteger(), nullable=True))
        op.create_foreign_key(
            op.f('fk_members_merged_into_id_members'), 'members', 'members',
            ['merged_into_id'], ['id'],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_column('members', 'merged_into_id')
    else:
        op.drop_constraint(
            op.f('fk_members_merged_into_id_members'), 'members', type_='foreignkey'
        )
        op.drop_column('members', 'merged_into_id')

    with op.batch_alter_table('merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merges_survivor_id'))

    op.drop_table('merges')
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_codes_member_id'))

    op.drop_table('link_codes')
    with op.batch_alter_table('link_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_attempts_identity'))

    op.drop_table('link_attempts')
