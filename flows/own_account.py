"""Whose account a chat acts for, after the first login: a person's (employee, staff), a
customer portal account's holder, or a member of such an account (seed 004's second parent).

The features a person uses once their account exists (two-step verification, linked
devices, notification preferences, members) start from :func:`account_of_chat` and reach
the account's other chats with :func:`chats_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flows.domain import Language, Role
from flows.model import AccountMember, Customer, Organization, Person
from flows.store import Transaction


class OwnerKind(StrEnum):
    PERSON = "p"
    """An employee, manager, desk staff member or admin (``people``)."""
    CUSTOMER = "c"
    """The holder of a customer portal account (``customers``)."""
    MEMBER = "m"
    """A member of a customer portal account (``account_members``)."""


@dataclass(frozen=True)
class Owner:
    """An account by kind and row id; ``key`` (``p12``, ``c7``, ``m3``) names it in codes,
    preferences and button data."""

    kind: OwnerKind
    id: int

    @property
    def key(self) -> str:
        return f"{self.kind.value}{self.id}"

    @classmethod
    def parse(cls, key: str) -> Owner | None:
        if len(key) < 2 or not key[1:].isdigit():
            return None
        try:
            return cls(OwnerKind(key[0]), int(key[1:]))
        except ValueError:
            return None


@dataclass(frozen=True)
class OwnAccount:
    """The account a chat acts for, with what the features after the first login need."""

    owner: Owner
    organization: Organization
    name: str
    email: str | None
    phone: str | None
    language: str | None
    person: Person | None = None
    customer: Customer | None = None
    """The portal account: the holder's own, or (for a member) the one it is a member of."""
    member: AccountMember | None = None

    @property
    def read_only(self) -> bool:
        """A read-only member: receives notices and sees status, changes nothing."""
        return self.member is not None and self.member.read_only

    @property
    def is_staff(self) -> bool:
        return self.person is not None and self.person.role in {
            Role.STAFF,
            Role.MANAGER,
            Role.ADMIN,
        }

    def language_or(self, default: Language) -> Language:
        return Language(self.language or default)


def of_person(person: Person) -> OwnAccount:
    return OwnAccount(
        Owner(OwnerKind.PERSON, person.id),
        person.organization,
        person.name,
        person.email,
        person.phone,
        person.language,
        person=person,
    )


def correspondence_address(customer: Customer) -> str | None:
    """Where mail about the account goes: under administration the administrator's address,
    never the tenant's (seed 002)."""
    if customer.under_administration:
        return customer.administrator_email.lower() if customer.administrator_email else None
    return customer.email


def of_customer(customer: Customer) -> OwnAccount:
    """The portal account, its mail to :func:`correspondence_address`."""
    return OwnAccount(
        Owner(OwnerKind.CUSTOMER, customer.id),
        customer.organization,
        customer.name,
        correspondence_address(customer),
        customer.phone,
        customer.language,
        customer=customer,
    )


def of_member(member: AccountMember) -> OwnAccount:
    return OwnAccount(
        Owner(OwnerKind.MEMBER, member.id),
        member.customer.organization,
        member.name,
        member.email,
        None,
        member.language,
        customer=member.customer,
        member=member,
    )


async def account_of_chat(tx: Transaction, chat_id: int) -> OwnAccount | None:
    """The account this chat is linked to: a person's first (a staff member who is also a
    tenant manages the desk from this chat), else a portal account's, else None."""
    person = await tx.chat_links.person_for(chat_id)
    if person is not None:
        return of_person(person)
    link = await tx.portal_chats.get(chat_id)
    if link is None:
        return None
    if link.member_id is not None:
        member = await tx.members.get(link.member_id)
        return None if member is None else of_member(member)
    customer = await tx.customers.get(link.customer_id)
    return None if customer is None else of_customer(customer)


async def load(tx: Transaction, owner: Owner) -> OwnAccount | None:
    """The account ``owner`` names, if it still exists."""
    if owner.kind is OwnerKind.PERSON:
        person = await tx.people.get(owner.id)
        return None if person is None else of_person(person)
    if owner.kind is OwnerKind.CUSTOMER:
        customer = await tx.customers.get(owner.id)
        return None if customer is None else of_customer(customer)
    member = await tx.members.get(owner.id)
    return None if member is None else of_member(member)


async def chats_of(tx: Transaction, owner: Owner) -> list[int]:
    """The chats (linked devices) of this account, oldest link first: a portal account's
    holder's own chats, not its members' (each member has their own)."""
    if owner.kind is OwnerKind.PERSON:
        return [link.telegram_user_id for link in await tx.chat_links.of_person(owner.id)]
    if owner.kind is OwnerKind.CUSTOMER:
        links = await tx.portal_chats.of_customer(owner.id)
        return [link.telegram_user_id for link in links if link.member_id is None]
    member = await tx.members.get(owner.id)
    if member is None:
        return []
    links = await tx.portal_chats.of_customer(member.customer_id)
    return [link.telegram_user_id for link in links if link.member_id == owner.id]
