"""``balie run --webhook URL --workers 2`` on PostgreSQL, as real processes, against the local
Bot API stand-in, on both runtimes: the webhook is set once, chats are answered, a worker
killed with SIGKILL is started again while the other goes on, and SIGTERM stops them all
(exit 0)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fresh_postgres
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.postgres

TOKEN = "123456:workers"
BALIE = [sys.executable, "-m", "bot"]
STARTED = re.compile(r"worker (\d) started \(pid (\d+)\)")


async def wait_for(condition, what: str, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def texts_to(tg: FakeBotApi, chat_id: int) -> list[str]:
    return [m.text for m in tg.messages.get(chat_id, [])]


async def say(tg: FakeBotApi, user: int, text: str, expected: str) -> None:
    seen = sum(expected in t for t in texts_to(tg, user))
    tg.user_sends_text(user, text)
    await wait_for(
        lambda: sum(expected in t for t in texts_to(tg, user)) > seen, f"{expected!r} for {user}"
    )


@pytest.mark.parametrize("runtime", ["aiogram", "ptb"])
async def test_two_workers_share_the_port_restart_and_stop(
    tmp_path: Path, smtp: SmtpServer, runtime: str
) -> None:
    url = await fresh_postgres()
    port = free_port()
    async with FakeBotApi(token=TOKEN, max_poll_wait=0.5) as tg:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BALIE_")},
            "BALIE_DATABASE_URL": url,
            "BALIE_SECRET_KEY": "workers-test-key-" + "x" * 40,
            "BALIE_DEFAULT_LANGUAGE": "en",
            "BALIE_TELEGRAM_TOKEN": TOKEN,
            "BALIE_TELEGRAM_API_URL": tg.base_url,
            "BALIE_RUNTIME": runtime,
            "BALIE_SMTP_HOST": "127.0.0.1",
            "BALIE_SMTP_PORT": str(smtp.port),
            "BALIE_SMTP_STARTTLS": "false",
        }
        for command in (["db", "upgrade"], ["demo"]):
            done = subprocess.run(  # noqa: ASYNC221 (before anything runs that could wait)
                [*BALIE, *command],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
        log_path = tmp_path / "balie.log"
        with log_path.open("ab") as log:
            balie = await asyncio.create_subprocess_exec(
                *BALIE,
                "run",
                "--webhook",
                f"http://127.0.0.1:{port}/telegram/webhook",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
                env=env,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:

            def started() -> list[tuple[str, str]]:
                return STARTED.findall(log_path.read_text())

            await wait_for(lambda: tg.webhook["url"], "the webhook")
            serving = "Balie starting: channel Telegram"
            await wait_for(lambda: log_path.read_text().count(serving) == 2, "both workers")
            users = [9100, 9101, 9102]
            for user in users:
                await say(tg, user, "/register", "Step 1 of 3")
            [pid] = [pid for index, pid in started() if index == "1"]
            os.kill(int(pid), signal.SIGKILL)
            await wait_for(lambda: len(started()) == 3, "worker 1 started again", 30)
            for user in users:  # answered, by whichever worker has the connection
                await say(tg, user, "DEMO-1234", "Step 2 of 3")
            balie.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(balie.wait(), 60) == 0
        finally:
            if balie.returncode is None:
                balie.kill()
                await balie.wait()
    output = log_path.read_text()
    assert "worker 1 (exit -9) stopped unexpectedly" in output
    assert [name for name, _ in tg.calls].count("setWebhook") == 1  # by worker 0 only
    assert "all workers stopped" in output
