"""Shared accounts (issue 13 point 5; seed 004: each parent an own login, one read-only;
seed 003: extra accounts added, viewed, deleted): the holder's ``/members``, the member's
invitation link, what a read-only member is refused, and ``balie member``."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import cli
from flows import members, notices
from flows.domain import AuditAction, ConversationState, DeliveryChannel, Language
from flows.masking import mask_email
from flows.member_flow import MemberButton, Verb, encode_button
from flows.members import MemberAction
from flows.model import AccountMember, AuditEntry, MemberInvitation, OutboxMessage, PortalChat
from flows.outbox_payload import QR_OF_LINK
from flows.own_account import Owner, OwnerKind, account_of_chat, load
from flows.ports import TelegramLinks
from storage.db import create_engine
from storage.migrate import upgrade
from storage.uow import Store
from tests.support import (
    TEST_HASHER,
    DeskDriver,
    FakeClock,
    buttons_of,
    customer,
    said,
    seed_customers,
    texts_of,
)

HOLDER = 7201
"""Customer 1001's own chat (klant1001@thuis.example)."""
OTHER_HOLDER = 7202
"""Customer 1008's own chat (klant1008@thuis.example)."""
MEMBER = 7301
SECOND_MEMBER = 7302
STRANGER = 7303
STAFF = 5003
ANNA = "anna@thuis.example"
TOKEN = re.compile(r"start[ =]member_([A-Za-z0-9_-]{43})\b")


@pytest.fixture
async def shared(desk: DeskDriver) -> DeskDriver:
    """BLG Wonen's customers; 1001 and 1008 activated, each with their holder's chat."""
    await seed_customers(desk.store, desk.clock)
    async with desk.store.transaction() as tx:
        organization = await tx.organizations.by_partner_id("BLG-1001")
        assert organization is not None
        for number, chat in (("1001", HOLDER), ("1008", OTHER_HOLDER)):
            found = await tx.customers.by_number(organization.id, number)
            assert found is not None
            found.account_active = True
            await tx.portal_chats.link(chat, found.id, desk.clock.now())
    return desk


def _button(outcome: object, label: str) -> str:
    for reply in outcome.replies:  # type: ignore[attr-defined]
        for row in reply.buttons:
            for button in row:
                if button.label == label:
                    return str(button.data)
    raise AssertionError(f"no button {label!r} in {texts_of(outcome)}")  # type: ignore[arg-type]


async def _add(
    desk: DeskDriver, name: str = "Anna", email: str = ANNA, read_only: bool = True
) -> str:
    """The holder adds a member through /members; the token from the member's mail."""
    listing = await desk.send(HOLDER, "/members")
    asked = await desk.press(HOLDER, _button(listing, "Add a member"))
    assert said(asked, "member_ask_name"), texts_of(asked)
    assert said(await desk.send(HOLDER, name), "member_ask_email", name=name)
    question = await desk.send(HOLDER, email)
    assert said(question, "member_ask_read_only", name=name), texts_of(question)
    label = "Read-only" if read_only else "Full access"
    done = await desk.press(HOLDER, _button(question, label))
    assert said(done, "member_invitation_sent", name=name, email=mask_email(email)), texts_of(done)
    return await _token(desk, email)


async def _token(desk: DeskDriver, email: str) -> str:
    mails = [m for m in await desk.outbox(DeliveryChannel.EMAIL) if m.recipient == email]
    assert mails, f"no mail to {email}"
    found = TOKEN.search(mails[-1].body)
    assert found, mails[-1].body
    return found.group(1)


async def _members(desk: DeskDriver) -> list[AccountMember]:
    async with desk.store.transaction() as tx:
        rows = await tx.session.scalars(select(AccountMember).order_by(AccountMember.id))
        return list(rows.all())


async def _audit(desk: DeskDriver, action: AuditAction) -> list[AuditEntry]:
    async with desk.store.transaction() as tx:
        rows = await tx.session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows.all())


async def _joined(desk: DeskDriver, read_only: bool = True) -> AccountMember:
    token = await _add(desk, read_only=read_only)
    welcome = await desk.send(MEMBER, f"/start member_{token}")
    assert said(welcome, "member_welcome", name="Anna", holder="Klant 1001"), texts_of(welcome)
    (member,) = await _members(desk)
    return member


# -- adding, listing -------------------------------------------------------------------------


