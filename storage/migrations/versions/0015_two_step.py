"""Two-step verification: second factors (SMS or an authenticator, its secret sealed),
recovery codes (keyed hashes), when each chat last gave the second factor, and whether an
organization requires two-step of its staff

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy: SQLite would lose the expression index).
    op.add_column(
        'organizations',
        sa.Column('require_two_step', sa.String(length=8), server_default='none', nullable=False),
    )
    op.create_table(
        'second_factors',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_key', sa.String(length=24), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=True),
        sa.Column('totp_secret', sa.String(length=400), nullable=True),
        sa.Column('last_totp_step', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('owner_key'),
    )
    op.create_table(
        'recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_key', sa.String(length=24), nullable=False),
        sa.Column('code_hash', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_recovery_codes_owner_key'), ['owner_key'], unique=False
        )
    op.create_table(
        'step_ups',
        sa.Column('telegram_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('owner_key', sa.String(length=24), nullable=False),
        sa.Column('fresh_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('telegram_user_id'),
    )


def downgrade() -> None:
    op.drop_table('step_ups')
    op.drop_table('recovery_codes')
    op.drop_table('second_factors')
    op.drop_index('ix_organizations_partner_id_lower', table_name='organizations')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('require_two_step')
    op.create_index(
        'ix_organizations_partner_id_lower',
        'organizations',
        [sa.text('lower(partner_id)')],
        unique=False,
    )
