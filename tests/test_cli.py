"""The `balie` console entry, run as a real subprocess against a SQLite file in tmp_path.

Independent commands run side by side (each start costs a second or more), and the store is
checked with the standard library's sqlite3, not through Balie's own code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from bot.logs import RedactSecrets
from bot.settings import Settings, SettingsError, load_settings
from flows import accounts
from flows.domain import Role
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store
from tests.support import START

BALIE = [sys.executable, "-m", "bot"]
TIMEOUT = 120
TOKEN = "123456789:AAHsecretTOKENdoNotLeak_0123456789abcd"
PARTNER_ID = "ACME-1"
LINKED_TELEGRAM_ID = 4242


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return self.stderr.splitlines()


def database_file(tmp_path: Path) -> Path:
    return tmp_path / "balie.sqlite3"


def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{database_file(tmp_path)}"


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The outer environment without any BALIE_ variable, plus the store and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALIE_")}
    env["BALIE_DATABASE_URL"] = database_url(tmp_path)
    env.update(settings)
    return env


def start(
    tmp_path: Path, args: Sequence[str], env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [*BALIE, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env if env is not None else environment(tmp_path),
    )
    assert process.stdin is not None
    process.stdin.write(stdin)
    process.stdin.close()
    return process


def finish(process: subprocess.Popen[str], timeout: float = TIMEOUT) -> Run:
    assert process.stdout is not None and process.stderr is not None
    process.wait(timeout)
    return Run(process.returncode, process.stdout.read(), process.stderr.read())


def balie(tmp_path: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> Run:
    return finish(start(tmp_path, args, env, stdin))


def balie_side_by_side(
    tmp_path: Path, commands: Sequence[Sequence[str]], envs: Sequence[dict[str, str]] = ()
) -> list[Run]:
    """Start every command at once and wait for all; the results are in the same order."""
    processes = [
        start(tmp_path, args, envs[i] if envs else None) for i, args in enumerate(commands)
    ]
    return [finish(p) for p in processes]


def query(tmp_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(database_file(tmp_path)) as connection:
        return list(connection.execute(sql, params))


def row_counts(tmp_path: Path) -> dict[str, int]:
    tables = [
        str(name)
        for (name,) in query(tmp_path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    ]
    return {t: int(str(query(tmp_path, f'SELECT COUNT(*) FROM "{t}"')[0][0])) for t in tables}


def assert_one_line_error(run: Run, *fragments: str) -> None:
    assert run.code != 0, run
    assert run.stdout == "", run
    assert len(run.error_lines) == 1, run.stderr
    assert run.error_lines[0].startswith("balie: error: "), run.stderr
    for fragment in fragments:
        assert fragment in run.error_lines[0]


def assert_usage_error(run: Run, *fragments: str) -> None:
    """argparse's own refusal: a usage line (or a few), then one error line; exit code 2."""
    assert run.code == 2, run
    assert run.stdout == "", run
    assert run.error_lines[0].startswith("usage: balie"), run.stderr
    assert "error:" in run.error_lines[-1], run.stderr
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in run.error_lines[-1]


def run_until_settled(tmp_path: Path, args: Sequence[str], env: dict[str, str]) -> Run:
    """Run ``balie run``; if it still runs 3 s after its start-up line, stop it as Ctrl+C does."""
    process = start(tmp_path, args, env)
    assert process.stderr is not None and process.stdout is not None
    stderr = process.stderr
    lines: list[str] = []

    def read() -> None:
        for line in stderr:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + TIMEOUT
    started: float | None = None
    while process.poll() is None and time.monotonic() < deadline:
        if started is None and any("Balie starting" in line for line in lines):
            started = time.monotonic()
        if started is not None and time.monotonic() - started > 3:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.1)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    reader.join(10)
    return Run(process.returncode, process.stdout.read(), "".join(lines))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- help -----------------------------------------------------------------------------------


def test_help_lists_every_command(tmp_path: Path) -> None:
    run = balie(tmp_path, "--help")
    assert run.code == 0, run.stderr
    listed = {line.split()[0] for line in run.stdout.splitlines() if line.startswith("    ")}
    assert {"run", "chat", "db", "org", "staff", "employee", "demo"} <= listed
    assert not database_file(tmp_path).exists()


