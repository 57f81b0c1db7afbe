"""The server key: where it comes from, that it never sits in the store, and rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.secret_key import key_file, load_hasher
from bot.settings import SettingsError, load_settings
from flows.domain import CodePurpose
from flows.keys import KeyedHasher
from flows.turn import DeskPolicy
from flows.verification import SHORT_CODE, CodeService, Target, stored_code_matches
from storage.uow import Store
from tests.support import START

OLD = "old-key-0123456789-0123456789-0123456789"
NEW = "new-key-0123456789-0123456789-0123456789"


def sqlite_settings(tmp_path: Path, **values: object):  # type: ignore[no-untyped-def]
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/data/b.sqlite3", **values)


def test_the_embedded_default_makes_a_private_key_once(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path)
    first = load_hasher(settings)
    path = key_file(settings)
    assert path == tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_hasher(settings).current_key_id == first.current_key_id
    assert len(path.read_text().strip()) >= 32


def test_postgresql_without_a_key_stops_with_one_line() -> None:
    settings = load_settings(database_url="postgresql+asyncpg://balie@db.example/balie")
    with pytest.raises(SettingsError, match="BALIE_SECRET_KEY is missing"):
        load_hasher(settings)
    with_key = load_settings(database_url="postgresql+asyncpg://x@db/b", secret_key=NEW)
    assert load_hasher(with_key).current_key_id == KeyedHasher(NEW.encode()).current_key_id


def test_a_short_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="BALIE_SECRET_KEY"):
        load_settings(secret_key="too-short")


async def test_codes_made_under_the_old_key_verify_during_a_rotation(store: Store) -> None:
    old = KeyedHasher(OLD.encode())
    rotated = KeyedHasher(NEW.encode(), [OLD.encode()])
    target = Target(CodePurpose.REGISTRATION, "registration:1", "a@b.example", None)
    async with store.transaction() as tx:
        issued = await CodeService(tx, old, DeskPolicy(), START).issue(
            target, SHORT_CODE, DeskPolicy().code_valid_for
        )
        row = await tx.codes.get(issued.id)
        assert row is not None and issued.code not in row.code_hash
        assert stored_code_matches(rotated, row, issued.code)
        assert not stored_code_matches(KeyedHasher(NEW.encode()), row, issued.code)
        result = await CodeService(tx, rotated, DeskPolicy(), START).verify_bound(
            target, issued.id, issued.code, SHORT_CODE, chat_id=1
        )
        assert result.confirmed


def test_old_keys_come_from_the_environment(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, secret_key=NEW, secret_key_old=f"{OLD}, ")
    hasher = load_hasher(settings)
    stored = KeyedHasher(OLD.encode()).digest("code:x", "123456")
    assert hasher.matches(stored, "code:x", "123456")
    with pytest.raises(SettingsError, match="BALIE_SECRET_KEY_OLD"):
        load_hasher(sqlite_settings(tmp_path, secret_key=NEW, secret_key_old="short"))


def test_balie_on_postgresql_without_a_key_stops_with_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "BALIE_DATABASE_URL": "postgresql+asyncpg://balie@127.0.0.1:1/nowhere",
        "BALIE_SECRET_KEY": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert "BALIE_SECRET_KEY is missing" in line
