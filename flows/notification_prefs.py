"""``/notifications``: which kinds of notice reach the reader where (seed 003: per kind;
seed 004: kinds of e-mail switched on and off, with its warning).

One message holds a grid of toggles, a row per switchable kind and a column per channel
(Telegram, e-mail, SMS); a press switches one and redraws the message in place. Turning off
the last channel a kind still reaches first shows seed 004's warning, and only its "yes"
switches it off. Security notices are not in the grid: they are always sent.

Each toggle's data is signed under the server key and bound to the chat, the reader and the
grid as it was drawn (a digest of every choice in it): a forged button, one copied to another
chat, or an old one pressed after the grid changed (a replay) does nothing. Everyone, a
read-only member too, changes only their own choices: the reader is always the chat's own
account.

```mermaid
stateDiagram-v2
    [*] --> Grid: /notifications
    Grid --> Grid: toggle (not the last channel)
    Grid --> Warning: switch off the last channel of a kind
    Warning --> Grid: yes (switched off) / no (kept on)
```
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from flows import notices
from flows.domain import AuditAction, DeliveryChannel
from flows.events import Button, EventKind, Keyboard, Reply
from flows.keys import KeyedHasher, message
from flows.notices import CHANNELS, SWITCHABLE, Choices, NoticeKind, Reach
from flows.own_account import OwnAccount, account_of_chat
from flows.texts import Texts
from flows.turn import Turn

ON, OFF, UNAVAILABLE = "✅", "⬜", "✖"

KIND_LABEL: dict[NoticeKind, str] = {
    NoticeKind.DECISIONS: "notice_kind_decisions",
    NoticeKind.CODES: "notice_kind_codes",
    NoticeKind.ANNOUNCEMENTS: "notice_kind_announcements",
    NoticeKind.DIGESTS: "notice_kind_digests",
    NoticeKind.DOCUMENTS: "notice_kind_documents",
    NoticeKind.MESSAGES: "notice_kind_messages",
}
CHANNEL_LABEL: dict[DeliveryChannel, str] = {
    DeliveryChannel.TELEGRAM: "notice_channel_telegram",
    DeliveryChannel.EMAIL: "notice_channel_email",
    DeliveryChannel.SMS: "notice_channel_sms",
}
UNAVAILABLE_NOTICE: dict[DeliveryChannel, str] = {
    DeliveryChannel.TELEGRAM: "notifications_unavailable_telegram",
    DeliveryChannel.EMAIL: "notifications_unavailable_email",
    DeliveryChannel.SMS: "notifications_unavailable_sms",
}

_CHANNEL_CODE = {
    DeliveryChannel.TELEGRAM: "t",
    DeliveryChannel.EMAIL: "e",
    DeliveryChannel.SMS: "s",
}
_BY_CHANNEL_CODE = {code: channel for channel, code in _CHANNEL_CODE.items()}
_SIGNATURE_LABEL = "notice_preference"
SIGNATURE_LENGTH = 16
VERSION_LENGTH = 8
SHOW_GRID = "np:g"
"""Plain data of "No, keep it on": it only redraws the presser's own grid."""
_TOGGLE = re.compile(r"^np:([0-9])([tes])([10y]):([0-9a-f]{8}):([A-Za-z0-9_-]{16})$")


class Setting(StrEnum):
    """What a toggle asks for: on, off (asks first when it is the last channel), or off
    confirmed after the warning."""

    ON = "1"
    OFF = "0"
    CONFIRMED_OFF = "y"


@dataclass(frozen=True)
class Toggle:
    """Set ``kind`` on ``channel`` to ``setting``, on the grid whose digest was ``version``."""

    kind: NoticeKind
    channel: DeliveryChannel
    setting: Setting
    version: str

    @property
    def body(self) -> str:
        return (
            f"np:{SWITCHABLE.index(self.kind)}{_CHANNEL_CODE[self.channel]}{self.setting}"
            f":{self.version}"
        )


