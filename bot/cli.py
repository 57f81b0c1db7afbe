"""``balie``: run the bot, manage the store, and administer organizations and people."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import NoReturn

from bot import runtimes
from bot.app import SchemaNotCurrent
from bot.demo import create_demo
from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings
from flows import accounts
from flows.domain import Role
from flows.ports import SystemClock
from storage import migrate
from storage.db import create_engine
from storage.uow import Store, Transaction

log = logging.getLogger("balie")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="balie",
        description="Balie: a chat assistant for support desks (registration, approval, "
        "notifications).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "run", help="run the bot: Telegram (aiogram) with a token, else the terminal channel"
    )
    commands.add_parser("chat", help="chat with the desk in this terminal")

    db = commands.add_parser("db", help="the store's schema").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    db.add_parser("upgrade", help="apply all migrations")

    org = commands.add_parser("org", help="organizations").add_subparsers(
        dest="org_command", required=True, metavar="ACTION"
    )
    org_add = org.add_parser("add", help="add an organization")
    org_add.add_argument("name")
    org_add.add_argument("--partner-id", required=True, help="the partner ID people type")

    staff = commands.add_parser("staff", help="managers and desk staff").add_subparsers(
        dest="staff_command", required=True, metavar="ACTION"
    )
    staff_add = staff.add_parser("add", help="add a manager or desk staff member")
    staff_add.add_argument("--org", required=True, metavar="PARTNER_ID")
    staff_add.add_argument("--name", required=True)
    staff_add.add_argument("--role", required=True, choices=["manager", "staff"])
    staff_add.add_argument("--email", required=True)
    staff_add.add_argument("--phone")
    staff_add.add_argument(
        "--telegram-id", required=True, type=int, help="their Telegram user id (staff chat)"
    )

    employee = commands.add_parser("employee", help="employees").add_subparsers(
        dest="employee_command", required=True, metavar="ACTION"
    )
    employee_add = employee.add_parser("add", help="pre-register an employee (seed 000)")
    employee_add.add_argument("--org", required=True, metavar="PARTNER_ID")
    employee_add.add_argument("--name", required=True)
    employee_add.add_argument("--email")
    employee_add.add_argument("--phone")
    employee_add.add_argument("--office", action="append", default=[], metavar="OFFICE")
    offboard = employee.add_parser("offboard", help="set an out-of-service date")
    offboard.add_argument("--org", required=True, metavar="PARTNER_ID")
    who = offboard.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--phone")
    offboard.add_argument("--date", required=True, type=_iso_date, metavar="YYYY-MM-DD")

    commands.add_parser("demo", help="create a demo organization to try every flow")
    return parser


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text}") from None


def _fail(message: str, code: int = 1) -> NoReturn:
    print(f"balie: error: {message}", file=sys.stderr)
    raise SystemExit(code)


async def _in_transaction(settings: Settings, work: Callable[[Transaction], Awaitable[str]]) -> str:
    """Run an admin command in one transaction: all of it is stored, or none of it."""
    await _ensure_schema(settings)
    store = Store(create_engine(settings.database_url))
    try:
        async with store.transaction() as tx:
            return await work(tx)
    finally:
        await store.close()


async def _ensure_schema(settings: Settings) -> None:
    from sqlalchemy.engine import make_url

    if make_url(settings.database_url).get_backend_name() == "sqlite":
        await migrate.upgrade(settings.database_url)
    elif not await migrate.is_current(settings.database_url):
        raise SchemaNotCurrent("the store's schema is not current: run `balie db upgrade`")


def _admin(args: argparse.Namespace) -> Callable[[Transaction], Awaitable[str]]:
    now = SystemClock().now()

    async def org_add(tx: Transaction) -> str:
        org = await accounts.add_organization(tx, args.name, args.partner_id, now)
        return f"added organization {org.name} with partner ID {org.partner_id}"

    async def staff_add(tx: Transaction) -> str:
        person = await accounts.add_staff(
            tx,
            partner_id=args.org,
            name=args.name,
            role=Role(args.role),
            email=args.email,
            phone=args.phone,
            telegram_id=args.telegram_id,
            now=now,
        )
        return f"added {person.role.value} {person.name} (Telegram user {args.telegram_id})"

    async def employee_add(tx: Transaction) -> str:
        person = await accounts.add_employee(
            tx,
            partner_id=args.org,
            name=args.name,
            email=args.email,
            phone=args.phone,
            offices=args.office,
            now=now,
        )
        return f"added employee {person.name}; they can now register in chat"

    async def employee_offboard(tx: Transaction) -> str:
        person = await accounts.offboard_employee(
            tx, partner_id=args.org, contact_text=args.email or args.phone, day=args.date, now=now
        )
        return f"{person.name} is out of service from {args.date.isoformat()}"

    async def demo(tx: Transaction) -> str:
        return await create_demo(tx, now)

    table: dict[tuple[str, str | None], Callable[[Transaction], Awaitable[str]]] = {
        ("org", "add"): org_add,
        ("staff", "add"): staff_add,
        ("employee", "add"): employee_add,
        ("employee", "offboard"): employee_offboard,
        ("demo", None): demo,
    }
    action = getattr(args, f"{args.command}_command", None)
    return table[(args.command, action)]


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(str(exc), 2)
    secrets = [
        s.get_secret_value()
        for s in (settings.telegram_token, settings.smtp_password, settings.twilio_auth_token)
        if s is not None
    ]
    configure_logging(secrets, logging.WARNING if args.command != "run" else logging.INFO)
    try:
        if args.command == "run":
            asyncio.run(runtimes.run(settings))
        elif args.command == "chat":
            asyncio.run(runtimes.run_terminal(settings))
        elif args.command == "db":
            asyncio.run(migrate.upgrade(settings.database_url))
            print(f"store {settings.safe_database_url()} is at the newest schema")
        else:
            print(asyncio.run(_in_transaction(settings, _admin(args))))
    except (accounts.AccountError, SchemaNotCurrent) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        _fail(f"{type(exc).__name__}: {exc.strerror or exc}")
