"""The migrations: a store made by an older Balie, with data in it, upgrades to the newest."""

from __future__ import annotations

from sqlalchemy import text

from storage.db import create_engine
from storage.migrate import is_current, upgrade
from tests.support import START


async def test_a_populated_first_schema_upgrades_to_the_newest(database_url: str) -> None:
    url = database_url
    await upgrade(url, "0001")
    assert not await is_current(url)
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO organizations (name, partner_id, last_request_number, created_at) "
                "VALUES ('BLG Wonen', 'BLG-1', 3, :at)"
            ),
            {"at": START},
        )
        await connection.execute(
            text(
                "INSERT INTO people (organization_id, name, email, role, status, pre_registered,"
                " created_at) VALUES (1, 'Eva', 'eva@x.example', 'employee', 'active', :no, :at)"
            ),
            {"no": False, "at": START},
        )
    await upgrade(url)
    assert await is_current(url)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT password_policy, password_min_length, activation_code_days, "
                    "manual_activation, last_request_number FROM organizations"
                )
            )
        ).one()
        people = await connection.scalar(text("SELECT count(*) FROM people"))
    await engine.dispose()
    assert tuple(row) == ("nist", 8, 14, False, 3)
    assert people == 1


async def test_the_migrations_make_exactly_the_tables_the_code_maps(database_url: str) -> None:
    """Alembic's autogenerate finds nothing to add: no column, index or type was changed in
    the code without a migration (or the other way round)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.orm import metadata

    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert differences == []