def _signed_text(toggle: Toggle, owner_key: str, chat_id: int) -> str:
    return message(toggle.body, owner_key, chat_id)


def encode(hasher: KeyedHasher, toggle: Toggle, owner_key: str, chat_id: int) -> str:
    """``np:<kind><channel><setting>:<version>:<signature>``, 32 characters."""
    signature = hasher.sign(
        _SIGNATURE_LABEL, _signed_text(toggle, owner_key, chat_id), SIGNATURE_LENGTH
    )
    return f"{toggle.body}:{signature}"


def decode(data: str | None) -> tuple[Toggle, str] | None:
    """The toggle and its signature, or None when the data is no toggle at all."""
    match = _TOGGLE.match(data or "")
    if match is None:
        return None
    kind, channel, setting, version, signature = match.groups()
    if int(kind) >= len(SWITCHABLE):
        return None
    return (
        Toggle(SWITCHABLE[int(kind)], _BY_CHANNEL_CODE[channel], Setting(setting), version),
        signature,
    )


def is_preference_button(data: str | None) -> bool:
    """Whether a press belongs here (a toggle, well-formed or not, or "keep it on")."""
    return (data or "").startswith("np:")


@dataclass(frozen=True)
class Grid:
    """A reader's choices as the grid shows them."""

    reach: Reach
    choices: Choices

    def on(self, kind: NoticeKind) -> frozenset[DeliveryChannel]:
        return notices.channels_for(self.reach, self.choices, kind)

    @property
    def version(self) -> str:
        """A digest of everything the grid shows: any change makes older buttons stale."""
        shown = ";".join(
            f"{kind.value}:{','.join(sorted(c.value for c in self.on(kind)))}"
            for kind in SWITCHABLE
        )
        available = ",".join(c.value for c in CHANNELS if self.reach.has(c))
        digest = hashlib.sha256(f"{shown}|{available}".encode()).hexdigest()
        return digest[:VERSION_LENGTH]


async def _grid(turn: Turn, account: OwnAccount) -> Grid:
    tx = turn.tx
    return Grid(await notices.reach_of(tx, account), await notices.choices_of(tx, account.owner))


def _label(texts: Texts, grid: Grid, kind: NoticeKind, channel: DeliveryChannel) -> str:
    mark = UNAVAILABLE if not grid.reach.has(channel) else ON if channel in grid.on(kind) else OFF
    return f"{mark} {texts(KIND_LABEL[kind])} · {texts(CHANNEL_LABEL[channel])}"


def grid_reply(turn: Turn, account: OwnAccount, grid: Grid, lead: str | None = None) -> Reply:
    """The grid's message: what it means, that security notices always go, the toggles."""
    texts = turn.texts
    version = grid.version
    rows: list[tuple[Button, ...]] = []
    for kind in SWITCHABLE:
        row = []
        for channel in CHANNELS:
            on = channel in grid.on(kind)
            setting = Setting.OFF if on else Setting.ON
            data = encode(
                turn.hasher,
                Toggle(kind, channel, setting, version),
                account.owner.key,
                turn.event.chat_id,
            )
            row.append(Button(_label(texts, grid, kind, channel), data))
        rows.append(tuple(row))
    text = texts("notifications_grid")
    return Reply(f"{lead}\n\n{text}" if lead else text, tuple(rows))


def _warning_reply(turn: Turn, account: OwnAccount, toggle: Toggle) -> Reply:
    texts = turn.texts
    confirmed = Toggle(toggle.kind, toggle.channel, Setting.CONFIRMED_OFF, toggle.version)
    data = encode(turn.hasher, confirmed, account.owner.key, turn.event.chat_id)
    keyboard: Keyboard = (
        (Button(texts("button_notifications_switch_off"), data),),
        (Button(texts("button_notifications_keep_on"), SHOW_GRID),),
    )
    return Reply(
        texts(
            "notifications_last_channel_warning",
            kind=texts(KIND_LABEL[toggle.kind]),
            channel=texts(CHANNEL_LABEL[toggle.channel]),
        ),
        keyboard,
    )


