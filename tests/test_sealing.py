"""The webhook inbox is sealed under the server key; the store's files are private."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sqlalchemy import select

from bot.sealing import Sealer
from bot.webhook import StoreInbox
from flows.keys import KeyedHasher
from flows.model import InboxUpdate
from storage.db import create_engine
from storage.uow import Store
from tests.support import FakeClock

KEY = b"k" * 32
NEW_KEY = b"n" * 32


def _update(update_id: int, text: str) -> dict[str, object]:
    return {"update_id": update_id, "message": {"message_id": 1, "text": text}}


async def test_the_inbox_keeps_updates_sealed_and_opens_them(store: Store) -> None:
    inbox = StoreInbox(store, FakeClock(), Sealer(KeyedHasher(KEY)))
    await inbox.keep(_update(1, "Geheim-Wachtwoord-2026!"))
    async with store.transaction() as tx:
        [row] = (await tx.session.scalars(select(InboxUpdate))).all()
        assert "Geheim" not in json.dumps(row.payload) and row.payload["update_id"] == 1
    assert await inbox.waiting() == [_update(1, "Geheim-Wachtwoord-2026!")]

    # After a key rotation (the old key kept as BALIE_SECRET_KEY_OLD) it still opens.
    rotated = StoreInbox(store, FakeClock(), Sealer(KeyedHasher(NEW_KEY, [KEY])))
    assert await rotated.waiting() == [_update(1, "Geheim-Wachtwoord-2026!")]
    # Without the old key it cannot: it is dropped (logged by id), not handed on garbled.
    stranger = StoreInbox(store, FakeClock(), Sealer(KeyedHasher(NEW_KEY)))
    assert await stranger.waiting() == []
    assert await inbox.waiting() == []
    await inbox.keep(_update(2, "x"))
    await inbox.forget(2)
    assert await inbox.waiting() == []


def test_derived_keys_differ_from_the_server_key_and_per_purpose() -> None:
    hasher = KeyedHasher(NEW_KEY, [KEY])
    first, old = hasher.derived_keys("inbox-seal")
    assert len(first) == 32 and first not in {KEY, NEW_KEY} and first != old
    assert hasher.derived_keys("other")[0] != first
    assert KeyedHasher(KEY).derived_keys("inbox-seal") == [old]


async def test_a_new_store_is_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "balie.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE t (x TEXT)")
        secure = await connection.exec_driver_sql("PRAGMA secure_delete")
        assert secure.scalar() == 1
    await engine.dispose()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_an_existing_world_readable_store_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "balie.sqlite3"
    for suffix in ("", "-wal"):
        companion = path.with_name(path.name + suffix)
        companion.write_bytes(b"")
        companion.chmod(0o644)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_name(path.name + "-wal").stat().st_mode) == 0o600