# --- administration -------------------------------------------------------------------------


def test_add_organization_staff_and_employee_then_offboard(tmp_path: Path) -> None:
    org = balie(tmp_path, "org", "add", "Acme Wonen", "--partner-id", PARTNER_ID)
    assert org.code == 0, org.stderr
    assert org.stdout.splitlines() == [
        f"added organization Acme Wonen with partner ID {PARTNER_ID}"
    ]

    staff = balie(
        tmp_path,
        *("staff", "add", "--org", PARTNER_ID, "--name", "Mia Manager", "--role", "manager"),
        *("--email", "mia@acme.example", "--phone", "06 11223344", "--telegram-id", "5001"),
    )
    assert staff.code == 0, staff.stderr
    assert staff.stdout.splitlines() == ["added manager Mia Manager (Telegram user 5001)"]

    employee = balie(
        tmp_path,
        *("employee", "add", "--org", PARTNER_ID, "--name", "Eva Jansen"),
        *("--email", "Eva.Jansen@Home.example", "--phone", "+31 6 12345678"),
        *("--office", "Utrecht", "--office", "Zeist"),
    )
    assert employee.code == 0, employee.stderr
    assert len(employee.stdout.splitlines()) == 1 and "Eva Jansen" in employee.stdout

    offboard = balie(
        tmp_path,
        *("employee", "offboard", "--org", PARTNER_ID, "--phone", "0612345678"),
        *("--date", "2030-01-31"),
    )
    assert offboard.code == 0, offboard.stderr
    assert offboard.stdout.splitlines() == ["Eva Jansen is out of service from 2030-01-31"]
    for run in (org, staff, employee, offboard):
        assert run.stderr == ""

    assert query(tmp_path, "SELECT name, partner_id FROM organizations") == [
        ("Acme Wonen", PARTNER_ID)
    ]
    people = query(
        tmp_path,
        "SELECT p.name, p.email, p.phone, p.role, p.status, p.pre_registered, "
        "p.out_of_service_on FROM people p JOIN organizations o ON o.id = p.organization_id "
        "WHERE o.partner_id = ? ORDER BY p.id",
        PARTNER_ID,
    )
    assert people == [
        ("Mia Manager", "mia@acme.example", "+31611223344", "manager", "active", 0, None),
        (
            "Eva Jansen",
            "eva.jansen@home.example",
            "+31612345678",
            "employee",
            "pending",
            1,
            "2030-01-31",
        ),
    ]
    assert query(
        tmp_path,
        "SELECT c.telegram_user_id FROM chat_links c JOIN people p ON p.id = c.person_id "
        "WHERE p.name = 'Mia Manager'",
    ) == [(5001,)]
    offices = query(
        tmp_path,
        "SELECT o.name FROM person_offices po JOIN offices o ON o.id = po.office_id "
        "JOIN people p ON p.id = po.person_id WHERE p.name = 'Eva Jansen' ORDER BY o.name",
    )
    assert offices == [("Utrecht",), ("Zeist",)]


def test_the_cli_offboards_a_manager(tmp_path: Path) -> None:
    """The administrator needs no second manager: a manager in chat does (flows.approval)."""
    assert balie(tmp_path, "org", "add", "Acme Wonen", "--partner-id", PARTNER_ID).code == 0
    staff = balie(
        tmp_path,
        *("staff", "add", "--org", PARTNER_ID, "--name", "Mia Manager", "--role", "manager"),
        *("--email", "mia@acme.example", "--telegram-id", "5001"),
    )
    assert staff.code == 0, staff.stderr
    offboard = balie(
        tmp_path,
        *("employee", "offboard", "--org", PARTNER_ID, "--email", "mia@acme.example"),
        *("--date", "2030-01-31"),
    )
    assert offboard.code == 0, offboard.stderr
    assert offboard.stdout.splitlines() == ["Mia Manager is out of service from 2030-01-31"]
    assert query(tmp_path, "SELECT out_of_service_on FROM people") == [("2030-01-31",)]
    assert query(tmp_path, "SELECT COUNT(*) FROM outbox WHERE channel = 'directory'") == [(0,)]
    # Dated today: the account closes in the directory at once, not on the worker's next pass.
    today = balie(
        tmp_path,
        *("employee", "offboard", "--org", PARTNER_ID, "--email", "mia@acme.example"),
        *("--date", date.today().isoformat()),
    )
    assert today.code == 0, today.stderr
    assert today.stdout.splitlines()[1] == "directory: 1 account(s) closed now"
    assert query(tmp_path, "SELECT status FROM outbox WHERE channel = 'directory'") == [("sent",)]


