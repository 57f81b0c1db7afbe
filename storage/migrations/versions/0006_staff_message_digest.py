"""staff message content digest

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What a staff message shows now (a digest of its text and buttons): an edit that would
    # change nothing is not sent (Telegram answers it "message is not modified").
    with op.batch_alter_table('staff_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_digest', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_messages', schema=None) as batch_op:
        batch_op.drop_column('content_digest')
