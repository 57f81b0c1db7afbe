"""Invitations by deep link (seed 003's "we made an account for you"): issue, resend, withdraw.

A manager (``/invite``) or an administrator (``balie invite``) invites a person by e-mail
address; the person gets a mail with a Telegram deep link and the same link as a QR code.
Opening it links the chat to the account and asks for a password (``invitation_flow``).

The token is 256 random bits shown only in that mail: the store keeps its keyed hash (as it
keeps codes), the mail's body is sealed in the outbox, and the QR code is made from the
opened body at delivery, so the token is never at rest in clear. A token is single-use,
valid ``DeskPolicy.invitation_valid_for``, and void once resent or withdrawn.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from flows.contacts import Contact, parse_email
from flows.domain import (
    AccountStatus,
    AuditAction,
    DeliveryChannel,
    Language,
    Role,
    effective_status,
)
from flows.keys import KeyedHasher
from flows.model import Invitation, Organization, Person
from flows.outbox_payload import QR_OF_LINK
from flows.ports import DeepLinks
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy

TOKEN_LABEL = "invitation"
"""The keyed hash's label: an invitation token's digest never equals a code's."""

INVITATION_REASON = "invitation"
"""The password choice's reason after an invitation: its success confirms the invitation."""

INVITABLE = frozenset({AccountStatus.PENDING, AccountStatus.ACTIVE})
"""Who may be (re-)invited and open an invitation: not a blocked or offboarded person."""


class InvitationRefused(Exception):
    """Why an invitation cannot be issued, resent or withdrawn: ``message_id`` says it (in
    the catalogs), ``values`` fill its placeholders."""

    def __init__(self, message_id: str, **values: object) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.values = values


@dataclass(frozen=True)
class Inviter:
    """Who invites, and with what: the desk's policy, its key, its deep links."""

    hasher: KeyedHasher
    policy: DeskPolicy
    links: DeepLinks
    invited_by: Person | None
    """The manager; None: an administrator in the CLI."""


@dataclass(frozen=True)
class Issued:
    invitation: Invitation
    person: Person
    token: str
    """In memory only, for the CLI's demo line when there is no Telegram link."""
    created_person: bool


def new_token() -> str:
    """43 URL-safe characters: fits Telegram's ``start`` parameter (at most 64)."""
    return secrets.token_urlsafe(32)


def invitation_email(text: str) -> Contact:
    """The address typed: a personal one (seed 000 refuses info@ and other role boxes)."""
    parsed = parse_email(text.strip())
    if not isinstance(parsed, Contact):
        raise InvitationRefused(parsed.reason)
    return parsed


async def issue(
    tx: Transaction,
    inviter: Inviter,
    organization: Organization,
    email_text: str,
    name: str | None,
    now: datetime,
) -> Issued:
    """Invite the organization's person with this address, made (an employee, listed,
    pending) when nobody has it; any earlier unopened invitation of theirs becomes void."""
    email = invitation_email(email_text)
    person = await tx.people.by_contact(organization.id, DeliveryChannel.EMAIL, email.value)
    created = person is None
    if person is None:
        person = await tx.people.add(
            organization_id=organization.id,
            name=(name or email.value.split("@", 1)[0]).strip()[:200],
            role=Role.EMPLOYEE,
            status=AccountStatus.PENDING,
            now=now,
            email=email.value,
            pre_registered=True,
        )
        person = await tx.people.get(person.id) or person
    elif effective_status(person.status, person.out_of_service_on, now.date()) not in INVITABLE:
        raise InvitationRefused("invite_not_invitable", name=person.name)
    return await _send(tx, inviter, person, now, created)


async def resend(
    tx: Transaction, inviter: Inviter, organization: Organization, email_text: str, now: datetime
) -> Issued:
    """A new link for an invitation not yet confirmed; the old link is void."""
    person = await _invited(tx, organization, email_text)
    latest = await tx.invitations.latest_for(person.id)
    if latest is None or latest.confirmed_at is not None:
        raise InvitationRefused("invite_none_open", email=email_text.strip()[:80])
    if effective_status(person.status, person.out_of_service_on, now.date()) not in INVITABLE:
        raise InvitationRefused("invite_not_invitable", name=person.name)
    return await _send(tx, inviter, person, now, created=False)


