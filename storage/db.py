"""Engine construction: one place that knows SQLite's and PostgreSQL's quirks."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from storage.orm import start_mappers
from storage.sqlite_loop import loop_connector

SQLITE_QUEUE_SECONDS = 60.0
"""How long a transaction waits for the one SQLite connection before it fails."""


def create_engine(
    database_url: str, *, foreign_keys: bool = True, pool_size: int = 10, **kwargs: Any
) -> AsyncEngine:
    """The async engine; ``foreign_keys=False`` is for SQLite migrations only (see env.py).
    ``pool_size``: PostgreSQL connections kept open per process (as many again may open
    under a burst); SQLite always has one (see below)."""
    start_mappers()
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        # asyncpg prepares each statement once per connection and keeps it (its statement
        # cache), so a pool of long-lived connections runs a step's queries prepared.
        options: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_recycle": 1800,
            "pool_pre_ping": True,
        }
        return create_async_engine(url, hide_parameters=True, **{**options, **kwargs})

    database = url.database or ":memory:"
    if database != ":memory:":
        private_file(Path(database))
    engine = create_async_engine(
        url,
        # One connection, used on the loop's thread (see storage.sqlite_loop): SQLite has
        # one writer at a time anyway, so concurrent chats queue here, in order and without
        # sleeping in SQLite's busy handler, instead of contending for the file's lock.
        async_creator=loop_connector(database),
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=SQLITE_QUEUE_SECONDS,
        # hide_parameters: an error's text never quotes a row's values (an address, a name).
        hide_parameters=True,
        **kwargs,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The connection is in autocommit mode (isolation_level=None, see loop_connector):
        # SQLAlchemy, not the driver, decides when transactions begin ("begin" below).
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a commit is not fsynced (the WAL is, at each
        # checkpoint). A process crash loses nothing; only a power cut or an OS crash can
        # lose the last commits, and never corrupts the file. FULL costs an fsync per step.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted and overwritten content is zeroed, not left in free pages (a handled
        # webhook update, a code mail's body once it is redacted).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: two workers that read-then-write the same
        # conversation serialize instead of failing with "database is locked".
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def private_file(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by this user only: folder 0700,
    file 0600. SQLite gives its -wal and -shm files the database file's mode. A file that
    exists already loses any group and other permission bits."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists() and stat.S_IMODE(companion.stat().st_mode) & 0o077:
            os.chmod(companion, stat.S_IMODE(companion.stat().st_mode) & 0o700)
