"""Linked devices (issue 13 point 2, seed 004's "gekoppelde apparaten"): list, pair by a
one-time deep link, unlink from another chat, /unlink, desk staff for a lost phone; and
every attack on them: a stolen, used, expired or voided link, a link opened in another
account's chat, guessed tokens, forged and replayed Unlink buttons, staff outside their
organization or role."""

from __future__ import annotations

import re

from sqlalchemy import select

from flows import accounts, devices
from flows.domain import AccountStatus, AuditAction, DeliveryChannel, Language, Role
from flows.events import Event, EventKind, Outcome, Sender
from flows.model import AccountMember, AuditEntry, DevicePairing, OutboxMessage, Person
from flows.own_account import Owner, OwnerKind, chats_of, load
from flows.ports import TelegramLinks
from flows.texts import Texts
from flows.turn import Turn
from tests.support import DemoOrg, DeskDriver, said, says, seed_customers, texts_of

EVA_EMAIL = "eva@kantoor.example"
PHONE = 7201
"""Eva's first chat."""
TABLET = 7202
"""The chat she pairs."""
STRANGER = 7209
EN = Texts(Language.EN)
TOKEN = re.compile(r"pair_([A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])")


async def _person(desk: DeskDriver, name: str) -> Person:
    async with desk.store.transaction() as tx:
        return (await tx.session.scalars(select(Person).where(Person.name == name))).one()


async def _link_eva(desk: DeskDriver, chat: int = PHONE) -> Person:
    """Eva, active, with her phone linked (as after her approval)."""
    eva = await _person(desk, "Eva Employee")
    async with desk.store.transaction() as tx:
        person = await tx.people.get(eva.id)
        assert person is not None
        person.status = AccountStatus.ACTIVE
        await tx.chat_links.link(chat, eva.id, desk.clock.now(), "Eva's phone")
    return eva


async def _chats(desk: DeskDriver, owner: Owner) -> list[int]:
    async with desk.store.transaction() as tx:
        return await chats_of(tx, owner)


async def _pair_token(desk: DeskDriver, chat: int = PHONE) -> str:
    outcome = await desk.send(chat, "/pair")
    assert said(outcome, "devices_pair_link", minutes=5), texts_of(outcome)
    found = TOKEN.search(texts_of(outcome))
    assert found, texts_of(outcome)
    return found.group(1)


async def _open(desk: DeskDriver, chat: int, token: str) -> Outcome:
    return await desk.send(chat, f"/start pair_{token}")


def _unlink_buttons(outcome: Outcome) -> dict[str, str]:
    return {b.label: b.data for reply in outcome.replies for row in reply.buttons for b in row}


async def _actions(desk: DeskDriver, action: AuditAction) -> list[AuditEntry]:
    async with desk.store.transaction() as tx:
        query = select(AuditEntry).where(AuditEntry.action == action)
        return list((await tx.session.scalars(query)).all())


async def _sent_to(desk: DeskDriver, recipient: str) -> list[OutboxMessage]:
    return [m for m in await desk.outbox() if m.recipient == recipient]


async def test_pairing_links_one_more_chat_which_devices_lists(desk: DeskDriver) -> None:
    desk.desk.links = TelegramLinks("balie_test_bot")
    eva = await _link_eva(desk)
    outcome = await desk.send(PHONE, "/pair")
    (reply,) = outcome.replies
    token = TOKEN.search(reply.text)
    assert token and reply.qr == f"https://t.me/balie_test_bot?start=pair_{token.group(1)}"
    assert reply.qr in reply.text

    desk.clock.advance(minutes=1)
    opened = await _open(desk, TABLET, token.group(1))
    assert said(opened, "devices_paired", name="Eva Employee"), texts_of(opened)
    owner = Owner(OwnerKind.PERSON, eva.id)
    assert await _chats(desk, owner) == [PHONE, TABLET]  # one more, not a take-over

    listing = await desk.send(PHONE, "/devices")
    text = texts_of(listing)
    assert says(text, "devices_header", org="BLG Wonen")
    assert "1. Eva's phone" in text and "2. User 7202" in text
    assert f"Eva's phone: paired {EN.when(eva.created_at)}" in text
    (this_line,) = [line for line in text.splitlines() if EN("devices_this_chat") in line]
    assert this_line.startswith("1. Eva's phone")
    assert set(_unlink_buttons(listing)) == {"Unlink 1. Eva's phone", "Unlink 2. User 7202"}

    # The only thing kept of the token is its keyed hash, and no audit entry holds it.
    async with desk.store.transaction() as tx:
        (pairing,) = (await tx.session.scalars(select(DevicePairing))).all()
        audit = (await tx.session.scalars(select(AuditEntry))).all()
    assert token.group(1) not in pairing.token_hash
    assert (pairing.used_by_chat, pairing.owner) == (TABLET, owner.key)
    assert all(token.group(1) not in str(entry.detail) for entry in audit)
    assert len(await _actions(desk, AuditAction.DEVICE_LINKED)) == 1


