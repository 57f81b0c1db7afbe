"""Issue 13, point 3 on every channel: ``/notifications``, a kind switched off and on by
e-mail, and seed 004's warning before the last channel of a kind goes (kept on with "no",
switched off with "yes"). On Telegram a press edits the grid in place; the terminal prints
the redrawn grid anew."""

from __future__ import annotations

from collections.abc import Callable

from tests.conformance.harness import Channel, Env, Seen, T
from tests.conformance.scenarios import MANAGER, scenario


def _shows(button: str, lead: str | None = None) -> Callable[[Seen], bool]:
    def check(seen: Seen) -> bool:
        return button in seen.buttons and (lead is None or lead in seen.text)

    return check


@scenario()
async def notification_preferences_toggle_and_last_channel_warning(
    channel: Channel, env: Env
) -> None:
    await channel.user_says(MANAGER, "/notifications")
    await channel.expect(MANAGER, T("notifications_grid"))

    await channel.user_presses(MANAGER, "✅ Decisions · E-mail")
    await channel.expect(MANAGER, _shows("⬜ Decisions · E-mail", "Decisions by E-mail: off."))
    await channel.expect_notice(MANAGER, "Decisions by E-mail: off.")
    await channel.user_presses(MANAGER, "⬜ Decisions · E-mail")
    await channel.expect(MANAGER, _shows("✅ Decisions · E-mail", "Decisions by E-mail: on."))

    # Codes by e-mail off, then by Telegram, the last: the warning first.
    await channel.user_presses(MANAGER, "✅ Codes · E-mail")
    await channel.expect(MANAGER, _shows("⬜ Codes · E-mail"))
    await channel.user_presses(MANAGER, "✅ Codes · Telegram")
    await channel.expect(
        MANAGER, T("notifications_last_channel_warning", channel="Telegram", kind="Codes")
    )
    await channel.user_presses(MANAGER, T("button_notifications_keep_on"))
    await channel.expect(MANAGER, _shows("✅ Codes · Telegram"))
    await channel.user_presses(MANAGER, "✅ Codes · Telegram")
    await channel.expect(MANAGER, T("notifications_last_channel_warning", channel="Telegram"))
    await channel.user_presses(MANAGER, T("button_notifications_switch_off"))
    await channel.expect(MANAGER, _shows("⬜ Codes · Telegram", "Codes by Telegram: off."))
    await channel.expect_notice(MANAGER, "Codes by Telegram: off.")

    # A button past the ninth (the terminal types two digits for it).
    await channel.user_presses(MANAGER, "✅ Weekly digest · E-mail")
    await channel.expect(
        MANAGER, _shows("⬜ Weekly digest · E-mail", "Weekly digest by E-mail: off.")
    )
