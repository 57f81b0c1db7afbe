"""device_pairings: a linked device's one-time /pair link (seed 004), only the token's
keyed hash kept

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'device_pairings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('owner', sa.String(length=24), nullable=False),
        sa.Column('token_hash', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('used_by_chat', sa.BigInteger(), nullable=True),
        sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    with op.batch_alter_table('device_pairings', schema=None) as batch_op:
        batch_op.create_index('ix_device_pairings_owner', ['owner'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('device_pairings', schema=None) as batch_op:
        batch_op.drop_index('ix_device_pairings_owner')
    op.drop_table('device_pairings')
