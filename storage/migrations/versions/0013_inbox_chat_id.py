"""webhook_inbox.chat_id: the chat of a kept update, so a worker that takes a chat's turn
handles the chat's earlier updates first (several workers on one PostgreSQL store)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_id', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_webhook_inbox_chat_id'), ['chat_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_inbox_chat_id'))
        batch_op.drop_column('chat_id')
