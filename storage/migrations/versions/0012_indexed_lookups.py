"""indexed lookups: every lookup a conversation step makes, and the staff lists' pages, on
an index, so a step costs the same with 1,000 customers as with 1,000,000

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 17:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# (index, table, columns); the composite ones replace an index on their first column.
_NEW = (
    ('ix_people_organization_role_name', 'people', ['organization_id', 'role', 'name']),
    ('ix_people_closing', 'people', ['directory_closed_at', 'out_of_service_on']),
    ('ix_registration_requests_pending', 'registration_requests', ['organization_id', 'status', 'number']),
    ('ix_registration_requests_person_status', 'registration_requests', ['person_id', 'status']),
    ('ix_registration_requests_chat_status', 'registration_requests', ['telegram_user_id', 'status']),
    ('ix_offboard_requests_subject_status', 'offboard_requests', ['subject_person_id', 'status']),
    ('ix_one_time_codes_digest_purpose', 'one_time_codes', ['code_hash', 'purpose']),
    ('ix_one_time_codes_subject_purpose_created', 'one_time_codes', ['subject', 'purpose', 'created_at']),
    ('ix_one_time_codes_destination_purpose_created', 'one_time_codes', ['destination', 'purpose', 'created_at']),
    ('ix_staff_messages_topic_chat', 'staff_messages', ['topic', 'chat_id']),
    ('ix_audit_log_action_channel', 'audit_log', ['action', 'channel']),
    ('ix_customers_customer_number', 'customers', ['customer_number']),
    ('ix_activation_requests_listing', 'activation_requests', ['organization_id', 'status', 'number']),
    ('ix_rate_events_key_at', 'rate_events', ['key', 'at']),
)
_REPLACED = (
    ('ix_one_time_codes_code_hash', 'one_time_codes', ['code_hash']),
    ('ix_one_time_codes_subject', 'one_time_codes', ['subject']),
    ('ix_staff_messages_topic', 'staff_messages', ['topic']),
    ('ix_rate_events_key', 'rate_events', ['key']),
)
# Case-insensitive lookups (lower(column) = value): an index on the expression.
_LOWERED = (
    ('ix_organizations_partner_id_lower', 'organizations', 'partner_id'),
    ('ix_customers_administrator_email_lower', 'customers', 'administrator_email'),
)


def upgrade() -> None:
    for name, table, columns in _NEW:
        op.create_index(name, table, columns, unique=False)
    for name, table, column in _LOWERED:
        op.create_index(name, table, [sa.text(f'lower({column})')], unique=False)
    for name, table, _ in _REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in _REPLACED:
        op.create_index(name, table, columns, unique=False)
    for name, table, _ in _LOWERED:
        op.drop_index(name, table_name=table)
    for name, table, _ in reversed(_NEW):
        op.drop_index(name, table_name=table)
