"""The terminal keeps to itself on a store a Telegram bot uses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from flows.domain import AuditAction, DeliveryChannel, OutboxStatus
from flows.model import OutboxMessage
from tests.support import START, migrated_store


def balie(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BALIE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/balie.sqlite3",
        "BALIE_TELEGRAM_TOKEN": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


async def telegram_used_store(tmp_path: Path) -> None:
    """A store a Telegram runtime started on, with a notification waiting for a real user."""
    store = await migrated_store(f"sqlite+aiosqlite:///{tmp_path}/data/balie.sqlite3")
    async with store.transaction() as tx:
        await tx.audit.add(
            AuditAction.RUNTIME_STARTED, actor="balie", channel="telegram", now=START
        )
        await tx.outbox.add(DeliveryChannel.TELEGRAM, "424242", "Your request was approved", START)
    await store.close()


async def telegram_rows(tmp_path: Path) -> list[OutboxMessage]:
    store = await migrated_store(f"sqlite+aiosqlite:///{tmp_path}/data/balie.sqlite3")
    async with store.transaction() as tx:
        rows = await tx.session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == DeliveryChannel.TELEGRAM)
        )
        found = list(rows.all())
    await store.close()
    return found


def test_balie_run_without_a_token_refuses_on_a_telegram_store(tmp_path: Path) -> None:
    asyncio.run(telegram_used_store(tmp_path))
    done = balie(tmp_path, "run", stdin="/help\n")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "used by a Telegram bot" in line and "balie chat" in line
    assert done.stdout == ""


def test_balie_chat_leaves_telegram_messages_to_the_bot(tmp_path: Path) -> None:
    asyncio.run(telegram_used_store(tmp_path))
    done = balie(tmp_path, "chat", stdin="/help\n/quit\n")
    assert done.returncode == 0, done.stderr
    assert "also used by a Telegram bot" in done.stdout
    assert "Your request was approved" not in done.stdout
    [row] = asyncio.run(telegram_rows(tmp_path))
    assert row.status is OutboxStatus.PENDING and row.attempts == 0
