"""Shared accounts (seed 004: each parent an own login, one of them read-only; seed 003: a
company adds, views and deletes extra accounts): the rules and the work, without the chat.

A customer portal account's holder adds a member by name and e-mail address; the member
gets an invitation by deep link (``/start member_<token>``) and, once they open it, has
their own chats on the account. The address must be the member's own: not the holder's,
and not one another member or account holder of the organization uses. Every refusal of
an address has the same words, so the holder learns nothing about whose it is.

The token is 256 random bits shown only in the mail (sealed in the outbox, its QR code made
at delivery); the store keeps its keyed hash. It is single-use, valid
``DeskPolicy.invitation_valid_for``, and void once a newer invitation is sent.

What a member may do is decided here only (:func:`may`); each flow asks at its entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flows.contacts import Contact, Refusal, parse_email
from flows.domain import Language
from flows.invitations import new_token, open_how, queue_link_mail
from flows.keys import KeyedHasher
from flows.model import AccountMember, Customer, MemberInvitation
from flows.own_account import OwnAccount, OwnerKind
from flows.ports import DeepLinks
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy

TOKEN_LABEL = "member_invitation"
"""The keyed hash's label: a member token's digest never equals a code's or an employee
invitation's."""

LINK_PREFIX = "member_"
"""A member invitation's deep-link payload: ``member_`` and 43 token characters (50 of the
64 Telegram allows)."""

MAX_NAME = 100


class MemberAction(StrEnum):
    """What a chat may be refused because it is a member's, not the holder's."""

    REQUEST_CODE = "request_code"
    """Ask for an activation code, a letter or a new code, or redeem one (``/activate``)."""
    RESET_PASSWORD = "reset_password"
    """Reset a password (the holder's: a member has none of their own in the portal)."""
    CHANGE_PREFERENCES = "change_preferences"
    """Change the notification preferences of the account (the holder's, for others)."""
    MANAGE_MEMBERS = "manage_members"
    """Add, remove or change members: the holder alone."""


def may(account: OwnAccount | None, action: MemberAction) -> bool:
    """Whether the chat's account may do ``action``. A read-only member receives notices and
    sees status, nothing else; a full member may do what the holder can, except manage
    members; only a portal account's holder manages members. Everyone else (a person, a
    chat with no account yet) is not concerned, except that they have no members."""
    if action is MemberAction.MANAGE_MEMBERS:
        return account is not None and account.owner.kind is OwnerKind.CUSTOMER
    if account is None or account.member is None:
        return True
    return not account.member.read_only


class MemberRefused(Exception):
    """Why a member cannot be added: the refusal's ``reason`` (in the catalogs) says it."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.reason = refusal.reason


UNUSABLE_ADDRESS = Refusal("member_email_unusable")
"""The one answer to an address that is the holder's, a member's or another holder's."""


async def member_address(tx: Transaction, customer: Customer, text: str) -> str:
    """The member's address as typed, if it may be used: valid, personal, and nobody else's
    in the organization. Both look-ups always run, so the answer takes as long either way."""
    parsed = parse_email(text.strip())
    if not isinstance(parsed, Contact):
        raise MemberRefused(parsed)
    email = parsed.value
    organization_id = customer.organization_id
    holders = await tx.customers.by_contact(organization_id, email=email)
    members = await tx.members.by_email(organization_id, email)
    own = (customer.email or "").lower() == email
    if own or holders or members:
        raise MemberRefused(UNUSABLE_ADDRESS)
    return email


@dataclass(frozen=True)
class Inviting:
    """What sending an invitation needs: the desk's key, policy and deep links."""

    hasher: KeyedHasher
    policy: DeskPolicy
    links: DeepLinks


@dataclass(frozen=True)
class Invited:
    member: AccountMember
    invitation: MemberInvitation
    link: str
    """In memory only: for the CLI's line (the mail has it; the store has its hash)."""


