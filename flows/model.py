"""The desk's records as plain classes: what the flows read and change, free of any database.

:mod:`storage.orm` maps each class to its table (SQLAlchemy's imperative mapping), so a flow
step that changes an attribute changes the row when the transaction commits, while this
module imports nothing but the standard library and :mod:`flows.domain`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

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


class Entity:
    """A record built by keyword, like ``Person(name=..., role=...)``.

    A field not given stays unset, so the store fills in its column default when the row is
    inserted (a dataclass would set it to ``None`` and write NULL instead).
    """

    _field_names: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._field_names = frozenset(
            name
            for klass in cls.__mro__
            for name in getattr(klass, "__annotations__", {})
            if not name.startswith("_")
        )

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            if name not in self._field_names:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            setattr(self, name, value)


class Organization(Entity):
    id: int
    name: str
    partner_id: str
    last_request_number: int
    """One sequence for all of the organization's requests (#N), registrations and codes."""
    created_at: datetime
    desk_contact: str | None
    """How people reach the desk (phone, mail, web page), quoted in standard replies."""
    password_policy: PasswordPolicyName
    password_min_length: int
    activation_code_days: int
    manual_activation: bool
    """True: every activation code waits for a staff member's release, e-mail ones too."""
    directory: str | None
    """Where its accounts live (``builtin``, ``ldap``, ``scim``); None: the deployment's
    default (``BALIE_DIRECTORY``)."""
    digest_schedule: str | None
    """When the weekly digest of general notices goes out, as ``fri 16:00`` in
    Europe/Amsterdam time; None: Friday 16:00 (seed 004: general notices on Friday)."""
    require_two_step: str
    """Who must use two-step verification: ``none``, or ``staff`` (staff and managers)."""
    offices: list[Office]


class Office(Entity):
    id: int
    organization_id: int
    name: str
    organization: Organization


class Person(Entity):
    """An account: an employee, manager, staff member or admin of one organization."""

    id: int
    organization_id: int
    name: str
    email: str | None
    phone: str | None
    role: Role
    status: AccountStatus
    pre_registered: bool
    out_of_service_on: date | None
    language: str | None
    created_at: datetime
    password_hash: str | None
    """Argon2 hash of the password, where Balie's store is the directory (``builtin``)."""
    password_changed_at: datetime | None
    directory_closed_at: datetime | None
    """When the account was queued to be disabled in the directory for the out-of-service
    date (None: not yet, or it is active again)."""
    organization: Organization
    offices: list[Office]


class PersonOffice(Entity):
    person_id: int
    office_id: int


class ChatLink(Entity):
    """A chat (a linked device) of a person's account: one chat acts for one account, an
    account may have several chats (a phone and a tablet)."""

    telegram_user_id: int
    person_id: int
    linked_at: datetime
    device_name: str | None
    """What the chat called itself when it was linked (its Telegram name), for /devices."""
    last_used_at: datetime | None
    person: Person


class PortalChat(Entity):
    """A chat (a linked device) of a customer portal account: the holder's own, or one of
    a member's (``member_id``). One chat acts for one portal account."""

    telegram_user_id: int
    customer_id: int
    member_id: int | None
    """None: the account holder's own chat; else the member whose chat it is."""
    linked_at: datetime
    device_name: str | None
    last_used_at: datetime | None


class AccountMember(Entity):
    """Someone else with their own login to a customer's account (seed 004: the second
    parent; seed 003: a company's extra accounts), with their own e-mail and chats."""

    id: int
    customer_id: int
    name: str
    email: str
    read_only: bool
    """Receives notices and sees status, but changes nothing (seed 004: one parent)."""
    language: str | None
    created_at: datetime
    joined_at: datetime | None
    """When the member opened their invitation in a chat; None: invited, not joined yet."""
    customer: Customer


class MemberInvitation(Entity):
    """The holder's invitation of a member by deep link: only the token's keyed hash is
    kept; it is single-use and valid until ``expires_at``."""

    id: int
    member_id: int
    token_hash: str
    created_at: datetime
    """When it was sent."""
    expires_at: datetime
    opened_at: datetime | None
    """When its link was opened and the chat joined the account (which used it up)."""
    withdrawn_at: datetime | None
    """Made void by a newer invitation of the member."""
    member: AccountMember


class RegistrationRequest(Entity):
    """A request that waits for a manager: a new employee, or a staff account's new chat."""

    id: int
    organization_id: int
    number: int
    person_id: int
    contact: str
    contact_channel: DeliveryChannel
    telegram_user_id: int
    pre_registered: bool
    status: RequestStatus
    kind: RequestKind
    created_at: datetime
    decided_at: datetime | None
    decided_by_id: int | None
    reason: str | None
    organization: Organization
    person: Person
    decided_by: Person | None


