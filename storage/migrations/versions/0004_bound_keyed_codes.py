"""codes bound to their organization and kept as keyed hashes; chat-link requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organization_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_one_time_codes_organization_id_organizations',
            'organizations', ['organization_id'], ['id'], ondelete='CASCADE',
        )
        batch_op.create_index(batch_op.f('ix_one_time_codes_code_hash'), ['code_hash'], unique=False)
    # Codes hashed with argon2 cannot be checked against the keyed hash: they go. A person
    # waiting for one asks again; a letter's code is issued anew at its next export.
    op.execute("UPDATE one_time_codes SET burned = true WHERE used_at IS NULL")
    with op.batch_alter_table('registration_requests', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('kind', sa.Enum('registration', 'chat_link', name='requestkind',
                                      native_enum=False, length=32),
                      server_default='registration', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('registration_requests', schema=None) as batch_op:
        batch_op.drop_column('kind')
    with op.batch_alter_table('one_time_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_one_time_codes_code_hash'))
        batch_op.drop_constraint('fk_one_time_codes_organization_id_organizations', type_='foreignkey')
        batch_op.drop_column('organization_id')