async def test_a_new_link_is_told_to_the_other_chats_and_the_email(desk: DeskDriver) -> None:
    await _link_eva(desk)
    await _open(desk, TABLET, await _pair_token(desk))
    (notice,) = await _sent_to(desk, str(PHONE))
    assert says(notice.body, "devices_linked_notice", name="User 7202", org="BLG Wonen")
    assert "/devices" in notice.body and "not you" in notice.body.lower()
    (mail,) = await _sent_to(desk, EVA_EMAIL)
    assert mail.channel is DeliveryChannel.EMAIL
    assert says(mail.body, "devices_linked_notice", name="User 7202")
    assert mail.subject == EN("mail_devices_subject", org="BLG Wonen")
    assert await _sent_to(desk, str(TABLET)) == []  # the new chat was answered in chat


async def test_a_pairing_link_is_single_use(desk: DeskDriver) -> None:
    eva = await _link_eva(desk)
    token = await _pair_token(desk)
    await _open(desk, TABLET, token)
    again = await _open(desk, STRANGER, token)
    assert said(again, "devices_pair_unusable")
    assert await _chats(desk, Owner(OwnerKind.PERSON, eva.id)) == [PHONE, TABLET]


async def test_a_pairing_link_expires_after_five_minutes(desk: DeskDriver) -> None:
    eva = await _link_eva(desk)
    token = await _pair_token(desk)
    desk.clock.advance(minutes=5)
    assert said(await _open(desk, TABLET, token), "devices_pair_unusable")
    fresh = await _pair_token(desk)
    desk.clock.advance(minutes=4, seconds=59)
    assert said(await _open(desk, TABLET, fresh), "devices_paired", name="Eva Employee")
    assert await _chats(desk, Owner(OwnerKind.PERSON, eva.id)) == [PHONE, TABLET]


async def test_a_newer_pair_voids_the_older_link(desk: DeskDriver) -> None:
    await _link_eva(desk)
    older = await _pair_token(desk)
    newer = await _pair_token(desk)
    assert said(await _open(desk, TABLET, older), "devices_pair_unusable")
    assert said(await _open(desk, TABLET, newer), "devices_paired", name="Eva Employee")


async def test_a_link_opened_in_another_accounts_chat_is_refused_and_not_burned(
    desk: DeskDriver,
) -> None:
    """The attacker's chat (linked to their own account) opens Eva's stolen link: refused,
    the same words as for any token, and Eva's link still works for her tablet."""
    eva = await _link_eva(desk)
    token = await _pair_token(desk)
    taken = await _open(desk, DemoOrg.staff_chat, token)
    assert said(taken, "devices_pair_chat_taken")
    wrong = await _open(desk, DemoOrg.staff_chat, "A" * 32)
    assert texts_of(wrong) == texts_of(taken)  # nothing tells a valid token from a wrong one
    sanne = await _person(desk, "Sanne Staff")
    assert await _chats(desk, Owner(OwnerKind.PERSON, sanne.id)) == [DemoOrg.staff_chat]
    assert said(await _open(desk, TABLET, token), "devices_paired", name="Eva Employee")
    assert await _chats(desk, Owner(OwnerKind.PERSON, eva.id)) == [PHONE, TABLET]
    # Eva's own chat opening her own link is told so, and the link stays usable too.
    own = await _open(desk, PHONE, await _pair_token(desk))
    assert said(own, "devices_pair_already_yours")