async def _seed(url: str) -> None:
    await upgrade(url)
    store = Store(create_engine(url))
    try:
        async with store.transaction() as tx:
            await accounts.add_organization(tx, "Acme Wonen", PARTNER_ID, START)
            await accounts.add_staff(
                tx,
                partner_id=PARTNER_ID,
                name="Mia Manager",
                role=Role.MANAGER,
                email="mia@acme.example",
                phone=None,
                telegram_id=LINKED_TELEGRAM_ID,
                now=START,
            )
            await accounts.add_employee(
                tx,
                partner_id=PARTNER_ID,
                name="Eva Jansen",
                email="eva.jansen@home.example",
                phone="+31612345678",
                offices=["Utrecht"],
                now=START,
            )
    finally:
        await store.close()


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A store with organization ACME-1, a manager on Telegram user 4242 and employee Eva."""
    asyncio.run(_seed(database_url(tmp_path)))
    return tmp_path


def test_refused_values_give_one_line_and_store_nothing(seeded: Path) -> None:
    before = row_counts(seeded)
    employee = ("employee", "add", "--org", PARTNER_ID, "--name", "Noor Nieuw")
    cases: list[tuple[list[str], str]] = [
        (["org", "add", "Acme Two", "--partner-id", PARTNER_ID], "already in use"),
        ([*employee, "--email", "EVA.JANSEN@home.example"], "already exists"),
        ([*employee, "--phone", "06-12345678"], "already exists"),
        ([*employee, "--email", "info@acme.example"], "info@acme.example"),
        ([*employee, "--phone", "030 123 4567"], "030 123 4567"),
        (list(employee), "--email"),
        (
            ["employee", "add", "--org", "NOPE-9", "--name", "Noor", "--email", "noor@x.example"],
            "NOPE-9",
        ),
        (
            [
                *("staff", "add", "--org", PARTNER_ID, "--name", "Sam Staff", "--role", "staff"),
                *("--email", "sam@acme.example", "--telegram-id", str(LINKED_TELEGRAM_ID)),
            ],
            str(LINKED_TELEGRAM_ID),
        ),
        (
            [
                *("employee", "offboard", "--org", PARTNER_ID),
                *("--email", "nobody@home.example", "--date", "2030-01-31"),
            ],
            "nobody@home.example",
        ),
    ]
    runs = balie_side_by_side(seeded, [args for args, _ in cases])
    for (args, fragment), run in zip(cases, runs, strict=True):
        assert run.code == 1, (args, run)
        assert_one_line_error(run, fragment)

    assert row_counts(seeded) == before
    assert query(seeded, "SELECT name FROM people ORDER BY id") == [
        ("Mia Manager",),
        ("Eva Jansen",),
    ]
    assert (
        query(seeded, "SELECT out_of_service_on FROM people WHERE out_of_service_on IS NOT NULL")
        == []
    )


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    bad_date, bad_role = balie_side_by_side(
        tmp_path,
        [
            [
                *("employee", "offboard", "--org", PARTNER_ID, "--email", "a@b.example"),
                *("--date", "31-01-2030"),
            ],
            [
                *("staff", "add", "--org", PARTNER_ID, "--name", "X", "--role", "boss"),
                *("--email", "x@acme.example", "--telegram-id", "7"),
            ],
        ],
    )
    assert_usage_error(bad_date, "--date", "31-01-2030")
    assert_usage_error(bad_role, "--role", "boss")
    assert not database_file(tmp_path).exists()


def test_demo_twice_is_idempotent(tmp_path: Path) -> None:
    first = balie(tmp_path, "demo")
    assert first.code == 0, first.stderr
    assert "created the demo organization" in first.stdout
    after_first = row_counts(tmp_path)
    assert after_first["people"] == 6

    second = balie(tmp_path, "demo")
    assert second.code == 0, second.stderr
    assert second.stdout.splitlines() == [
        "the demo organization (partner ID DEMO-1234) is already there"
    ]
    assert row_counts(tmp_path) == after_first


# --- settings -------------------------------------------------------------------------------


def test_malformed_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    cases = {
        "BALIE_SMTP_PORT": environment(tmp_path, BALIE_SMTP_PORT="abc"),
        "BALIE_DATABASE_URL": environment(tmp_path, BALIE_DATABASE_URL="mysql://x"),
        "BALIE_TELEGRAM_API_URL": environment(tmp_path, BALIE_TELEGRAM_API_URL="ftp://x"),
    }
    runs = balie_side_by_side(tmp_path, [["db", "upgrade"]] * len(cases), list(cases.values()))
    for name, run in zip(cases, runs, strict=True):
        assert_one_line_error(run, name)
    assert not database_file(tmp_path).exists()


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No BALIE_ variable and no .env file: ``load_settings`` sees only what a test sets."""
    for name in list(os.environ):
        if name.startswith("BALIE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BALIE_DATABASE_URL", "not a url"),
        ("BALIE_DATABASE_URL", "mysql://x"),
        ("BALIE_SMTP_PORT", "70000"),
        ("BALIE_OUTBOX_POLL_SECONDS", "0"),
        ("BALIE_DEFAULT_LANGUAGE", "fr"),
        ("BALIE_RUNTIME", "webhook"),
    ],
)
def test_load_settings_names_a_malformed_setting(
    bare_environment: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    bare_environment.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert variable in message and "\n" not in message


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (
            {"BALIE_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "BALIE_TWILIO_FROM_NUMBER": "+3197010"},
            "BALIE_TWILIO_AUTH_TOKEN",
        ),
        (
            {"BALIE_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "BALIE_TWILIO_AUTH_TOKEN": "secret"},
            "BALIE_TWILIO_FROM_NUMBER",
        ),
        (
            {"BALIE_SMTP_HOST": "smtp.example.org", "BALIE_SMTP_USERNAME": "balie"},
            "BALIE_SMTP_PASSWORD",
        ),
    ],
)
def test_load_settings_names_a_missing_setting(
    bare_environment: pytest.MonkeyPatch, given: dict[str, str], missing: str
) -> None:
    """Half a Twilio or SMTP login would silently send codes to the local sink or fail later."""
    for name, value in given.items():
        bare_environment.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    message = str(refused.value)
    assert missing in message and "\n" not in message
    assert "secret" not in message


def test_complete_or_absent_delivery_settings_load(bare_environment: pytest.MonkeyPatch) -> None:
    assert not load_settings().twilio_configured
    bare_environment.setenv("BALIE_SMTP_HOST", "smtp.example.org")
    bare_environment.setenv("BALIE_TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    bare_environment.setenv("BALIE_TWILIO_AUTH_TOKEN", "secret")
    bare_environment.setenv("BALIE_TWILIO_FROM_NUMBER", "+3197010203040")
    settings = load_settings()
    assert settings.smtp_configured and settings.twilio_configured


def test_dotenv_file_in_the_working_directory_is_honoured(tmp_path: Path) -> None:
    store = tmp_path / "from-dotenv.sqlite3"
    (tmp_path / ".env").write_text(
        f"BALIE_DEFAULT_LANGUAGE=en\nBALIE_DATABASE_URL=sqlite+aiosqlite:///{store}\n",
        encoding="utf-8",
    )
    env = environment(tmp_path)
    del env["BALIE_DATABASE_URL"]
    run = balie(tmp_path, "chat", env=env, stdin="/quit\n")
    assert run.code == 0, run.stderr
    assert "Welcome to the desk" in run.stdout
    assert "Welkom" not in run.stdout
    assert store.exists()


def test_safe_database_url_masks_the_password() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url="postgresql+asyncpg://balie:s3cr%40tPw@db.example:5432/balie"
    )
    assert settings.safe_database_url() == "postgresql+asyncpg://balie:***@db.example:5432/balie"
    assert "s3cr" not in repr(settings.safe_database_url())
    no_password = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url="postgresql+asyncpg://balie@db.example/balie"
    )
    assert no_password.safe_database_url() == "postgresql+asyncpg://balie@db.example/balie"


