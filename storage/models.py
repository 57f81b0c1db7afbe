"""The store's tables. Enums live in ``flows.domain`` so the core owns its vocabulary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flows.domain import (
    AccountStatus,
    ActivationRoute,
    ActivationStatus,
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


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    partner_id: Mapped[str] = mapped_column(String(64), unique=True)
    last_request_number: Mapped[int] = mapped_column(Integer, default=0)
    """One sequence for all of the organization's requests (#N), registrations and codes."""
    created_at: Mapped[datetime]
    desk_contact: Mapped[str | None] = mapped_column(String(300))
    """How people reach the desk (phone, mail, web page), quoted in standard replies."""
    password_policy: Mapped[PasswordPolicyName] = mapped_column(
        _enum(PasswordPolicyName), default=PasswordPolicyName.NIST, server_default="nist"
    )
    password_min_length: Mapped[int] = mapped_column(Integer, default=8, server_default="8")
    activation_code_days: Mapped[int] = mapped_column(Integer, default=14, server_default="14")
    manual_activation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """True: every activation code waits for a staff member's release, e-mail ones too."""

    offices: Mapped[list[Office]] = relationship(back_populates="organization")


class Office(Base):
    __tablename__ = "offices"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))

    organization: Mapped[Organization] = relationship(back_populates="offices")


class Person(Base):
    """An account: an employee, manager, staff member or admin of one organization."""

    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("organization_id", "email"),
        UniqueConstraint("organization_id", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    role: Mapped[Role] = mapped_column(_enum(Role))
    status: Mapped[AccountStatus] = mapped_column(_enum(AccountStatus))
    pre_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    out_of_service_on: Mapped[date | None] = mapped_column(Date)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]

    organization: Mapped[Organization] = relationship(lazy="selectin")
    offices: Mapped[list[Office]] = relationship(secondary="person_offices", lazy="selectin")


class PersonOffice(Base):
    __tablename__ = "person_offices"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    office_id: Mapped[int] = mapped_column(
        ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True
    )


class ChatLink(Base):
    """Which account a Telegram user is. One Telegram user may act for one account."""

    __tablename__ = "chat_links"

    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    linked_at: Mapped[datetime]

    person: Mapped[Person] = relationship(lazy="selectin")


class RegistrationRequest(Base):
    """A request that waits for a manager: a new employee, or a staff account's new chat."""

    __tablename__ = "registration_requests"
    __table_args__ = (UniqueConstraint("organization_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    contact: Mapped[str] = mapped_column(String(320))
    contact_channel: Mapped[DeliveryChannel] = mapped_column(_enum(DeliveryChannel))
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    pre_registered: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus))
    kind: Mapped[RequestKind] = mapped_column(
        _enum(RequestKind), default=RequestKind.REGISTRATION, server_default="registration"
    )
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reason: Mapped[str | None] = mapped_column(Text)

    organization: Mapped[Organization] = relationship(lazy="selectin")
    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="selectin")
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id], lazy="selectin")


class OffboardRequest(Base):
    """A manager asked to take another manager (or an admin) out of service from
    ``out_of_service_on``; a different manager of the organization confirms or refuses."""

    __tablename__ = "offboard_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subject_person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    out_of_service_on: Mapped[date] = mapped_column(Date)
    status: Mapped[OffboardStatus] = mapped_column(_enum(OffboardStatus))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    organization: Mapped[Organization] = relationship(lazy="selectin")
    subject: Mapped[Person] = relationship(foreign_keys=[subject_person_id], lazy="selectin")
    requested_by: Mapped[Person] = relationship(foreign_keys=[requested_by_id], lazy="selectin")
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id], lazy="selectin")


class OneTimeCode(Base):
    """A code sent to someone; only its keyed hash (HMAC under the server key) is kept.

    It is bound to its purpose, its subject (an account or a registration draft), the exact
    destination it was sent to and the organization: it confirms nothing else.
    """

    __tablename__ = "one_time_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[CodePurpose] = mapped_column(_enum(CodePurpose))
    subject: Mapped[str] = mapped_column(String(120), index=True)
    destination: Mapped[str] = mapped_column(String(320))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    code_hash: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    used_at: Mapped[datetime | None]
    burned: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxMessage(Base):
    """A notification written in the same transaction as its cause; the worker delivers it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The worker's claim (due pending rows) and "does this chat have rows waiting?".
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_recipient_waiting", "channel", "recipient", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[DeliveryChannel] = mapped_column(_enum(DeliveryChannel))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    """Set by each claim; only the worker holding this token may renew or finish the row."""
    lease_expires_at: Mapped[datetime | None]
    """Until when the holder of ``lease_token`` has the row; afterwards another may claim."""
    expires_at: Mapped[datetime | None]
    """A message worth nothing after this (a code's own expiry): it is not sent then."""
    notify_chat: Mapped[int | None] = mapped_column(BigInteger)
    """The chat that asked for this message; told to ask again when it cannot be sent."""
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    """Whose message this is, for that organization's ``/outbox``; None: the deployment's
    (a reply to someone not yet known to any organization)."""


class UndeliverableAddress(Base):
    """An address or number a provider refused for good (no such mailbox, invalid or
    unsubscribed number, a chat that blocked the bot): nothing more is sent there."""

    __tablename__ = "undeliverable_addresses"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[DeliveryChannel] = mapped_column(_enum(DeliveryChannel))
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(300))
    recorded_at: Mapped[datetime]


