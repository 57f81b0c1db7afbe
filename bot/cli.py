"""``balie``: run the bot, manage the store, and administer organizations and people."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import NoReturn

from bot.app import SchemaNotCurrent
from bot.demo import create_demo
from bot.logs import RedactSecrets, configure_logging
from bot.secret_key import load_hasher
from bot.settings import LogFormat, Runtime, Settings, SettingsError, load_settings
from bot.webhook import with_webhook_secret
from flows import accounts, customer_import, outbox_view
from flows.domain import OutboxStatus, PasswordPolicyName, RequestKind, Role
from flows.ports import SystemClock
from flows.turn import DeskPolicy
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

    run = commands.add_parser(
        "run",
        help="run the bot: Telegram (aiogram or python-telegram-bot) with a token, else the "
        "terminal channel",
    )
    run.add_argument(
        "--runtime",
        choices=[runtime.value for runtime in Runtime],
        help="the Telegram framework (default: BALIE_RUNTIME, else aiogram)",
    )
    run.add_argument(
        "--webhook",
        metavar="URL",
        help="webhook mode: Telegram POSTs updates to URL (default: BALIE_WEBHOOK_URL, else "
        "long polling)",
    )
    run.add_argument("--host", help="webhook mode: address to listen on (default 0.0.0.0)")
    run.add_argument("--port", type=int, help="webhook mode: port to listen on (default 8080)")
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="polling mode: serve /healthz and /metrics on port N (webhook mode: on its server)",
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
    org_set = org.add_parser("set", help="change an organization's desk settings")
    org_set.add_argument("partner_id", metavar="PARTNER_ID")
    org_set.add_argument("--desk-contact", help="how people reach the desk, quoted in replies")
    org_set.add_argument(
        "--password-policy",
        choices=[policy.value for policy in PasswordPolicyName],
        help="nist (default: length and a blocklist), upper_digit (seed 003) or "
        "upper_lower_digit_special (seed 004)",
    )
    org_set.add_argument("--password-min-length", type=int, metavar="8-15")
    org_set.add_argument(
        "--activation-days", type=int, metavar="DAYS", help="how long activation codes last"
    )
    org_set.add_argument(
        "--manual-activation",
        action=argparse.BooleanOptionalAction,
        help="every activation code waits for a desk employee's release, e-mail ones too",
    )

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

    request = commands.add_parser(
        "request", help="decide a registration or a staff account's new chat (as an admin)"
    ).add_subparsers(dest="request_command", required=True, metavar="ACTION")
    for verb, says in (("approve", "approve"), ("reject", "reject")):
        decide = request.add_parser(verb, help=f"{says} request #NUMBER of an organization")
        decide.add_argument("--org", required=True, metavar="PARTNER_ID")
        decide.add_argument("number", type=int, metavar="NUMBER")
        decide.add_argument("--reason", required=verb == "reject")

    imports = commands.add_parser("import", help="import data from a file").add_subparsers(
        dest="import_command", required=True, metavar="ACTION"
    )
    import_customers = imports.add_parser(
        "customers", help="add or update customers from a CSV file (UTF-8, comma or semicolon)"
    )
    import_customers.add_argument("file", metavar="FILE.csv")
    import_customers.add_argument("--org", required=True, metavar="PARTNER_ID")

    letters = commands.add_parser("letters", help="letters with activation codes").add_subparsers(
        dest="letters_command", required=True, metavar="ACTION"
    )
    letters_export = letters.add_parser(
        "export", help="write the queued letters as one PDF plus a CSV manifest, mark them sent"
    )
    letters_export.add_argument(
        "--out", type=Path, default=Path("letters"), metavar="DIR", help="default: ./letters/"
    )
    letters_export.add_argument("--org", metavar="PARTNER_ID", help="only this organization")

    outbox = commands.add_parser(
        "outbox", help="the notification queue (never a message's text)"
    ).add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    outbox_list = outbox.add_parser("list", help="the newest messages, addresses masked")
    outbox_list.add_argument(
        "--state", choices=[status.value for status in OutboxStatus], help="only this state"
    )
    outbox_list.add_argument("--limit", type=_positive, default=20, metavar="N")
    outbox_retry = outbox.add_parser(
        "retry", help="send a failed or dead message again (now, its attempts forgotten)"
    )
    outbox_retry.add_argument("id", type=int, metavar="ID")

    commands.add_parser("demo", help="create a demo organization to try every flow")
    return parser


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text}")
    return value


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


async def _export_letters(settings: Settings, out_dir: Path, partner_id: str | None) -> str:
    """``balie letters export``: one transaction; the files go if it does not commit."""
    from bot.letters import export_batch  # PDF rendering: loaded only when needed

    await _ensure_schema(settings)
    store = Store(create_engine(settings.database_url))
    try:
        result = await export_batch(
            store, load_hasher(settings), out_dir, SystemClock().now(), partner_id
        )
    finally:
        await store.close()
    lines = [str(path) for path in result.paths]
    lines += [
        f"letter {s.letter_id} (customer {s.customer_number}) stays queued: {s.reason}"
        for s in result.skipped
    ]
    plural = "" if result.count == 1 else "s"
    lines.append(
        f"exported {result.count} letter{plural}" if result.count else "no letters to export"
    )
    return "\n".join(lines)


def _admin(args: argparse.Namespace, settings: Settings) -> Callable[[Transaction], Awaitable[str]]:
    now = SystemClock().now()

    async def org_add(tx: Transaction) -> str:
        org = await accounts.add_organization(tx, args.name, args.partner_id, now)
        return f"added organization {org.name} with partner ID {org.partner_id}"

    async def org_set(tx: Transaction) -> str:
        org = await accounts.configure_organization(
            tx,
            args.partner_id,
            now,
            desk_contact=args.desk_contact,
            password_policy=PasswordPolicyName(args.password_policy)
            if args.password_policy
            else None,
            password_min_length=args.password_min_length,
            activation_code_days=args.activation_days,
            manual_activation=args.manual_activation,
        )
        release = (
            "every code waits for release" if org.manual_activation else "e-mail codes go at once"
        )
        return (
            f"{org.name}: password policy {org.password_policy.value} (at least "
            f"{org.password_min_length} characters), activation codes last "
            f"{org.activation_code_days} days, {release}, desk contact: {org.desk_contact or '-'}"
        )

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

    async def request_decide(tx: Transaction) -> str:
        approve = args.request_command == "approve"
        request = await accounts.decide_request(
            tx,
            load_hasher(settings),
            DeskPolicy(default_language=settings.default_language, channel="cli"),
            partner_id=args.org,
            number=args.number,
            approve=approve,
            reason=args.reason,
            now=now,
        )
        what = "link of a new chat" if request.kind is RequestKind.CHAT_LINK else "registration"
        return f"{what} #{request.number} of {request.person.name}: {request.status.value}"

    async def import_customers(tx: Transaction) -> str:
        parsed = customer_import.read_customers(args.file)
        org = await accounts.organization(tx, args.org)
        summary = await customer_import.import_customers(tx, org, parsed, now)
        return summary.report()

    async def demo(tx: Transaction) -> str:
        return await create_demo(tx, now)

    async def outbox_list(tx: Transaction) -> str:
        state = OutboxStatus(args.state) if args.state else None
        counts = await tx.outbox.counts()
        found = await outbox_view.entries(tx, state, args.limit)
        summary = ", ".join(f"{counts[s]} {s.value}" for s in OutboxStatus)
        return "\n".join([*(entry.line() for entry in found), f"outbox: {summary}"])

    async def outbox_retry(tx: Transaction) -> str:
        entry = await outbox_view.retry(tx, args.id, now)
        return f"outbox message #{entry.id} ({entry.channel.value} to {entry.recipient}) is due now"

    table: dict[tuple[str, str | None], Callable[[Transaction], Awaitable[str]]] = {
        ("org", "add"): org_add,
        ("org", "set"): org_set,
        ("staff", "add"): staff_add,
        ("employee", "add"): employee_add,
        ("employee", "offboard"): employee_offboard,
        ("import", "customers"): import_customers,
        ("request", "approve"): request_decide,
        ("request", "reject"): request_decide,
        ("outbox", "list"): outbox_list,
        ("outbox", "retry"): outbox_retry,
        ("demo", None): demo,
    }
    action = getattr(args, f"{args.command}_command", None)
    return table[(args.command, action)]


def _run_options(args: argparse.Namespace) -> dict[str, object]:
    """``balie run``'s flags as settings; a flag wins over the environment."""
    if args.command != "run":
        return {}
    options = {
        "runtime": args.runtime,
        "webhook_url": args.webhook,
        "webhook_host": args.host,
        "webhook_port": args.port,
        "metrics_port": args.metrics_port,
    }
    return {name: value for name, value in options.items() if value is not None}