async def test_wrong_tokens_are_answered_alike_and_limited(desk: DeskDriver) -> None:
    """Unknown, used, expired and voided tokens get the same reply; after the chat's limit
    of wrong attempts even a valid token opens nothing there (and is not used up)."""
    eva = await _link_eva(desk)
    used = await _pair_token(desk)
    await _open(desk, TABLET, used)
    expired = await _pair_token(desk)
    desk.clock.advance(minutes=6)
    voided = await _pair_token(desk)
    await _pair_token(desk)
    replies = {
        texts_of(await _open(desk, STRANGER, token))
        for token in (used, expired, voided, "B" * 32, "short", "")
    }
    assert replies == {texts_of(await _open(desk, STRANGER, "C" * 32))}
    assert says(replies.pop(), "devices_pair_unusable")
    for _ in range(desk.desk.policy.wrong_attempts_per_hour):
        await _open(desk, STRANGER, "D" * 32)
    valid = await _pair_token(desk)
    limited = await _open(desk, STRANGER, valid)
    assert said(limited, "devices_pair_unusable")
    assert STRANGER not in await _chats(desk, Owner(OwnerKind.PERSON, eva.id))
    assert said(await _open(desk, 7210, valid), "devices_paired", name="Eva Employee")
    refused = await _actions(desk, AuditAction.DEVICE_PAIRING_REFUSED)
    assert {entry.detail.get("reason") for entry in refused} == {"unusable", "limited"}


async def test_a_lost_phone_is_unlinked_from_another_device(desk: DeskDriver) -> None:
    eva = await _link_eva(desk)
    await _open(desk, TABLET, await _pair_token(desk))
    mails_before = len(await _sent_to(desk, EVA_EMAIL))
    listing = await desk.send(TABLET, "/devices")
    data = _unlink_buttons(listing)["Unlink 1. Eva's phone"]
    outcome = await desk.press(TABLET, data)
    assert said(outcome, "devices_unlinked_done", name="Eva's phone")
    assert outcome.callback_notice == EN("devices_unlinked_toast")
    assert "Eva's phone" not in texts_of(outcome).split(EN("devices_header", org="BLG Wonen"))[1]
    assert await _chats(desk, Owner(OwnerKind.PERSON, eva.id)) == [TABLET]
    # The lost phone is told it is unlinked; the e-mail gets the security notice.
    told = await _sent_to(desk, str(PHONE))
    assert says(told[-1].body, "devices_unlinked_you", org="BLG Wonen")
    mails = await _sent_to(desk, EVA_EMAIL)
    assert len(mails) == mails_before + 1
    assert says(mails[-1].body, "devices_unlinked_notice", name="Eva's phone")
    (entry,) = await _actions(desk, AuditAction.DEVICE_UNLINKED)
    assert entry.detail["by"] == "device" and entry.detail["unlinked_chat"] == PHONE
    # The phone itself can no longer act for the account.
    assert said(await desk.send(PHONE, "/devices"), "devices_not_linked")


async def test_unlink_unlinks_this_chat_after_confirming(desk: DeskDriver) -> None:
    eva = await _link_eva(desk)
    await _open(desk, TABLET, await _pair_token(desk))
    asked = await desk.send(TABLET, "/unlink")
    assert said(asked, "devices_unlink_confirm", org="BLG Wonen")
    assert await _chats(desk, Owner(OwnerKind.PERSON, eva.id)) == [PHONE, TABLET]
    (data,) = _unlink_buttons(asked).values()
    done = await desk.press(TABLET, data)
    assert said(done, "devices_unlinked_this", org="BLG Wonen")
    assert await _chats(desk, Owner(OwnerKind.PERSON, eva.id)) == [PHONE]
    notices = await _sent_to(desk, str(PHONE))
    assert says(notices[-1].body, "devices_unlinked_notice", name="User 7202")
    assert not [m for m in await _sent_to(desk, str(TABLET))]
    assert said(await desk.send(STRANGER, "/unlink"), "devices_not_linked")


