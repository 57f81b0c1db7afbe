"""What the core needs from the store: the unit of work and its repositories, as Protocols.

:mod:`storage.uow` implements them over SQLAlchemy; the flows see only these, so they never
touch a session or a query. A repository never commits: the transaction commits, or rolls
back, as a whole when its ``async with`` block ends. Only the methods the flows use are here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import Any, Protocol

from flows.domain import (
    AccountStatus,
    ActivationStatus,
    AuditAction,
    CodePurpose,
    DeliveryChannel,
    OffboardStatus,
    OutboxStatus,
    RequestStatus,
    Role,
)
from flows.model import (
    AccountMember,
    ActivationRequest,
    Announcement,
    ApiKey,
    ChatLink,
    Conversation,
    Customer,
    DevicePairing,
    DigestRun,
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
    PortalChat,
    RecoveryCode,
    RegistrationRequest,
    SecondFactor,
    UndeliverableAddress,
)


class Organizations(Protocol):
    async def by_partner_id(self, partner_id: str) -> Organization | None: ...

    async def get(self, organization_id: int) -> Organization | None: ...

    async def sole(self) -> Organization | None:
        """The organization, when the store has exactly one (a single desk's deployment)."""
        ...

    async def add(self, name: str, partner_id: str, now: datetime) -> Organization: ...

    async def next_request_number(self, organization_id: int) -> int:
        """Atomic per-organization sequence: safe with several workers on one store."""
        ...

    async def office(self, organization_id: int, name: str) -> Office:
        """The office with this name, created on first mention."""
        ...


class People(Protocol):
    async def get(self, person_id: int) -> Person | None: ...

    async def by_contact(
        self, organization_id: int, channel: DeliveryChannel, value: str
    ) -> Person | None: ...

    async def add(
        self,
        *,
        organization_id: int,
        name: str,
        role: Role,
        status: AccountStatus,
        now: datetime,
        email: str | None = None,
        phone: str | None = None,
        pre_registered: bool = False,
        language: str | None = None,
        offices: Sequence[Office] = (),
    ) -> Person: ...

    async def deciders_with_chats(self, organization_id: int) -> list[tuple[Person, int]]:
        """Managers (and admins) of the organization that have a linked Telegram chat."""
        ...

    async def desk_with_chats(self, organization_id: int) -> list[tuple[Person, int]]:
        """Desk staff, managers and admins of the organization that have a linked chat."""
        ...

    async def employees(
        self, organization_id: int, *, offset: int = 0, limit: int | None = None
    ) -> Sequence[Person]:
        """The organization's employees by name (``limit`` of them from ``offset``)."""
        ...

    async def count_employees(self, organization_id: int) -> int: ...

    async def named(self, organization_id: int, name: str, limit: int) -> Sequence[Person]:
        """The organization's people with this name (any case), for staff looking one up."""
        ...

    async def set_out_of_service(self, person: Person, on: date) -> None:
        """Set the date (and forget any earlier closing: the new date closes it again)."""
        ...

    async def due_for_closing(self, today: date, limit: int) -> Sequence[Person]:
        """People whose out-of-service date has come and whose directory account has not
        been queued for disabling yet."""
        ...


class ChatLinks(Protocol):
    async def identities(self) -> list[tuple[int, Person]]:
        """Every linked chat with its account, in the accounts' order (for operators)."""
        ...

    async def person_for(self, telegram_user_id: int) -> Person | None: ...

    async def chat_for(self, person_id: int) -> int | None: ...

    async def unlink(self, telegram_user_id: int) -> None: ...

    async def link(
        self, telegram_user_id: int, person_id: int, now: datetime, device_name: str | None = None
    ) -> None:
        """Link the chat to the account, replacing any older link of either (a chat that
        proved the account's address takes it over); ``device_name`` for /devices."""
        ...

    async def of_person(self, person_id: int) -> Sequence[ChatLink]:
        """The account's chats (linked devices), oldest link first."""
        ...

    async def add(
        self, telegram_user_id: int, person_id: int, now: datetime, device_name: str | None
    ) -> ChatLink:
        """One more chat for the account (a paired device); its other chats stay. Any
        earlier link of this chat is replaced."""
        ...


class RegistrationRequests(Protocol):
    async def add(self, request: RegistrationRequest) -> RegistrationRequest: ...

    async def get(self, request_id: int) -> RegistrationRequest | None: ...

    async def by_number(self, organization_id: int, number: int) -> RegistrationRequest | None: ...

    async def open_for_person(self, person_id: int) -> RegistrationRequest | None: ...

    async def open_for_chat(self, telegram_user_id: int) -> RegistrationRequest | None: ...

    async def pending(
        self, organization_id: int, *, offset: int = 0, limit: int | None = None
    ) -> Sequence[RegistrationRequest]:
        """Open requests by number (``limit`` of them from ``offset``)."""
        ...

    async def count_pending(self, organization_id: int) -> int: ...

    async def decide(
        self,
        request_id: int,
        verdict: RequestStatus,
        decided_by_id: int | None,
        now: datetime,
        reason: str | None,
    ) -> bool:
        """Record the verdict only if nobody decided first; True when this call won."""
        ...


class Codes(Protocol):
    async def add(self, code: OneTimeCode) -> OneTimeCode: ...

    async def get(self, code_id: int) -> OneTimeCode | None: ...

    async def by_digest(self, purpose: CodePurpose, digests: Collection[str]) -> OneTimeCode | None:
        """The unused code of ``purpose`` whose keyed hash is one of ``digests`` (indexed)."""
        ...

    async def current(self, subject: str, purpose: CodePurpose) -> OneTimeCode | None:
        """The newest code for the subject that is neither used nor burned (maybe expired)."""
        ...

    async def sent_since(self, subject: str, purpose: CodePurpose, since: datetime) -> int: ...

    async def sent_to_since(self, destination: str, purpose: CodePurpose, since: datetime) -> int:
        """Codes sent to one address or number from any chat: stops bombing someone's phone."""
        ...

    async def last_sent_at(
        self, subject: str, purpose: CodePurpose, destination: str | None = None
    ) -> datetime | None:
        """When the subject's newest code (to ``destination``, when given) was made."""
        ...

    async def burn_all(self, subject: str, purpose: CodePurpose) -> None: ...


class Outbox(Protocol):
    async def add(
        self,
        channel: DeliveryChannel,
        recipient: str,
        body: str,
        now: datetime,
        *,
        subject: str | None = None,
        payload: dict[str, Any] | None = None,
        sensitive: bool = False,
        expires_at: datetime | None = None,
        notify_chat: int | None = None,
        organization_id: int | None = None,
        announcement_id: int | None = None,
    ) -> OutboxMessage:
        """Queue a message. ``expires_at``: not sent after this (a code's own expiry);
        ``notify_chat``: the chat told to ask again when it cannot be sent;
        ``organization_id``: whose ``/outbox`` shows it; ``announcement_id``: the urgent
        notice it carries (its sender gets the count). A ``sensitive``
        body is sealed before it reaches the session (and so the database file or its WAL);
        the returned row holds it sealed too."""
        ...

    async def close_unsent_cards(self, topic: str, recipient: str, body: str) -> bool:
        """Rewrite every Telegram card about ``topic`` for ``recipient`` that is not sent yet
        into ``body`` without buttons: a decision came first, so the card goes out decided.

        True when there was such a card and no worker had taken it yet: it will arrive in its
        decided form and needs no edit. False when there was none, or one was already taken
        (it may be on its way with its buttons): the caller edits it as usual.
        """
        ...

    async def get(self, message_id: int) -> OutboxMessage | None: ...

    async def recent(self, limit: int = 20) -> Sequence[OutboxMessage]: ...

    async def counts(self, organization_id: int | None = None) -> dict[OutboxStatus, int]:
        """How many rows are in each state (every state, zero included): the whole
        deployment's, or one organization's."""
        ...

    async def latest(
        self,
        statuses: Collection[OutboxStatus] | None = None,
        limit: int = 20,
        organization_id: int | None = None,
    ) -> Sequence[OutboxMessage]:
        """The newest rows (in ``statuses``, of ``organization_id`` when given), newest
        first."""
        ...

    async def requeue(self, message: OutboxMessage, now: datetime) -> None:
        """An operator's retry: pending, due now, its attempts and any lease forgotten."""
        ...


class AuditLog(Protocol):
    async def add(
        self,
        action: AuditAction,
        *,
        actor: str,
        channel: str,
        now: datetime,
        organization_id: int | None = None,
        actor_person_id: int | None = None,
        subject_person_id: int | None = None,
        **detail: Any,
    ) -> None: ...


class Conversations(Protocol):
    async def peek(self, chat_id: int) -> Conversation | None:
        """The chat's conversation without locking it (for its language, say)."""
        ...

    async def load(self, chat_id: int, now: datetime) -> Conversation:
        """The chat's conversation, locked for this transaction; a new one starts idle."""
        ...


class HandledUpdates(Protocol):
    async def seen(self, update_id: int) -> bool:
        """Whether the update was handled before (a redelivery)."""
        ...

    async def record(self, update_id: int, now: datetime, sealed: str | None) -> None:
        """The update is handled (in this transaction), with its sealed outcome to repeat
        until :meth:`answered`; recorded last, so the step costs one INSERT for it."""
        ...

    async def outcome(self, update_id: int) -> str | None:
        """The kept outcome of a handled update not yet carried out in the chat."""
        ...

    async def forget_before(self, moment: datetime, limit: int) -> int:
        """Forget at most ``limit`` update ids handled before ``moment``; how many."""
        ...


class Letters(Protocol):
    async def queue(self, letter: Letter) -> Letter: ...


class Customers(Protocol):
    """The customers table: within one organization (the import) and across organizations
    (a person in chat has not said which organization they belong to)."""

    async def all_numbers(self, organization_id: int) -> dict[str, Customer]:
        """Every customer of the organization by customer number (for the import)."""
        ...

    async def add(self, customer: Customer) -> Customer: ...

    async def get(self, customer_id: int) -> Customer | None: ...

    async def by_number(self, organization_id: int, number: str) -> Customer | None: ...

    async def by_contact(
        self, organization_id: int, email: str | None = None, phone: str | None = None
    ) -> Sequence[Customer]:
        """Customers with this e-mail address or phone number (a family may share one)."""
        ...

    async def matching_address(
        self, customer_number: str, postcode: str, house_number: str
    ) -> Sequence[Customer]:
        """Customers with this number whose postcode and house number match (normalized)."""
        ...

    async def with_number(self, customer_number: str) -> Sequence[Customer]: ...

    async def accounts_for(self, channel: DeliveryChannel, value: str) -> Sequence[Customer]:
        """Activated accounts this address or number speaks for: their own, or (for an
        account under administration) the administrator's address."""
        ...


class PortalChats(Protocol):
    """The chats (linked devices) of customer portal accounts and of their members."""

    async def get(self, telegram_user_id: int) -> PortalChat | None: ...

    async def of_customer(self, customer_id: int) -> Sequence[PortalChat]:
        """The account's chats, its holder's and its members', oldest link first."""
        ...

    async def link(
        self,
        telegram_user_id: int,
        customer_id: int,
        now: datetime,
        *,
        member_id: int | None = None,
        device_name: str | None = None,
    ) -> PortalChat:
        """The chat now acts for this account (or this member of it) only: any earlier
        link of the chat is replaced; the account's other chats stay."""
        ...

    async def unlink(self, telegram_user_id: int) -> None: ...


class Members(Protocol):
    """The members of customer portal accounts (seed 004's second parent)."""

    async def get(self, member_id: int) -> AccountMember | None: ...

    async def of_customer(self, customer_id: int) -> Sequence[AccountMember]: ...

    async def by_email(self, organization_id: int, email: str) -> Sequence[AccountMember]:
        """The organization's members with this address (any case): it may be used once."""
        ...

    async def add(self, member: AccountMember) -> AccountMember: ...

    async def remove(self, member: AccountMember) -> None:
        """The member and its chats are gone."""
        ...


class MemberInvitations(Protocol):
    """A holder's invitations of members, found by the keyed hash of their token."""

    async def add(self, invitation: MemberInvitation) -> MemberInvitation: ...

    async def by_digest(self, digests: Collection[str]) -> MemberInvitation | None:
        """The invitation with one of these token digests (locked for the step), any state."""
        ...

    async def void_open(self, member_id: int, now: datetime) -> int:
        """Withdraw the member's invitations whose link was not opened yet; how many."""
        ...


class RateEvents(Protocol):
    async def since(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        """How many events ``key`` has after ``since``, and when the oldest of them was."""
        ...

    async def add(self, key: str, at: datetime) -> None: ...

    async def forget_before(self, moment: datetime, limit: int) -> int:
        """Forget at most ``limit`` events from before ``moment``; how many."""
        ...


class ActivationRequests(Protocol):
    async def add(self, request: ActivationRequest) -> ActivationRequest: ...

    async def get(self, request_id: int) -> ActivationRequest | None: ...

    async def by_number(self, organization_id: int, number: int) -> ActivationRequest | None: ...

    async def with_status(
        self,
        organization_id: int,
        status: ActivationStatus,
        since: datetime | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> Sequence[ActivationRequest]:
        """Requests in ``status`` (made since ``since``) by number, ``limit`` from ``offset``."""
        ...

    async def count_with_status(
        self, organization_id: int, status: ActivationStatus, since: datetime | None = None
    ) -> int: ...

    async def decide(
        self,
        request_id: int,
        verdict: ActivationStatus,
        decided_by_id: int,
        now: datetime,
        reason: str | None,
    ) -> bool:
        """Record the verdict only if nobody decided first; True when this call won."""
        ...


class OffboardRequests(Protocol):
    async def add(self, request: OffboardRequest) -> OffboardRequest: ...

    async def get(self, request_id: int) -> OffboardRequest | None: ...

    async def pending_for(self, subject_person_id: int) -> OffboardRequest | None: ...

    async def decide(
        self, request_id: int, verdict: OffboardStatus, decided_by_id: int, now: datetime
    ) -> bool:
        """Record the verdict only if nobody decided first; True when this call won."""
        ...


class TwoStep(Protocol):
    """Second factors, recovery codes and step-up freshness (two-step verification)."""

    async def factor(self, owner_key: str) -> SecondFactor | None:
        """The account's confirmed second factor (the one that is in effect)."""
        ...

    async def start(
        self, owner_key: str, method: str, now: datetime, *, phone: str | None, secret: str | None
    ) -> SecondFactor:
        """A new factor, pending until :meth:`confirm`; the secret is sealed at rest."""
        ...

    async def pending(self, owner_key: str) -> SecondFactor | None: ...

    async def confirm(self, owner_key: str, now: datetime) -> SecondFactor | None:
        """The pending factor takes effect, replacing any earlier one."""
        ...

    def secret(self, factor: SecondFactor) -> str | None:
        """The authenticator's secret in clear (in memory only)."""
        ...

    async def remove(self, owner_key: str) -> None:
        """Two-step off: factors and recovery codes go."""
        ...

    async def replace_recovery_codes(
        self, owner_key: str, hashes: Sequence[str], now: datetime
    ) -> None:
        """A new set of recovery codes (keyed hashes); the old set is void."""
        ...

    async def recovery_codes(self, owner_key: str) -> Sequence[RecoveryCode]:
        """The unused ones."""
        ...

    async def fresh_at(self, telegram_user_id: int, owner_key: str) -> datetime | None:
        """When this chat last gave this account's second factor (or used it since)."""
        ...

    async def freshen(self, telegram_user_id: int, owner_key: str, now: datetime) -> None: ...


class Invitations(Protocol):
    async def add(self, invitation: Invitation) -> Invitation: ...

    async def by_digest(self, digests: Collection[str]) -> Invitation | None:
        """The invitation whose token's keyed hash is one of ``digests`` (any state)."""
        ...

    async def latest_for(self, person_id: int) -> Invitation | None:
        """The person's newest invitation, whatever became of it."""
        ...

    async def void_open(self, person_id: int, now: datetime) -> int:
        """Withdraw the person's invitations whose link was not opened; how many."""
        ...


class DevicePairings(Protocol):
    """A linked device's one-time ``/pair`` links (only each token's keyed hash)."""

    async def add(self, pairing: DevicePairing) -> DevicePairing: ...

    async def by_digest(self, digests: Collection[str]) -> DevicePairing | None:
        """The pairing whose token has one of these digests (one per server key), locked."""
        ...

    async def get(self, pairing_id: int) -> DevicePairing | None: ...

    async def void_open(self, owner: str, now: datetime) -> int:
        """Void the account's pairing links no chat opened yet; how many."""
        ...


class NotificationPreferences(Protocol):
    """Each reader's choices per kind of notice and channel (no row: the default)."""

    async def of_owner(self, owner_key: str) -> Sequence[NotificationPreference]: ...

    async def set(
        self, owner_key: str, kind: str, channel: DeliveryChannel, enabled: bool, now: datetime
    ) -> None:
        """Record the choice, replacing an earlier one for the same kind and channel."""
        ...


class UndeliverableAddresses(Protocol):
    async def forget(self, channel: DeliveryChannel, address: str) -> bool: ...

    async def count(self, organization_id: int | None = None) -> int: ...

    async def latest(
        self, limit: int = 5, organization_id: int | None = None
    ) -> Sequence[UndeliverableAddress]:
        """The newest marks (only addresses ``organization_id``'s messages went to)."""
        ...


class ApiKeys(Protocol):
    """Keys portals use to ask whether a password is right; only their hashes."""

    async def add(self, key: ApiKey) -> ApiKey: ...

    async def by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def of_organization(self, organization_id: int) -> Sequence[ApiKey]: ...

    async def get(self, key_id: int) -> ApiKey | None: ...

    async def used(self, key: ApiKey, now: datetime) -> None: ...


class Announcements(Protocol):
    """Notices from an organization's staff, and who they go to (issue 13)."""

    async def add(self, announcement: Announcement) -> Announcement: ...

    async def get(self, announcement_id: int) -> Announcement | None: ...

    async def to_queue(self, announcement_id: int) -> Announcement | None:
        """The urgent notice if it is still being queued, locked against a second queuer
        until this transaction ends; None: done, or no such notice."""
        ...

    async def queuing(self, limit: int = 100) -> Sequence[int]:
        """The ids of urgent notices still being queued, oldest first."""
        ...

    async def offices(self, organization_id: int) -> Sequence[Office]:
        """The organization's offices by name."""
        ...

    async def office(self, organization_id: int, office_id: int) -> Office | None:
        """Office ``office_id`` if it is this organization's."""
        ...

    async def customers(
        self, organization_id: int, *, after: int = 0, limit: int = 500
    ) -> Sequence[Customer]:
        """Customers with an activated portal account (not blocked), by id after ``after``."""
        ...

    async def count_customers(self, organization_id: int) -> int: ...

    async def people(
        self,
        organization_id: int,
        today: date,
        *,
        office_id: int | None = None,
        after: int = 0,
        limit: int = 500,
    ) -> Sequence[Person]:
        """Active people (not out of service ``today``), of one office when given, by id
        after ``after``."""
        ...

    async def count_people(
        self, organization_id: int, today: date, office_id: int | None = None
    ) -> int: ...

    async def undigested(self, organization_id: int, until: datetime) -> Sequence[Announcement]:
        """General notices made until ``until`` that are in no digest yet, oldest first."""
        ...

    async def in_digest(self, organization_id: int, week: str) -> Sequence[Announcement]:
        """The general notices digest ``week`` took, oldest first."""
        ...

    async def unreported(self, limit: int = 100) -> Sequence[Announcement]:
        """Queued urgent notices whose sender has not had the count yet, oldest first."""
        ...

    async def delivery_counts(self, announcement_id: int) -> dict[OutboxStatus, int]:
        """How many of the notice's outbox rows are in each state (zero included)."""
        ...


class Digests(Protocol):
    """The weekly digest runs and whom each has reached (issue 13)."""

    async def organizations(self) -> Sequence[Organization]:
        """Every organization with its digest schedule."""
        ...

    async def run(self, organization_id: int, week: str) -> DigestRun | None: ...

    async def start(
        self, organization_id: int, week: str, due_at: datetime, now: datetime
    ) -> DigestRun | None:
        """The run of ``week``, made now; None when another worker made it first."""
        ...

    async def queued(
        self, organization_id: int, week: str, owner_keys: Collection[str]
    ) -> set[str]:
        """Which of ``owner_keys`` already have digest ``week`` queued."""
        ...

    async def record(self, organization_id: int, week: str, owner_key: str, now: datetime) -> None:
        """``owner_key`` has digest ``week`` queued (in this transaction, with its rows)."""
        ...


class Transaction(Protocol):
    @property
    def organizations(self) -> Organizations: ...

    @property
    def people(self) -> People: ...

    @property
    def chat_links(self) -> ChatLinks: ...

    @property
    def requests(self) -> RegistrationRequests: ...

    @property
    def codes(self) -> Codes: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def conversations(self) -> Conversations: ...

    @property
    def handled_updates(self) -> HandledUpdates: ...

    @property
    def letters(self) -> Letters: ...

    @property
    def customers(self) -> Customers: ...

    @property
    def portal_chats(self) -> PortalChats: ...

    @property
    def members(self) -> Members: ...

    @property
    def member_invitations(self) -> MemberInvitations: ...

    @property
    def rate_events(self) -> RateEvents: ...

    @property
    def activation_requests(self) -> ActivationRequests: ...

    @property
    def offboard_requests(self) -> OffboardRequests: ...

    @property
    def undeliverable(self) -> UndeliverableAddresses: ...

    @property
    def api_keys(self) -> ApiKeys: ...

    @property
    def invitations(self) -> Invitations: ...

    @property
    def announcements(self) -> Announcements: ...

    @property
    def digests(self) -> Digests: ...

    @property
    def device_pairings(self) -> DevicePairings: ...

    @property
    def notification_preferences(self) -> NotificationPreferences: ...

    @property
    def two_step(self) -> TwoStep: ...


class Store(Protocol):
    """Hands out transactions; the only owner of commit and rollback."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...
