"""handled_updates: the outcome of an update, kept (sealed) until it was carried out in the chat

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handled_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('handled_updates', schema=None) as batch_op:
        batch_op.drop_column('outcome')