async def test_the_holder_adds_a_member_who_gets_a_sealed_invitation_with_a_qr_code(
    shared: DeskDriver,
) -> None:
    shared.desk.links = TelegramLinks("balie_test_bot")
    empty = await shared.send(HOLDER, "/members")
    assert said(empty, "members_none")
    token = await _add(shared)
    (member,) = await _members(shared)
    assert (member.name, member.email, member.read_only, member.joined_at) == (
        "Anna",
        ANNA,
        True,
        None,
    )
    async with shared.store.transaction() as tx:
        (invitation,) = (await tx.session.scalars(select(MemberInvitation))).all()
        assert token not in invitation.token_hash
        assert invitation.token_hash == TEST_HASHER.digest(members.TOKEN_LABEL, token)
        assert (
            invitation.expires_at - invitation.created_at == shared.desk.policy.invitation_valid_for
        )
        (row,) = (
            await tx.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == ANNA))
        ).all()
        assert row.sensitive and token not in row.body  # sealed at rest
        assert row.payload == {QR_OF_LINK: True}
    (mail,) = [m for m in await shared.outbox() if m.recipient == ANNA]
    assert f"https://t.me/balie_test_bot?start=member_{token}" in mail.body
    assert len(await _audit(shared, AuditAction.MEMBER_ADDED)) == 1

    listing = texts_of(await shared.send(HOLDER, "/members"))
    assert "Anna, a•••@thuis.example: read-only, invited" in listing
    assert ANNA not in listing


async def test_an_address_in_use_gets_one_neutral_answer_whoever_uses_it(
    shared: DeskDriver,
) -> None:
    await _add(shared, "Bert", "bert@thuis.example")
    async with shared.store.transaction() as tx:
        organization = await tx.organizations.by_partner_id("BLG-1001")
        assert organization is not None
        tx.session.add(customer(organization.id, "2001", shared.clock.now(), email="c@x.example"))
    answers = []
    for address in (
        "klant1001@thuis.example",  # the holder's own
        "Klant1008@Thuis.example",  # another holder's, in other case
        "BERT@thuis.example",  # a member's
        "c@x.example",  # a customer without a chat yet
    ):
        listing = await shared.send(HOLDER, "/members")
        await shared.press(HOLDER, _button(listing, "Add a member"))
        await shared.send(HOLDER, "Carla")
        refused = await shared.send(HOLDER, address)
        assert said(refused, "member_email_unusable"), (address, texts_of(refused))
        answers.append(texts_of(refused))
        async with shared.store.transaction() as tx:
            state = (await tx.conversations.load(HOLDER, shared.clock.now())).state
        assert state is ConversationState.MEMBER_EMAIL
        await shared.send(HOLDER, "/cancel")
    assert len(set(answers)) == 1
    assert len(await _members(shared)) == 1
    assert len(await _audit(shared, AuditAction.MEMBER_REFUSED)) == 4

    listing = await shared.send(HOLDER, "/members")
    await shared.press(HOLDER, _button(listing, "Add a member"))
    await shared.send(HOLDER, "Carla")
    assert said(await shared.send(HOLDER, "info@thuis.example"), "contact_role_address")
    assert said(await shared.send(HOLDER, "not an address"), "contact_bad_email")


async def test_members_is_for_the_holder_only(shared: DeskDriver) -> None:
    await _joined(shared)
    assert said(await shared.send(MEMBER, "/members"), "members_holder_only")
    assert said(await shared.send(STRANGER, "/members"), "members_no_account")
    assert said(await shared.send(STAFF, "/members"), "members_no_account")
    refusals = await _audit(shared, AuditAction.MEMBER_REFUSED)
    assert [r.detail["reason"] for r in refusals] == ["manage_members"] * 3


# -- the invitation link ---------------------------------------------------------------------


async def test_the_member_joins_by_the_link_and_the_holder_is_told(shared: DeskDriver) -> None:
    member = await _joined(shared)
    assert member.joined_at == shared.clock.now()
    async with shared.store.transaction() as tx:
        link = await tx.session.get(PortalChat, MEMBER)
        assert link is not None and link.member_id == member.id
        account = await account_of_chat(tx, MEMBER)
        assert account is not None and account.read_only and account.owner.kind is OwnerKind.MEMBER
    notices = [
        m for m in await shared.outbox(DeliveryChannel.TELEGRAM) if m.recipient == str(HOLDER)
    ]
    assert notices and "Anna (a•••@thuis.example) joined your account" in notices[-1].body
    mails = [
        m
        for m in await shared.outbox(DeliveryChannel.EMAIL)
        if m.recipient == "klant1001@thuis.example"
    ]
    assert mails and mails[-1].subject == "A member joined your account at BLG Wonen"
    assert len(await _audit(shared, AuditAction.MEMBER_JOINED)) == 1
    listing = texts_of(await shared.send(HOLDER, "/members"))
    assert "Anna, a•••@thuis.example: read-only, joined" in listing