class OffboardRequest(Entity):
    """A manager asked to take another manager (or an admin) out of service from
    ``out_of_service_on``; a different manager of the organization confirms or refuses."""

    id: int
    organization_id: int
    subject_person_id: int
    requested_by_id: int
    out_of_service_on: date
    status: OffboardStatus
    created_at: datetime
    decided_at: datetime | None
    decided_by_id: int | None
    organization: Organization
    subject: Person
    requested_by: Person
    decided_by: Person | None


class OneTimeCode(Entity):
    """A code sent to someone; only its keyed hash (HMAC under the server key) is kept.

    It is bound to its purpose, its subject (an account or a registration draft), the exact
    destination it was sent to and the organization: it confirms nothing else.
    """

    id: int
    purpose: CodePurpose
    subject: str
    destination: str
    organization_id: int | None
    code_hash: str
    created_at: datetime
    expires_at: datetime
    attempts: int
    max_attempts: int
    used_at: datetime | None
    burned: bool


class OutboxMessage(Entity):
    """A notification written in the same transaction as its cause; the worker delivers it."""

    id: int
    channel: DeliveryChannel
    recipient: str
    subject: str | None
    body: str
    payload: dict[str, Any]
    sensitive: bool
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    lease_token: str | None
    """Set by each claim; only the worker holding this token may renew or finish the row."""
    lease_expires_at: datetime | None
    """Until when the holder of ``lease_token`` has the row; afterwards another may claim."""
    expires_at: datetime | None
    """A message worth nothing after this (a code's own expiry): it is not sent then."""
    notify_chat: int | None
    """The chat that asked for this message; told to ask again when it cannot be sent."""
    organization_id: int | None
    """Whose message this is, for that organization's ``/outbox``; None: the deployment's
    (a reply to someone not yet known to any organization)."""
    announcement_id: int | None
    """The urgent notice this message carries, so its sender hears how many arrived."""


class UndeliverableAddress(Entity):
    """An address or number a provider refused for good (no such mailbox, invalid or
    unsubscribed number, a chat that blocked the bot): nothing more is sent there."""

    id: int
    channel: DeliveryChannel
    address: str
    reason: str
    recorded_at: datetime


class StaffMessage(Entity):
    """A Telegram message the bot sent to a staff chat about a subject (e.g. a request)."""

    id: int
    topic: str
    chat_id: int
    message_id: int
    sent_at: datetime
    content_digest: str | None
    """What the message shows now (see ``flows.outbox_payload.content_digest``)."""


class AuditEntry(Entity):
    id: int
    at: datetime
    organization_id: int | None
    actor_person_id: int | None
    actor: str
    action: str
    subject_person_id: int | None
    channel: str
    detail: dict[str, Any]


class HandledUpdate(Entity):
    """Telegram update ids already answered: a redelivered update is not handled twice."""

    update_id: int
    handled_at: datetime
    outcome: str | None
    """The outcome, sealed, until the runtime carried it out in the chat (then None): a
    crash in between repeats it from here instead of swallowing it as a duplicate."""


class Conversation(Entity):
    """Where one chat stands, so a restart or another worker resumes it."""

    chat_id: int
    state: ConversationState
    data: dict[str, Any]
    language: str | None
    updated_at: datetime


class Customer(Entity):
    """An end user of an organization (tenant, client, parent) with a portal account."""

    id: int
    organization_id: int
    customer_number: str
    name: str
    email: str | None
    phone: str | None
    street: str | None
    house_number: str | None
    postcode: str | None
    city: str | None
    is_tenant: bool
    institution_coresident: bool
    payment_arrangement: bool
    under_administration: bool
    administrator_name: str | None
    administrator_email: str | None
    blocked: bool
    account_active: bool
    password_hash: str | None
    password_changed_at: datetime | None
    language: str | None
    created_at: datetime
    updated_at: datetime
    organization: Organization


class ActivationRequest(Entity):
    """A request for an activation code; staff release it where a person must decide."""

    id: int
    organization_id: int
    number: int
    customer_id: int | None
    telegram_user_id: int | None
    route: ActivationRoute | None
    destination: str | None
    """The e-mail address the code goes to; None for a letter."""
    given_email: str | None
    status: ActivationStatus
    reason: str | None
    """Why it is ineligible or refused: for staff, never shown to an unverified chat."""
    replaces_code: bool
    created_at: datetime
    decided_at: datetime | None
    decided_by_id: int | None
    organization: Organization
    customer: Customer | None
    decided_by: Person | None


class Letter(Entity):
    """A letter with an activation code, waiting for the print-and-mail export.

    The code itself is made at export time and exists in plain text only in the PDF.
    """

    id: int
    organization_id: int
    customer_id: int
    activation_request_id: int | None
    status: LetterStatus
    created_at: datetime
    exported_at: datetime | None
    batch: str | None
    organization: Organization
    customer: Customer


class RateEvent(Entity):
    """One counted event (a code request, a wrong attempt) for sliding-window limits."""

    id: int
    key: str
    at: datetime


class InboxUpdate(Entity):
    """A webhook update accepted (answered 200) but not yet handled: a crash loses none."""

    update_id: int
    payload: dict[str, Any]
    received_at: datetime
    chat_id: int | None
    """The chat it belongs to (None: none, or kept by an earlier version)."""