async def show(turn: Turn) -> None:
    """``/notifications``: the grid of the chat's own account (link first, without one)."""
    account = await account_of_chat(turn.tx, turn.event.chat_id)
    if account is None:
        turn.say("notifications_link_first")
        return
    grid = await _grid(turn, account)
    turn.outcome.replies.append(grid_reply(turn, account, grid))


def _show_in_place(turn: Turn, reply: Reply) -> None:
    """A press redraws the pressed message; a command answers with a new one."""
    if turn.event.kind is EventKind.BUTTON:
        turn.outcome.edit_pressed = reply
    else:
        turn.outcome.replies.append(reply)


async def on_button(turn: Turn) -> None:
    """A press on the grid or on the warning."""
    data = turn.event.button_data
    account = await account_of_chat(turn.tx, turn.event.chat_id)
    if account is None:
        turn.outcome.callback_notice = turn.texts("notifications_link_first")
        turn.outcome.clear_pressed_buttons = True
        turn.say("notifications_link_first")
        return
    if data == SHOW_GRID:
        _show_in_place(turn, grid_reply(turn, account, await _grid(turn, account)))
        return
    decoded = decode(data)
    if decoded is None or not _verified(turn, decoded, account):
        await _refused(turn, account)
        return
    toggle = decoded[0]
    grid = await _grid(turn, account)
    if toggle.version != grid.version:
        # Pressed on a grid drawn before a change (another press, another device): redraw.
        turn.outcome.callback_notice = turn.texts("notifications_outdated")
        _show_in_place(turn, grid_reply(turn, account, grid))
        return
    await _apply(turn, account, grid, toggle)


def _verified(turn: Turn, decoded: tuple[Toggle, str], account: OwnAccount) -> bool:
    toggle, signature = decoded
    return turn.hasher.signature_ok(
        _SIGNATURE_LABEL, _signed_text(toggle, account.owner.key, turn.event.chat_id), signature
    )


async def _apply(turn: Turn, account: OwnAccount, grid: Grid, toggle: Toggle) -> None:
    texts = turn.texts
    kind, channel = toggle.kind, toggle.channel
    if not grid.reach.has(channel):
        turn.outcome.callback_notice = texts(UNAVAILABLE_NOTICE[channel])
        return
    on_now = grid.on(kind)
    enable = toggle.setting is Setting.ON
    if toggle.setting is Setting.OFF and on_now == {channel}:
        # Seed 004: switching a kind off leaves you responsible; ask first.
        _show_in_place(turn, _warning_reply(turn, account, toggle))
        return
    await turn.tx.notification_preferences.set(
        account.owner.key, kind.value, channel, enable, turn.now
    )
    await turn.audit(
        AuditAction.NOTICE_PREFERENCE_CHANGED,
        organization_id=account.organization.id,
        actor_person_id=account.person.id if account.person else None,
        owner=account.owner.key,
        kind=kind.value,
        notice_channel=channel.value,
        enabled=enable,
    )
    key = "notifications_switched_on" if enable else "notifications_switched_off"
    done = texts(key, kind=texts(KIND_LABEL[kind]), channel=texts(CHANNEL_LABEL[channel]))
    turn.outcome.callback_notice = done
    _show_in_place(turn, grid_reply(turn, account, await _grid(turn, account), lead=done))


async def _refused(turn: Turn, account: OwnAccount) -> None:
    """Forged, copied or replayed: nothing changes; the toast any outdated button gets."""
    await turn.audit(
        AuditAction.TAMPERED_BUTTON,
        organization_id=account.organization.id,
        actor_person_id=account.person.id if account.person else None,
        data=(turn.event.button_data or "")[:64],
        chat_id=turn.event.chat_id,
    )
    turn.outcome.callback_notice = turn.texts("stale_button")
    turn.outcome.clear_pressed_buttons = True
    turn.say("stale_button")
