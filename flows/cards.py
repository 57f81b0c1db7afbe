"""Decision cards in staff chats: one message per staff member, edited in place once decided.

Registrations (seed 000) and activation-code releases (seed 002) both push a card with two
buttons to every deciding person's private chat and, after the decision, replace every copy
with the outcome, who decided and when. Each copy's buttons are signed for the chat it goes
to (see ``flows.buttons``), so a copy pressed anywhere else acts on nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flows import message_limits
from flows.buttons import ButtonSigner, signer
from flows.domain import DeliveryChannel, Language
from flows.events import Keyboard
from flows.keys import KeyedHasher
from flows.model import Person
from flows.outbox_payload import BUTTONS, EDIT, TOPIC, keyboard_to_payload
from flows.store import Transaction
from flows.texts import Texts
from flows.turn import DeskPolicy

Recipients = Sequence[tuple[Person, int]]
"""(person, their Telegram chat id) pairs."""


def texts_for(person: Person, policy: DeskPolicy) -> Texts:
    return Texts(Language(person.language or policy.default_language))


async def _queue(
    tx: Transaction,
    recipients: Recipients,
    message: Callable[[Texts, int], tuple[str, dict[str, Any]]],
    policy: DeskPolicy,
    now: datetime,
) -> None:
    """One Telegram outbox row per recipient, written in that recipient's language;
    ``message`` gets the recipient's texts and chat id."""
    for person, chat_id in recipients:
        body, payload = message(texts_for(person, policy), chat_id)
        await tx.outbox.add(
            DeliveryChannel.TELEGRAM,
            str(chat_id),
            body,
            now,
            payload=payload,
            organization_id=person.organization_id,
        )


async def push(
    tx: Transaction,
    recipients: Recipients,
    topic: str,
    card: Callable[[Texts], str],
    keyboard: Callable[[Texts, ButtonSigner], Keyboard],
    hasher: KeyedHasher,
    policy: DeskPolicy,
    now: datetime,
) -> None:
    """Queue the card, in each recipient's language and with buttons signed for their chat,
    for every recipient."""
    await _queue(
        tx,
        recipients,
        lambda texts, chat_id: (
            message_limits.truncate(card(texts)),
            {TOPIC: topic, BUTTONS: keyboard_to_payload(keyboard(texts, signer(hasher, chat_id)))},
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
    """Edit every copy in place: the card, then the outcome line; its buttons go.

    A copy still waiting in the outbox is rewritten into its decided form first, so no card
    arrives with live buttons after the decision; if no worker had taken it yet, it needs
    no edit either.
    """
    for person, chat_id in recipients:
        texts = texts_for(person, policy)
        body = closed_text(card(texts), outcome(texts))
        if await tx.outbox.close_unsent_cards(topic, str(chat_id), body):
            continue
        await tx.outbox.add(
            DeliveryChannel.TELEGRAM,
            str(chat_id),
            body,
            now,
            payload={TOPIC: topic, EDIT: True},
            organization_id=person.organization_id,
        )


def closed_text(card: str, outcome: str) -> str:
    """A decided card: the card, then the outcome line, within one message (a long card is
    cut, never the outcome)."""
    outcome = message_limits.truncate(outcome, 1000)
    room = message_limits.MAX_MESSAGE - message_limits.length(outcome) - 2
    return f"{message_limits.truncate(card, room)}\n\n{outcome}"