def _webhook_ready(settings: Settings, args: argparse.Namespace) -> Settings:
    """Refuse webhook options that cannot work; give webhook mode its secret (a random one
    per start unless BALIE_WEBHOOK_SECRET is set), before logging knows what to mask."""
    if (args.host is not None or args.port is not None) and not settings.webhook_url:
        _fail("--host and --port are for webhook mode: give --webhook URL too", 2)
    if not settings.webhook_url:
        return settings
    if settings.telegram_token is None:
        _fail("webhook mode needs BALIE_TELEGRAM_TOKEN", 2)
    return with_webhook_secret(settings)


def _run_channel(settings: Settings, command: str, secrets: list[str]) -> None:
    """``balie run`` and ``balie chat``. The Telegram frameworks load only here: the admin
    commands start in a fraction of the time."""
    from aiogram.exceptions import TelegramAPIError
    from telegram.error import TelegramError as PtbTelegramError

    from bot import runtimes

    try:
        if command == "run":
            asyncio.run(runtimes.run(settings))
        else:
            asyncio.run(runtimes.run_terminal(settings))
    except (TelegramAPIError, PtbTelegramError) as exc:  # e.g. no Bot API at start-up
        _fail("Telegram: " + " ".join(RedactSecrets(secrets).redact(str(exc)).split()))
    except runtimes.StoreUsedByTelegram as exc:
        _fail(str(exc))


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(**_run_options(args))
    except SettingsError as exc:
        _fail(str(exc), 2)
    if args.command == "run":
        settings = _webhook_ready(settings, args)
    secrets = [
        s.get_secret_value()
        for s in (
            settings.telegram_token,
            settings.smtp_password,
            settings.twilio_auth_token,
            settings.webhook_secret,
            settings.secret_key,
            settings.secret_key_old,
        )
        if s is not None
    ]
    configure_logging(
        secrets,
        logging.WARNING if args.command != "run" else logging.INFO,
        json_lines=settings.log_format is LogFormat.JSON,
    )
    try:
        if args.command in {"run", "chat"}:
            _run_channel(settings, args.command, secrets)
        elif args.command == "db":
            asyncio.run(migrate.upgrade(settings.database_url))
            print(f"store {settings.safe_database_url()} is at the newest schema")
        elif args.command == "letters":
            print(asyncio.run(_export_letters(settings, args.out, args.org)))
        else:
            print(asyncio.run(_in_transaction(settings, _admin(args, settings))))
    except (accounts.AccountError, outbox_view.OutboxError, SchemaNotCurrent, SettingsError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        _fail(f"{type(exc).__name__}: {exc.strerror or exc}")
