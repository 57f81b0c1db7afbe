"""Issue 13, point 3: notification preferences per kind and channel (seed 003 "Notificaties",
seed 004 "bent u ZELF verantwoordelijk"), honoured when a notice is queued and again when
the outbox sends it; the toggles are signed, bound to the chat and to the grid they were on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from bot.notifications.attachments import Attachment
from bot.notifications.worker import OutboxWorker
from flows import notices, own_account
from flows.domain import AuditAction, DeliveryChannel, Language, OutboxStatus
from flows.events import Outcome, Reply
from flows.model import AccountMember, AuditEntry
from flows.notices import NoticeKind, Reach
from flows.own_account import Owner, OwnerKind
from flows.texts import Texts
from storage.uow import Store
from tests.support import DemoOrg, DeskDriver, FakeClock, customer, said

EN = Texts(Language.EN)
MANAGER = DemoOrg.manager_chat
"""Marieke: a linked chat, an e-mail address, no mobile number."""
OTHER_MANAGER = DemoOrg.second_manager_chat
STRANGER = 7777
HOLDER_CHAT, MEMBER_CHAT = 8101, 8102


def label(mark: str, kind: NoticeKind, channel: DeliveryChannel, texts: Texts = EN) -> str:
    from flows.notification_prefs import CHANNEL_LABEL, KIND_LABEL

    return f"{mark} {texts(KIND_LABEL[kind])} · {texts(CHANNEL_LABEL[channel])}"


ON, OFF, NONE = "✅", "⬜", "✖"
TG, MAIL, SMS = DeliveryChannel.TELEGRAM, DeliveryChannel.EMAIL, DeliveryChannel.SMS
DECISIONS, CODES = NoticeKind.DECISIONS, NoticeKind.CODES


def shown(outcome: Outcome) -> Reply:
    """The grid (or warning) as the chat shows it: the pressed message redrawn, else the
    newest reply."""
    if outcome.edit_pressed is not None:
        return outcome.edit_pressed
    assert outcome.replies, "nothing shown"
    return outcome.replies[-1]


def labels(reply: Reply) -> list[str]:
    return [button.label for row in reply.buttons for button in row]


def data(reply: Reply, wanted: str) -> str:
    for row in reply.buttons:
        for button in row:
            if button.label == wanted:
                return button.data
    raise AssertionError(f"no button {wanted!r} in {labels(reply)}")


async def press(desk: DeskDriver, chat: int, reply: Reply, wanted: str) -> Outcome:
    return await desk.press(chat, data(reply, wanted))


async def stored(store: Store, owner_key: str) -> dict[tuple[str, str], bool]:
    async with store.transaction() as tx:
        rows = await tx.notification_preferences.of_owner(owner_key)
        return {(row.kind, row.channel.value): row.enabled for row in rows}


async def manager_key(store: Store) -> str:
    async with store.transaction() as tx:
        account = await own_account.account_of_chat(tx, MANAGER)
        assert account is not None
        return account.owner.key


async def queue(store: Store, clock: FakeClock, chat: int, kind: NoticeKind) -> int:
    """A notice of ``kind`` to the account of ``chat``, as a flow queues it."""
    async with store.transaction() as tx:
        account = await own_account.account_of_chat(tx, chat)
        assert account is not None
        return await notices.notify(
            tx,
            account,
            kind,
            lambda texts: f"{kind.value} notice",
            clock.now(),
            subject=lambda texts: "subject",
        )


async def queued(desk: DeskDriver, kind: NoticeKind) -> list[tuple[str, str]]:
    return [
        (row.channel.value, row.recipient)
        for row in await desk.outbox()
        if row.payload.get("notice_kind") == kind.value
    ]


async def audit(store: Store, action: AuditAction) -> list[AuditEntry]:
    async with store.transaction() as tx:
        rows = await tx.session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows.all())


# -- the grid -----------------------------------------------------------------------------


async def test_the_grid_shows_every_kind_on_every_channel_and_says_security_always_goes(
    desk: DeskDriver,
) -> None:
    grid = shown(await desk.send(MANAGER, "/notifications"))
    assert EN("notifications_grid") in grid.text
    assert "Security notices" in grid.text and "cannot be switched off" in grid.text
    assert len(grid.buttons) == len(notices.SWITCHABLE)
    assert all(len(row) == 3 for row in grid.buttons)
    for kind in notices.SWITCHABLE:
        # The defaults: Telegram and e-mail on; SMS not available without a mobile number.
        assert label(ON, kind, TG) in labels(grid)
        assert label(ON, kind, MAIL) in labels(grid)
        assert label(NONE, kind, SMS) in labels(grid)
    assert not any("Security" in text for text in labels(grid))  # not a toggle at all
    assert all(len(b.data.encode()) <= 64 for row in grid.buttons for b in row)


async def test_the_grid_in_dutch(desk: DeskDriver) -> None:
    nl = Texts(Language.NL)
    await desk.send(MANAGER, "/language nl")
    grid = shown(await desk.send(MANAGER, "/notifications", language="nl"))
    assert nl("notifications_grid") in grid.text
    assert label(ON, DECISIONS, MAIL, nl) in labels(grid)


async def test_a_press_switches_one_channel_of_one_kind_and_redraws_the_message(
    desk: DeskDriver,
) -> None:
    grid = shown(await desk.send(MANAGER, "/notifications"))
    outcome = await press(desk, MANAGER, grid, label(ON, DECISIONS, MAIL))
    assert outcome.edit_pressed is not None and not outcome.replies  # edited in place
    assert outcome.callback_notice == "Decisions by E-mail: off."
    after = shown(outcome)
    assert label(OFF, DECISIONS, MAIL) in labels(after)
    assert label(ON, DECISIONS, TG) in labels(after)
    assert label(ON, CODES, MAIL) in labels(after)  # only that kind
    key = await manager_key(desk.store)
    assert await stored(desk.store, key) == {("decisions", "email"): False}

    again = await press(desk, MANAGER, after, label(OFF, DECISIONS, MAIL))
    assert again.callback_notice == "Decisions by E-mail: on."
    assert label(ON, DECISIONS, MAIL) in labels(shown(again))
    assert await stored(desk.store, key) == {("decisions", "email"): True}
    changes = await audit(desk.store, AuditAction.NOTICE_PREFERENCE_CHANGED)
    assert [(c.detail["kind"], c.detail["enabled"]) for c in changes] == [
        ("decisions", False),
        ("decisions", True),
    ]


async def test_an_unavailable_channel_cannot_be_switched_on(desk: DeskDriver) -> None:
    grid = shown(await desk.send(MANAGER, "/notifications"))
    outcome = await press(desk, MANAGER, grid, label(NONE, DECISIONS, SMS))
    assert outcome.callback_notice == EN("notifications_unavailable_sms")
    assert await stored(desk.store, await manager_key(desk.store)) == {}


async def test_switching_off_the_last_channel_warns_first_and_only_yes_switches_it_off(
    desk: DeskDriver, clock: FakeClock
) -> None:
    grid = shown(await desk.send(MANAGER, "/notifications"))
    grid = shown(await press(desk, MANAGER, grid, label(ON, DECISIONS, MAIL)))
    key = await manager_key(desk.store)

    # Telegram is the last channel decisions still reach Marieke on: seed 004's warning.
    warning = shown(await press(desk, MANAGER, grid, label(ON, DECISIONS, TG)))
    assert "YOURSELF are responsible" in warning.text and "leave everything on" in warning.text
    assert labels(warning) == [
        EN("button_notifications_switch_off"),
        EN("button_notifications_keep_on"),
    ]
    assert await stored(desk.store, key) == {("decisions", "email"): False}  # not yet

    kept = shown(await press(desk, MANAGER, warning, EN("button_notifications_keep_on")))
    assert label(ON, DECISIONS, TG) in labels(kept)
    assert await stored(desk.store, key) == {("decisions", "email"): False}

    warning = shown(await press(desk, MANAGER, kept, label(ON, DECISIONS, TG)))
    done = await press(desk, MANAGER, warning, EN("button_notifications_switch_off"))
    assert done.callback_notice == "Decisions by Telegram: off."
    assert label(OFF, DECISIONS, TG) in labels(shown(done))
    assert await stored(desk.store, key) == {
        ("decisions", "email"): False,
        ("decisions", "telegram"): False,
    }
    # Now a decision reaches Marieke nowhere; codes news still everywhere.
    assert await queue(desk.store, clock, MANAGER, DECISIONS) == 0
    assert await queue(desk.store, clock, MANAGER, CODES) == 2


async def test_security_notices_cannot_be_switched_off(desk: DeskDriver, clock: FakeClock) -> None:
    key = await manager_key(desk.store)
    async with desk.store.transaction() as tx:
        for kind in (*notices.SWITCHABLE, NoticeKind.SECURITY):  # a row forged into the store too
            for channel in notices.CHANNELS:
                await tx.notification_preferences.set(key, kind.value, channel, False, clock.now())
    assert await queue(desk.store, clock, MANAGER, DECISIONS) == 0
    assert await queue(desk.store, clock, MANAGER, NoticeKind.SECURITY) == 2
    assert sorted(await queued(desk, NoticeKind.SECURITY)) == [
        ("email", "marieke@blg.example"),
        ("telegram", str(MANAGER)),
    ]


async def test_notify_honours_each_kind_and_channel_apart(
    desk: DeskDriver, clock: FakeClock
) -> None:
    grid = shown(await desk.send(MANAGER, "/notifications"))
    grid = shown(await press(desk, MANAGER, grid, label(ON, DECISIONS, MAIL)))
    shown(await press(desk, MANAGER, grid, label(ON, CODES, TG)))
    await queue(desk.store, clock, MANAGER, DECISIONS)
    await queue(desk.store, clock, MANAGER, CODES)
    await queue(desk.store, clock, MANAGER, NoticeKind.ANNOUNCEMENTS)
    assert await queued(desk, DECISIONS) == [("telegram", str(MANAGER))]
    assert await queued(desk, CODES) == [("email", "marieke@blg.example")]
    assert sorted(await queued(desk, NoticeKind.ANNOUNCEMENTS)) == [
        ("email", "marieke@blg.example"),
        ("telegram", str(MANAGER)),
    ]


def test_the_defaults() -> None:
    everything = Reach((1,), "a@b.example", "+31611112222")
    assert notices.channels_for(everything, {}, DECISIONS) == {TG, MAIL}  # SMS off by default
    assert notices.channels_for(everything, {(DECISIONS, SMS): True}, DECISIONS) == {TG, MAIL, SMS}
    only_phone = Reach((), None, "+31611112222")
    assert notices.channels_for(only_phone, {}, DECISIONS) == {SMS}  # nothing else: SMS on
    chat_only = Reach((1,), None, None)
    assert notices.channels_for(chat_only, {(DECISIONS, MAIL): True}, DECISIONS) == {TG}
    assert notices.channels_for(everything, {}, NoticeKind.SECURITY) == {TG, MAIL}
    assert notices.channels_for(only_phone, {}, NoticeKind.SECURITY) == {SMS}


# -- at send time -------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(
        self, to: str, subject: str, body: str, attachments: Sequence[Attachment] = ()
    ) -> None:
        self.sent.append((to, body))

    def describe(self) -> str:
        return "in memory"

    async def aclose(self) -> None:
        return None


class _Texts:
    async def send(self, to: str, body: str) -> None:
        raise AssertionError("no SMS expected")

    def describe(self) -> str:
        return "in memory"

    async def aclose(self) -> None:
        return None


async def test_a_notice_switched_off_after_it_was_queued_is_not_sent_but_security_is(
    desk: DeskDriver, clock: FakeClock
) -> None:
    await queue(desk.store, clock, MANAGER, DECISIONS)
    await queue(desk.store, clock, MANAGER, NoticeKind.SECURITY)
    # Before the worker gets to them, Marieke switches decisions off by e-mail.
    grid = shown(await desk.send(MANAGER, "/notifications"))
    await press(desk, MANAGER, grid, label(ON, DECISIONS, MAIL))

    mailbox = _Mailbox()
    worker = OutboxWorker(desk.store, email=mailbox, sms=_Texts(), chat=None, clock=clock)
    for _ in range(3):  # a claim takes one row per recipient: a pass per row
        await worker.deliver_due()
    assert mailbox.sent == [("marieke@blg.example", "security notice")]
    rows = {
        (row.payload.get("notice_kind"), row.channel): row.status for row in await desk.outbox(MAIL)
    }
    assert rows == {
        ("decisions", MAIL): OutboxStatus.SKIPPED,
        ("security", MAIL): OutboxStatus.SENT,
    }


async def test_a_notice_to_a_reader_who_is_gone_is_not_sent(
    desk: DeskDriver, clock: FakeClock
) -> None:
    async with desk.store.transaction() as tx:
        stale: dict[str, Any] = {"notice_kind": "codes", "notice_reader": "p999999"}
        security: dict[str, Any] = {"notice_kind": "security", "notice_reader": "p999999"}
        assert not await notices.still_wanted(tx, stale, MAIL)
        assert await notices.still_wanted(tx, security, MAIL)
        assert await notices.still_wanted(tx, {}, MAIL)  # not a notice: untouched


# -- who may press what ---------------------------------------------------------------------


async def test_forged_copied_and_replayed_toggles_change_nothing(desk: DeskDriver) -> None:
    grid = shown(await desk.send(MANAGER, "/notifications"))
    key = await manager_key(desk.store)
    mail_off = data(grid, label(ON, DECISIONS, MAIL))

    # A changed signature, or the kind changed under the same signature.
    forged = mail_off[:-1] + ("A" if mail_off[-1] != "A" else "B")
    outcome = await desk.press(MANAGER, forged)
    assert outcome.callback_notice == EN("stale_button") and outcome.edit_pressed is None
    other_kind = mail_off[:3] + "1" + mail_off[4:]
    assert (await desk.press(MANAGER, other_kind)).callback_notice == EN("stale_button")
    # Marieke's button pressed in Maarten's chat: signed for her chat and her account.
    assert (await desk.press(OTHER_MANAGER, mail_off)).callback_notice == EN("stale_button")
    assert await stored(desk.store, key) == {}
    async with desk.store.transaction() as tx:
        maarten = await own_account.account_of_chat(tx, OTHER_MANAGER)
        assert maarten is not None
        assert await tx.notification_preferences.of_owner(maarten.owner.key) == []
    assert len(await audit(desk.store, AuditAction.TAMPERED_BUTTON)) == 3

    # The real press works once; the same data again (a replay, an old copy of the grid)
    # finds the grid changed: nothing changes, the current grid is shown.
    assert (await desk.press(MANAGER, mail_off)).callback_notice == "Decisions by E-mail: off."
    grid_now = shown(await press(desk, MANAGER, grid, label(ON, CODES, MAIL)))
    assert (await desk.press(MANAGER, mail_off)).callback_notice == EN("notifications_outdated")
    assert label(ON, CODES, MAIL) in labels(grid_now)  # the stale press changed nothing
    assert await stored(desk.store, key) == {("decisions", "email"): False}


async def test_a_chat_without_an_account_is_told_to_link_first(desk: DeskDriver) -> None:
    outcome = await desk.send(STRANGER, "/notifications")
    assert said(outcome, "notifications_link_first") and not outcome.replies[0].buttons
    # A toggle copied from a linked chat does nothing here either.
    grid = shown(await desk.send(MANAGER, "/notifications"))
    pressed = await press(desk, STRANGER, grid, label(ON, DECISIONS, MAIL))
    assert said(pressed, "notifications_link_first")
    assert await stored(desk.store, await manager_key(desk.store)) == {}


async def _holder_and_read_only_member(store: Store, clock: FakeClock) -> tuple[str, str]:
    now = clock.now()
    async with store.transaction() as tx:
        organization = await tx.organizations.by_partner_id(DemoOrg.partner_id)
        assert organization is not None
        holder = customer(organization.id, "1001", now, account_active=True)
        tx.session.add(holder)
        await tx.session.flush()
        member = await tx.members.add(
            AccountMember(
                customer_id=holder.id,
                name="Tweede Ouder",
                email="ouder2@thuis.example",
                read_only=True,
                language="en",
                created_at=now,
            )
        )
        await tx.portal_chats.link(HOLDER_CHAT, holder.id, now)
        await tx.portal_chats.link(MEMBER_CHAT, holder.id, now, member_id=member.id)
        return Owner(OwnerKind.CUSTOMER, holder.id).key, Owner(OwnerKind.MEMBER, member.id).key


async def test_a_read_only_member_changes_only_their_own_preferences(
    desk: DeskDriver, clock: FakeClock
) -> None:
    holder_key, member_key = await _holder_and_read_only_member(desk.store, clock)
    members_grid = shown(await desk.send(MEMBER_CHAT, "/notifications"))
    outcome = await press(desk, MEMBER_CHAT, members_grid, label(ON, NoticeKind.DOCUMENTS, MAIL))
    assert outcome.callback_notice == "Documents by E-mail: off."
    assert await stored(desk.store, member_key) == {("documents", "email"): False}
    assert await stored(desk.store, holder_key) == {}
    # The holder's own toggle, copied into the member's chat, is refused.
    holders_grid = shown(await desk.send(HOLDER_CHAT, "/notifications"))
    copied = await press(desk, MEMBER_CHAT, holders_grid, label(ON, NoticeKind.DOCUMENTS, MAIL))
    assert copied.callback_notice == EN("stale_button")
    assert await stored(desk.store, holder_key) == {}


async def test_a_refusal_to_a_chat_linked_to_the_customer_follows_its_choices(
    desk: DeskDriver, clock: FakeClock
) -> None:
    """Codes news after the first login goes through the preferences (release.py)."""
    from flows import release
    from flows.domain import ActivationRoute, ActivationStatus
    from flows.model import ActivationRequest

    holder_key, _ = await _holder_and_read_only_member(desk.store, clock)
    grid = shown(await desk.send(HOLDER_CHAT, "/notifications"))
    await press(desk, HOLDER_CHAT, grid, label(ON, DECISIONS, MAIL))
    async with desk.store.transaction() as tx:
        holder = await tx.customers.get(int(holder_key[1:]))
        assert holder is not None
        request = ActivationRequest(
            organization_id=holder.organization_id,
            number=1,
            customer_id=holder.id,
            telegram_user_id=HOLDER_CHAT,
            route=ActivationRoute.LETTER,
            status=ActivationStatus.REFUSED,
            created_at=clock.now(),
        )
        request.organization = holder.organization
        await release._tell_refused(tx, request, holder, clock.now())
    assert await queued(desk, DECISIONS) == [("telegram", str(HOLDER_CHAT))]
