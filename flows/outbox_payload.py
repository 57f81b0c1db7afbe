"""How a chat notification's buttons and edit target are stored in an outbox row's payload."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from flows.events import Button, Keyboard, Reply

TOPIC = "topic"
"""Names what a staff message is about (e.g. ``registration:42``) so it can be edited later."""
EDIT = "edit"
"""True: edit the message sent earlier for (topic, recipient) instead of sending a new one."""
BUTTONS = "buttons"
ACTION = "action"
"""Set: the row is not a message but an action on ``MESSAGE_ID`` (a :class:`ChatAction`)."""
MESSAGE_ID = "message_id"
QR_OF_LINK = "qr_of_link"
"""True on an e-mail: attach the Telegram link in its (opened) body as a QR code image; the
link itself is never in the payload, which is not sealed."""
NOTICE_KIND = "notice_kind"
"""On a notice to an account (``flows.notices``): its kind, checked again at send time."""
NOTICE_READER = "notice_reader"
"""On a notice: whose (an ``Owner.key``), so the worker can read that reader's choices."""


class ChatAction(StrEnum):
    """What a kept action row does to a message already in the chat."""

    CLEAR_BUTTONS = "clear buttons"
    DELETE = "delete a message"


def action_payload(action: ChatAction, message_id: int) -> dict[str, Any]:
    return {ACTION: action.value, MESSAGE_ID: message_id}


def keyboard_to_payload(keyboard: Keyboard) -> list[list[dict[str, str]]]:
    return [[{"label": b.label, "data": b.data} for b in row] for row in keyboard]


def keyboard_from_payload(payload: dict[str, Any]) -> Keyboard:
    rows = payload.get(BUTTONS) or []
    return tuple(tuple(Button(b["label"], b["data"]) for b in row) for row in rows)


def content_digest(reply: Reply) -> str:
    """A digest of what a message shows (text and buttons): an edit to the same digest
    would change nothing, and Telegram refuses it as "message is not modified"."""
    shown = json.dumps([reply.text, keyboard_to_payload(reply.buttons)], ensure_ascii=False)
    return hashlib.sha256(shown.encode()).hexdigest()
