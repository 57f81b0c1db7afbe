"""``balie member add|list|remove|set``: an administrator's view of a customer portal
account's members (seed 003's extra accounts), the same rules as the holder's ``/members``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from flows import accounts, member_flow, members
from flows.domain import AuditAction, Language
from flows.keys import KeyedHasher
from flows.masking import mask_email
from flows.model import AccountMember, Customer
from flows.ports import DeepLinks
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy

_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_commands(commands: _Commands) -> None:
    member = commands.add_parser(
        "member", help="members of a customer portal account (shared accounts)"
    ).add_subparsers(dest="member_command", required=True, metavar="ACTION")
    add = member.add_parser("add", help="add a member and mail them an invitation link")
    listed = member.add_parser("list", help="the members of a customer's account")
    remove = member.add_parser("remove", help="remove a member; their chats are unlinked")
    changed = member.add_parser("set", help="make a member read-only, or give full access")
    for parser in (add, listed, remove, changed):
        parser.add_argument("--org", required=True, metavar="PARTNER_ID")
        parser.add_argument("--customer", required=True, metavar="NUMBER")
    for parser in (add, remove, changed):
        parser.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--read-only", action="store_true", help="notices and status only")
    access = changed.add_mutually_exclusive_group(required=True)
    access.add_argument("--read-only", dest="read_only", action="store_true")
    access.add_argument("--no-read-only", dest="read_only", action="store_false")


@dataclass(frozen=True)
class MemberCall:
    """What a member command works with."""

    args: argparse.Namespace
    now: datetime
    hasher: KeyedHasher
    policy: DeskPolicy
    links: DeepLinks


async def _customer(tx: Transaction, args: argparse.Namespace) -> Customer:
    org = await accounts.organization(tx, args.org)
    customer = await tx.customers.by_number(org.id, args.customer)
    if customer is None:
        raise accounts.AccountError(f"no customer {args.customer} at {org.name}")
    return customer


async def _member(tx: Transaction, customer: Customer, email: str) -> AccountMember:
    member = await members.by_email(tx, customer, email)
    if member is None:
        raise accounts.AccountError(f"customer {customer.customer_number} has no member {email}")
    return member


def _access(member: AccountMember) -> str:
    return "read-only" if member.read_only else "full access"


async def _audit(
    tx: Transaction, action: AuditAction, customer: Customer, now: datetime, **details: Any
) -> None:
    await tx.audit.add(
        action,
        actor="cli",
        channel="cli",
        now=now,
        organization_id=customer.organization_id,
        account=f"c{customer.id}",
        **details,
    )


async def add(tx: Transaction, call: MemberCall) -> str:
    """Adds the member and prints the invitation's link (the mail has it too)."""
    args = call.args
    customer = await _customer(tx, args)
    inviting = members.Inviting(call.hasher, call.policy, call.links)
    try:
        invited = await members.add(
            tx, inviting, customer, args.name, args.email, args.read_only, call.now
        )
    except members.MemberRefused as refused:
        raise accounts.AccountError(Texts(Language.EN)(refused.reason)) from None
    member = invited.member
    await _audit(
        tx,
        AuditAction.MEMBER_ADDED,
        customer,
        call.now,
        member_id=member.id,
        read_only=args.read_only,
    )
    return Texts(Language.EN)(
        "cli_member_added",
        name=member.name,
        customer=customer.customer_number,
        access=_access(member),
        until=f"{invited.invitation.expires_at:%Y-%m-%d %H:%M} UTC",
        link=invited.link,
    )


async def list_members(tx: Transaction, call: MemberCall) -> str:
    customer = await _customer(tx, call.args)
    rows = [
        f"{m.name} <{mask_email(m.email)}>: {_access(m)}, "
        + (f"joined {m.joined_at:%Y-%m-%d}" if m.joined_at else "invited")
        for m in await tx.members.of_customer(customer.id)
    ]
    return "\n".join(rows or [f"customer {customer.customer_number} has no members"])


async def remove(tx: Transaction, call: MemberCall) -> str:
    customer = await _customer(tx, call.args)
    member = await _member(tx, customer, call.args.email)
    name, member_id = member.name, member.id
    await member_flow.remove(tx, call.policy, member, call.now)
    await _audit(tx, AuditAction.MEMBER_REMOVED, customer, call.now, member_id=member_id)
    return f"removed member {name} from customer {customer.customer_number}"


async def set_access(tx: Transaction, call: MemberCall) -> str:
    customer = await _customer(tx, call.args)
    member = await _member(tx, customer, call.args.email)
    if member.read_only != call.args.read_only:
        member.read_only = call.args.read_only
        await _audit(
            tx,
            AuditAction.MEMBER_READ_ONLY_CHANGED,
            customer,
            call.now,
            member_id=member.id,
            read_only=member.read_only,
        )
    return f"member {member.name} of customer {customer.customer_number}: {_access(member)}"


ACTIONS = {"add": add, "list": list_members, "remove": remove, "set": set_access}