async def add(
    tx: Transaction,
    inviting: Inviting,
    customer: Customer,
    name: str,
    email_text: str,
    read_only: bool,
    now: datetime,
) -> Invited:
    """Add a member to the holder's account and mail them their invitation."""
    email = await member_address(tx, customer, email_text)
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise MemberRefused(Refusal("member_name_invalid"))
    member = await tx.members.add(
        AccountMember(
            customer_id=customer.id,
            name=name,
            email=email,
            read_only=read_only,
            language=customer.language,
            created_at=now,
            joined_at=None,
        )
    )
    member = await tx.members.get(member.id) or member
    return await invite(tx, inviting, member, now)


async def invite(
    tx: Transaction, inviting: Inviting, member: AccountMember, now: datetime
) -> Invited:
    """A new invitation for ``member``; any earlier unopened one becomes void."""
    await tx.member_invitations.void_open(member.id, now)
    token = new_token()
    invitation = await tx.member_invitations.add(
        MemberInvitation(
            member_id=member.id,
            token_hash=inviting.hasher.digest(TOKEN_LABEL, token),
            created_at=now,
            expires_at=now + inviting.policy.invitation_valid_for,
        )
    )
    link = inviting.links.start_link(LINK_PREFIX + token)
    await _queue_mail(tx, inviting, member, link, invitation.expires_at, now)
    return Invited(member, invitation, link)


async def _queue_mail(
    tx: Transaction,
    inviting: Inviting,
    member: AccountMember,
    link: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    customer = member.customer
    organization = customer.organization
    texts = Texts(Language(member.language or inviting.policy.default_language))
    body = texts(
        "mail_member_invitation_body",
        name=member.name,
        holder=customer.name,
        org=organization.name,
        how=texts(open_how(inviting.links), link=link),
        until=texts.when(expires_at),
        contact=organization.desk_contact or texts("desk_contact_default"),
    )
    subject = texts("mail_member_invitation_subject", org=organization.name)
    await queue_link_mail(
        tx, inviting.links, member.email, subject, body, organization, expires_at, now
    )


def token_of(payload: str) -> str | None:
    """The token of a ``member_<token>`` deep-link payload; None: not a member link."""
    if not payload.startswith(LINK_PREFIX):
        return None
    return payload[len(LINK_PREFIX) :]


async def find(tx: Transaction, hasher: KeyedHasher, token: str) -> MemberInvitation | None:
    """The invitation this token belongs to (under the current or an older key), any state."""
    if not token or len(token) > 64:
        hasher.dummy(TOKEN_LABEL)
        return None
    return await tx.member_invitations.by_digest(hasher.digests(TOKEN_LABEL, token))


def usable(invitation: MemberInvitation | None, now: datetime) -> bool:
    """Not opened, void or expired, for a member of an account that is not blocked."""
    return (
        invitation is not None
        and invitation.opened_at is None
        and invitation.withdrawn_at is None
        and invitation.expires_at > now
        and not invitation.member.customer.blocked
    )


async def join(
    tx: Transaction,
    invitation: MemberInvitation,
    chat_id: int,
    language: str,
    now: datetime,
    device_name: str | None = None,
) -> AccountMember:
    """The chat opened a usable invitation: it is the member's now, and the token used up."""
    member = invitation.member
    invitation.opened_at = now
    if member.joined_at is None:
        member.joined_at = now
    member.language = language  # the member's own chat's, not the holder's
    await tx.portal_chats.link(
        chat_id, member.customer_id, now, member_id=member.id, device_name=device_name
    )
    return member


async def by_email(tx: Transaction, customer: Customer, email: str) -> AccountMember | None:
    """The holder's member with this address (any case)."""
    wanted = email.strip().lower()
    for member in await tx.members.of_customer(customer.id):
        if member.email.lower() == wanted:
            return member
    return None


async def of_holder(tx: Transaction, customer: Customer, member_id: int) -> AccountMember | None:
    """Member ``member_id`` if it belongs to this holder's account (a button names it)."""
    member = await tx.members.get(member_id)
    return member if member is not None and member.customer_id == customer.id else None
