"""The simulated people: closed-loop users who run scenarios back to back, and their record.

A step is one update a user sends (a text or a button press) and the bot's reply that the
step waits for: the first message sent to (or edited in) the chat after the update was made
available that the script expects. Its latency runs from the update's availability (queued
for getUpdates, or the webhook POST begun) to the reply's arrival at the Bot API server.
Waiting for a mail is the user's own time, not a step.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from bench.botapi import BotApi, Message, StepTimeout
from bench.mail import ACTIVATION_CODE, Mailbox
from bench.seed import (
    ACTIVATION_FIRST,
    HOUSE_NUMBER,
    MANAGER_CHAT,
    PARTNER_ID,
    POSTCODE,
    RESET_FIRST,
    Pools,
    customer_email,
)

STEP_TIMEOUT = 30.0
PASSWORD = "groene fiets in de gracht"


class PoolExhausted(Exception):
    """No fresh customer left: the store was seeded for a shorter window."""


@dataclass
class Record:
    """What the users did: the latencies of the steps completed inside the window."""

    measuring: bool = False
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    scenarios: int = 0
    done: dict[str, int] = field(default_factory=dict)
    exhausted: bool = False

    def step_done(self, seconds: float) -> None:
        if self.measuring:
            self.latencies.append(seconds)

    def failed(self, why: str) -> None:
        if self.measuring:
            self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(why)


class Identities:
    """Fresh Telegram users, e-mail addresses and customers for each scenario."""

    def __init__(self, pools: Pools, first_user: int = 20_000_000) -> None:
        self._users = itertools.count(first_user)
        self._activation = iter(range(ACTIVATION_FIRST, ACTIVATION_FIRST + pools.activation))
        self._reset = iter(range(RESET_FIRST, RESET_FIRST + pools.reset))

    def user(self) -> int:
        return next(self._users)

    def activation_customer(self) -> int:
        return _take(self._activation)

    def reset_customer(self) -> int:
        return _take(self._reset)


def _take(numbers: Iterator[int]) -> int:
    try:
        return next(numbers)
    except StopIteration:
        raise PoolExhausted from None


def contains(*parts: str) -> Callable[[Message], bool]:
    return lambda message: all(part in message.text for part in parts)


def _equals(text: str) -> Callable[[Message], bool]:
    return lambda message: message.text == text


class Chat:
    """One person's chat with the bot: each call is one timed step."""

    def __init__(self, api: BotApi, record: Record, user: int) -> None:
        self.api, self.record, self.user = api, record, user

    async def say(self, text: str, expect: str | Callable[[Message], bool]) -> Message:
        return await self._step(self.user, self.api.text_update(self.user, text), expect)

    async def press(
        self, message: Message, label: str, expect: str | Callable[[Message], bool]
    ) -> Message:
        update = self.api.press_update(self.user, message, label)
        return await self._step(message.chat_id, update, expect)

    async def _step(
        self, chat_id: int, update: dict[str, object], expect: str | Callable[[Message], bool]
    ) -> Message:
        match = contains(expect) if isinstance(expect, str) else expect
        message, seconds = await self.api.step(chat_id, update, match, STEP_TIMEOUT)
        self.record.step_done(seconds)
        return message


Scenario = Callable[[BotApi, Mailbox, Identities, Record], Awaitable[None]]


async def registration(api: BotApi, mail: Mailbox, ids: Identities, record: Record) -> None:
    """An employee registers (partner ID, e-mail, code, name) and a manager approves."""
    user = ids.user()
    chat = Chat(api, record, user)
    address = f"employee{user}@kantoor.example"
    menu = await chat.say("/start", "Welcome")
    await chat.press(menu, "Register", "Step 1 of 3")
    await chat.say(PARTNER_ID, "Step 2 of 3")
    await chat.say(address, "Step 3 of 3")
    await chat.say(await mail.code(address), "What is your full name")
    await chat.say(f"Person {user}", "is waiting for approval")
    card = await api.wait_message(MANAGER_CHAT, contains("New registration", address))
    manager = Chat(api, record, MANAGER_CHAT)
    await manager.press(
        card,
        "Approve",
        lambda m: m.message_id == card.message_id and m.edited and "Approved by" in m.text,
    )


async def activation(api: BotApi, mail: Mailbox, ids: Identities, record: Record) -> None:
    """A tenant asks for an activation code, then redeems it and chooses a password."""
    number = ids.activation_customer()
    chat = Chat(api, record, ids.user())
    menu = await chat.say("/start", "Welcome")
    choice = await chat.press(menu, "Activation", "request an activation code")
    await chat.press(choice, "Request", "Step 1 of 4")
    await chat.say(str(number), "Step 2 of 4")
    await chat.say(POSTCODE, "Step 3 of 4")
    step4 = await chat.say(HOUSE_NUMBER, "Step 4 of 4")
    await chat.press(step4, "Skip", "sent your activation code")
    code = await mail.code(customer_email(number), ACTIVATION_CODE)
    await chat.say("/activate", "customer number")
    await chat.say(str(number), "activation code from the e-mail")
    await chat.say(code, "Type your new password")
    await chat.say(PASSWORD, "Your password is set")


async def password_reset(api: BotApi, mail: Mailbox, ids: Identities, record: Record) -> None:
    """A tenant with an account forgot the password: address, code by mail, new password."""
    number = ids.reset_customer()
    address = customer_email(number)
    chat = Chat(api, record, ids.user())
    await chat.say("/password", "Forgot your password")
    await chat.say(address, "If an account belongs")
    await chat.say(await mail.code(address), "The code is right")
    await chat.say(PASSWORD, "Your password is set")


MIX: tuple[Scenario, ...] = (registration, activation, password_reset)


async def echo(api: BotApi, mail: Mailbox, ids: Identities, record: Record) -> None:
    """The echo bot's conversation: ten texts, each waiting for its echo."""
    user = ids.user()
    chat = Chat(api, record, user)
    for n in range(10):
        text = f"echo {user} {n}"
        await chat.say(text, _equals(text))


async def run_user(
    index: int,
    scenarios: tuple[Scenario, ...],
    api: BotApi,
    mail: Mailbox,
    ids: Identities,
    record: Record,
    until: float,
) -> None:
    """Run scenarios back to back (no think time) until ``until`` (monotonic)."""
    for turn in itertools.count(index):
        if time.monotonic() >= until:
            return
        scenario = scenarios[turn % len(scenarios)]
        try:
            await scenario(api, mail, ids, record)
            record.scenarios += 1
            record.done[scenario.__name__] = record.done.get(scenario.__name__, 0) + 1
        except PoolExhausted:
            record.exhausted = True
            return
        except (StepTimeout, TimeoutError, LookupError) as exc:
            record.failed(f"{scenario.__name__}: {type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            raise
