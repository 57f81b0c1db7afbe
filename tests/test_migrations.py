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


async def test_chats_move_to_linked_devices_and_nothing_else_is_lost(database_url: str) -> None:
    """0014: a customer's one chat becomes a row of portal_chats, a person's chat stays in
    chat_links, and the rows that point at customers (activation requests) survive SQLite's
    copy of the customers table."""
    url = database_url
    await upgrade(url, "0013")
    engine = create_engine(url)
    async with engine.begin() as connection:
        for statement in (
            "INSERT INTO organizations (name, partner_id, last_request_number, created_at, "
            "password_policy, password_min_length, activation_code_days, manual_activation) "
            "VALUES ('BLG Wonen', 'BLG-1', 3, :at, 'nist', 8, 14, :no)",
            "INSERT INTO people (organization_id, name, email, role, status, pre_registered,"
            " created_at) VALUES (1, 'Eva', 'eva@x.example', 'staff', 'active', :no, :at)",
            "INSERT INTO chat_links (telegram_user_id, person_id, linked_at) VALUES (501, 1, :at)",
            "INSERT INTO customers (organization_id, customer_number, name, is_tenant, "
            "institution_coresident, payment_arrangement, under_administration, blocked, "
            "account_active, telegram_user_id, created_at, updated_at) "
            "VALUES (1, '1001', 'Anna', :yes, :no, :no, :no, :no, :yes, 777, :at, :at)",
            "INSERT INTO activation_requests (organization_id, number, customer_id, status, "
            "replaces_code, created_at) VALUES (1, 4, 1, 'sent', :no, :at)",
        ):
            await connection.execute(text(statement), {"at": START, "no": False, "yes": True})
    await upgrade(url)
    async with engine.connect() as connection:
        portal = (await connection.execute(text("SELECT * FROM portal_chats"))).all()
        links = (await connection.execute(text("SELECT telegram_user_id FROM chat_links"))).all()
        requests = await connection.scalar(text("SELECT count(*) FROM activation_requests"))
    await engine.dispose()
    assert [(row.telegram_user_id, row.customer_id, row.member_id) for row in portal] == [
        (777, 1, None)
    ]
    assert links == [(501,)]
    assert requests == 1
