"""``balie announce``: an urgent notice sent now, or a general one kept for the weekly
digest (issue 13), from the command line; the same as ``/announce`` in chat."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TypeAlias

from flows import accounts, announcements, digest
from flows.domain import AnnouncementAudience, Language
from flows.store import Transaction
from flows.texts import Texts

_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(commands: _Commands) -> None:
    announce = commands.add_parser(
        "announce", help="send a notice: urgent now, or general in the weekly digest"
    )
    announce.add_argument("--org", required=True, metavar="PARTNER_ID")
    announce.add_argument(
        "--audience", required=True, choices=[kind.value for kind in AnnouncementAudience]
    )
    announce.add_argument("--office", metavar="NAME", help="the office, for --audience office")
    urgency = announce.add_mutually_exclusive_group(required=True)
    urgency.add_argument("--urgent", action="store_true", help="sent at once")
    urgency.add_argument("--general", action="store_true", help="in the weekly digest")
    announce.add_argument(
        "--text", required=True, help=f"the notice (at most {announcements.MAX_TEXT} characters)"
    )


async def announce(
    tx: Transaction, args: argparse.Namespace, now: datetime, default_language: Language
) -> str:
    """One line: how many recipients were queued, or which digest the notice joins."""
    org = await accounts.organization(tx, args.org)
    kind = AnnouncementAudience(args.audience)
    office = None
    if kind is AnnouncementAudience.OFFICE:
        if not args.office:
            raise accounts.AccountError("--audience office needs --office NAME")
        wanted = args.office.strip().casefold()
        found = [o for o in await tx.announcements.offices(org.id) if o.name.casefold() == wanted]
        if not found:
            raise accounts.AccountError(f"{org.name} has no office {args.office!r}")
        office = found[0]
    elif args.office:
        raise accounts.AccountError("--office goes with --audience office only")
    try:
        sent = await announcements.send(
            tx,
            org,
            announcements.Audience(kind, office),
            urgent=args.urgent,
            text=args.text,
            now=now,
            sender=announcements.Sender("cli", "cli", default_language=default_language),
        )
    except announcements.NoticeTextRefused as refused:
        raise accounts.AccountError(refused.said(Texts(Language.EN))) from None
    number = sent.announcement.id
    if args.urgent and sent.announcement.queued_at is None:
        return (
            f"notice #{number} is on its way to {_counted(sent.recipients, 'recipient')} of "
            f"{org.name}: {_counted(sent.messages, 'message')} queued now, the rest a page "
            "at a time by the worker (balie run)"
        )
    if args.urgent:
        return (
            f"notice #{number} queued for {_counted(sent.recipients, 'recipient')} "
            f"({_counted(sent.messages, 'message')}) of {org.name}"
        )
    due = digest.schedule_of(org).next_due(now).astimezone(digest.DIGEST_TIMEZONE)
    return f"notice #{number} joins the digest of {org.name} on {due:%a %Y-%m-%d %H:%M} (Amsterdam)"


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
