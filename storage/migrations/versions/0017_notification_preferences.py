"""notification_preferences: each reader's choice per kind of notice and channel (seed 003:
per kind; seed 004: e-mail kinds on and off); no row is the documented default

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notification_preferences',
        sa.Column('owner_key', sa.String(length=24), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column(
            'channel',
            sa.Enum(
                'email', 'sms', 'telegram', 'directory',
                name='deliverychannel', native_enum=False, length=32,
            ),
            nullable=False,
        ),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('owner_key', 'kind', 'channel'),
    )


def downgrade() -> None:
    op.drop_table('notification_preferences')
