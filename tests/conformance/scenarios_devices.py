"""Linked devices (issue 13 point 2) on every channel: desk staff member Sanne pairs a
second chat by ``/pair``'s one-time link, lists both with ``/devices`` and unlinks the second
from the first; each side hears of it."""

from __future__ import annotations

import re

from flows.own_account import Owner, OwnerKind, chats_of
from tests.conformance.harness import Channel, Env, T
from tests.conformance.scenarios import DESK_STAFF, ORG, scenario

SECOND_CHAT = 7801
PAYLOAD = re.compile(r"pair_[A-Za-z0-9_-]{32}")


async def _sanne_chats(env: Env) -> list[int]:
    sanne = await env.person(email="sanne@blg.example")
    async with env.store.transaction() as tx:
        return await chats_of(tx, Owner(OwnerKind.PERSON, sanne.id))


@scenario()
async def devices_pair_list_and_unlink(channel: Channel, env: Env) -> None:
    await channel.user_says(DESK_STAFF, "/pair")
    shown = await channel.expect(DESK_STAFF, T("devices_pair_link", minutes=5))
    found = PAYLOAD.search(shown.text)
    assert found, shown.text

    await channel.user_says(SECOND_CHAT, f"/start {found.group(0)}")
    await channel.expect(SECOND_CHAT, T("devices_paired", name="Sanne Staff", org=ORG.name))
    await channel.expect(DESK_STAFF, T("devices_linked_notice", org=ORG.name))
    assert await _sanne_chats(env) == [DESK_STAFF, SECOND_CHAT]

    await channel.user_says(DESK_STAFF, "/devices")
    listing = await channel.expect(DESK_STAFF, T("devices_header", org=ORG.name))
    assert T("devices_this_chat") in listing.text
    [second] = [
        label for label in listing.buttons if label.startswith(T("button_unlink_device", number=2))
    ]
    await channel.user_presses(DESK_STAFF, second)
    name = second.removeprefix(T("button_unlink_device", number=2))
    await channel.expect(DESK_STAFF, T("devices_unlinked_done", name=name))
    await channel.expect(SECOND_CHAT, T("devices_unlinked_you", org=ORG.name))
    assert await _sanne_chats(env) == [DESK_STAFF]
    mails = await env.mails("sanne@blg.example", count=2)
    assert T("devices_unlinked_notice", org=ORG.name) in env.text(mails[1])
