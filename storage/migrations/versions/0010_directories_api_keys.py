"""directories: each organization's directory kind, employees' password hashes (for the
built-in directory), and the API keys portals use to verify passwords

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('directory', sa.String(length=16), nullable=True))
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('directory_closed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index('ix_api_keys_organization_id', ['organization_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_api_keys_organization_id')
    op.drop_table('api_keys')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('directory_closed_at')
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('password_hash')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('directory')
