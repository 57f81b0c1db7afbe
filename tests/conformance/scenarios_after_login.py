"""Issue 13 in Dutch on every channel: desk staff member Sanne, her chat switched to Dutch,
opens each feature after the first login and is answered in Dutch; a chat that is not
linked to any account is told so for each."""

from __future__ import annotations

from flows.domain import Language
from tests.conformance.harness import Channel, Env, T
from tests.conformance.scenarios import DESK_STAFF, ORG, scenario

NL = Language.NL
UNLINKED = 7851


@scenario()
async def after_the_first_login_in_dutch(channel: Channel, env: Env) -> None:
    await channel.user_says(DESK_STAFF, "/language nl")
    await channel.expect(DESK_STAFF, T("language_set", NL))

    await channel.user_says(DESK_STAFF, "/security")
    status = await channel.expect(DESK_STAFF, T("two_step_status_off", NL))
    assert status.buttons, status.text
    await channel.user_says(DESK_STAFF, "/devices")
    await channel.expect(DESK_STAFF, T("devices_header", NL, org=ORG.name))
    await channel.user_says(DESK_STAFF, "/pair")
    await channel.expect(DESK_STAFF, T("devices_pair_link", NL, minutes=5))
    await channel.user_says(DESK_STAFF, "/notifications")
    grid = await channel.expect(DESK_STAFF, T("notifications_grid", NL))
    assert len(grid.buttons) == 18, grid.buttons
    await channel.user_says(DESK_STAFF, "/members")
    await channel.expect(DESK_STAFF, T("members_no_account", NL))

    for command, answer in (
        ("/security", "two_step_link_first"),
        ("/notifications", "notifications_link_first"),
        ("/members", "members_no_account"),
    ):
        await channel.user_says(UNLINKED, command)
        await channel.expect(UNLINKED, T(answer))
