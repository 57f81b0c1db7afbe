"""An urgent notice is queued a page of recipients per transaction: how far it got (the last
recipient's id) and how many recipients it reached so far

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite has them): no batch copy, which would reflect the tables.
    op.add_column('announcements', sa.Column('queued_through', sa.Integer(), nullable=True))
    op.add_column(
        'announcements',
        sa.Column('recipients', sa.Integer(), nullable=False, server_default='0'),
    )
    # Urgent notices still being queued (the worker's tick continues them).
    op.create_index(
        'ix_announcements_queuing', 'announcements', ['urgent', 'queued_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_announcements_queuing', table_name='announcements')
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_column('recipients')
        batch_op.drop_column('queued_through')