async def test_forged_and_replayed_unlink_buttons_are_refused(desk: DeskDriver) -> None:
    eva = await _link_eva(desk)
    await _open(desk, TABLET, await _pair_token(desk))
    owner = Owner(OwnerKind.PERSON, eva.id)
    data = _unlink_buttons(await desk.send(TABLET, "/devices"))["Unlink 1. Eva's phone"]
    stale = EN("stale_button")
    # Copied into another chat (the attacker's, or even Eva's own phone): bound to the tablet.
    for chat in (STRANGER, PHONE):
        assert (await desk.press(chat, data)).callback_notice == stale
    # Changed to name another chat or account, or with the signature cut or changed.
    body, signature = data.rsplit(":", 1)
    for forged in (
        data.replace(f":{PHONE}:", f":{DemoOrg.staff_chat}:"),
        data.replace(f"x:{owner.key}:", "x:p1:"),
        f"{body}:{'A' * 16}",
        f"{body}:{signature[:12]}",
    ):
        outcome = await desk.press(TABLET, forged)
        assert outcome.callback_notice == stale or said(outcome, "stale_button"), forged
    assert await _chats(desk, owner) == [PHONE, TABLET]
    assert len(await _actions(desk, AuditAction.TAMPERED_BUTTON)) >= 3
    # Pressed for real once; pressed again: nothing more happens.
    await desk.press(TABLET, data)
    assert await _chats(desk, owner) == [TABLET]
    assert (await desk.press(TABLET, data)).callback_notice == stale
    # The phone paired again later: the old button does not unlink the new link.
    desk.clock.advance(minutes=1)
    await _open(desk, PHONE, await _pair_token(desk, TABLET))
    assert (await desk.press(TABLET, data)).callback_notice == stale
    assert await _chats(desk, owner) == [TABLET, PHONE]
    assert len(await _actions(desk, AuditAction.DEVICE_UNLINKED)) == 1


async def test_desk_staff_unlink_a_lost_phone_of_their_organization(desk: DeskDriver) -> None:
    eva = await _link_eva(desk)
    listing = await desk.send(DemoOrg.staff_chat, "/devices eva employee")
    assert said(listing, "devices_staff_header", name="Eva Employee", account=f"p{eva.id}")
    (data,) = _unlink_buttons(listing).values()
    (listed,) = await _actions(desk, AuditAction.DEVICES_LISTED_BY_STAFF)
    sanne = await _person(desk, "Sanne Staff")
    assert listed.actor_person_id == sanne.id
    # The button is bound to the staff chat: Eva's stranger cannot press a copy.
    assert (await desk.press(STRANGER, data)).callback_notice == EN("stale_button")
    outcome = await desk.press(DemoOrg.staff_chat, data)
    assert said(outcome, "devices_unlinked_done", name="Eva's phone")
    assert await _chats(desk, Owner(OwnerKind.PERSON, eva.id)) == []
    (entry,) = await _actions(desk, AuditAction.DEVICE_UNLINKED)
    assert entry.actor_person_id == sanne.id and entry.detail["by"] == "staff"
    (mail,) = await _sent_to(desk, EVA_EMAIL)
    assert says(mail.body, "devices_unlinked_by_desk_notice", name="Eva's phone")
    assert says((await _sent_to(desk, str(PHONE)))[-1].body, "devices_unlinked_you")


async def test_staff_listing_stays_within_organization_and_role(desk: DeskDriver) -> None:
    await _link_eva(desk)
    other_staff = 7301
    async with desk.store.transaction() as tx:
        await accounts.add_organization(tx, "Ander Wonen", "AW-1", desk.clock.now())
        await accounts.add_staff(
            tx,
            partner_id="AW-1",
            name="Otto Other",
            role=Role.MANAGER,
            email="otto@ander.example",
            phone=None,
            telegram_id=other_staff,
            now=desk.clock.now(),
        )
    none = await desk.send(other_staff, "/devices Eva Employee")
    assert said(none, "devices_staff_none", org="Ander Wonen")
    assert not _unlink_buttons(none)
    # An employee (no staff power) is refused and audited.
    refused = await desk.send(PHONE, "/devices Eva Employee")
    assert said(refused, "staff_release_not_allowed")
    assert await _actions(desk, AuditAction.STAFF_ACTION_REFUSED)
    # Desk staff do not manage a manager's devices; a manager does.
    staff_try = await desk.send(DemoOrg.staff_chat, "/devices Marieke Manager")
    assert said(staff_try, "devices_staff_none")
    manager = await desk.send(DemoOrg.second_manager_chat, "/devices Marieke Manager")
    assert said(manager, "devices_staff_header", name="Marieke Manager")
    # A staff button pressed after the staff member lost the power does nothing.
    data = next(
        iter(_unlink_buttons(await desk.send(DemoOrg.staff_chat, "/devices Eva Employee")).values())
    )
    sanne = await _person(desk, "Sanne Staff")
    async with desk.store.transaction() as tx:
        person = await tx.people.get(sanne.id)
        assert person is not None
        person.role = Role.EMPLOYEE
    assert said(await desk.press(DemoOrg.staff_chat, data), "staff_release_not_allowed")
    eva = await _person(desk, "Eva Employee")
    assert await _chats(desk, Owner(OwnerKind.PERSON, eva.id)) == [PHONE]


