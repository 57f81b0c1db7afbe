"""Every lookup a conversation step makes, and each staff list's page, is on an index: a
step costs the same with 1,000 customers as with 1,000,000 (issue 12, "flat as the store
grows").

The statements are the ones the code really issues: caught with a ``before_cursor_execute``
listener while the desk runs registration, an activation request and the staff lists, and
while each hot repository method runs once. Each one is then explained: on SQLite ``EXPLAIN
QUERY PLAN`` must show no ``SCAN <table>`` without an index; on PostgreSQL, with sequential
scans switched off (an empty table is always seq-scanned otherwise), ``EXPLAIN`` must show no
``Seq Scan``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event

from flows.buttons import Menu, MenuChoice
from flows.domain import ActivationStatus, AuditAction, CodePurpose, DeliveryChannel
from flows.events import Event
from storage.uow import Store, Transaction
from tests.support import DeskDriver, pressed, seed_customers

Captured = list[tuple[str, Any]]

ALLOWED_SCANS = {
    # At most two rows read, whatever the number of organizations ("is there exactly one?").
    "FROM organizations \nLIMIT": "Organizations.sole reads two rows at most",
}
"""Statements that may scan: a part of their text, and why that costs no more as the store
grows."""

SMALL_TABLES = {
    # An organization's offices: a handful, whatever the number of customers or chats. On
    # an empty table PostgreSQL may merge-join them on their whole primary key.
    "offices",
}


def _explained(statement: str) -> bool:
    return statement.lstrip().split(None, 1)[0].upper() in {"SELECT", "UPDATE", "DELETE"}


class _Capture:
    """The statements run while :attr:`on` (the test driver's own reads stay out)."""

    def __init__(self) -> None:
        self.on = False
        self.statements: Captured = []

    def __call__(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if self.on and _explained(statement):
            self.statements.append((statement, parameters[0] if many else parameters))

    async def during(self, run: Callable[[], Awaitable[Any]]) -> Any:
        self.on = True
        try:
            return await run()
        finally:
            self.on = False


async def _desk_steps(desk: DeskDriver) -> None:
    """Registration, an activation request and the staff lists, as people do them."""
    await desk.register(7001, "BLG-1001", "jan@thuis.example", "Jan Jansen")
    await desk.send(7002, "/start")
    await desk.press(7002, pressed(Menu(MenuChoice.ACTIVATION_CODE)))
    await desk.press(7002, pressed(Menu(MenuChoice.REQUEST_CODE)))
    for text in ("1002", "3511ab", "12 A"):
        await desk.send(7002, text)
    await desk.press(7002, pressed(Menu(MenuChoice.SKIP)))
    for command in ("/pending", "/employees", "/codes"):
        await desk.send(5001, command)
    start = Event.from_text(7003, desk.sender(7003), "/start")
    await desk.desk.handle(dataclasses.replace(start, update_id=77))  # de-duplicated


async def _repository_calls(tx: Transaction, now: datetime) -> None:
    """Each hot lookup once, through its repository."""
    email, sms, telegram = DeliveryChannel.EMAIL, DeliveryChannel.SMS, DeliveryChannel.TELEGRAM
    registration = CodePurpose.REGISTRATION
    await tx.organizations.by_partner_id("blg-1001")
    await tx.people.by_contact(1, email, "eva@kantoor.example")
    await tx.people.by_contact(1, sms, "+31612345678")
    await tx.people.employees(1, offset=10, limit=10)
    await tx.people.count_employees(1)
    await tx.people.deciders_with_chats(1)
    await tx.chat_links.person_for(5001)
    await tx.chat_links.chat_for(1)
    await tx.chat_links.link(7009, 4, now)
    await tx.people.due_for_closing(now.date(), 100)
    await tx.audit.any_of(AuditAction.RUNTIME_STARTED, "telegram")
    await tx.invitations.void_open(4, now)
    await tx.requests.open_for_person(1)
    await tx.requests.open_for_chat(7001)
    await tx.requests.pending(1, offset=10, limit=10)
    await tx.requests.count_pending(1)
    await tx.codes.by_digest(registration, ["k1$a", "k0$b"])
    await tx.codes.current("chat:7001", registration)
    await tx.codes.sent_since("chat:7001", registration, now)
    await tx.codes.sent_to_since("jan@thuis.example", registration, now)
    await tx.codes.last_sent_at("chat:7001", registration)
    await tx.codes.last_sent_at("chat:7001", registration, "jan@thuis.example")
    await tx.codes.burn_all("chat:7001", registration)
    await tx.outbox.claim_due(now, 10, timedelta(minutes=1))
    await tx.outbox.waiting_for(telegram, "5001")
    await tx.outbox.close_unsent_cards("request:1", "5001", "decided")
    await tx.handled_updates.seen(10**12)
    await tx.handled_updates.record(10**12, now, None)
    await tx.handled_updates.outcome(10**12)
    await tx.handled_updates.answered([10**12])
    await tx.handled_updates.forget_before(now - timedelta(days=2), 5_000)
    await tx.conversations.load(7001, now)
    await tx.staff_messages.find("request:1", 5001)
    await tx.letters.queued(1)
    await tx.undeliverable.find(email, "jan@thuis.example")
    found = await tx.customers.by_number(1, "1001")
    await tx.customers.by_contact(1, email="klant1001@thuis.example", phone="+31611112222")
    await tx.customers.matching_address("1001", "3511AB", "12a")
    await tx.customers.with_number("1001")
    await tx.customers.accounts_for(email, "bewind@bewind.example")
    await tx.customers.accounts_for(sms, "+31611112222")
    assert found is not None
    await tx.portal_chats.link(7002, found.id, now)
    await tx.portal_chats.of_customer(found.id)
    await tx.chat_links.of_person(1)
    await tx.members.of_customer(found.id)
    # notification preferences (issue 13, point 3): read for each notice, set per press
    await tx.notification_preferences.of_owner("p1")
    await tx.notification_preferences.set("p1", "decisions", email, False, now)
    # two-step verification (issue 13)
    await tx.two_step.factor("c1")
    await tx.two_step.pending("c1")
    await tx.two_step.recovery_codes("c1")
    await tx.two_step.fresh_at(7002, "c1")
    # members (issue 13): an address's uniqueness, a member's token, its open invitations
    await tx.members.by_email(1, "anna@thuis.example")
    await tx.member_invitations.by_digest(["k1$a"])
    await tx.member_invitations.void_open(1, now)
    await tx.rate_events.since("code:7001", now)
    await tx.rate_events.forget_before(now - timedelta(days=1), 5_000)
    awaiting, refused = ActivationStatus.AWAITING_RELEASE, ActivationStatus.INELIGIBLE
    await tx.activation_requests.with_status(1, awaiting, offset=10, limit=10)
    await tx.activation_requests.count_with_status(1, refused, since=now)
    await tx.offboard_requests.pending_for(1)
    await tx.invitations.by_digest(["k1$a"])
    await tx.invitations.latest_for(1)
    # linked devices (issue 13)
    await tx.device_pairings.by_digest(["k1$a", "k0$b"])
    await tx.device_pairings.void_open("p1", now)
    await tx.conversations.peek(7001)
    await tx.api_keys.by_hash("0" * 64)
    await tx.inbox.forget([1])
    # urgent notices and the weekly digest (issue 13): each audience a page at a time
    today = now.date()
    await tx.announcements.customers(1, after=10, limit=10)
    await tx.announcements.count_customers(1)
    await tx.announcements.people(1, today, after=1, limit=10)
    await tx.announcements.people(1, today, office_id=1, limit=10)
    await tx.announcements.count_people(1, today, 1)
    await tx.announcements.undigested(1, now)
    await tx.announcements.in_digest(1, "2026-W49")
    await tx.announcements.unreported()
    await tx.announcements.queuing()
    await tx.announcements.to_queue(1)
    await tx.announcements.delivery_counts(1)
    await tx.digests.run(1, "2026-W49")
    await tx.digests.queued(1, "2026-W49", ["c1", "p2"])


_SQLITE_SCAN = re.compile(r"^SCAN (\S+)(.*)$")


_PG_NODE = re.compile(r"(Seq Scan|Index Scan|Index Only Scan|Bitmap Index Scan) ")


def _postgres_full_scans(lines: list[str]) -> list[str]:
    """Plan nodes that read a whole table: a ``Seq Scan``, or an index scanned from end to
    end (no ``Index Cond``: with sequential scans off, PostgreSQL walks an index instead)."""
    bad = []
    for number, line in enumerate(lines):
        node = _PG_NODE.search(line)
        if node is None or any(f" on {table} " in line for table in SMALL_TABLES):
            continue
        if node.group(1) == "Seq Scan":
            bad.append(line.strip())
            continue
        details = []
        for below in lines[number + 1 :]:
            if "->" in below:
                break
            details.append(below)
        if not any("Index Cond:" in detail for detail in details):
            bad.append(line.strip())
    return bad


async def _full_scans(store: Store, captured: Captured) -> dict[str, list[str]]:
    """Each statement that scans a whole table, with the plan lines that say so."""
    scans: dict[str, list[str]] = {}
    async with store.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if not sqlite:
            await connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in captured:
            if any(part in statement for part in ALLOWED_SCANS):
                continue
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            result = await connection.exec_driver_sql(prefix + statement, parameters)
            if sqlite:
                details = [str(row[3]) for row in result]
                bad = [
                    detail
                    for detail in details
                    if (match := _SQLITE_SCAN.match(detail))
                    and not match.group(1).startswith("(")
                    and "INDEX" not in match.group(2)
                    and match.group(1) != "CONSTANT"
                ]
            else:
                bad = _postgres_full_scans([str(row[0]) for row in result])
            if bad:
                scans[statement] = bad
        await connection.rollback()
    return scans


async def test_every_lookup_of_a_step_is_on_an_index(desk: DeskDriver) -> None:
    store = desk.store
    await seed_customers(store, desk.clock)
    capture = _Capture()
    handle = desk.desk.handle

    async def handle_captured(step: Event) -> Any:
        return await capture.during(lambda: handle(step))

    async def calls() -> None:
        async with store.transaction() as tx:
            await _repository_calls(tx, desk.clock.now())

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        desk.desk.handle = handle_captured  # type: ignore[method-assign]
        await _desk_steps(desk)
        await capture.during(calls)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    distinct = list(dict(capture.statements).items())
    assert len(distinct) > 40  # the desk's steps and the calls above really ran
    assert await _full_scans(store, distinct) == {}
