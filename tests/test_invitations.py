"""Invitations by deep link (issue 11, seed 003): issue, open, choose a password, confirm;
and every way a token opens nothing, with one neutral reply."""

from __future__ import annotations

import re

from sqlalchemy import select

from flows.builtin_directory import PasswordVerifier
from flows.domain import AccountStatus, AuditAction, DeliveryChannel, Role
from flows.model import AuditEntry, Invitation, OutboxMessage, Person
from flows.outbox_payload import QR_OF_LINK
from flows.ports import TelegramLinks
from tests.support import DeskDriver, said, texts_of

MANAGER = 5001
STAFF = 5003
INVITEE = 7101
STRANGER = 7102
TOKEN = re.compile(r"start[ =]([A-Za-z0-9_-]{43})\b")


async def _invite(desk: DeskDriver, email: str = "nina@kantoor.example", name: str = "Nina") -> str:
    outcome = await desk.send(MANAGER, f"/invite {email} {name}".strip())
    assert said(outcome, "invite_sent", name=name, email=email), texts_of(outcome)
    return await _token(desk, email)


async def _token(desk: DeskDriver, email: str) -> str:
    mails = [m for m in await desk.outbox(DeliveryChannel.EMAIL) if m.recipient == email]
    assert mails, f"no invitation to {email}"
    found = TOKEN.search(mails[-1].body)
    assert found, mails[-1].body
    return found.group(1)


async def _person(desk: DeskDriver, email: str) -> Person:
    async with desk.store.transaction() as tx:
        person = (await tx.session.scalars(select(Person).where(Person.email == email))).one()
        return person


async def _invitations(desk: DeskDriver) -> list[Invitation]:
    async with desk.store.transaction() as tx:
        return list((await tx.session.scalars(select(Invitation).order_by(Invitation.id))).all())


async def _actions(desk: DeskDriver) -> list[str]:
    async with desk.store.transaction() as tx:
        return [e.action for e in (await tx.session.scalars(select(AuditEntry))).all()]


async def test_an_invitation_makes_the_person_and_keeps_only_the_tokens_hash(
    desk: DeskDriver,
) -> None:
    desk.desk.links = TelegramLinks("balie_test_bot")
    token = await _invite(desk)
    person = await _person(desk, "nina@kantoor.example")
    assert (person.role, person.status, person.pre_registered) == (
        Role.EMPLOYEE,
        AccountStatus.PENDING,
        True,
    )
    (invitation,) = await _invitations(desk)
    assert token not in invitation.token_hash
    assert invitation.expires_at - invitation.created_at == desk.desk.policy.invitation_valid_for
    async with desk.store.transaction() as tx:
        (row,) = (
            await tx.session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient == "nina@kantoor.example")
            )
        ).all()
        assert row.sensitive and token not in row.body  # sealed at rest
        assert row.payload == {QR_OF_LINK: True}
    (mail,) = [m for m in await desk.outbox() if m.recipient == "nina@kantoor.example"]
    assert f"https://t.me/balie_test_bot?start={token}" in mail.body
    assert AuditAction.INVITATION_SENT in await _actions(desk)


async def test_opening_links_the_chat_asks_for_a_password_and_confirms(desk: DeskDriver) -> None:
    token = await _invite(desk)
    opened = await desk.send(INVITEE, f"/start {token}")
    assert said(opened, "invitation_welcome", name="Nina", org="BLG Wonen")
    assert "password" in texts_of(opened).lower()
    person = await _person(desk, "nina@kantoor.example")
    assert person.status is AccountStatus.ACTIVE
    async with desk.store.transaction() as tx:
        linked = await tx.chat_links.person_for(INVITEE)
        assert linked is not None and linked.id == person.id

    chosen = await desk.send(INVITEE, "groene fiets in de gracht")
    assert chosen.delete_message
    async with desk.store.transaction() as tx:
        organization = await tx.organizations.get(person.organization_id)
        assert organization is not None
        verdict = await PasswordVerifier().verify(
            tx,
            organization,
            "nina@kantoor.example",
            "groene fiets in de gracht",
            desk.clock.now().date(),
        )
    assert verdict.valid
    (invitation,) = await _invitations(desk)
    assert invitation.opened_at is not None and invitation.confirmed_at is not None
    actions = await _actions(desk)
    assert AuditAction.INVITATION_OPENED in actions and AuditAction.INVITATION_CONFIRMED in actions
    mails = [m.body for m in await desk.outbox() if m.recipient == "nina@kantoor.example"]
    assert len(mails) == 2 and "groene fiets" not in mails[1]  # seed 003's third e-mail

    again = await desk.send(STRANGER, f"/start {token}")
    assert said(again, "invitation_unusable") and said(again, "welcome")

    listed = await desk.send(MANAGER, "/employees")
    text = texts_of(listed)
    assert "invitation sent" in text and "not yet" not in text.split("Nina", 1)[1].split("\n")[1]


