"""One outbox worker as its own OS process, for the two-process test (``python -m``).

    python -m tests.outbox_process --url URL --smtp-port PORT [--lease S] [--timeout S]
                                   [--batch N] [--unfenced]

It delivers e-mail through the SMTP server on 127.0.0.1:PORT until no row is pending any
more (its own or another worker's), then prints one JSON line: ``{"sent": N, "lost": N}``
(``lost``: rows it claimed but found taken by another worker before or after sending).
``--unfenced`` turns the fence off, as the outbox was before leases had tokens: a control
run showing that the test catches the old double sending.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.notifications.email import SmtpMailer
from bot.notifications.sink import LocalSink
from bot.notifications.worker import OutboxWorker
from bot.settings import Settings
from flows.domain import OutboxStatus
from flows.model import OutboxMessage
from flows.ports import SystemClock
from storage import repositories
from storage.db import create_engine
from storage.uow import Store
from tests.support import TEST_SEALER


class _CountLost(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "lease" in record.getMessage():
            self.lost += 1


def _unfence() -> None:
    """The old outbox: any worker may renew or finish a pending row, held or not."""

    def held(self: repositories.Outbox, lease: repositories.Lease, now: datetime) -> Any:
        return (OutboxMessage.id == lease.message_id) & (
            OutboxMessage.status == OutboxStatus.PENDING
        )

    repositories.Outbox._held = held  # type: ignore[method-assign]


async def _pending(store: Store) -> int:
    async with store.transaction() as tx:
        query = select(func.count(OutboxMessage.id)).where(
            OutboxMessage.status == OutboxStatus.PENDING
        )
        return int(await tx.session.scalar(query) or 0)


async def main(args: argparse.Namespace) -> dict[str, int]:
    lost = _CountLost()
    logging.getLogger("balie.outbox").addHandler(lost)
    if args.unfenced:
        _unfence()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, smtp_host="127.0.0.1", smtp_port=args.smtp_port, smtp_starttls=False
    )
    # Another worker of the tests' server: the same key opens what the desk sealed.
    store = Store(create_engine(args.url), sealer=TEST_SEALER)
    worker = OutboxWorker(
        store,
        email=SmtpMailer(settings, timeout=args.timeout),
        sms=LocalSink(args.sink).sms,
        chat=None,
        clock=SystemClock(),
        batch=args.batch,
        lease=timedelta(seconds=args.lease),
        delivery_timeout=args.timeout,
    )
    sent = 0
    try:
        while await _pending(store):
            sent += await worker.deliver_due()
            await asyncio.sleep(0.1)
    finally:
        await store.close()
    return {"sent": sent, "lost": lost.lost}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.outbox_process")
    parser.add_argument("--url", required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--lease", type=float, default=4.5)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--sink", default="/dev/null")
    parser.add_argument("--unfenced", action="store_true")
    return parser


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(_parser().parse_args()))), flush=True)
