"""Fixtures of the conformance suite: a seeded store, the servers around it, one channel."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store
from tests.conformance.harness import Channel, Env, make_channel
from tests.fakes.bot_api import TEST_TOKEN, FakeBotApi
from tests.fakes.smtp_server import SmtpServer
from tests.fakes.twilio_api import FakeTwilio
from tests.support import FakeClock, seed_customers, seed_demo

FROM_NUMBER = "+3197010203040"


@pytest.fixture(scope="session")
def seeded_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated and seeded once; each test gets a copy (much faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "balie.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"

    async def build() -> None:
        await upgrade(url)
        store = Store(create_engine(url))
        clock = FakeClock()
        await seed_demo(store, clock)
        await seed_customers(store, clock)
        await store.close()

    asyncio.run(build())
    return path


@pytest.fixture
async def env(
    tmp_path: Path, seeded_store_file: Path, smtp: SmtpServer, twilio: FakeTwilio
) -> AsyncIterator[Env]:
    path = tmp_path / "balie.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        source = seeded_store_file.with_name(seeded_store_file.name + suffix)
        if source.exists():
            shutil.copyfile(source, path.with_name(path.name + suffix))
    url = f"sqlite+aiosqlite:///{path}"
    async with FakeBotApi(token=TEST_TOKEN, max_poll_wait=0.2) as telegram:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=url,
            telegram_token=TEST_TOKEN,
            telegram_api_url=telegram.base_url,
            webhook_url=None,
            webhook_secret=None,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            smtp_from="Balie <balie@blg.example>",
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=twilio.auth_token,
            twilio_from_number=FROM_NUMBER,
            twilio_api_url=twilio.base_url,
            default_language="en",
            outbox_poll_seconds=0.05,
            # The flows, not the pacing, are under test here (tests/test_telegram_pacing.py):
            # a chat gets its replies at once, still through the paced sender.
            telegram_rate_per_chat=50,
        )
        store = Store(create_engine(url))
        try:
            yield Env(settings, store, smtp, twilio, telegram, workdir=tmp_path)
        finally:
            await store.close()


@pytest.fixture
async def channel(request: pytest.FixtureRequest, env: Env) -> AsyncIterator[Channel]:
    """The channel named by the test's parameter, running; stopped afterwards."""
    driver = make_channel(request.param, env)
    await driver.start()
    try:
        yield driver
    finally:
        await driver.stop()
    # No call Telegram would refuse: an edit that changes nothing, a toast over 200, a text
    # over 4,096 (the fake answers them as Telegram does; the desk must not make them).
    refused = [
        (method, description)
        for method, _, description in env.telegram.errors
        if description.startswith("Bad Request")
    ]
    assert refused == [], refused
