"""Issue 13's urgent notice on every channel: desk staff send one to all customers with
``/announce`` (audience, urgency, text, preview, Confirm); a customer with an activated
portal account gets it in their chat and by e-mail."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.announcements import MAX_TEXT
from tests.conformance.harness import Channel, Env, T
from tests.conformance.scenarios import DESK_STAFF, ORG, scenario

HOLDER = 7301
HOLDER_EMAIL = "klant1001@thuis.example"
NOTICE = "Storing: vandaag geen warm water in de Dorpsstraat."


@scenario()
async def urgent_notice_to_all_customers_by_announce(channel: Channel, env: Env) -> None:
    async with env.store.transaction() as tx:
        org = await tx.organizations.by_partner_id(ORG.partner_id)
        assert org is not None
        holder = await tx.customers.by_number(org.id, "1001")
        assert holder is not None
        holder.account_active = True
        await tx.portal_chats.link(HOLDER, holder.id, datetime.now(UTC))

    await channel.user_says(DESK_STAFF, "/announce")
    asked = await channel.expect(DESK_STAFF, T("announce_ask_audience", org=ORG.name))
    assert T("announce_audience_customers") in asked.buttons
    await channel.user_presses(DESK_STAFF, T("announce_audience_customers"))
    await channel.expect(DESK_STAFF, T("announce_ask_urgency"))
    await channel.user_presses(DESK_STAFF, T("announce_urgent"))
    await channel.expect(DESK_STAFF, T("announce_ask_text", limit=MAX_TEXT))
    await channel.user_says(DESK_STAFF, NOTICE)
    audience = T("announce_audience_customers")
    preview = await channel.expect(
        DESK_STAFF, T("announce_preview", audience=audience, recipients=1)
    )
    assert NOTICE in preview.text and T("announce_confirm") in preview.buttons
    await channel.user_presses(DESK_STAFF, T("announce_confirm"))
    await channel.expect(DESK_STAFF, T("announce_queued", number=1, recipients=1))

    arrived = await channel.expect(HOLDER, T("announcement_urgent_body", org=ORG.name))
    assert NOTICE in arrived.text
    [mail] = await env.mails(HOLDER_EMAIL)
    assert mail["Subject"] == T("announcement_urgent_subject", org=ORG.name)
    assert NOTICE in env.text(mail)