# --- logs -----------------------------------------------------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def library_logger() -> tuple[logging.Logger, Capture]:
    capture = Capture()
    capture.addFilter(RedactSecrets([TOKEN, "tiny", ""]))
    logger = logging.getLogger("tests.cli.some_http_library")
    logger.handlers[:] = [capture]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, capture


def test_redact_secrets_masks_a_token_a_library_logs(
    library_logger: tuple[logging.Logger, Capture],
) -> None:
    logger, capture = library_logger
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    logger.info("HTTP Request: POST %s %r", url, "HTTP/1.1 200 OK")
    logger.warning(f"retrying {url}")
    logger.debug("nothing secret here: %d", 3)

    assert [r.getMessage() for r in capture.records] == [
        "HTTP Request: POST https://api.telegram.org/bot***/getUpdates 'HTTP/1.1 200 OK'",
        "retrying https://api.telegram.org/bot***/getUpdates",
        "nothing secret here: 3",
    ]
    assert all(TOKEN not in line for line in capture.lines)


def test_redact_secrets_masks_a_token_in_a_logged_traceback(
    library_logger: tuple[logging.Logger, Capture],
) -> None:
    logger, capture = library_logger
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getMe")
    except ConnectionError:
        logger.exception("request failed")
    assert len(capture.lines) == 1
    assert "ConnectionError: cannot reach https://api.telegram.org/bot***/getMe" in capture.lines[0]
    assert TOKEN not in capture.lines[0]


