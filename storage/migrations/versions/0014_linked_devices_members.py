"""Linked devices and shared accounts: a person's account may have several chats (each
with a name and when it was last used); a customer portal account's chats move from
customers.telegram_user_id into portal_chats, beside its members' (account_members)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 09:00:00
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa



revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# 0001 and 0002 left these unique constraints unnamed: PostgreSQL named them itself, and on
# SQLite the batch copy finds them by this convention.
_UNNAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


@contextmanager
def _quietly() -> Iterator[None]:
    """SQLite's batch copy reflects the tables a foreign key points to and warns about
    their expression indexes, which it does not touch."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index", sa.exc.SAWarning
        )
        yield


def _unique_name(table: str, column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"{table}_{column}_key"
    return f"uq_{table}_{column}"


def upgrade() -> None:
    with _quietly():
        _upgrade()


def downgrade() -> None:
    with _quietly():
        _downgrade()


def _upgrade() -> None:
    with op.batch_alter_table('chat_links', naming_convention=_UNNAMED) as batch_op:
        batch_op.add_column(sa.Column('device_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(_unique_name('chat_links', 'person_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_chat_links_person_id'), ['person_id'], unique=False)

    op.create_table(
        'account_members',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('read_only', sa.Boolean(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['customer_id'], ['customers.id'], ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('account_members', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_account_members_customer_id'), ['customer_id'], unique=False
        )
        batch_op.create_index(
            'ix_account_members_email_lower', [sa.text('lower(email)')], unique=False
        )

    op.create_table(
        'portal_chats',
        sa.Column('telegram_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=True),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('device_name', sa.String(length=100), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['customer_id'], ['customers.id'], ondelete='CASCADE'
        ),
        sa.ForeignKeyConstraint(
            ['member_id'], ['account_members.id'], ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('telegram_user_id'),
    )
    with op.batch_alter_table('portal_chats', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_portal_chats_customer_id'), ['customer_id'], unique=False
        )
        batch_op.create_index(batch_op.f('ix_portal_chats_member_id'), ['member_id'], unique=False)

    op.execute(
        "INSERT INTO portal_chats (telegram_user_id, customer_id, member_id, linked_at) "
        "SELECT telegram_user_id, id, NULL, updated_at FROM customers "
        "WHERE telegram_user_id IS NOT NULL"
    )
    # SQLite's batch copy of the table would lose this expression index: made again after.
    op.drop_index('ix_customers_administrator_email_lower', table_name='customers')
    with op.batch_alter_table('customers', naming_convention=_UNNAMED) as batch_op:
        batch_op.drop_constraint(_unique_name('customers', 'telegram_user_id'), type_='unique')
        batch_op.drop_column('telegram_user_id')
    _index_administrator_email()


def _index_administrator_email() -> None:
    op.create_index(
        'ix_customers_administrator_email_lower',
        'customers',
        [sa.text('lower(administrator_email)')],
        unique=False,
    )


def _downgrade() -> None:
    op.drop_index('ix_customers_administrator_email_lower', table_name='customers')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('telegram_user_id', sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(
            _unique_name('customers', 'telegram_user_id'), ['telegram_user_id']
        )
    _index_administrator_email()
    # One chat per account again: the holder's most recently linked one.
    op.execute(
        "UPDATE customers SET telegram_user_id = (SELECT p.telegram_user_id FROM portal_chats p "
        "WHERE p.customer_id = customers.id AND p.member_id IS NULL "
        "ORDER BY p.linked_at DESC LIMIT 1)"
    )
    op.drop_table('portal_chats')
    op.drop_table('account_members')
    # Keep each person's most recently linked chat only, so the unique constraint holds.
    op.execute(
        "DELETE FROM chat_links WHERE telegram_user_id NOT IN (SELECT c.telegram_user_id "
        "FROM chat_links c WHERE c.linked_at = (SELECT MAX(d.linked_at) FROM chat_links d "
        "WHERE d.person_id = c.person_id))"
    )
    with op.batch_alter_table('chat_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_links_person_id'))
        batch_op.create_unique_constraint(_unique_name('chat_links', 'person_id'), ['person_id'])
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('device_name')
