"""``balie run`` (aiogram, long polling) killed with SIGKILL at random moments during
scripted registrations, and restarted each time: no update, conversation, request or code
mail is lost, none is handled twice in the store; a reply may come twice (at least once).
SIGTERM finishes what was accepted before the process exits 0.

Real parts: the ``balie`` process, its SQLite store, the Bot API stand-in and an aiosmtpd
server. The seed is printed; ``BALIE_CRASH_SEED=N`` runs one again.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

import pytest

from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer, free_port

TOKEN = "123456:crash-safety"
BALIE = [sys.executable, "-m", "bot"]
CODE = re.compile(r"\b(\d{6})\b")
MIN_KILLS = 20
WAVE = 6
SCRIPT = [
    ("/register", "Step 1 of 3"),
    ("DEMO-1234", "Step 2 of 3"),
    ("{email}", "Step 3 of 3"),
    ("{code}", "What is your full name"),
    ("{name}", "is waiting for approval"),
]
DONE = SCRIPT[-1][1]


@dataclass
class Figures:
    kills: int = 0
    starts: int = 0
    updates_sent: int = 0
    users: list[int] = field(default_factory=list)


class Balie:
    """The ``balie run`` process, restarted at will."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.log: IO[bytes] = (tmp_path / "balie.log").open("ab")

    async def start(self) -> asyncio.subprocess.Process:
        self.process = await asyncio.create_subprocess_exec(
            *BALIE,
            "run",
            env=self.env,
            cwd=self.tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
        )
        return self.process

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 60)

    async def kill_if_running(self) -> None:
        """After a failed test: no ``balie run`` is left behind in a deleted folder."""
        if self.process is not None and self.process.returncode is None:
            await self.kill()


@pytest.fixture
async def processes() -> AsyncIterator[list[Balie]]:
    """Every :class:`Balie` a test makes; killed at teardown if still running."""
    made: list[Balie] = []
    yield made
    for balie in made:
        await balie.kill_if_running()


@pytest.fixture
def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer(free_port()).start()
    yield server  # type: ignore[misc]
    server.stop()


