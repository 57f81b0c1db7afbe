"""``balie api-key``, ``balie account check`` and ``balie org check``: the directory side of
the command line (portal keys, checking a password, reaching an organization's directory)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeAlias

from bot.app import open_store, sink_path
from bot.directories.select import build_directories
from bot.directories.sync import DirectorySync
from bot.notifications.worker import OutboxWorker, build_senders
from bot.secret_key import load_hasher
from bot.settings import Settings
from flows import accounts, portal_api
from flows.builtin_directory import PasswordVerifier, VerdictStatus
from flows.directory import DirectoryError, DirectoryKind
from flows.domain import AuditAction, DeliveryChannel
from flows.ports import SystemClock
from flows.store import Transaction

_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_commands(commands: _Commands) -> None:
    keys = commands.add_parser(
        "api-key", help="keys portals use for POST /api/v1/verify (built-in directory)"
    ).add_subparsers(dest="api_key_command", required=True, metavar="ACTION")
    create = keys.add_parser("create", help="make a key; it is shown once, only its hash kept")
    create.add_argument("--org", required=True, metavar="PARTNER_ID")
    create.add_argument("--label", help="what the key is for (e.g. the portal's name)")
    listed = keys.add_parser("list", help="an organization's keys (never the keys themselves)")
    listed.add_argument("--org", required=True, metavar="PARTNER_ID")
    revoke = keys.add_parser("revoke", help="stop a key from working")
    revoke.add_argument("--org", required=True, metavar="PARTNER_ID")
    revoke.add_argument("id", type=int, metavar="ID")
    account = commands.add_parser("account", help="accounts in the built-in directory")
    account_actions = account.add_subparsers(
        dest="account_command", required=True, metavar="ACTION"
    )
    check = account_actions.add_parser(
        "check",
        help="check a login's password, read from stdin: exit 0 if it verifies, 1 if not",
    )
    check.add_argument("--org", required=True, metavar="PARTNER_ID")
    check.add_argument("--login", required=True, help="an e-mail address or customer number")


class CheckFailed(Exception):
    """``balie account check``: the password does not verify (exit 1)."""


async def create_key(tx: Transaction, args: argparse.Namespace, now: datetime) -> str:
    organization = await accounts.organization(tx, args.org)
    row, key = await portal_api.create_key(tx, organization, args.label, now)
    return (
        f"API key #{row.id} for {organization.name} (shown once, only its hash is kept):\n{key}\n"
        "Send it as `Authorization: Bearer KEY` to POST /api/v1/verify."
    )


async def list_keys(tx: Transaction, args: argparse.Namespace, now: datetime) -> str:
    organization = await accounts.organization(tx, args.org)
    rows = await tx.api_keys.of_organization(organization.id)
    lines = [
        f"#{row.id} {row.label or '-'} created {row.created_at:%Y-%m-%d %H:%M} UTC, "
        f"last used {f'{row.last_used_at:%Y-%m-%d %H:%M} UTC' if row.last_used_at else 'never'}"
        f"{', REVOKED' if row.revoked_at else ''}"
        for row in rows
    ]
    return "\n".join(lines or [f"{organization.name} has no API keys"])


async def revoke_key(tx: Transaction, args: argparse.Namespace, now: datetime) -> str:
    organization = await accounts.organization(tx, args.org)
    row = await tx.api_keys.get(args.id)
    if row is None or row.organization_id != organization.id:
        raise accounts.AccountError(f"{organization.name} has no API key #{args.id}")
    if row.revoked_at is None:
        row.revoked_at = now
        await tx.audit.add(
            AuditAction.API_KEY_REVOKED,
            actor="cli",
            channel="cli",
            now=now,
            organization_id=organization.id,
            key_id=row.id,
        )
    return f"API key #{row.id} of {organization.name} is revoked"


def account_check(
    settings: Settings,
) -> Callable[[Transaction, argparse.Namespace, datetime], Awaitable[str]]:
    async def check(tx: Transaction, args: argparse.Namespace, now: datetime) -> str:
        organization = await accounts.organization(tx, args.org)
        kind = (
            DirectoryKind(organization.directory) if organization.directory else settings.directory
        )
        if kind is not DirectoryKind.BUILTIN:
            raise accounts.AccountError(
                f"{organization.name} uses the {kind.value} directory: check the password there"
            )
        password = sys.stdin.readline().rstrip("\r\n")
        verdict = await PasswordVerifier().verify(
            tx, organization, args.login, password, now.date()
        )
        if verdict.valid:
            return "the password verifies; the account is active"
        if verdict.status is VerdictStatus.DISABLED:
            raise CheckFailed("the password verifies, but the account is disabled")
        raise CheckFailed("the password does not verify")

    return check


async def check_organization_directory(settings: Settings, kind: DirectoryKind, name: str) -> str:
    """Reach ``kind`` with the configured credentials (``balie org set --directory``)."""
    if kind is DirectoryKind.BUILTIN:
        return f"{name}: built-in directory (portals ask POST /api/v1/verify)"
    directories = build_directories(settings)
    try:
        connector = directories.connectors.get(kind)
        if connector is None:
            raise accounts.AccountError(
                f"the {kind.value} directory is not set up: set BALIE_{kind.value.upper()}_URL"
            )
        try:
            await connector.check()
        except DirectoryError as exc:
            raise accounts.AccountError(f"the {kind.value} directory: {exc}") from None
    finally:
        await directories.aclose()
    return f"{name}: {kind.value} directory reached"


async def apply_directory_operations(settings: Settings) -> str:
    """Carry out the directory operations due now (an offboarding dated today), so the
    account is closed at once rather than when a worker next runs; what cannot be done now
    stays queued for the worker."""
    clock = SystemClock()
    store = open_store(settings, load_hasher(settings))
    directories = build_directories(settings)
    email, sms = build_senders(settings, sink_path(settings))
    worker = OutboxWorker(
        store,
        email=email,
        sms=sms,
        chat=None,
        clock=clock,
        directory=DirectorySync(store, directories, clock),
        channels=(DeliveryChannel.DIRECTORY,),
    )
    try:
        done = await worker.deliver_due()
        async with store.transaction() as tx:
            waiting = len(await tx.outbox.recipients_waiting(DeliveryChannel.DIRECTORY))
    finally:
        await worker.aclose()
        await directories.aclose()
        await store.close()
    if not done and not waiting:
        return "directory: nothing to close today"
    line = f"directory: {done} account(s) closed now"
    if waiting:
        line += f"; {waiting} operation(s) wait for the directory (the worker retries them)"
    return line