class ApiKey(Entity):
    """A key a portal uses to ask Balie whether a password is right (``/api/v1/verify``);
    only its keyed hash is kept, the key itself is shown once."""

    id: int
    organization_id: int
    key_hash: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class Invitation(Entity):
    """A manager's invitation to a person by deep link (seed 003's first e-mail): only the
    token's keyed hash is kept; it is single-use and valid until ``expires_at``."""

    id: int
    organization_id: int
    person_id: int
    token_hash: str
    email: str
    invited_by_id: int | None
    """The manager who sent it; None: an administrator in the CLI."""
    created_at: datetime
    """When it was sent."""
    expires_at: datetime
    opened_at: datetime | None
    """When its link was opened in a chat (which used the token up)."""
    confirmed_at: datetime | None
    """When the person chose their password after opening it."""
    withdrawn_at: datetime | None
    """Withdrawn by a manager, or made void by a newer invitation."""
    organization: Organization
    person: Person


class Announcement(Entity):
    """A notice from an organization's staff to an audience (seed 004): an urgent one goes
    out at once, a general one waits for the week's digest."""

    id: int
    organization_id: int
    audience: AnnouncementAudience
    office_id: int | None
    """The office, for :attr:`AnnouncementAudience.OFFICE`."""
    urgent: bool
    text: str
    created_by_id: int | None
    """The staff member who sent it; None: the CLI."""
    sender_chat: int | None
    """The chat told "delivered X, failed Y" once every message is done; None: nobody."""
    created_at: datetime
    queued_at: datetime | None
    """When its messages were queued: at once (urgent), or by its digest run (general)."""
    digest_week: str | None
    """The digest (``2026-W49``) a general notice went out in; None: not yet."""
    reported_at: datetime | None
    """When its sender was told the count (urgent notices)."""
    queued_through: int | None
    """An urgent notice is queued a page of its audience per transaction, by id: the last
    customer's or person's id queued; None: none yet."""
    recipients: int
    """Accounts an urgent notice was queued for so far."""


class DigestRun(Entity):
    """One organization's weekly digest: started once per week, finished when every
    recipient has it (a restart in between goes on where it stopped)."""

    id: int
    organization_id: int
    week: str
    """The ISO week of the digest's moment in the organization's time: ``2026-W49``."""
    due_at: datetime
    started_at: datetime
    finished_at: datetime | None
    recipients: int


class DigestDelivery(Entity):
    """A recipient (an account's owner key, ``c7``) has this week's digest queued: unique
    per organization and week, so nobody gets one twice."""

    id: int
    organization_id: int
    week: str
    owner_key: str
    queued_at: datetime


class DevicePairing(Entity):
    """A linked device's ``/pair`` link (seed 004's "Koppelen met QR code"): only the
    token's keyed hash is kept; single use, valid until ``expires_at``, void once a newer
    one is made for the same account."""

    id: int
    organization_id: int
    owner: str
    """The account it pairs a chat to, as ``Owner.key`` (``p12``, ``c7``, ``m3``)."""
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    """When a chat opened it (which used the token up)."""
    used_by_chat: int | None
    voided_at: datetime | None
    """Made void by a newer /pair of the same account."""


class NotificationPreference(Entity):
    """One reader's choice for one kind of notice on one channel (seed 003: per kind;
    seed 004: e-mail kinds on and off). No row: the default of :mod:`flows.notices`."""

    owner_key: str
    """Whose choice: :attr:`flows.own_account.Owner.key` (``p12``, ``c7``, ``m3``)."""
    kind: str
    """A :class:`flows.notices.NoticeKind` value (never ``security``)."""
    channel: DeliveryChannel
    enabled: bool
    changed_at: datetime


class SecondFactor(Entity):
    """An account's second factor (seed 003's two-step verification): an SMS code to a
    mobile number, or an authenticator app (TOTP). It takes effect once ``confirmed_at`` is
    set, after the person typed one of their recovery codes back."""

    id: int
    owner_key: str
    """The account (``flows.own_account.Owner.key``: ``p12``, ``c7``, ``m3``)."""
    method: str
    """``sms`` or ``totp``."""
    phone: str | None
    totp_secret: str | None
    """The authenticator's secret, sealed under the server key (never in clear at rest)."""
    last_totp_step: int | None
    """The newest 30-second step whose code was accepted: no code is accepted twice."""
    created_at: datetime
    confirmed_at: datetime | None


class RecoveryCode(Entity):
    """One of an account's ten recovery codes: only its keyed hash; single use."""

    id: int
    owner_key: str
    code_hash: str
    created_at: datetime
    used_at: datetime | None


class StepUp(Entity):
    """When a chat last gave its account's second factor, or last used a staff command
    after giving it: staff commands ask again after the idle time."""

    telegram_user_id: int
    owner_key: str
    fresh_at: datetime