async def test_a_link_works_once_and_not_after_it_expired(shared: DeskDriver) -> None:
    token = await _add(shared)
    assert said(await shared.send(MEMBER, f"/start member_{token}"), "member_welcome")
    again = await shared.send(SECOND_MEMBER, f"/start member_{token}")
    assert said(again, "invitation_unusable") and said(again, "welcome")

    late = await _add(shared, "Bert", "bert@thuis.example")
    shared.clock.advance(days=8)
    assert said(await shared.send(STRANGER, f"/start member_{late}"), "invitation_unusable")
    async with shared.store.transaction() as tx:
        assert await tx.portal_chats.get(STRANGER) is None
        assert await tx.portal_chats.get(SECOND_MEMBER) is None


async def test_tokens_that_open_nothing_get_identical_answers_and_are_limited(
    shared: DeskDriver,
) -> None:
    used = await _add(shared)
    await shared.send(MEMBER, f"/start member_{used}")
    expired = await _add(shared, "Bert", "bert@thuis.example")
    shared.clock.advance(days=8)
    valid = await _add(shared, "Carla", "carla@thuis.example")
    answers = {
        texts_of(await shared.send(STRANGER, f"/start member_{token}"))
        for token in (used, expired, "x" * 43, "", "nonsense")
    }
    assert len(answers) == 1
    policy = shared.desk.policy
    for _ in range(policy.wrong_attempts_per_hour - 5):
        await shared.send(STRANGER, f"/start member_{'y' * 43}")
    limited = await shared.send(STRANGER, f"/start member_{valid}")
    assert texts_of(limited) in answers  # the same words, and the token is not burned
    shared.clock.advance(hours=1, minutes=1)
    assert said(
        await shared.send(STRANGER, f"/start member_{valid}"), "member_welcome", name="Carla"
    )
    reasons = [
        r.detail["reason"] for r in await _audit(shared, AuditAction.MEMBER_INVITATION_REFUSED)
    ]
    assert (
        reasons.count("limited") == 1
        and reasons.count("unusable") == policy.wrong_attempts_per_hour
    )


async def test_a_link_opened_in_another_accounts_chat_is_refused_and_kept(
    shared: DeskDriver,
) -> None:
    token = await _add(shared)
    for chat in (HOLDER, OTHER_HOLDER, STAFF):
        refused = await shared.send(chat, f"/start member_{token}")
        assert said(refused, "invitation_chat_taken"), texts_of(refused)
    async with shared.store.transaction() as tx:
        holder_link = await tx.portal_chats.get(HOLDER)
        assert holder_link is not None and holder_link.member_id is None
        assert (await tx.chat_links.person_for(STAFF)) is not None
    assert said(await shared.send(MEMBER, f"/start member_{token}"), "member_welcome")


# -- what a member may do --------------------------------------------------------------------


async def test_a_read_only_member_is_refused_each_thing_it_may_not_do(shared: DeskDriver) -> None:
    await _joined(shared, read_only=True)
    from flows.buttons import Menu, MenuChoice, encode

    for typed in ("/activate", "/activation", "/password"):
        refused = await shared.send(MEMBER, typed)
        assert said(refused, "member_read_only_refused"), (typed, texts_of(refused))
    for choice in (MenuChoice.REQUEST_CODE, MenuChoice.HAVE_CODE, MenuChoice.FORGOT_PASSWORD):
        assert said(await shared.press(MEMBER, encode(Menu(choice))), "member_read_only_refused")
    assert said(await shared.send(MEMBER, "/members"), "members_holder_only")
    # An Add button signed for the member's own chat still adds nothing.
    forged = encode_button(TEST_HASHER, MemberButton(Verb.ADD), MEMBER)
    assert said(await shared.press(MEMBER, forged), "members_holder_only")
    async with shared.store.transaction() as tx:
        assert (
            await tx.conversations.load(MEMBER, shared.clock.now())
        ).state is ConversationState.IDLE
    assert not [
        m
        for m in await shared.outbox(DeliveryChannel.EMAIL)
        if m.recipient == "klant1001@thuis.example" and "code" in m.body.lower()
    ]
    reasons = Counter(r.detail["reason"] for r in await _audit(shared, AuditAction.MEMBER_REFUSED))
    assert reasons == {"request_code": 4, "reset_password": 2, "manage_members": 2}


