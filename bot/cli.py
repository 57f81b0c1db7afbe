"""``balie``: run the bot, manage the store, and administer organizations and people."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NoReturn, TypeAlias

from bot import cli_announce, cli_directory, cli_members, deep_links
from bot.app import SchemaNotCurrent, open_store
from bot.demo import create_demo
from bot.directories.select import connector_secrets
from bot.logs import RedactSecrets, configure_logging
from bot.secret_key import load_hasher
from bot.settings import LogFormat, Runtime, Settings, SettingsError, load_settings
from bot.webhook import with_webhook_secret
from flows import accounts, customer_import, digest, invitations, outbox_view
from flows.directory import DirectoryError, DirectoryKind
from flows.domain import Language, OutboxStatus, PasswordPolicyName, RequestKind, Role
from flows.model import Person
from flows.ports import DeepLinks, SystemClock, TypedStart
from flows.texts import Texts
from flows.turn import DeskPolicy
from storage import migrate
from storage.db import create_engine
from storage.uow import Store, Transaction

log = logging.getLogger("balie")


_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The ``balie COMMAND`` level of the parser, to which each group adds its commands."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="balie",
        description="Balie: a chat assistant for support desks (registration, approval, "
        "notifications).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run_command(commands)
    commands.add_parser("chat", help="chat with the desk in this terminal")
    db = commands.add_parser("db", help="the store's schema").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    db.add_parser("upgrade", help="apply all migrations")
    _org_commands(commands)
    _staff_commands(commands)
    _employee_commands(commands)
    _request_commands(commands)
    _invite_command(commands)
    cli_members.add_commands(commands)
    _import_commands(commands)
    _letters_commands(commands)
    _outbox_commands(commands)
    cli_announce.add_command(commands)
    cli_directory.add_commands(commands)
    commands.add_parser("demo", help="create a demo organization to try every flow")
    return parser


def _run_command(commands: _Commands) -> None:
    """``balie run``: Telegram by polling or webhook, else the terminal."""
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
        "--workers",
        type=_positive,
        metavar="N",
        help="webhook mode on PostgreSQL: N worker processes share the port and the store "
        "(default: BALIE_WORKERS, else 1)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="polling mode: serve /healthz and /metrics on port N (webhook mode: on its server)",
    )


def _org_commands(commands: _Commands) -> None:
    """``balie org add|set``: organizations and their desk settings."""
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
    org_set.add_argument(
        "--directory",
        choices=[kind.value for kind in DirectoryKind],
        help="where its accounts live: builtin (Balie's store), ldap or scim (default: "
        "BALIE_DIRECTORY); ldap and scim are checked before the change is kept",
    )
    org_set.add_argument(
        "--digest",
        metavar='"DAY HH:MM"',
        help="when the weekly digest of general notices goes out, Amsterdam time "
        '(default "fri 16:00")',
    )
    org_set.add_argument(
        "--require-2fa",
        choices=["staff", "none"],
        help="staff: staff and managers must use two-step verification (/security), and "
        "their commands ask for it again after BALIE_STAFF_STEP_UP_IDLE; none: optional",
    )
    org_check = org.add_parser("check", help="reach the organization's directory")
    org_check.add_argument("partner_id", metavar="PARTNER_ID")


def _staff_commands(commands: _Commands) -> None:
    """``balie staff add``: managers and desk staff, with their chat."""
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


def _employee_commands(commands: _Commands) -> None:
    """``balie employee add|offboard`` (seed 000, seed 001's out-of-service date)."""
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


def _request_commands(commands: _Commands) -> None:
    """``balie request approve|reject``: an admin decides a request."""
    request = commands.add_parser(
        "request", help="decide a registration or a staff account's new chat (as an admin)"
    ).add_subparsers(dest="request_command", required=True, metavar="ACTION")
    for verb, says in (("approve", "approve"), ("reject", "reject")):
        decide = request.add_parser(verb, help=f"{says} request #NUMBER of an organization")
        decide.add_argument("--org", required=True, metavar="PARTNER_ID")
        decide.add_argument("number", type=int, metavar="NUMBER")
        decide.add_argument("--reason", required=verb == "reject")


def _invite_command(commands: _Commands) -> None:
    """``balie invite``: an invitation by Telegram deep link (seed 003)."""
    invite = commands.add_parser("invite", help="invite someone by e-mail to set up their account")
    invite.add_argument("--org", required=True, metavar="PARTNER_ID")
    invite.add_argument("--email", required=True)
    invite.add_argument("--name", help="their name, for someone not yet known")
    again = invite.add_mutually_exclusive_group()
    again.add_argument("--resend", action="store_true", help="a new link; the old one is void")
    again.add_argument("--withdraw", action="store_true", help="void the open invitation")


def _import_commands(commands: _Commands) -> None:
    """``balie import customers``: the CSV import."""
    imports = commands.add_parser("import", help="import data from a file").add_subparsers(
        dest="import_command", required=True, metavar="ACTION"
    )
    import_customers = imports.add_parser(
        "customers", help="add or update customers from a CSV file (UTF-8, comma or semicolon)"
    )
    import_customers.add_argument("file", metavar="FILE.csv")
    import_customers.add_argument("--org", required=True, metavar="PARTNER_ID")


def _letters_commands(commands: _Commands) -> None:
    """``balie letters export``: the print-and-mail batch."""
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


def _outbox_commands(commands: _Commands) -> None:
    """``balie outbox list|retry``: the notification queue."""
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


async def _in_transaction(
    settings: Settings, work: Callable[[Transaction], Awaitable[str]], *, sealed: bool = False
) -> str:
    """Run an admin command in one transaction: all of it is stored, or none of it.
    ``sealed``: the command may queue a sealed message (an invitation's link)."""
    await _ensure_schema(settings)
    store = (
        open_store(settings, load_hasher(settings))
        if sealed
        else Store(create_engine(settings.database_url))
    )
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


@dataclass(frozen=True)
class _AdminCall:
    """What an admin command works with: its arguments, the settings, one moment."""

    args: argparse.Namespace
    settings: Settings
    now: datetime
    links: DeepLinks = field(default_factory=TypedStart)
    """The bot's deep links (one getMe) for the commands that send an invitation."""


def _admin(
    args: argparse.Namespace, settings: Settings, links: DeepLinks | None = None
) -> Callable[[Transaction], Awaitable[str]]:
    """The work of the admin command ``args`` names, for one transaction."""
    call = _AdminCall(args, settings, SystemClock().now(), links or TypedStart())
    action = getattr(args, f"{args.command.replace('-', '_')}_command", None)
    work = _ADMIN[(args.command, action)]
    return lambda tx: work(tx, call)


async def _org_add(tx: Transaction, call: _AdminCall) -> str:
    org = await accounts.add_organization(tx, call.args.name, call.args.partner_id, call.now)
    return f"added organization {org.name} with partner ID {org.partner_id}"


async def _org_set(tx: Transaction, call: _AdminCall) -> str:
    directory = DirectoryKind(call.args.directory) if call.args.directory else None
    if directory is not None:
        found = await accounts.organization(tx, call.args.partner_id)
        await cli_directory.check_organization_directory(call.settings, directory, found.name)
    org = await accounts.configure_organization(
        tx,
        call.args.partner_id,
        call.now,
        desk_contact=call.args.desk_contact,
        password_policy=PasswordPolicyName(call.args.password_policy)
        if call.args.password_policy
        else None,
        password_min_length=call.args.password_min_length,
        activation_code_days=call.args.activation_days,
        manual_activation=call.args.manual_activation,
        directory=directory,
        digest_schedule=call.args.digest,
        require_two_step=call.args.require_2fa,
    )
    release = "every code waits for release" if org.manual_activation else "e-mail codes go at once"
    return (
        f"{org.name}: password policy {org.password_policy.value} (at least "
        f"{org.password_min_length} characters), activation codes last "
        f"{org.activation_code_days} days, {release}, desk contact: {org.desk_contact or '-'}, "
        f"directory: {org.directory or call.settings.directory.value + ' (the default)'}, "
        f"weekly digest: {digest.schedule_of(org)} Amsterdam time, "
        f"two-step required of: {org.require_two_step}"
    )


async def _org_check(tx: Transaction, call: _AdminCall) -> str:
    org = await accounts.organization(tx, call.args.partner_id)
    kind = DirectoryKind(org.directory) if org.directory else call.settings.directory
    return await cli_directory.check_organization_directory(call.settings, kind, org.name)


async def _staff_add(tx: Transaction, call: _AdminCall) -> str:
    person = await accounts.add_staff(
        tx,
        partner_id=call.args.org,
        name=call.args.name,
        role=Role(call.args.role),
        email=call.args.email,
        phone=call.args.phone,
        telegram_id=call.args.telegram_id,
        now=call.now,
    )
    return f"added {person.role.value} {person.name} (Telegram user {call.args.telegram_id})"


async def _employee_add(tx: Transaction, call: _AdminCall) -> str:
    person = await accounts.add_employee(
        tx,
        partner_id=call.args.org,
        name=call.args.name,
        email=call.args.email,
        phone=call.args.phone,
        offices=call.args.office,
        now=call.now,
    )
    return f"added employee {person.name}; they can now register in chat"


async def _employee_offboard(tx: Transaction, call: _AdminCall) -> str:
    person = await accounts.offboard_employee(
        tx,
        partner_id=call.args.org,
        contact_text=call.args.email or call.args.phone,
        day=call.args.date,
        now=call.now,
    )
    return f"{person.name} is out of service from {call.args.date.isoformat()}"


async def _request_decide(tx: Transaction, call: _AdminCall) -> str:
    approve = call.args.request_command == "approve"
    request = await accounts.decide_request(
        tx,
        load_hasher(call.settings),
        _cli_policy(call.settings),
        partner_id=call.args.org,
        number=call.args.number,
        approve=approve,
        reason=call.args.reason,
        now=call.now,
        links=call.links,
    )
    what = "link of a new chat" if request.kind is RequestKind.CHAT_LINK else "registration"
    return f"{what} #{request.number} of {request.person.name}: {request.status.value}"


def _cli_policy(settings: Settings) -> DeskPolicy:
    return DeskPolicy(
        default_language=settings.default_language,
        channel="cli",
        invitation_valid_for=timedelta(days=settings.invitation_days),
    )


async def _audit_invitation(tx: Transaction, action: str, person: Person, now: datetime) -> None:
    await tx.audit.add(
        invitations.AUDIT[action],
        actor="cli",
        channel="cli",
        now=now,
        organization_id=person.organization_id,
        subject_person_id=person.id,
    )


async def _invite(tx: Transaction, call: _AdminCall) -> str:
    """One line; the token only where there is no Telegram link (the demo's ``balie chat``)."""
    args = call.args
    org = await accounts.organization(tx, args.org)
    inviter = invitations.Inviter(
        load_hasher(call.settings), _cli_policy(call.settings), call.links, None
    )
    try:
        if args.withdraw:
            person = await invitations.withdraw(tx, org, args.email, call.now)
            await _audit_invitation(tx, "withdraw", person, call.now)
            return f"withdrew the invitation of {person.name} <{person.email}> at {org.name}"
        if args.resend:
            issued = await invitations.resend(tx, inviter, org, args.email, call.now)
        else:
            issued = await invitations.issue(tx, inviter, org, args.email, args.name, call.now)
    except invitations.InvitationRefused as refused:
        texts = Texts(Language.EN)  # like every other line of the CLI
        raise accounts.AccountError(texts(refused.message_id, **refused.values)) from None
    action = "resend" if args.resend else "issue"
    await _audit_invitation(tx, action, issued.person, call.now)
    person = issued.person
    line = (
        f"invited {person.name} <{person.email}> to {org.name}; the link is valid until "
        f"{issued.invitation.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    if call.links.clickable:
        return line
    return f"{line}\nno Telegram token: in `balie chat`, type /start {issued.token}"


def _member_action(name: str) -> Callable[[Transaction, _AdminCall], Awaitable[str]]:
    """``balie member NAME``, with the desk's key, policy and deep links."""

    async def work(tx: Transaction, call: _AdminCall) -> str:
        member_call = cli_members.MemberCall(
            call.args,
            call.now,
            load_hasher(call.settings),
            _cli_policy(call.settings),
            call.links,
        )
        return await cli_members.ACTIONS[name](tx, member_call)

    return work


async def _import_customers(tx: Transaction, call: _AdminCall) -> str:
    parsed = customer_import.read_customers(call.args.file)
    org = await accounts.organization(tx, call.args.org)
    summary = await customer_import.import_customers(tx, org, parsed, call.now)
    return summary.report()


async def _demo(tx: Transaction, call: _AdminCall) -> str:
    return await create_demo(tx, call.now)


async def _outbox_list(tx: Transaction, call: _AdminCall) -> str:
    state = OutboxStatus(call.args.state) if call.args.state else None
    counts = await tx.outbox.counts()
    found = await outbox_view.entries(tx, state, call.args.limit)
    # Skipped notices (switched off by their reader) are counted only when there are any.
    shown = [s for s in OutboxStatus if s is not OutboxStatus.SKIPPED or counts[s]]
    summary = ", ".join(f"{counts[s]} {s.value}" for s in shown)
    return "\n".join([*(entry.line() for entry in found), f"outbox: {summary}"])


async def _outbox_retry(tx: Transaction, call: _AdminCall) -> str:
    entry = await outbox_view.retry(tx, call.args.id, call.now)
    return f"outbox message #{entry.id} ({entry.channel.value} to {entry.recipient}) is due now"


_ADMIN: dict[tuple[str, str | None], Callable[[Transaction, _AdminCall], Awaitable[str]]] = {
    ("org", "add"): _org_add,
    ("org", "set"): _org_set,
    ("org", "check"): _org_check,
    ("api-key", "create"): lambda tx, call: cli_directory.create_key(tx, call.args, call.now),
    ("api-key", "list"): lambda tx, call: cli_directory.list_keys(tx, call.args, call.now),
    ("api-key", "revoke"): lambda tx, call: cli_directory.revoke_key(tx, call.args, call.now),
    ("account", "check"): lambda tx, call: cli_directory.account_check(call.settings)(
        tx, call.args, call.now
    ),
    ("staff", "add"): _staff_add,
    ("employee", "add"): _employee_add,
    ("employee", "offboard"): _employee_offboard,
    ("import", "customers"): _import_customers,
    ("request", "approve"): _request_decide,
    ("request", "reject"): _request_decide,
    ("invite", None): _invite,
    **{("member", name): _member_action(name) for name in cli_members.ACTIONS},
    ("outbox", "list"): _outbox_list,
    ("outbox", "retry"): _outbox_retry,
    ("announce", None): lambda tx, call: cli_announce.announce(
        tx, call.args, call.now, call.settings.default_language
    ),
    ("demo", None): _demo,
}
"""Each admin command by (command, action)."""


_SEALED = frozenset({"invite", "request", "member"})
"""Commands that may send an invitation (approving a registration does): a sealed store and
the bot's deep links."""


async def _sealed_admin(args: argparse.Namespace, settings: Settings) -> str:
    links = await deep_links.from_settings(settings)
    return await _in_transaction(settings, _admin(args, settings, links), sealed=True)


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
        "workers": args.workers,
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
    # One secret for all workers: made here, before they start.
    return with_webhook_secret(settings)


def _workers_ready(settings: Settings) -> None:
    """Several workers only where they can share the work: a webhook and PostgreSQL."""
    if settings.workers == 1:
        return
    if settings.is_sqlite:
        _fail(
            "--workers needs PostgreSQL: SQLite is one process by design; set "
            "BALIE_DATABASE_URL=postgresql+asyncpg://... for more than one worker",
            2,
        )
    if not settings.webhook_url:
        _fail("--workers is for webhook mode: give --webhook URL too (polling is one process)", 2)


def _run_channel(
    settings: Settings,
    command: str,
    secrets: list[str],
    *,
    leader: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """``balie run`` and ``balie chat``. The Telegram frameworks load only here: the admin
    commands start in a fraction of the time."""
    from aiogram.exceptions import TelegramAPIError
    from telegram.error import TelegramError as PtbTelegramError

    from bot import runtimes

    try:
        if command == "run":
            asyncio.run(runtimes.run(settings, leader=leader, on_ready=on_ready))
        else:
            asyncio.run(runtimes.run_terminal(settings))
    except (TelegramAPIError, PtbTelegramError) as exc:  # e.g. no Bot API at start-up
        _fail("Telegram: " + " ".join(RedactSecrets(secrets).redact(str(exc)).split()))
    except runtimes.StoreUsedByTelegram as exc:
        _fail(str(exc))


@dataclass(frozen=True)
class _Worker:
    """What a worker process of ``balie run --workers N`` needs (sent to it pickled): the
    parent's settings, with their one webhook secret, and what its logs must mask."""

    settings: Settings
    secrets: list[str]

    def __call__(self, index: int, on_ready: Callable[[], None]) -> None:
        configure_logging(
            self.secrets, logging.INFO, json_lines=self.settings.log_format is LogFormat.JSON
        )
        try:
            _run_channel(self.settings, "run", self.secrets, leader=index == 0, on_ready=on_ready)
        except (SchemaNotCurrent, SettingsError) as exc:
            _fail(str(exc))
        except DirectoryError as exc:
            _fail(f"directory: {exc}")
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            _fail(f"{type(exc).__name__}: {exc.strerror or exc}")


def _supervise(settings: Settings, secrets: list[str]) -> None:
    from bot.workers import Supervisor

    log = logging.getLogger("balie")
    log.info(
        "Balie starting %d workers on %s:%s, store %s",
        settings.workers,
        settings.webhook_host,
        settings.webhook_port,
        settings.safe_database_url(),
    )
    code = Supervisor(settings.workers, _Worker(settings, secrets)).run()
    if code:
        raise SystemExit(code)


def _closes_today(args: argparse.Namespace) -> bool:
    """``balie employee offboard`` dated today or earlier: the account closes at once."""
    offboard = (args.command, getattr(args, "employee_command", None)) == ("employee", "offboard")
    return offboard and args.date <= SystemClock().now().date()


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(**_run_options(args))
    except SettingsError as exc:
        _fail(str(exc), 2)
    if args.command == "run":
        settings = _webhook_ready(settings, args)
        _workers_ready(settings)
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
    secrets += connector_secrets(settings)
    configure_logging(
        secrets,
        logging.WARNING if args.command != "run" else logging.INFO,
        json_lines=settings.log_format is LogFormat.JSON,
    )
    try:
        if args.command == "run" and settings.workers > 1:
            _supervise(settings, secrets)
        elif args.command in {"run", "chat"}:
            _run_channel(settings, args.command, secrets)
        elif args.command == "db":
            asyncio.run(migrate.upgrade(settings.database_url))
            print(f"store {settings.safe_database_url()} is at the newest schema")
        elif args.command == "letters":
            print(asyncio.run(_export_letters(settings, args.out, args.org)))
        elif args.command in _SEALED:
            print(asyncio.run(_sealed_admin(args, settings)))
        else:
            print(asyncio.run(_in_transaction(settings, _admin(args, settings))))
            if _closes_today(args):
                print(asyncio.run(cli_directory.apply_directory_operations(settings)))
    except (accounts.AccountError, outbox_view.OutboxError, SchemaNotCurrent, SettingsError) as exc:
        _fail(str(exc))
    except cli_directory.CheckFailed as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(1) from None
    except DirectoryError as exc:
        _fail(f"directory: {exc}")
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        _fail(f"{type(exc).__name__}: {exc.strerror or exc}")
