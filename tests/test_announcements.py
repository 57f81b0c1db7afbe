"""Urgent notices (issue 13, seed 004: "urgent notices are sent the same day"): the
``/announce`` dialog, who each audience reaches, the fan-out through the outbox with the
notice's id, the sender's count once every message is done, and ``balie announce``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from flows import announce_flow, announcements
from flows.announcements import Audience, Sender
from flows.digest import NoticeScheduler
from flows.domain import (
    AccountStatus,
    AnnouncementAudience,
    AuditAction,
    ConversationState,
    DeliveryChannel,
    Language,
    OutboxStatus,
    Role,
)
from flows.model import Announcement, AuditEntry, OutboxMessage
from storage.uow import Store
from tests.support import (
    DeskDriver,
    FakeClock,
    buttons_of,
    customer,
    said,
    texts_of,
)
from tests.test_cli import _seed, balie, balie_side_by_side, database_url, environment, query

MANAGER, STAFF = 5001, 5003
OTHER_STAFF = 6003
"""Desk staff of another organization (Ander Wonen, AND-1)."""
HOLDER_CHAT, SECOND_HOLDER_CHAT, OTHER_ORG_CUSTOMER_CHAT = 8001, 8002, 8009
TEXT = "Storing: er is vandaag geen warm water in de Dorpsstraat."


async def _seed_audiences(store: Store, clock: FakeClock) -> None:
    """BLG Wonen: customers 2001 and 2002 activated (each with a chat), 2003 activated but
    blocked, 2004 not activated; Eva active (office Utrecht), Piet still pending. Ander Wonen
    (AND-1): its desk staff member and an activated customer of its own."""
    now = clock.now()
    async with store.transaction() as tx:
        org = await tx.organizations.by_partner_id("BLG-1001")
        assert org is not None
        rows = [
            customer(org.id, "2001", now, account_active=True),
            customer(org.id, "2002", now, account_active=True),
            customer(org.id, "2003", now, account_active=True, blocked=True),
            customer(org.id, "2004", now),
        ]
        for row in rows:
            await tx.customers.add(row)
        await tx.portal_chats.link(HOLDER_CHAT, rows[0].id, now)
        await tx.portal_chats.link(SECOND_HOLDER_CHAT, rows[1].id, now)
        eva = await tx.people.by_contact(org.id, DeliveryChannel.EMAIL, "eva@kantoor.example")
        assert eva is not None
        eva.status = AccountStatus.ACTIVE
        other = await tx.organizations.add("Ander Wonen", "AND-1", now)
        await tx.people.add(
            organization_id=other.id,
            name="Otto Other",
            role=Role.STAFF,
            status=AccountStatus.ACTIVE,
            now=now,
            email="otto@ander.example",
        )
        otto = await tx.people.by_contact(other.id, DeliveryChannel.EMAIL, "otto@ander.example")
        assert otto is not None
        await tx.chat_links.link(OTHER_STAFF, otto.id, now)
        theirs = await tx.customers.add(customer(other.id, "9001", now, account_active=True))
        await tx.portal_chats.link(OTHER_ORG_CUSTOMER_CHAT, theirs.id, now)
        await tx.organizations.office(other.id, "Elders")


@pytest.fixture
async def desk(desk: DeskDriver) -> DeskDriver:
    await _seed_audiences(desk.store, desk.clock)
    return desk


def _button(outcome: object, label: str) -> str:
    from flows.events import Outcome

    assert isinstance(outcome, Outcome)
    for reply in outcome.replies:
        for row in reply.buttons:
            for button in row:
                if button.label == label:
                    return button.data
    raise AssertionError(f"no button {label!r} in {texts_of(outcome)!r}")


async def _state(desk: DeskDriver, chat: int) -> ConversationState:
    async with desk.store.transaction() as tx:
        conversation = await tx.conversations.peek(chat)
        return conversation.state if conversation else ConversationState.IDLE


async def _rows(desk: DeskDriver, announcement_id: int) -> list[OutboxMessage]:
    return [m for m in await desk.outbox() if m.announcement_id == announcement_id]


async def _announcement(desk: DeskDriver) -> Announcement:
    async with desk.store.transaction() as tx:
        return (await tx.session.scalars(select(Announcement).order_by(Announcement.id))).all()[-1]


async def _audit(desk: DeskDriver, action: AuditAction) -> list[AuditEntry]:
    async with desk.store.transaction() as tx:
        query = select(AuditEntry).where(AuditEntry.action == action.value)
        return list((await tx.session.scalars(query)).all())


async def _walk_to_preview(
    desk: DeskDriver, chat: int, audience: str, urgency: str, text: str = TEXT
) -> object:
    asked = await desk.send(chat, "/announce")
    assert said(asked, "announce_ask_audience"), texts_of(asked)
    chosen = await desk.press(chat, _button(asked, audience))
    assert said(chosen, "announce_ask_urgency"), texts_of(chosen)
    typed = await desk.press(chat, _button(chosen, urgency))
    assert said(typed, "announce_ask_text", limit=announcements.MAX_TEXT), texts_of(typed)
    return await desk.send(chat, text)


async def test_staff_send_an_urgent_notice_to_all_customers_through_the_outbox(
    desk: DeskDriver,
) -> None:
    preview = await _walk_to_preview(desk, STAFF, "All customers", "Urgent")
    assert said(preview, "announce_preview", audience="All customers", recipients=2, notice=TEXT)
    assert await _state(desk, STAFF) is ConversationState.ANNOUNCE_CONFIRM
    assert await desk.outbox() == []  # nothing goes before Confirm

    done = await desk.press(STAFF, _button(preview, "Confirm"))
    notice = await _announcement(desk)
    assert said(done, "announce_queued", number=notice.id, recipients=2), texts_of(done)
    assert await _state(desk, STAFF) is ConversationState.IDLE
    assert (notice.urgent, notice.audience, notice.sender_chat) == (
        True,
        AnnouncementAudience.CUSTOMERS,
        STAFF,
    )
    rows = await _rows(desk, notice.id)
    assert sorted((m.channel.value, m.recipient) for m in rows) == [
        ("email", "klant2001@thuis.example"),
        ("email", "klant2002@thuis.example"),
        ("telegram", str(HOLDER_CHAT)),
        ("telegram", str(SECOND_HOLDER_CHAT)),
    ]
    assert all(TEXT in m.body and m.status is OutboxStatus.PENDING for m in rows)
    # Every row waits for the paced sender; nothing of the other organization's.
    assert str(OTHER_ORG_CUSTOMER_CHAT) not in {m.recipient for m in await desk.outbox()}
    [queued] = await _audit(desk, AuditAction.ANNOUNCEMENT_QUEUED)
    assert queued.detail["recipients"] == 2 and queued.detail["messages"] == 4
    assert TEXT not in str(queued.detail)  # the audit names the notice, not its words


async def test_cancel_works_at_every_step(desk: DeskDriver) -> None:
    async def at_audience() -> None:
        await desk.send(STAFF, "/announce")

    async def at_urgency() -> None:
        asked = await desk.send(STAFF, "/announce")
        await desk.press(STAFF, _button(asked, "All employees"))

    async def at_text() -> None:
        asked = await desk.send(STAFF, "/announce")
        chosen = await desk.press(STAFF, _button(asked, "All employees"))
        await desk.press(STAFF, _button(chosen, "General"))

    async def at_confirm() -> None:
        await _walk_to_preview(desk, STAFF, "All employees", "General")

    for reach in (at_audience, at_urgency, at_text, at_confirm):
        await reach()
        assert await _state(desk, STAFF) is not ConversationState.IDLE
        outcome = await desk.send(STAFF, "/cancel")
        assert said(outcome, "cancelled"), texts_of(outcome)
        assert await _state(desk, STAFF) is ConversationState.IDLE
    # The Cancel button as well, on the preview.
    preview = await _walk_to_preview(desk, STAFF, "All employees", "Urgent")
    cancelled = await desk.press(STAFF, _button(preview, "Cancel"))
    assert said(cancelled, "cancelled")
    # Its Confirm, pressed after the cancel, sends nothing.
    late = await desk.press(STAFF, _button(preview, "Confirm"))
    assert said(late, "stale_button")
    assert await desk.outbox() == []
    async with desk.store.transaction() as tx:
        assert not (await tx.session.scalars(select(Announcement))).all()


async def test_typed_text_where_a_button_is_asked_repeats_the_question(desk: DeskDriver) -> None:
    await desk.send(STAFF, "/announce")
    again = await desk.send(STAFF, "everyone")
    assert said(again, "announce_ask_audience")
    assert await _state(desk, STAFF) is ConversationState.ANNOUNCE_AUDIENCE


async def test_the_text_has_limits(desk: DeskDriver) -> None:
    too_long = "x" * (announcements.MAX_TEXT + 1)
    refused = await _walk_to_preview(desk, STAFF, "All customers", "Urgent", too_long)
    assert said(
        refused, "announce_text_too_long", limit=announcements.MAX_TEXT, length=len(too_long)
    )
    assert await _state(desk, STAFF) is ConversationState.ANNOUNCE_TEXT
    fits = await desk.send(STAFF, "x" * announcements.MAX_TEXT)
    assert said(fits, "announce_preview")


async def test_each_audience_reaches_its_people_only(desk: DeskDriver) -> None:
    today = desk.clock.now().date()
    async with desk.store.transaction() as tx:
        org = await tx.organizations.by_partner_id("BLG-1001")
        assert org is not None
        utrecht = await tx.organizations.office(org.id, "Utrecht")
        zeist = await tx.organizations.office(org.id, "Zeist")

        async def names(audience: Audience) -> list[str]:
            found: list[str] = []
            after = 0
            while True:  # pages of two: the cursor is followed across pages
                page, after = await announcements.page_of(
                    tx, org.id, audience.kind, audience.office_id, today, after=after, limit=2
                )
                if not page:
                    break
                found += [account.name for account in page]
            assert await announcements.count(tx, org, audience, today) == len(found)
            return sorted(found)

        customers = await names(Audience(AnnouncementAudience.CUSTOMERS))
        employees = await names(Audience(AnnouncementAudience.EMPLOYEES))
        in_utrecht = await names(Audience(AnnouncementAudience.OFFICE, utrecht))
        in_zeist = await names(Audience(AnnouncementAudience.OFFICE, zeist))
    # Activated and not blocked; never another organization's.
    assert customers == ["Klant 2001", "Klant 2002"]
    # Every active person of any role (Piet is still pending, Otto is Ander Wonen's).
    assert employees == ["Eva Employee", "Maarten Manager", "Marieke Manager", "Sanne Staff"]
    assert in_utrecht == ["Eva Employee"]
    assert in_zeist == []  # Piet, its only person, is not active yet


async def test_an_office_button_offers_each_office_of_the_callers_organization(
    desk: DeskDriver,
) -> None:
    asked = await desk.send(STAFF, "/announce")
    labels = [b.label for r in asked.replies for row in r.buttons for b in row]
    assert labels == [
        "All customers",
        "All employees",
        "Office Utrecht",
        "Office Zeist",
        "Cancel",
    ]
    chosen = await desk.press(STAFF, _button(asked, "Office Utrecht"))
    typed = await desk.press(STAFF, _button(chosen, "Urgent"))
    assert said(typed, "announce_ask_text")
    preview = await desk.send(STAFF, TEXT)
    assert said(preview, "announce_preview", audience="Office Utrecht", recipients=1)
    await desk.press(STAFF, _button(preview, "Confirm"))
    notice = await _announcement(desk)
    rows = await _rows(desk, notice.id)
    assert [(m.channel, m.recipient) for m in rows] == [
        (DeliveryChannel.EMAIL, "eva@kantoor.example")
    ]


async def test_announce_is_refused_to_anyone_but_desk_staff(desk: DeskDriver) -> None:
    for chat in (HOLDER_CHAT, 7777):  # a customer's chat, a stranger
        outcome = await desk.send(chat, "/announce")
        assert said(outcome, "staff_release_not_allowed"), texts_of(outcome)
        assert not buttons_of(outcome)
        assert await _state(desk, chat) is ConversationState.IDLE
    # Button data made for a staff chat does nothing in another chat.
    asked = await desk.send(STAFF, "/announce")
    copied = await desk.press(HOLDER_CHAT, _button(asked, "All customers"))
    assert said(copied, "stale_button")
    assert await _state(desk, HOLDER_CHAT) is ConversationState.IDLE
    assert len(await _audit(desk, AuditAction.TAMPERED_BUTTON)) == 1
    # Even rightly signed for the customer's own chat, the press checks who presses.
    forged = announce_flow._signed(desk.desk.hasher, "c", HOLDER_CHAT)
    pressed = await desk.press(HOLDER_CHAT, forged)
    assert said(pressed, "staff_release_not_allowed")
    assert await desk.outbox() == []


async def test_another_organizations_staff_reach_only_their_own_people(
    desk: DeskDriver,
) -> None:
    asked = await desk.send(OTHER_STAFF, "/announce")
    labels = [b.label for r in asked.replies for row in r.buttons for b in row]
    assert "Office Utrecht" not in labels and "Office Elders" in labels
    # An office of BLG Wonen in a button signed for this chat: not theirs, nothing chosen.
    async with desk.store.transaction() as tx:
        blg = await tx.organizations.by_partner_id("BLG-1001")
        assert blg is not None
        utrecht = await tx.organizations.office(blg.id, "Utrecht")
    forged = announce_flow._signed(desk.desk.hasher, f"o{utrecht.id}", OTHER_STAFF)
    refused = await desk.press(OTHER_STAFF, forged)
    assert said(refused, "stale_button")
    assert await _state(desk, OTHER_STAFF) is ConversationState.ANNOUNCE_AUDIENCE
    [attempt] = await _audit(desk, AuditAction.STAFF_ACTION_REFUSED)
    assert attempt.detail["attempted"] == "announce"
    # "All customers" is their own customers.
    chosen = await desk.press(OTHER_STAFF, _button(asked, "All customers"))
    typed = await desk.press(OTHER_STAFF, _button(chosen, "Urgent"))
    assert said(typed, "announce_ask_text")
    preview = await desk.send(OTHER_STAFF, "Onderhoud")
    await desk.press(OTHER_STAFF, _button(preview, "Confirm"))
    rows = await _rows(desk, (await _announcement(desk)).id)
    assert {m.recipient for m in rows} == {str(OTHER_ORG_CUSTOMER_CHAT), "klant9001@thuis.example"}


async def test_the_sender_hears_delivered_and_failed_once_every_message_is_done(
    desk: DeskDriver,
) -> None:
    preview = await _walk_to_preview(desk, STAFF, "All customers", "Urgent")
    await desk.press(STAFF, _button(preview, "Confirm"))
    notice = await _announcement(desk)
    scheduler = NoticeScheduler(desk.store, desk.clock)

    def reports(rows: list[OutboxMessage]) -> list[OutboxMessage]:
        return [m for m in rows if m.recipient == str(STAFF) and "Notice #" in m.body]

    rows = await _rows(desk, notice.id)
    await desk.delivered(rows[0].id)
    await desk.delivered(rows[1].id)
    await scheduler.tick()
    assert reports(await desk.outbox()) == []  # two rows still pending
    async with desk.store.transaction() as tx:
        for row in rows[2:]:
            stored = await tx.outbox.get(row.id)
            assert stored is not None
            stored.status = OutboxStatus.FAILED if row is rows[2] else OutboxStatus.DEAD
    await scheduler.tick()
    await scheduler.tick()  # once only
    [report] = reports(await desk.outbox())
    assert report.body == f"Notice #{notice.id}: delivered 2, failed 2."
    assert report.announcement_id is None and report.channel is DeliveryChannel.TELEGRAM
    [reported] = await _audit(desk, AuditAction.ANNOUNCEMENT_REPORTED)
    assert (reported.detail["delivered"], reported.detail["failed"]) == (2, 2)


async def test_the_count_comes_in_the_senders_language(desk: DeskDriver) -> None:
    await desk.send(STAFF, "/language nl")
    asked = await desk.send(STAFF, "/announce")
    chosen = await desk.press(STAFF, _button(asked, "Alle klanten"))
    typed = await desk.press(STAFF, _button(chosen, "Spoed"))
    assert said(typed, "announce_ask_text", Language.NL, limit=announcements.MAX_TEXT)
    preview = await desk.send(STAFF, TEXT)
    await desk.press(STAFF, _button(preview, "Bevestigen"))
    notice = await _announcement(desk)
    for row in await _rows(desk, notice.id):
        await desk.delivered(row.id)
    await NoticeScheduler(desk.store, desk.clock).tick()
    bodies = [m.body for m in await desk.outbox() if m.recipient == str(STAFF)]
    assert f"Bericht #{notice.id}: afgeleverd 4, mislukt 0." in bodies


async def test_a_general_notice_waits_for_the_digest(desk: DeskDriver) -> None:
    preview = await _walk_to_preview(desk, STAFF, "All employees", "General")
    assert said(preview, "announce_when_digest")
    done = await desk.press(STAFF, _button(preview, "Confirm"))
    notice = await _announcement(desk)
    assert said(done, "announce_kept", number=notice.id)
    assert not notice.urgent and notice.queued_at is None
    assert await _rows(desk, notice.id) == []


async def test_send_refuses_an_empty_text(desk: DeskDriver) -> None:
    async with desk.store.transaction() as tx:
        org = await tx.organizations.by_partner_id("BLG-1001")
        assert org is not None
        with pytest.raises(announcements.NoticeTextRefused):
            await announcements.send(
                tx,
                org,
                Audience(AnnouncementAudience.CUSTOMERS),
                urgent=True,
                text="   ",
                now=desk.clock.now(),
                sender=Sender("cli", "cli"),
            )


def _with_text(args: tuple[str, ...]) -> list[str]:
    return [] if "--text" in args else ["--text", "x"]


def test_balie_announce_queues_or_keeps_for_the_digest(tmp_path: Path) -> None:
    asyncio.run(_seed(database_url(tmp_path)))
    env = environment(tmp_path)
    urgent = balie(
        tmp_path,
        *("announce", "--org", "ACME-1", "--audience", "employees", "--urgent"),
        *("--text", "Het kantoor is vandaag dicht."),
        env=env,
    )
    assert urgent.code == 0, urgent.stderr
    # Mia, the manager (Eva is not active yet): her chat and her address.
    assert urgent.stdout.strip() == "notice #1 queued for 1 recipient (2 messages) of Acme Wonen"
    assert sorted(query(tmp_path, "SELECT recipient, announcement_id FROM outbox")) == [
        ("4242", 1),
        ("mia@acme.example", 1),
    ]
    set_digest = balie(tmp_path, "org", "set", "ACME-1", "--digest", "Mon 08:30", env=env)
    assert set_digest.code == 0, set_digest.stderr
    assert "weekly digest: mon 08:30 Amsterdam time" in set_digest.stdout
    general = balie(
        tmp_path,
        *("announce", "--org", "ACME-1", "--audience", "customers", "--general"),
        *("--text", "Nieuwe openingstijden."),
        env=env,
    )
    assert general.code == 0, general.stderr
    assert general.stdout.startswith("notice #2 joins the digest of Acme Wonen on Mon ")
    assert general.stdout.strip().endswith("08:30 (Amsterdam)")
    assert query(tmp_path, "SELECT sender_chat, created_by_id, urgent FROM announcements") == [
        (None, None, 1),
        (None, None, 0),
    ]
    refusals = {
        ("--audience", "office", "--office", "Nergens", "--urgent"): "has no office 'Nergens'",
        ("--audience", "office", "--urgent"): "needs --office",
        ("--audience", "customers", "--general", "--text", " "): "The notice is empty",
    }
    runs = balie_side_by_side(
        tmp_path,
        [
            *(
                [
                    "announce",
                    "--org",
                    "ACME-1",
                    *args,
                    *([] if "--text" in args else ["--text", "x"]),
                ]
                for args in refusals
            ),
            ["org", "set", "ACME-1", "--digest", "someday 16:00"],
        ],
    )
    for run, fragment in zip(runs, [*refusals.values(), "not a weekday"], strict=True):
        assert run.code == 1 and fragment in run.stderr, run.stderr
    assert query(tmp_path, "SELECT COUNT(*) FROM announcements") == [(2,)]