async def withdraw(
    tx: Transaction, organization: Organization, email_text: str, now: datetime
) -> Person:
    """Void the person's unopened invitation; its link then gets the neutral answer."""
    person = await _invited(tx, organization, email_text)
    if not await tx.invitations.void_open(person.id, now):
        raise InvitationRefused("invite_none_open", email=email_text.strip()[:80])
    return person


async def _invited(tx: Transaction, organization: Organization, email_text: str) -> Person:
    email = invitation_email(email_text)
    person = await tx.people.by_contact(organization.id, DeliveryChannel.EMAIL, email.value)
    if person is None:
        raise InvitationRefused("invite_none_open", email=email.value)
    return person


async def _send(
    tx: Transaction, inviter: Inviter, person: Person, now: datetime, created: bool
) -> Issued:
    assert person.email is not None
    await tx.invitations.void_open(person.id, now)
    token = new_token()
    valid_for = inviter.policy.invitation_valid_for
    invitation = await tx.invitations.add(
        Invitation(
            organization_id=person.organization_id,
            person_id=person.id,
            token_hash=inviter.hasher.digest(TOKEN_LABEL, token),
            email=person.email,
            invited_by_id=inviter.invited_by.id if inviter.invited_by else None,
            created_at=now,
            expires_at=now + valid_for,
        )
    )
    await _queue_mail(tx, inviter, person, token, invitation.expires_at, now)
    return Issued(invitation, person, token, created)


async def _queue_mail(
    tx: Transaction,
    inviter: Inviter,
    person: Person,
    token: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    assert person.email is not None
    texts = Texts(Language(person.language or inviter.policy.default_language))
    organization = person.organization
    body = texts(
        "mail_invitation_body",
        name=person.name,
        org=organization.name,
        how=texts(open_how(inviter.links), link=inviter.links.start_link(token)),
        until=texts.when(expires_at),
        contact=organization.desk_contact or texts("desk_contact_default"),
    )
    subject = texts("mail_invitation_subject", org=organization.name)
    await queue_link_mail(
        tx, inviter.links, person.email, subject, body, organization, expires_at, now
    )


def open_how(links: DeepLinks) -> str:
    """The text id that says how to open an invitation's link: tap it, or type /start."""
    return "mail_invitation_open_link" if links.clickable else "mail_invitation_type_start"


async def queue_link_mail(
    tx: Transaction,
    links: DeepLinks,
    address: str,
    subject: str,
    body: str,
    organization: Organization,
    expires_at: datetime,
    now: datetime,
) -> None:
    """An invitation's mail: sealed (it holds the token), worth nothing after the link
    expires, with the link's QR code asked for by a flag (made from the opened body)."""
    await tx.outbox.add(
        DeliveryChannel.EMAIL,
        address,
        body,
        now,
        subject=subject,
        payload={QR_OF_LINK: True} if links.clickable else None,
        sensitive=True,
        expires_at=expires_at,
        organization_id=organization.id,
    )


def usable(invitation: Invitation | None, now: datetime) -> bool:
    """Not opened, confirmed, withdrawn or expired, for a person who may still log in."""
    if invitation is None:
        return False
    person = invitation.person
    status = effective_status(person.status, person.out_of_service_on, now.date())
    return (
        invitation.opened_at is None
        and invitation.confirmed_at is None
        and invitation.withdrawn_at is None
        and invitation.expires_at > now
        and status in INVITABLE
    )


async def find(tx: Transaction, hasher: KeyedHasher, token: str) -> Invitation | None:
    """The invitation this token belongs to (under the current or an older key), any state."""
    if not token or len(token) > 64:
        hasher.dummy(TOKEN_LABEL)
        return None
    return await tx.invitations.by_digest(hasher.digests(TOKEN_LABEL, token))


async def confirm(tx: Transaction, person: Person, now: datetime) -> Invitation | None:
    """The person chose their password after opening their invitation: record when."""
    latest = await tx.invitations.latest_for(person.id)
    if latest is None or latest.opened_at is None or latest.confirmed_at is not None:
        return None
    latest.confirmed_at = now
    return latest


AUDIT = {
    "issue": AuditAction.INVITATION_SENT,
    "resend": AuditAction.INVITATION_RESENT,
    "withdraw": AuditAction.INVITATION_WITHDRAWN,
}
"""What each staff action on an invitation is audited as."""
