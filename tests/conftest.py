from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage.uow import Store
from tests.fakes.smtp_server import SmtpServer, free_port
from tests.fakes.twilio_api import FakeTwilio
from tests.support import DeskDriver, FakeClock, migrated_store, seed_demo, sqlite_url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await migrated_store(sqlite_url(tmp_path))
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