def test_redact_secrets_survives_a_malformed_log_call(
    library_logger: tuple[logging.Logger, Capture],
) -> None:
    logger, capture = library_logger
    logger.info("calling %s with %s", f"bot{TOKEN}")  # one argument short: must not raise
    assert len(capture.lines) == 1
    assert "bot***" in capture.lines[0] and TOKEN not in capture.lines[0]


# --- balie run ------------------------------------------------------------------------------


def test_run_without_token_starts_the_terminal_channel(tmp_path: Path) -> None:
    run = balie(tmp_path, "run", stdin="/quit\n")
    assert run.code == 0, run.stderr
    assert "Welkom bij de balie" in run.stdout
    start_up = [line for line in run.error_lines if "Balie starting" in line]
    assert len(start_up) == 1, run.stderr
    line = start_up[0]
    assert "channel terminal" in line
    assert f"store {database_url(tmp_path)}" in line
    assert "local sink" in line
    assert "Traceback" not in run.stderr


def test_run_with_token_never_prints_it(tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{free_port()}"
    env = environment(
        tmp_path,
        BALIE_TELEGRAM_TOKEN=TOKEN,
        BALIE_TELEGRAM_API_URL=api,
        BALIE_SMTP_HOST="127.0.0.1",
        BALIE_SMTP_PORT=str(free_port()),
        BALIE_SMTP_USERNAME="balie",
        BALIE_SMTP_PASSWORD="smtpPasswordNeverShown",
    )
    run = run_until_settled(tmp_path, ["run"], env)
    output = run.stdout + run.stderr
    assert TOKEN not in output
    assert TOKEN.split(":")[1] not in output
    assert "smtpPasswordNeverShown" not in output
    start_up = [line for line in run.error_lines if "Balie starting" in line]
    assert len(start_up) == 1, run.stderr
    assert "channel Telegram, runtime aiogram" in start_up[0]
    assert api in start_up[0] and "SMTP 127.0.0.1" in start_up[0]
    if run.code not in (0, -signal.SIGINT):
        # Telegram cannot be reached: one line, not a traceback.
        assert "Traceback" not in run.stderr, run.stderr
        assert run.error_lines[-1].startswith("balie: error: "), run.stderr
