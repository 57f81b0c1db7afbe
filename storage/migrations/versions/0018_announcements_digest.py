"""Urgent notices and the weekly digest (issue 13): announcements, the outbox rows of each
(outbox.announcement_id), an organization's digest time (organizations.digest_schedule) and
the digest runs with whom each has reached (digest_runs, digest_deliveries)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_schedule', sa.String(length=16), nullable=True))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('announcement_id', sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_outbox_announcement_id'), ['announcement_id'], unique=False
        )

    op.create_table(
        'announcements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column(
            'audience',
            sa.Enum('customers', 'employees', 'office', name='announcementaudience',
                    native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column('office_id', sa.Integer(), nullable=True),
        sa.Column('urgent', sa.Boolean(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('sender_chat', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('digest_week', sa.String(length=10), nullable=True),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['office_id'], ['offices.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.create_index(
            'ix_announcements_digest', ['organization_id', 'urgent', 'digest_week'], unique=False
        )
        batch_op.create_index(
            'ix_announcements_unreported', ['reported_at', 'urgent'], unique=False
        )

    op.create_table(
        'digest_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('week', sa.String(length=10), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organization_id', 'week', name='uq_digest_runs_organization_week'),
    )

    op.create_table(
        'digest_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('week', sa.String(length=10), nullable=False),
        sa.Column('owner_key', sa.String(length=24), nullable=False),
        sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint(
            'organization_id', 'week', 'owner_key', name='uq_digest_deliveries_recipient'
        ),
    )


def downgrade() -> None:
    op.drop_table('digest_deliveries')
    op.drop_table('digest_runs')
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_index('ix_announcements_unreported')
        batch_op.drop_index('ix_announcements_digest')
    op.drop_table('announcements')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_announcement_id'))
        batch_op.drop_column('announcement_id')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('digest_schedule')
