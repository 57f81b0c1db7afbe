"""Shared accounts (issue 13 point 5) on every channel: the holder adds a member with
``/members``, the member joins by the link from their mail, and as a read-only member is
refused an activation code."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flows.domain import AuditAction
from flows.masking import mask_email
from tests.conformance.harness import Channel, Env, T
from tests.conformance.scenarios import ORG, scenario

HOLDER = 7601
MEMBER = 7602
ANNA = "anna@thuis.example"
PAYLOAD = re.compile(r"start[ =](member_[A-Za-z0-9_-]{43})\b")


async def _link_holder(env: Env, number: str, chat: int) -> None:
    """Customer ``number``'s account activated, with ``chat`` as the holder's own chat."""
    async with env.store.transaction() as tx:
        organization = await tx.organizations.by_partner_id(ORG.partner_id)
        assert organization is not None
        found = await tx.customers.by_number(organization.id, number)
        assert found is not None
        found.account_active = True
        await tx.portal_chats.link(chat, found.id, datetime.now(UTC))


@scenario()
async def members_added_by_the_holder_join_by_the_mailed_link(channel: Channel, env: Env) -> None:
    await _link_holder(env, "1001", HOLDER)
    await channel.user_says(HOLDER, "/members")
    listing = await channel.expect(HOLDER, T("members_heading", org=ORG.name))
    assert T("members_none") in listing.text
    await channel.user_presses(HOLDER, T("button_member_add"))
    await channel.expect(HOLDER, T("member_ask_name"))
    await channel.user_says(HOLDER, "Anna")
    await channel.expect(HOLDER, T("member_ask_email", name="Anna"))
    await channel.user_says(HOLDER, ANNA)
    await channel.expect(HOLDER, T("member_ask_read_only", name="Anna"))
    await channel.user_presses(HOLDER, T("button_member_new_read_only"))
    await channel.expect(HOLDER, T("member_invitation_sent", name="Anna", email=mask_email(ANNA)))

    [mail] = await env.mails(ANNA)
    assert mail["Subject"] == T("mail_member_invitation_subject", org=ORG.name)
    body = mail.get_body(("plain",))  # with a QR code attached where the link is one
    assert body is not None
    text = str(body.get_content())
    found = PAYLOAD.search(text)
    assert found, text
    await channel.user_says(MEMBER, f"/start {found.group(1)}")
    await channel.expect(MEMBER, T("member_welcome", name="Anna", holder="Klant 1001"))
    await channel.expect(HOLDER, T("member_joined_notice", name="Anna", email=mask_email(ANNA)))

    await channel.user_says(MEMBER, "/activate")
    await channel.expect(MEMBER, T("member_read_only_refused"))
    await channel.user_says(HOLDER, "/members")
    joined = await channel.expect(HOLDER, T("members_heading", org=ORG.name))
    assert T("member_joined") in joined.text and T("member_access_read_only") in joined.text
    assert len(await env.audit(AuditAction.MEMBER_JOINED)) == 1
    assert len(await env.audit(AuditAction.MEMBER_REFUSED)) == 1
