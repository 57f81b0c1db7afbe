from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import redis_limits
from storage.db import create_engine
from storage.redis_link import RedisLink
from storage.uow import Store
from tests.fakes.smtp_server import SmtpServer, free_port
from tests.fakes.twilio_api import FakeTwilio
from tests.support import (
    TEST_HASHER,
    DeskDriver,
    FakeClock,
    migrated_store,
    seed_demo,
    sqlite_url,
)

# Property-based tests (hypothesis): "ci" runs 200 examples, "dev" 50 for a quick local run,
# "long" 2000 (`pytest --hypothesis-profile=long`). The option, when given, wins over this.
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
settings.register_profile(
    "long", max_examples=2000, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


POSTGRES_URL_VARIABLE = "BALIE_TEST_POSTGRES_URL"


async def fresh_postgres() -> str:
    """A database of this test process on the test server, emptied; skip (or fail in CI)
    without a server. One database per process: parallel test runs do not collide."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        reason = f"{POSTGRES_URL_VARIABLE} is not set: start a server with scripts/postgres.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests, but {reason}")
        pytest.skip(reason)
    server = make_url(url)
    database = f"{server.database}_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        exists = await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
        )
        if not exists:
            await connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
    await admin.dispose()
    own = server.set(database=database).render_as_string(hide_password=False)
    engine = create_engine(own)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        await connection.exec_driver_sql("CREATE SCHEMA public")
    await engine.dispose()
    return own


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a real SQLite file, and a database on the real PostgreSQL server."""
    return sqlite_url(tmp_path) if request.param == "sqlite" else await fresh_postgres()


REDIS_URL_VARIABLE = "BALIE_TEST_REDIS_URL"


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The real Redis server that scripts/redis.sh starts, on a database of its own, emptied
    before and after; skip (or fail in CI) without a server."""
    url = os.environ.get(REDIS_URL_VARIABLE)
    if not url:
        reason = f"{REDIS_URL_VARIABLE} is not set: start a server with scripts/redis.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Redis tests, but {reason}")
        pytest.skip(reason)
    from redis import Redis

    own = url.rsplit("/", 1)[0] + f"/{1 + os.getpid() % 15}"  # parallel runs apart
    with Redis.from_url(own) as client:
        client.flushdb()
        yield own
        client.flushdb()


@pytest.fixture(params=["store", "redis"])
def limits_in(request: pytest.FixtureRequest) -> str:
    """Where the abuse limits count: a test that uses this fixture (``usefixtures``) runs
    with them in the store and in Redis (``BALIE_REDIS_URL``), and must behave the same."""
    return str(request.param)


@pytest.fixture
async def store(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The migrated store on each database of ``database_url``; its limits in Redis for a
    test run with ``limits_in`` "redis"."""
    store = await migrated_store(database_url)
    link = None
    if "limits_in" in request.fixturenames and request.getfixturevalue("limits_in") == "redis":
        link = RedisLink(request.getfixturevalue("redis_url"))
        store.fast_limits = redis_limits(link, TEST_HASHER)
    yield store
    if link is not None:
        # The limits were counted in Redis, not in the store's fallback.
        assert link.up(), "Redis failed during the test"
        async with store.transaction() as tx:
            assert not await tx.session.scalar(text("SELECT count(*) FROM rate_events"))
    await store.close()
    if link is not None:
        await link.aclose()


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


_TESTS = Path(__file__).parent


def layer(path: Path) -> str:
    """The test layer of a test file, by where it lives: ``unit`` (the core through in-memory
    fakes), ``e2e`` (the real clients and runtimes) or ``integration`` (a real store)."""
    relative = path.relative_to(_TESTS)
    if relative.parts[0] == "unit":
        return "unit"
    if relative.parts[0] == "conformance" or relative.name.startswith("test_telegram_"):
        return "e2e"
    return "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its layer, so ``pytest -m unit`` runs only the fast ones."""
    for item in items:
        item.add_marker(layer(Path(item.path)))