async def test_unknown_expired_withdrawn_and_resent_tokens_get_one_neutral_reply(
    desk: DeskDriver,
) -> None:
    answers = []
    guessed = await desk.send(STRANGER, "/start " + "A" * 43)
    answers.append(guessed)

    old = await _invite(desk, "oud@kantoor.example", "Oud")
    resent = await desk.send(MANAGER, "/invite resend oud@kantoor.example")
    assert said(resent, "invite_sent", name="Oud", email="oud@kantoor.example")
    new = await _token(desk, "oud@kantoor.example")
    assert new != old
    answers.append(await desk.send(STRANGER, f"/start {old}"))

    withdrawn = await _invite(desk, "weg@kantoor.example", "Weg")
    assert said(
        await desk.send(MANAGER, "/invite withdraw weg@kantoor.example"),
        "invite_withdrawn",
        name="Weg",
    )
    answers.append(await desk.send(STRANGER, f"/start {withdrawn}"))

    desk.clock.advance(days=8)
    answers.append(await desk.send(STRANGER, f"/start {new}"))

    replies = {texts_of(answer) for answer in answers}
    assert len(replies) == 1
    assert all(said(a, "invitation_unusable") and said(a, "welcome") for a in answers)
    async with desk.store.transaction() as tx:
        assert await tx.chat_links.person_for(STRANGER) is None


async def test_invite_is_for_managers_and_refuses_role_addresses(desk: DeskDriver) -> None:
    refused = await desk.send(STAFF, "/invite nina@kantoor.example")
    assert said(refused, "staff_not_allowed")
    assert AuditAction.STAFF_ACTION_REFUSED in await _actions(desk)
    stranger = await desk.send(STRANGER, "/invite nina@kantoor.example")
    assert said(stranger, "staff_not_allowed")
    role = await desk.send(MANAGER, "/invite info@kantoor.example")
    assert said(role, "contact_role_address")
    assert not await _invitations(desk)
    assert said(await desk.send(MANAGER, "/invite"), "invite_usage")


async def test_a_token_does_not_take_over_a_chat_of_another_account(desk: DeskDriver) -> None:
    token = await _invite(desk)
    taken = await desk.send(MANAGER, f"/start {token}")
    assert said(taken, "invitation_chat_taken", name="Marieke Manager", org="BLG Wonen")
    async with desk.store.transaction() as tx:
        linked = await tx.chat_links.person_for(MANAGER)
        assert linked is not None and linked.name == "Marieke Manager"
    # The invited person can still open it in their own chat.
    assert said(
        await desk.send(INVITEE, f"/start {token}"),
        "invitation_welcome",
        name="Nina",
        org="BLG Wonen",
    )


async def test_wrong_tokens_are_counted_per_chat(desk: DeskDriver) -> None:
    token = await _invite(desk)
    for n in range(desk.desk.policy.wrong_attempts_per_hour):
        await desk.send(STRANGER, f"/start guess{n}")
    # Over the limit even the right token opens nothing from this chat for now.
    blocked = await desk.send(STRANGER, f"/start {token}")
    assert said(blocked, "invitation_unusable")
    (invitation,) = await _invitations(desk)
    assert invitation.opened_at is None
    assert said(
        await desk.send(INVITEE, f"/start {token}"),
        "invitation_welcome",
        name="Nina",
        org="BLG Wonen",
    )


async def test_an_approved_registration_gets_an_invitation_to_choose_a_password(
    desk: DeskDriver,
) -> None:
    await desk.register(7201, "BLG-1001", "eva@kantoor.example")
    await desk.deliver_chats()
    approve = await desk.card_button(MANAGER, "Approve")
    await desk.press(MANAGER, approve)
    token = await _token(desk, "eva@kantoor.example")
    opened = await desk.send(7201, f"/start {token}")
    assert said(opened, "invitation_welcome", name="Eva Employee", org="BLG Wonen")
