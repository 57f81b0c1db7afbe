"""Shared accounts: when a member joined, and the holder's invitations of members by deep
link (only the token's keyed hash kept)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it): no batch copy, which would reflect the tables.
    op.add_column('account_members', sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'member_invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['account_members.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index(
        'ix_member_invitations_member_id', 'member_invitations', ['member_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_member_invitations_member_id', table_name='member_invitations')
    op.drop_table('member_invitations')
    with op.batch_alter_table('account_members', schema=None) as batch_op:
        batch_op.drop_column('joined_at')