async def test_a_full_member_may_do_what_the_holder_can_except_manage_members(
    shared: DeskDriver,
) -> None:
    await _joined(shared, read_only=False)
    assert said(await shared.send(MEMBER, "/activate"), "ask_redeem_customer_number")
    await shared.send(MEMBER, "/cancel")
    assert said(await shared.send(MEMBER, "/password"), "ask_reset_identifier")
    await shared.send(MEMBER, "/cancel")
    assert said(await shared.send(MEMBER, "/members"), "members_holder_only")


async def test_may_is_the_one_rule(shared: DeskDriver) -> None:
    await _joined(shared)
    async with shared.store.transaction() as tx:
        holder = await account_of_chat(tx, HOLDER)
        member = await account_of_chat(tx, MEMBER)
        staff = await account_of_chat(tx, STAFF)
        assert holder is not None and member is not None and staff is not None
        for action in MemberAction:
            assert members.may(holder, action)
            assert not members.may(member, action)
            assert members.may(staff, action) is (action is not MemberAction.MANAGE_MEMBERS)
            assert members.may(None, action) is (action is not MemberAction.MANAGE_MEMBERS)
        assert member.member is not None
        member.member.read_only = False
        full = await account_of_chat(tx, MEMBER)
        assert full is not None
        assert [members.may(full, a) for a in MemberAction] == [True, True, True, False]


async def test_readers_of_are_the_holder_and_the_members_who_joined(shared: DeskDriver) -> None:
    await _joined(shared)
    await _add(shared, "Bert", "bert@thuis.example")  # invited, not joined
    async with shared.store.transaction() as tx:
        holder = await account_of_chat(tx, HOLDER)
        member = await account_of_chat(tx, MEMBER)
        staff = await account_of_chat(tx, STAFF)
        assert holder is not None and member is not None and staff is not None
        readers = await notices.readers_of(tx, holder)
        assert [r.owner.kind for r in readers] == [OwnerKind.CUSTOMER, OwnerKind.MEMBER]
        assert [r.name for r in readers] == ["Klant 1001", "Anna"]
        assert [r.owner for r in await notices.readers_of(tx, member)] == [member.owner]
        assert [r.owner for r in await notices.readers_of(tx, staff)] == [staff.owner]


# -- removing, read-only, the buttons --------------------------------------------------------


async def test_the_holder_removes_a_member_whose_chats_are_unlinked_and_told(
    shared: DeskDriver,
) -> None:
    member = await _joined(shared)
    listing = await shared.send(HOLDER, "/members")
    confirm = await shared.press(HOLDER, _button(listing, "Remove Anna"))
    assert said(confirm, "member_remove_confirm", name="Anna")
    kept = await shared.press(HOLDER, _button(confirm, "No, keep"))
    assert said(kept, "member_kept") and len(await _members(shared)) == 1
    removed = await shared.press(HOLDER, _button(confirm, "Yes, remove"))
    assert said(removed, "member_removed", name="Anna")
    assert await _members(shared) == []
    async with shared.store.transaction() as tx:
        assert await tx.portal_chats.get(MEMBER) is None
        assert await load(tx, Owner(OwnerKind.MEMBER, member.id)) is None
        assert (await tx.session.scalars(select(MemberInvitation))).all() == []
    told = [m for m in await shared.outbox(DeliveryChannel.TELEGRAM) if m.recipient == str(MEMBER)]
    assert told and "no longer a member of the account of Klant 1001" in told[-1].body
    mails = [m for m in await shared.outbox(DeliveryChannel.EMAIL) if m.recipient == ANNA]
    assert mails[-1].subject == "You are no longer a member of an account at BLG Wonen"
    assert len(await _audit(shared, AuditAction.MEMBER_REMOVED)) == 1
    # The chat is nobody's now: no refusal any more, the ordinary steps.
    assert said(await shared.send(MEMBER, "/activate"), "ask_redeem_customer_number")
    # The confirm button again: the member is gone, nothing happens.
    assert said(await shared.press(HOLDER, _button(confirm, "Yes, remove")), "stale_button")


async def test_the_holder_toggles_read_only_and_a_replayed_press_changes_nothing(
    shared: DeskDriver,
) -> None:
    await _joined(shared, read_only=True)
    listing = await shared.send(HOLDER, "/members")
    full = _button(listing, "Anna: full access")
    assert said(await shared.press(HOLDER, full), "member_now_full", name="Anna")
    assert not (await _members(shared))[0].read_only
    assert said(await shared.send(MEMBER, "/activate"), "ask_redeem_customer_number")
    await shared.send(MEMBER, "/cancel")
    assert said(await shared.press(HOLDER, full), "member_now_full")  # replayed: same state
    assert len(await _audit(shared, AuditAction.MEMBER_READ_ONLY_CHANGED)) == 1
    read_only = _button(await shared.send(HOLDER, "/members"), "Anna: read-only")
    assert said(await shared.press(HOLDER, read_only), "member_now_read_only")
    assert said(await shared.send(MEMBER, "/activate"), "member_read_only_refused")
    assert len(await _audit(shared, AuditAction.MEMBER_READ_ONLY_CHANGED)) == 2


