"""outbox: the organization a message belongs to, indexes for the claim and for waiting
rows per chat; telegram_pace: Telegram's limits shared by every worker

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_outbox_organization_id_organizations',
            'organizations',
            ['organization_id'],
            ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_index('ix_outbox_organization_id', ['organization_id'], unique=False)
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(
            'ix_outbox_recipient_waiting', ['channel', 'recipient', 'status'], unique=False
        )
    op.create_table('telegram_pace',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('tat', sa.Float(), nullable=False),
    sa.Column('paused_until', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('telegram_pace')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipient_waiting')
        batch_op.drop_index('ix_outbox_due')
        batch_op.drop_index('ix_outbox_organization_id')
        batch_op.drop_constraint('fk_outbox_organization_id_organizations', type_='foreignkey')
        batch_op.drop_column('organization_id')