def prepared(tmp_path: Path, tg: FakeBotApi, smtp: SmtpServer) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BALIE_")},
        "BALIE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'balie.sqlite3'}",
        "BALIE_DEFAULT_LANGUAGE": "en",
        "BALIE_TELEGRAM_TOKEN": TOKEN,
        "BALIE_TELEGRAM_API_URL": tg.base_url,
        "BALIE_SMTP_HOST": "127.0.0.1",
        "BALIE_SMTP_PORT": str(smtp.port),
        "BALIE_SMTP_STARTTLS": "false",
        # A message claimed by a killed worker comes back after 15 s, not the default 120 s.
        "BALIE_OUTBOX_DELIVERY_TIMEOUT": "10",
        "BALIE_OUTBOX_LEASE": "15",
    }
    demo = subprocess.run(
        [*BALIE, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert demo.returncode == 0, demo.stderr
    return env


def texts_to(tg: FakeBotApi, chat_id: int) -> list[str]:
    return [m.text for m in tg.messages.get(chat_id, [])]


async def wait_for(condition, what: str, seconds: float = 90) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def replied(tg: FakeBotApi, user: int, expected: str) -> int:
    return sum(expected in t for t in texts_to(tg, user))


async def wait_for_reply(tg: FakeBotApi, user: int, expected: str, seen: int) -> None:
    await wait_for(lambda: replied(tg, user, expected) > seen, f"{expected!r} for user {user}")


def email_of(user: int) -> str:
    return f"user{user}@crash.example"


async def converse(tg: FakeBotApi, smtp: SmtpServer, user: int, figures: Figures) -> None:
    """One registration, each step sent once and waited for (never sent again)."""
    for text, expected in SCRIPT:
        seen = replied(tg, user, expected)
        if text == "{code}":
            # A killed worker's claim hides the row for its lease (120 s) before another
            # worker sends it: late, never lost.
            await wait_for(
                lambda: smtp.mail.messages_to(email_of(user)), f"mail to {user}", seconds=300
            )
            body = str(smtp.mail.messages_to(email_of(user))[-1].get_content())
            match = CODE.search(body)
            assert match, body
            text = match.group(1)
        text = text.format(email=email_of(user), name=f"Crash Tester {user}")
        tg.user_sends_text(user, text, first_name=f"U{user}")
        figures.updates_sent += 1
        await wait_for_reply(tg, user, expected, seen)


async def killer(
    balie: Balie, tg: FakeBotApi, rng: random.Random, done: asyncio.Event, figures: Figures
) -> None:
    """Kill at a random moment after each start (once the process talks to the Bot API),
    and start again, until ``done``; it returns with the process running (a ``done`` that
    comes just after a kill still gets its start), so the test can stop it gracefully."""
    while True:
        before = len(tg.calls)
        await balie.start()
        figures.starts += 1
        await wait_for(partial(started, tg, before, done), "the process to start")
        stopper = asyncio.create_task(done.wait())
        await asyncio.wait({stopper}, timeout=rng.uniform(0.0, 1.5))
        stopper.cancel()
        if done.is_set():
            return
        await balie.kill()
        figures.kills += 1


def started(tg: FakeBotApi, calls_before: int, done: asyncio.Event) -> bool:
    return len(tg.calls) > calls_before or done.is_set()


def query(tmp_path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "data" / "balie.sqlite3") as db:
        return db.execute(sql, args).fetchall()


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    tmp_path: Path, smtp: SmtpServer, processes: list[Balie]
) -> None:
    seed = int(os.environ.get("BALIE_CRASH_SEED") or random.randrange(1 << 30))
    print(f"\nseed {seed} (BALIE_CRASH_SEED={seed} repeats it)")
    rng = random.Random(seed)
    figures = Figures()
    async with FakeBotApi(token=TOKEN, max_poll_wait=0.5) as tg:
        balie = Balie(tmp_path, prepared(tmp_path, tg, smtp))
        processes.append(balie)
        done = asyncio.Event()
        kills = asyncio.create_task(killer(balie, tg, rng, done, figures))
        wave = 0
        while figures.kills < MIN_KILLS or wave == 0:
            users = [7000 + wave * WAVE + n for n in range(WAVE)]
            figures.users += users
            await asyncio.gather(*(converse(tg, smtp, u, figures) for u in users))
            wave += 1
        done.set()
        await kills
        assert await balie.terminate() == 0
        sent_ids = [u["update_id"] for u in tg.updates]
        replies = {u: texts_to(tg, u) for u in figures.users}

    handled = {row[0] for row in query(tmp_path, "SELECT update_id FROM handled_updates")}
    assert set(sent_ids) <= handled, "an update was never handled"
    assert query(tmp_path, "SELECT count(*) FROM webhook_inbox") == [(0,)]
    assert query(tmp_path, "SELECT count(*) FROM handled_updates WHERE outcome IS NOT NULL") == [
        (0,)
    ]
    duplicate_mails = 0
    duplicate_replies = 0
    for user in figures.users:
        requests = query(
            tmp_path,
            "SELECT count(*) FROM registration_requests r JOIN people p ON p.id = r.person_id "
            "WHERE p.email = ?",
            email_of(user),
        )
        assert requests == [(1,)], f"user {user}: {requests} registration requests"
        assert query(tmp_path, "SELECT state FROM conversations WHERE chat_id = ?", user) == [
            ("idle",)
        ]
        codes = query(
            tmp_path, "SELECT count(*) FROM one_time_codes WHERE destination = ?", email_of(user)
        )
        assert codes == [(1,)], f"user {user}: {codes} codes issued"
        mails = len(smtp.mail.messages_to(email_of(user)))
        assert mails >= 1
        duplicate_mails += mails - 1
        assert any(DONE in t for t in replies[user])
        counts = Counter(replies[user])
        duplicate_replies += sum(n - 1 for n in counts.values())
    seen = sum(len(r) for r in replies.values())
    print(
        f"kills {figures.kills}, starts {figures.starts}, users {len(figures.users)}, "
        f"updates sent {figures.updates_sent}, replies seen {seen}, "
        f"duplicate replies {duplicate_replies}, duplicate mails {duplicate_mails}"
    )
    assert figures.kills >= MIN_KILLS


async def test_sigterm_finishes_accepted_updates_and_exits_0(
    tmp_path: Path, smtp: SmtpServer, processes: list[Balie]
) -> None:
    figures = Figures()
    async with FakeBotApi(token=TOKEN, max_poll_wait=0.5) as tg:
        balie = Balie(tmp_path, prepared(tmp_path, tg, smtp))
        processes.append(balie)
        await balie.start()
        users = [8000 + n for n in range(WAVE)]
        for user in users:
            await converse_until(tg, smtp, user, figures, steps=2)
        for user in users:  # the e-mail step: a code, and a mail in the outbox, each
            tg.user_sends_text(user, email_of(user))
        await wait_for(
            lambda: any("Step 3 of 3" in t for u in users for t in texts_to(tg, u)),
            "a first reply",
        )
        assert await balie.terminate() == 0
        for user in users:
            assert any("Step 3 of 3" in t for t in texts_to(tg, user)), user
    assert query(tmp_path, "SELECT count(*) FROM webhook_inbox") == [(0,)]
    claimed = query(
        tmp_path,
        "SELECT count(*) FROM outbox WHERE status = 'pending' AND lease_token IS NOT NULL",
    )
    assert claimed == [(0,)]


async def converse_until(
    tg: FakeBotApi, smtp: SmtpServer, user: int, figures: Figures, steps: int
) -> None:
    for text, expected in SCRIPT[:steps]:
        seen = replied(tg, user, expected)
        tg.user_sends_text(user, text.format(email=email_of(user)))
        await wait_for_reply(tg, user, expected, seen)