async def test_forged_copied_and_foreign_buttons_do_nothing(shared: DeskDriver) -> None:
    member = await _joined(shared, read_only=True)
    listing = await shared.send(HOLDER, "/members")
    remove = _button(listing, "Remove Anna")
    # Copied into another holder's chat: the signature is bound to the holder's chat.
    copied = await shared.press(OTHER_HOLDER, remove)
    assert said(copied, "stale_button") and not copied.replies
    # Changed data: another member id, or another verb, under the old signature.
    body, signature = remove.rsplit(":", 1)
    for changed in (
        remove.replace(f":{member.id}:", f":{member.id + 1}:"),
        remove.replace("mb:r:", "mb:x:"),
        f"{body}:{signature[:-1]}",
        "mb:x:1",
    ):
        pressed = await shared.press(HOLDER, changed)
        assert said(pressed, "stale_button") and not pressed.replies, changed
    # Signed for the other holder's own chat, naming a member of customer 1001's account.
    foreign = encode_button(
        TEST_HASHER, MemberButton(Verb.REMOVE_CONFIRMED, member.id), OTHER_HOLDER
    )
    assert said(await shared.press(OTHER_HOLDER, foreign), "stale_button")
    # A read-only choice pressed when no member is being added.
    stray = encode_button(TEST_HASHER, MemberButton(Verb.NEW_FULL), HOLDER)
    assert said(await shared.press(HOLDER, stray), "stale_button")
    assert len(await _members(shared)) == 1 and (await _members(shared))[0].read_only
    assert len(await _audit(shared, AuditAction.TAMPERED_BUTTON)) == 5
    assert buttons_of(listing)  # the listing itself had buttons to copy


# -- balie member ----------------------------------------------------------------------------


def test_balie_member_add_list_set_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import os

    for name in [n for n in os.environ if n.startswith("BALIE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite3'}"
    monkeypatch.setenv("BALIE_DATABASE_URL", url)
    cli.main(["org", "add", "BLG Wonen", "--partner-id", "BLG-1001"])

    async def seed() -> None:
        await upgrade(url)
        store = Store(create_engine(url))
        async with store.transaction() as tx:
            organization = await tx.organizations.by_partner_id("BLG-1001")
            assert organization is not None
            tx.session.add(customer(organization.id, "1001", FakeClock().now()))
        await store.close()

    asyncio.run(seed())
    capsys.readouterr()
    org = ["--org", "BLG-1001", "--customer", "1001"]
    cli.main(["member", "add", *org, "--email", ANNA, "--name", "Anna", "--read-only"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("member Anna added to customer 1001 (read-only)")
    assert re.fullmatch(r"/start member_[A-Za-z0-9_-]{43}", lines[1])
    with pytest.raises(SystemExit):
        cli.main(["member", "add", *org, "--email", "klant1001@thuis.example", "--name", "X"])
    assert "This address cannot be used for a member" in capsys.readouterr().err
    cli.main(["member", "list", *org])
    assert capsys.readouterr().out.strip() == "Anna <a•••@thuis.example>: read-only, invited"
    cli.main(["member", "set", *org, "--email", "ANNA@thuis.example", "--no-read-only"])
    assert capsys.readouterr().out.strip().endswith("full access")
    cli.main(["member", "remove", *org, "--email", ANNA])
    assert capsys.readouterr().out.startswith("removed member Anna from customer 1001")
    cli.main(["member", "list", *org])
    assert capsys.readouterr().out.strip() == "customer 1001 has no members"
    with pytest.raises(SystemExit):
        cli.main(["member", "remove", *org, "--email", ANNA])
    assert "has no member" in capsys.readouterr().err


async def test_a_member_whose_telegram_speaks_dutch_is_welcomed_and_refused_in_dutch(
    shared: DeskDriver,
) -> None:
    token = await _add(shared)
    welcome = await shared.send(MEMBER, f"/start member_{token}", language="nl")
    assert said(welcome, "member_welcome", Language.NL, name="Anna", holder="Klant 1001")
    assert said(
        await shared.send(MEMBER, "/activate", "nl"), "member_read_only_refused", Language.NL
    )
    (member,) = await _members(shared)
    assert member.language == "nl"
