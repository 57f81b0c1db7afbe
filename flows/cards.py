"""Decision cards in staff chats: one message per staff member, edited in place once decided.

Registrations (seed 000) and activation-code releases (seed 002) both push a card with two
buttons to every deciding person's private chat and, after the decision, replace every copy
with the outcome, who decided and when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flows.domain import DeliveryChannel, Language
from flows.events import Keyboard
from flows.outbox_payload import BUTTONS, EDIT, TOPIC, keyboard_to_payload
from flows.texts import Texts
from flows.turn import DeskPolicy
from storage.models import Person
from storage.uow import Transaction

Recipients = Sequence[tuple[Person, int]]
"""(person, their Telegram chat id) pairs."""


def texts_for(person: Person, policy: DeskPolicy) -> Texts:
    return Texts(Language(person.language or policy.default_language))


async def _queue(
    tx: Transaction,
    recipients: Recipients,
    message: Callable[[Texts], tuple[str, dict[str, Any]]],
    policy: DeskPolicy,
    now: datetime,
) -> None:
    """One Telegram outbox row per recipient, written in that recipient's language."""
    for person, chat_id in recipients:
        body, payload = message(texts_for(person, policy))
        await tx.outbox.add(DeliveryChannel.TELEGRAM, str(chat_id), body, now, payload=payload)


async def push(
    tx: Transaction,
    recipients: Recipients,
    topic: str,
    card: Callable[[Texts], str],
    keyboard: Callable[[Texts], Keyboard],
    policy: DeskPolicy,
    now: datetime,
) -> None:
    """Queue the card, in each recipient's language, for every recipient."""
    await _queue(
        tx,
        recipients,
        lambda texts: (
            card(texts),
            {TOPIC: topic, BUTTONS: keyboard_to_payload(keyboard(texts))},
        ),
        policy,
        now,
    )


async def close(
    tx: Transaction,
    recipients: Recipients,
    topic: str,
    card: Callable[[Texts], str],
    outcome: Callable[[Texts], str],
    policy: DeskPolicy,
    now: datetime,
) -> None:
    """Edit every copy in place: the card, then the outcome line; its buttons go."""
    await _queue(
        tx,
        recipients,
        lambda texts: (f"{card(texts)}\n\n{outcome(texts)}", {TOPIC: topic, EDIT: True}),
        policy,
        now,
    )
