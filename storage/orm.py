"""Tables and the mapping of :mod:`flows.model`'s classes onto them (imperative mapping).

The core's classes know nothing of SQLAlchemy; this adapter module owns the schema (one
``MetaData``, the one Alembic compares migrations with) and maps each class onto its table.
:func:`start_mappers` runs where engines are built (:func:`storage.db.create_engine`), never
when :mod:`flows` is imported.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import QueryableAttribute, registry, relationship

from flows.domain import (
    AccountStatus,
    ActivationRoute,
    ActivationStatus,
    AnnouncementAudience,
    CodePurpose,
    ConversationState,
    DeliveryChannel,
    LetterStatus,
    OffboardStatus,
    OutboxStatus,
    PasswordPolicyName,
    RequestKind,
    RequestStatus,
    Role,
)
from flows.model import (
    AccountMember,
    ActivationRequest,
    Announcement,
    ApiKey,
    AuditEntry,
    ChatLink,
    Conversation,
    Customer,
    DevicePairing,
    DigestDelivery,
    DigestRun,
    HandledUpdate,
    InboxUpdate,
    Invitation,
    Letter,
    MemberInvitation,
    NotificationPreference,
    OffboardRequest,
    Office,
    OneTimeCode,
    Organization,
    OutboxMessage,
    Person,
    PersonOffice,
    PortalChat,
    RateEvent,
    RecoveryCode,
    RegistrationRequest,
    SecondFactor,
    StaffMessage,
    StepUp,
    UndeliverableAddress,
)


def _enum(enum_cls: type) -> Enum:
    # Store the enum's value (a readable string), not its name; no native DB enum type,
    # so adding a member never needs an ALTER TYPE.
    return Enum(
        enum_cls,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        length=32,
        validate_strings=True,
    )


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

organizations = Table(
    "organizations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("partner_id", String(64), unique=True, nullable=False),
    Column("last_request_number", Integer, default=0, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("desk_contact", String(300), nullable=True),
    Column(
        "password_policy",
        _enum(PasswordPolicyName),
        default=PasswordPolicyName.NIST,
        server_default="nist",
        nullable=False,
    ),
    Column("password_min_length", Integer, default=8, server_default="8", nullable=False),
    Column("activation_code_days", Integer, default=14, server_default="14", nullable=False),
    Column("manual_activation", Boolean, default=False, server_default=false(), nullable=False),
    Column("directory", String(16), nullable=True),
    Column("digest_schedule", String(16), nullable=True),
    Column("require_two_step", String(8), default="none", server_default="none", nullable=False),
)

# by_partner_id compares case-insensitively: the unique index on the column cannot serve it.
Index("ix_organizations_partner_id_lower", func.lower(organizations.c.partner_id))

offices = Table(
    "offices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(200), nullable=False),
    UniqueConstraint("organization_id", "name"),
)

people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=True),
    Column("phone", String(20), nullable=True),
    Column("role", _enum(Role), nullable=False),
    Column("status", _enum(AccountStatus), nullable=False),
    Column("pre_registered", Boolean, default=False, nullable=False),
    Column("out_of_service_on", Date, nullable=True),
    Column("language", String(8), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("password_changed_at", UTCDateTime(), nullable=True),
    Column("directory_closed_at", UTCDateTime(), nullable=True),
    UniqueConstraint("organization_id", "email"),
    UniqueConstraint("organization_id", "phone"),
    # /employees (a page by name) and the deciders of a card: one organization's role.
    Index("ix_people_organization_role_name", "organization_id", "role", "name"),
    # The daily sweep: whose out-of-service date has come and who is not closed yet.
    Index("ix_people_closing", "directory_closed_at", "out_of_service_on"),
)

person_offices = Table(
    "person_offices",
    metadata,
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Column("office_id", Integer, ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True),
)

chat_links = Table(
    "chat_links",
    metadata,
    Column("telegram_user_id", BigInteger, primary_key=True, autoincrement=False),
    Column(
        "person_id",
        Integer,
        ForeignKey("people.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    Column("linked_at", UTCDateTime(), nullable=False),
    Column("device_name", String(100), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

registration_requests = Table(
    "registration_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("number", Integer, nullable=False),
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    Column("contact", String(320), nullable=False),
    Column("contact_channel", _enum(DeliveryChannel), nullable=False),
    Column("telegram_user_id", BigInteger, nullable=False),
    Column("pre_registered", Boolean, nullable=False),
    Column("status", _enum(RequestStatus), nullable=False),
    Column(
        "kind",
        _enum(RequestKind),
        default=RequestKind.REGISTRATION,
        server_default="registration",
        nullable=False,
    ),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decided_by_id", Integer, ForeignKey("people.id"), nullable=True),
    Column("reason", Text, nullable=True),
    UniqueConstraint("organization_id", "number"),
    # /pending (a page by number), and the open request of a person or of a chat.
    Index("ix_registration_requests_pending", "organization_id", "status", "number"),
    Index("ix_registration_requests_person_status", "person_id", "status"),
    Index("ix_registration_requests_chat_status", "telegram_user_id", "status"),
)

offboard_requests = Table(
    "offboard_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "subject_person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False
    ),
    Column("requested_by_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    Column("out_of_service_on", Date, nullable=False),
    Column("status", _enum(OffboardStatus), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decided_by_id", Integer, ForeignKey("people.id"), nullable=True),
    Index("ix_offboard_requests_subject_status", "subject_person_id", "status"),
)

one_time_codes = Table(
    "one_time_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("purpose", _enum(CodePurpose), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("destination", String(320), nullable=False),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("code_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, default=0, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Column("burned", Boolean, default=False, nullable=False),
    # A typed code (digest and purpose); a subject's current code and the codes it was sent
    # since a moment; the codes sent to one address since a moment.
    Index("ix_one_time_codes_digest_purpose", "code_hash", "purpose"),
    Index("ix_one_time_codes_subject_purpose_created", "subject", "purpose", "created_at"),
    Index("ix_one_time_codes_destination_purpose_created", "destination", "purpose", "created_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", _enum(DeliveryChannel), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", String(300), nullable=True),
    Column("body", Text, nullable=False),
    Column("payload", JSON, default=dict, nullable=False),
    Column("sensitive", Boolean, default=False, nullable=False),
    Column("status", _enum(OutboxStatus), index=True, nullable=False),
    Column("attempts", Integer, default=0, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("lease_token", String(32), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("notify_chat", BigInteger, nullable=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="SET NULL"),
        index=True,
        nullable=True,
    ),
    # Its sender's count of delivered and failed messages (no foreign key: the outbox
    # keeps its rows whatever becomes of the notice).
    Column("announcement_id", Integer, index=True, nullable=True),
    # The worker's claim (due pending rows) and "does this chat have rows waiting?".
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_recipient_waiting", "channel", "recipient", "status"),
)

telegram_pace = Table(
    "telegram_pace",
    metadata,
    # Telegram's limits shared by every worker of the bot (when no Redis is configured): per
    # key (the bot, a chat) the next free moment of the cell rate algorithm ("theoretical
    # arrival time") and a pause a 429 asked for, in seconds since the epoch on the database
    # server's clock. Not a record of the core: storage.pace reads and writes it.
    Column("key", String(80), primary_key=True),
    Column("tat", Float, nullable=False),
    Column("paused_until", Float, nullable=False),
)

undeliverable_addresses = Table(
    "undeliverable_addresses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", _enum(DeliveryChannel), nullable=False),
    Column("address", String(320), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("channel", "address"),
)

staff_messages = Table(
    "staff_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("topic", String(64), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    Column("content_digest", String(64), nullable=True),
    Index("ix_staff_messages_topic_chat", "topic", "chat_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), index=True, nullable=False),
    Column("organization_id", Integer, ForeignKey("organizations.id"), nullable=True),
    Column("actor_person_id", Integer, ForeignKey("people.id"), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject_person_id", Integer, ForeignKey("people.id"), nullable=True),
    Column("channel", String(32), nullable=False),
    Column("detail", JSON, default=dict, nullable=False),
    Index("ix_audit_log_action_channel", "action", "channel"),
)

handled_updates = Table(
    "handled_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("handled_at", UTCDateTime(), index=True, nullable=False),
    Column("outcome", Text, default=None, nullable=True),
)

conversations = Table(
    "conversations",
    metadata,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("state", _enum(ConversationState), nullable=False),
    Column("data", JSON, default=dict, nullable=False),
    Column("language", String(8), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("customer_number", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320), index=True, nullable=True),
    Column("phone", String(20), index=True, nullable=True),
    Column("street", String(200), nullable=True),
    Column("house_number", String(20), nullable=True),
    Column("postcode", String(16), nullable=True),
    Column("city", String(100), nullable=True),
    Column("is_tenant", Boolean, default=False, nullable=False),
    Column("institution_coresident", Boolean, default=False, nullable=False),
    Column("payment_arrangement", Boolean, default=False, nullable=False),
    Column("under_administration", Boolean, default=False, nullable=False),
    Column("administrator_name", String(200), nullable=True),
    Column("administrator_email", String(320), nullable=True),
    Column("blocked", Boolean, default=False, nullable=False),
    Column("account_active", Boolean, default=False, nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("password_changed_at", UTCDateTime(), nullable=True),
    Column("language", String(8), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("organization_id", "customer_number"),
    # A person in chat names no organization: found by customer number alone (with postcode
    # and house number), or as the administrator of an account under administration.
    Index("ix_customers_customer_number", "customer_number"),
)
Index("ix_customers_administrator_email_lower", func.lower(customers.c.administrator_email))

account_members = Table(
    "account_members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "customer_id",
        Integer,
        ForeignKey("customers.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("read_only", Boolean, default=False, nullable=False),
    Column("language", String(8), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("joined_at", UTCDateTime(), nullable=True),
)
Index("ix_account_members_email_lower", func.lower(account_members.c.email))

member_invitations = Table(
    "member_invitations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "member_id",
        Integer,
        ForeignKey("account_members.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    Column("token_hash", String(80), unique=True, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=True),
    Column("withdrawn_at", UTCDateTime(), nullable=True),
)

portal_chats = Table(
    "portal_chats",
    metadata,
    Column("telegram_user_id", BigInteger, primary_key=True, autoincrement=False),
    Column(
        "customer_id",
        Integer,
        ForeignKey("customers.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    Column(
        "member_id",
        Integer,
        ForeignKey("account_members.id", ondelete="CASCADE"),
        index=True,
        nullable=True,
    ),
    Column("linked_at", UTCDateTime(), nullable=False),
    Column("device_name", String(100), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("owner_key", String(24), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("channel", _enum(DeliveryChannel), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
)

activation_requests = Table(
    "activation_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("number", Integer, nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=True),
    Column("telegram_user_id", BigInteger, nullable=True),
    Column("route", _enum(ActivationRoute), nullable=True),
    Column("destination", String(320), nullable=True),
    Column("given_email", String(320), nullable=True),
    Column("status", _enum(ActivationStatus), nullable=False),
    Column("reason", Text, nullable=True),
    Column("replaces_code", Boolean, default=False, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decided_by_id", Integer, ForeignKey("people.id"), nullable=True),
    UniqueConstraint("organization_id", "number"),
    # /codes: one organization's requests in one state, a page by number.
    Index("ix_activation_requests_listing", "organization_id", "status", "number"),
)

letters = Table(
    "letters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column(
        "activation_request_id",
        Integer,
        ForeignKey("activation_requests.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("status", _enum(LetterStatus), index=True, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("exported_at", UTCDateTime(), nullable=True),
    Column("batch", String(200), nullable=True),
)

rate_events = Table(
    "rate_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(160), nullable=False),
    Column("at", UTCDateTime(), index=True, nullable=False),
    Index("ix_rate_events_key_at", "key", "at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    Column("key_hash", String(64), unique=True, nullable=False),
    Column("label", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

invitations = Table(
    "invitations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "person_id",
        Integer,
        ForeignKey("people.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    Column("token_hash", String(80), unique=True, nullable=False),
    Column("email", String(320), nullable=False),
    Column("invited_by_id", Integer, ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=True),
    Column("confirmed_at", UTCDateTime(), nullable=True),
    Column("withdrawn_at", UTCDateTime(), nullable=True),
)

announcements = Table(
    "announcements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("audience", _enum(AnnouncementAudience), nullable=False),
    Column("office_id", Integer, ForeignKey("offices.id", ondelete="SET NULL"), nullable=True),
    Column("urgent", Boolean, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_by_id", Integer, ForeignKey("people.id", ondelete="SET NULL"), nullable=True),
    Column("sender_chat", BigInteger, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("queued_at", UTCDateTime(), nullable=True),
    Column("digest_week", String(10), nullable=True),
    Column("reported_at", UTCDateTime(), nullable=True),
    Column("queued_through", Integer, nullable=True),
    Column("recipients", Integer, default=0, server_default="0", nullable=False),
    # The week's general notices not yet in a digest, and those a digest run took.
    Index("ix_announcements_digest", "organization_id", "urgent", "digest_week"),
    # Urgent notices whose sender has not heard the count yet.
    Index("ix_announcements_unreported", "reported_at", "urgent"),
    # Urgent notices still being queued, a page per transaction.
    Index("ix_announcements_queuing", "urgent", "queued_at"),
)

device_pairings = Table(
    "device_pairings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("owner", String(24), index=True, nullable=False),
    Column("token_hash", String(80), unique=True, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Column("used_by_chat", BigInteger, nullable=True),
    Column("voided_at", UTCDateTime(), nullable=True),
)

digest_runs = Table(
    "digest_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("week", String(10), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("recipients", Integer, default=0, nullable=False),
    UniqueConstraint("organization_id", "week", name="uq_digest_runs_organization_week"),
)

digest_deliveries = Table(
    "digest_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "organization_id",
        Integer,
        ForeignKey("organizations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("week", String(10), nullable=False),
    Column("owner_key", String(24), nullable=False),
    Column("queued_at", UTCDateTime(), nullable=False),
    # A digest is never queued twice for one recipient, even by a run started again.
    UniqueConstraint("organization_id", "week", "owner_key", name="uq_digest_deliveries_recipient"),
)

webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    # The chat it belongs to: a worker taking a chat's turn handles its earlier updates first.
    Column("chat_id", BigInteger, index=True, nullable=True),
)


def _loaded(target: type, via: Column[Any] | None = None) -> Any:
    """A link to one ``target`` row, loaded with its own row (``via``: which foreign key,
    where the table has more than one to ``target``)."""
    return relationship(target, foreign_keys=None if via is None else [via], lazy="selectin")


# two-step verification (issue 13)
second_factors = Table(
    "second_factors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_key", String(24), unique=True, nullable=False),
    Column("method", String(8), nullable=False),
    Column("phone", String(32), nullable=True),
    Column("totp_secret", String(400), nullable=True),
    Column("last_totp_step", BigInteger, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime(), nullable=True),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_key", String(24), index=True, nullable=False),
    Column("code_hash", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
)

step_ups = Table(
    "step_ups",
    metadata,
    Column("telegram_user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_key", String(24), nullable=False),
    Column("fresh_at", UTCDateTime(), nullable=False),
)

_PLAIN: tuple[tuple[type, Table], ...] = (
    (PersonOffice, person_offices),
    (OneTimeCode, one_time_codes),
    (OutboxMessage, outbox),
    (UndeliverableAddress, undeliverable_addresses),
    (StaffMessage, staff_messages),
    (AuditEntry, audit_log),
    (HandledUpdate, handled_updates),
    (Conversation, conversations),
    (RateEvent, rate_events),
    (InboxUpdate, webhook_inbox),
    (ApiKey, api_keys),
    (PortalChat, portal_chats),
    (Announcement, announcements),
    (DigestRun, digest_runs),
    (DigestDelivery, digest_deliveries),
    (DevicePairing, device_pairings),
    (NotificationPreference, notification_preferences),
    (SecondFactor, second_factors),
    (RecoveryCode, recovery_codes),
    (StepUp, step_ups),
)
"""Classes whose rows link to no other record."""

_requests = registration_requests.c
_offboards = offboard_requests.c
_LINKED: tuple[tuple[type, Table, dict[str, Any]], ...] = (
    (Organization, organizations, {"offices": relationship(Office, back_populates="organization")}),
    (Office, offices, {"organization": relationship(Organization, back_populates="offices")}),
    (
        Person,
        people,
        {
            "organization": _loaded(Organization),
            "offices": relationship(Office, secondary=person_offices, lazy="selectin"),
        },
    ),
    (ChatLink, chat_links, {"person": _loaded(Person)}),
    (
        RegistrationRequest,
        registration_requests,
        {
            "organization": _loaded(Organization),
            "person": _loaded(Person, _requests.person_id),
            "decided_by": _loaded(Person, _requests.decided_by_id),
        },
    ),
    (
        OffboardRequest,
        offboard_requests,
        {
            "organization": _loaded(Organization),
            "subject": _loaded(Person, _offboards.subject_person_id),
            "requested_by": _loaded(Person, _offboards.requested_by_id),
            "decided_by": _loaded(Person, _offboards.decided_by_id),
        },
    ),
    (Customer, customers, {"organization": _loaded(Organization)}),
    (AccountMember, account_members, {"customer": _loaded(Customer)}),
    (MemberInvitation, member_invitations, {"member": _loaded(AccountMember)}),
    (
        ActivationRequest,
        activation_requests,
        {
            "organization": _loaded(Organization),
            "customer": _loaded(Customer),
            "decided_by": _loaded(Person),
        },
    ),
    (Letter, letters, {"organization": _loaded(Organization), "customer": _loaded(Customer)}),
    (
        Invitation,
        invitations,
        {
            "organization": _loaded(Organization),
            "person": _loaded(Person, invitations.c.person_id),
        },
    ),
)
"""Classes with links to other records, and how each link is loaded."""

mapper = registry(metadata=metadata)


def start_mappers() -> None:
    """Map every class of :mod:`flows.model` onto its table; calling it again does nothing."""
    if mapper.mappers:
        return
    for cls, table in _PLAIN:
        mapper.map_imperatively(cls, table)
    for cls, table, properties in _LINKED:
        mapper.map_imperatively(cls, table, properties=properties)


def relation(cls: type, name: str) -> QueryableAttribute[Any]:
    """``cls.<name>`` for a loader option: mypy reads a plain class's attribute as its value."""
    attribute: QueryableAttribute[Any] = getattr(cls, name)
    return attribute