class StaffMessage(Base):
    """A Telegram message the bot sent to a staff chat about a subject (e.g. a request)."""

    __tablename__ = "staff_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[datetime]
    content_digest: Mapped[str | None] = mapped_column(String(64))
    """What the message shows now (see ``flows.outbox_payload.content_digest``)."""


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    actor_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    channel: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HandledUpdate(Base):
    """Telegram update ids already answered: a redelivered update is not handled twice."""

    __tablename__ = "handled_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(Text, default=None)
    """The outcome, sealed, until the runtime carried it out in the chat (then None): a
    crash in between repeats it from here instead of swallowing it as a duplicate."""


class Conversation(Base):
    """Where one chat stands, so a restart or another worker resumes it."""

    __tablename__ = "conversations"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[ConversationState] = mapped_column(_enum(ConversationState))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    language: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime]


class Customer(Base):
    """An end user of an organization (tenant, client, parent) with a portal account."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("organization_id", "customer_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_number: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    street: Mapped[str | None] = mapped_column(String(200))
    house_number: Mapped[str | None] = mapped_column(String(20))
    postcode: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    is_tenant: Mapped[bool] = mapped_column(Boolean, default=False)
    institution_coresident: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_arrangement: Mapped[bool] = mapped_column(Boolean, default=False)
    under_administration: Mapped[bool] = mapped_column(Boolean, default=False)
    administrator_name: Mapped[str | None] = mapped_column(String(200))
    administrator_email: Mapped[str | None] = mapped_column(String(320))
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    account_active: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None]
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    organization: Mapped[Organization] = relationship(lazy="selectin")


class ActivationRequest(Base):
    """A request for an activation code; staff release it where a person must decide."""

    __tablename__ = "activation_requests"
    __table_args__ = (UniqueConstraint("organization_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger)
    route: Mapped[ActivationRoute | None] = mapped_column(_enum(ActivationRoute))
    destination: Mapped[str | None] = mapped_column(String(320))
    """The e-mail address the code goes to; None for a letter."""
    given_email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[ActivationStatus] = mapped_column(_enum(ActivationStatus))
    reason: Mapped[str | None] = mapped_column(Text)
    """Why it is ineligible or refused: for staff, never shown to an unverified chat."""
    replaces_code: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    organization: Mapped[Organization] = relationship(lazy="selectin")
    customer: Mapped[Customer | None] = relationship(lazy="selectin")
    decided_by: Mapped[Person | None] = relationship(lazy="selectin")


class Letter(Base):
    """A letter with an activation code, waiting for the print-and-mail export.

    The code itself is made at export time and exists in plain text only in the PDF.
    """

    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    activation_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("activation_requests.id", ondelete="SET NULL")
    )
    status: Mapped[LetterStatus] = mapped_column(_enum(LetterStatus), index=True)
    created_at: Mapped[datetime]
    exported_at: Mapped[datetime | None]
    batch: Mapped[str | None] = mapped_column(String(200))

    organization: Mapped[Organization] = relationship(lazy="selectin")
    customer: Mapped[Customer] = relationship(lazy="selectin")


class RateEvent(Base):
    """One counted event (a code request, a wrong attempt) for sliding-window limits."""

    __tablename__ = "rate_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), index=True)
    at: Mapped[datetime] = mapped_column(index=True)


class InboxUpdate(Base):
    """A webhook update accepted (answered 200) but not yet handled: a crash loses none."""

    __tablename__ = "webhook_inbox"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]


class TelegramPace(Base):
    """Telegram's limits shared by every worker of the bot (when no Redis is configured):
    per key (the bot, a chat) the next free moment of the cell rate algorithm and a pause a
    429 asked for, both in seconds since the epoch on the database server's clock."""

    __tablename__ = "telegram_pace"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)
    """The "theoretical arrival time" after the last slot handed out."""
    paused_until: Mapped[float] = mapped_column(Float)