async def test_portal_accounts_and_members_pair_their_own_devices(desk: DeskDriver) -> None:
    await seed_customers(desk.store, desk.clock)
    holder_chat, member_chat, member_tablet = 7401, 7402, 7403
    async with desk.store.transaction() as tx:
        customer = await tx.customers.by_number(1, "1001")
        assert customer is not None
        member = await tx.members.add(
            AccountMember(
                customer_id=customer.id,
                name="Tweede Ouder",
                email="ouder2@thuis.example",
                read_only=True,
                language="en",
                created_at=desk.clock.now(),
            )
        )
        await tx.portal_chats.link(holder_chat, customer.id, desk.clock.now(), device_name="Mam")
        await tx.portal_chats.link(
            member_chat, customer.id, desk.clock.now(), member_id=member.id, device_name="Pap"
        )
        customer_id, member_id = customer.id, member.id
    token = await _pair_token(desk, member_chat)  # a read-only member pairs their own device
    assert said(await _open(desk, member_tablet, token), "devices_paired", name="Tweede Ouder")
    member_owner = Owner(OwnerKind.MEMBER, member_id)
    assert await _chats(desk, member_owner) == [member_chat, member_tablet]
    assert await _chats(desk, Owner(OwnerKind.CUSTOMER, customer_id)) == [holder_chat]
    # The member's other chat and address hear of it; the holder's chat does not.
    assert await _sent_to(desk, str(member_chat)) and not await _sent_to(desk, str(holder_chat))
    assert await _sent_to(desk, "ouder2@thuis.example")
    holder_list = texts_of(await desk.send(holder_chat, "/devices"))
    assert "Mam" in holder_list and "Pap" not in holder_list
    # The desk finds the account by its customer number: the holder and each member.
    staff = await desk.send(DemoOrg.staff_chat, "/devices 1001")
    assert said(staff, "devices_staff_header", name="Klant 1001")
    assert said(staff, "devices_staff_header", name="Tweede Ouder")
    assert len(_unlink_buttons(staff)) == 3


async def test_every_link_records_the_chats_name(desk: DeskDriver) -> None:
    await desk.send(DemoOrg.manager_chat, "/invite nina@kantoor.example Nina")
    (mail,) = await _sent_to(desk, "nina@kantoor.example")
    found = re.search(r"start[ =]([A-Za-z0-9_-]{43})\b", mail.body)
    assert found
    sender = Sender(7501, "Nina \u202e\x00 Smartphone " + "x" * 200, "en")
    await desk.desk.handle(
        Event(7501, sender, EventKind.COMMAND, text=found.group(1), command="start")
    )
    nina = await _person(desk, "Nina")
    async with desk.store.transaction() as tx:
        (link,) = await tx.chat_links.of_person(nina.id)
    assert link.device_name is not None and link.device_name.startswith("Nina Smartphone x")
    assert len(link.device_name) == devices.DEVICE_NAME_LENGTH


def test_a_chat_name_is_cleaned_and_cut() -> None:
    assert devices.device_name(Sender(1, "  Eva\n\tde\u200b Vries  ")) == "Eva de Vries"
    assert devices.device_name(Sender(1, "\x00\x01")) is None
    assert len(devices.device_name(Sender(1, "y" * 500)) or "") == 100


async def test_finishing_a_pairing_needs_the_link_this_chat_opened(desk: DeskDriver) -> None:
    """The resumer after the second factor links only the chat that opened the account's
    link: data naming another pairing, chat or account links nothing."""
    eva = await _link_eva(desk)
    token = await _pair_token(desk)
    await _open(desk, TABLET, token)
    async with desk.store.transaction() as tx:
        (pairing,) = (await tx.session.scalars(select(DevicePairing))).all()
        account = await load(tx, Owner(OwnerKind.PERSON, eva.id))
        assert account is not None
        event = Event.from_text(STRANGER, desk.sender(STRANGER), "/resume")
        conversation = await tx.conversations.load(STRANGER, desk.clock.now())
        turn = Turn(event, conversation, tx, desk.desk.policy, desk.clock.now(), desk.desk.hasher)
        for data in ({"pairing": pairing.id}, {"pairing": "1"}, {}):
            await devices.finish_pairing(turn, account, data)
        assert all(says(r.text, "devices_pair_unusable") for r in turn.outcome.replies)
    assert STRANGER not in await _chats(desk, Owner(OwnerKind.PERSON, eva.id))
