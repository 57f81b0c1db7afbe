"""The benchmark's store: one organization, its manager's chat, and pools of customers.

Seeded once per run into a template (a SQLite file, or a PostgreSQL template database) and
copied for each measured level, so every level starts from the same fresh store. Customers
go in by one bulk insert; people and the organization through ``flows.accounts``, as the
CLI adds them.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import make_url

from flows import accounts
from flows.domain import Role
from flows.model import Customer
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store

PARTNER_ID = "BENCH-1"
ORGANIZATION = "Bench Wonen"
MANAGER_CHAT = 900_001
POSTCODE = "3511 AB"
HOUSE_NUMBER = "12a"
ACTIVATION_FIRST = 1_000_000
"""Customer numbers of the activation pool (no portal account yet)."""
RESET_FIRST = 5_000_000
"""Customer numbers of the reset pool (an active account whose password is forgotten)."""


def customer_email(number: int) -> str:
    return f"klant{number}@bench.example"


@dataclass(frozen=True)
class Pools:
    """How many customers of each kind the store holds."""

    activation: int
    reset: int


async def seed(database_url: str, pools: Pools) -> None:
    """Migrate an empty store and add the benchmark's organization, manager and customers."""
    await upgrade(database_url)
    store = Store(create_engine(database_url))
    now = datetime.now(UTC)
    try:
        async with store.transaction() as tx:
            organization = await accounts.add_organization(tx, ORGANIZATION, PARTNER_ID, now)
            organization.desk_contact = "030 123 4567"
            await accounts.add_staff(
                tx,
                partner_id=PARTNER_ID,
                name="Marieke Manager",
                role=Role.MANAGER,
                email="marieke@bench.example",
                phone=None,
                telegram_id=MANAGER_CHAT,
                now=now,
            )
            rows = [
                _customer(organization.id, ACTIVATION_FIRST + n, now, active=False)
                for n in range(pools.activation)
            ] + [
                _customer(organization.id, RESET_FIRST + n, now, active=True)
                for n in range(pools.reset)
            ]
            for start in range(0, len(rows), 5000):
                await tx.session.execute(insert(Customer), rows[start : start + 5000])
    finally:
        await store.close()


def _customer(organization_id: int, number: int, now: datetime, active: bool) -> dict[str, object]:
    return {
        "organization_id": organization_id,
        "customer_number": str(number),
        "name": f"Klant {number}",
        "email": customer_email(number),
        "phone": None,
        "street": "Dorpsstraat",
        "house_number": HOUSE_NUMBER,
        "postcode": POSTCODE,
        "city": "Utrecht",
        "is_tenant": True,
        "institution_coresident": False,
        "payment_arrangement": False,
        "under_administration": False,
        "administrator_name": None,
        "administrator_email": None,
        "blocked": False,
        "account_active": active,
        "created_at": now,
        "updated_at": now,
    }


class Databases:
    """Fresh stores copied from one seeded template: SQLite files in ``folder``, or
    databases on the PostgreSQL server of ``postgres_url`` (dropped by ``drop_all``)."""

    def __init__(self, folder: Path, postgres_url: str | None = None) -> None:
        self._folder = folder
        self._postgres = postgres_url
        self._tag = uuid.uuid4().hex[:8]
        self._count = 0
        self._made: list[str] = []
        self.template: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self._postgres is not None

    def _url(self, name: str) -> str:
        if self._postgres is None:
            return f"sqlite+aiosqlite:///{self._folder / (name + '.sqlite3')}"
        return make_url(self._postgres).set(database=name).render_as_string(hide_password=False)

    async def make_template(self, pools: Pools) -> None:
        name = f"bench_{self._tag}_template"
        if self._postgres is not None:
            await self._admin(f'CREATE DATABASE "{name}"')
            self._made.append(name)
        self.template = name
        await seed(self._url(name), pools)

    async def fresh(self) -> str:
        """A new store with the template's content; its URL."""
        assert self.template is not None, "make_template first"
        self._count += 1
        name = f"bench_{self._tag}_{self._count}"
        if self._postgres is None:
            source = self._folder / (self.template + ".sqlite3")
            shutil.copyfile(source, self._folder / (name + ".sqlite3"))
        else:
            await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            self._made.append(name)
        return self._url(name)

    async def empty(self) -> str:
        """A new, empty store (for stores grown with their own data)."""
        self._count += 1
        name = f"bench_{self._tag}_{self._count}"
        if self._postgres is not None:
            await self._admin(f'CREATE DATABASE "{name}"')
            self._made.append(name)
        return self._url(name)

    async def drop(self, url: str) -> None:
        if self._postgres is None:
            database = make_url(url).database
            for suffix in ("", "-wal", "-shm"):
                await asyncio.to_thread(Path(f"{database}{suffix}").unlink, missing_ok=True)
            return
        name = make_url(url).database
        if name in self._made:
            self._made.remove(name)
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def drop_all(self) -> None:
        for name in list(reversed(self._made)):
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()

    async def _admin(self, statement: str) -> None:
        assert self._postgres is not None
        import asyncpg  # only with PostgreSQL

        url = make_url(self._postgres)
        connection = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database="postgres",
        )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()
