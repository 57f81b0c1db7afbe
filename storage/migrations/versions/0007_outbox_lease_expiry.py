"""outbox: fenced leases, message expiry, the chat to tell; undeliverable addresses

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('notify_chat', sa.BigInteger(), nullable=True))
    # A row claimed by an older worker has no token: its lease (next_attempt_at) runs out and
    # a new worker claims it with one. The 'dead' status needs no change: statuses are text.
    op.create_table('undeliverable_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('email', 'sms', 'telegram', name='deliverychannel', native_enum=False, length=32), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'address')
    )


def downgrade() -> None:
    op.drop_table('undeliverable_addresses')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('notify_chat')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_token')
