from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage.db import create_engine
from storage.uow import Store
from tests.fakes.smtp_server import SmtpServer, free_port
from tests.fakes.twilio_api import FakeTwilio
from tests.support import DeskDriver, FakeClock, migrated_store, seed_demo, sqlite_url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


POSTGRES_URL_VARIABLE = "BALIE_TEST_POSTGRES_URL"


async def _fresh_postgres() -> str:
    """The test server's URL, with an empty schema; skip (or fail in CI) without a server."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        reason = f"{POSTGRES_URL_VARIABLE} is not set: start a server with scripts/postgres.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests, but {reason}")
        pytest.skip(reason)
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        await connection.exec_driver_sql("CREATE SCHEMA public")
    await engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The store on a real SQLite file and on the real PostgreSQL server."""
    url = sqlite_url(tmp_path) if request.param == "sqlite" else await _fresh_postgres()
    store = await migrated_store(url)
    yield store
    await store.close()


@pytest.fixture
async def desk(store: Store, clock: FakeClock) -> DeskDriver:
    await seed_demo(store, clock)
    return DeskDriver(store, clock)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake
