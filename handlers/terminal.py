"""The terminal channel: chat with the desk on stdin/stdout, as a user or as staff.

Type as an end user; ``/as manager`` (or a name or user id) switches identity, ``/as`` lists
them, ``/outbox`` shows the notification queue, ``/quit`` leaves. Buttons are shown as
``[1] Register``; type the number to press one. E-mail and SMS arrive in the local sink and
are printed here, so the code that "arrived" is on screen.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import TextIO

from flows import qr
from flows.desk import Desk
from flows.domain import DeliveryChannel
from flows.events import Event, EventKind, Keyboard, Outcome, Reply, Sender
from flows.operator_views import chat_identities, find_identity, recent_outbox
from flows.ports import OutboxDelivery
from flows.store import Store

GUEST_USER_ID = 1
"""The terminal's own end user, like a Telegram user id that no staff member has."""

HELP = (
    "Terminal channel: type as an end user (try /start).\n"
    "  /as manager   act as the demo manager (or a name or user id); /as lists identities,\n"
    "                /as guest returns to the end user, /as 42 acts as end user 42\n"
    "  /outbox       the notification queue   /quit  leave\n"
    "  a number      presses the button shown as [number]"
)


@dataclass
class _Identity:
    user_id: int
    label: str


@dataclass
class TerminalChannel:
    desk: Desk
    store: Store
    output: TextIO = field(default_factory=lambda: sys.stdout)
    language_code: str | None = None
    _identity: _Identity = field(default_factory=lambda: _Identity(GUEST_USER_ID, "guest"))
    _buttons: dict[int, Keyboard] = field(default_factory=dict)
    """Per user id: the buttons of the last message with buttons they were shown."""
    _next_message_id: int = 1
    worker: OutboxDelivery | None = None

    # -- ChatPort: how the outbox reaches a chat that is not typing ---------------------------

    async def send(self, chat_id: int, reply: Reply) -> int:
        message_id = self._next_message_id
        self._next_message_id += 1
        self._print(f"--- message for chat {chat_id} ---")
        self._show(chat_id, reply)
        return message_id

    async def edit(self, chat_id: int, message_id: int, reply: Reply) -> None:
        self._print(f"--- chat {chat_id}: message {message_id} updated ---")
        self._show(chat_id, reply)

    async def clear_buttons(self, chat_id: int, message_id: int) -> None:
        self._buttons.pop(chat_id, None)

    async def delete(self, chat_id: int, message_id: int) -> None:
        return None  # a terminal cannot take back what it printed

    async def on_delivery(
        self, channel: DeliveryChannel, recipient: str, subject: str | None, body: str
    ) -> None:
        kind = "e-mail" if channel is DeliveryChannel.EMAIL else "SMS"
        self._print(f"--- {kind} arrived for {recipient} ---")
        if subject:
            self._print(f"Subject: {subject}")
        self._print(body)

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stdin: TextIO | None = None) -> None:
        source = stdin or sys.stdin
        interactive = source.isatty()
        self._print(HELP)
        await self._handle_line("/resume")
        while True:
            if interactive:
                self.output.write(f"{self._identity.label}> ")
                self.output.flush()
            line = await asyncio.to_thread(source.readline)
            if not line:
                break
            line = line.strip()
            if line in {"/quit", "/exit"}:
                break
            if line:
                await self._handle_line(line)
        self._print("Bye.")

    async def _handle_line(self, line: str) -> None:
        if line == "/as" or line.startswith("/as "):
            await self._switch(line[3:].strip())
            return
        if line == "/outbox":
            await self._show_outbox()
            return
        user_id = self._identity.user_id
        sender = Sender(user_id, self._identity.label, self.language_code)
        keyboard = self._buttons.get(user_id, ())
        buttons = [button for row in keyboard for button in row]
        # A number presses the shown button of that number: two digits only where a message
        # has ten or more (the notification grid), so a typed house number stays text.
        if (
            line.isdigit()
            and len(line) <= len(str(len(buttons)))
            and 1 <= int(line) <= len(buttons)
        ):
            button = buttons[int(line) - 1]
            self._print(f"(pressed: {button.label})")
            event = Event(user_id, sender, EventKind.BUTTON, button_data=button.data)
        elif line == "/resume":  # the terminal's own: not typed into a step
            event = Event(user_id, sender, EventKind.COMMAND, command="resume")
        else:
            event = Event.from_text(user_id, sender, line)
        outcome = await self.desk.handle(event)
        self._render(user_id, outcome)
        await self._deliver()

    async def _deliver(self) -> None:
        if self.worker is None:
            return
        while await self.worker.deliver_due():
            pass

    def _render(self, user_id: int, outcome: Outcome) -> None:
        if outcome.callback_notice:
            self._print(f"({outcome.callback_notice})")
        if outcome.clear_pressed_buttons:
            self._buttons.pop(user_id, None)
        if outcome.delete_message:
            self._print("(your message was removed from the chat)")
        if outcome.edit_pressed is not None:  # the terminal shows the redrawn message anew
            self._show(user_id, outcome.edit_pressed)
        for reply in outcome.replies:
            self._show(user_id, reply)

    def _show(self, user_id: int, reply: Reply) -> None:
        if reply.qr is not None:
            self._print(qr.as_text(reply.qr))
            self._print(f"(QR code of {reply.qr})")
        self._print(reply.text)
        if reply.buttons:
            self._buttons[user_id] = reply.buttons
            numbered = [b for row in reply.buttons for b in row]
            self._print("  ".join(f"[{i}] {b.label}" for i, b in enumerate(numbered, 1)))

    async def _switch(self, wanted: str) -> None:
        identities = await chat_identities(self.store)
        if wanted in {"guest", "user", "me"}:
            self._identity = _Identity(GUEST_USER_ID, "guest")
        elif not wanted:
            self._print("Identities: guest (the end user, user id 1)")
            for identity in identities:
                self._print(
                    f"  {identity.user_id}: {identity.name}, {identity.role.value} at "
                    f"{identity.organization}"
                )
            return
        else:
            found = find_identity(identities, wanted)
            if found is not None:
                self._identity = _Identity(found.user_id, found.name)
            elif wanted.isdigit():
                # Another end user, like a second Telegram user who never wrote before.
                self._identity = _Identity(int(wanted), f"user {wanted}")
            else:
                self._print(f"No identity matches {wanted!r}; type /as to list them.")
                return
        self._print(f"You are now {self._identity.label} (user id {self._identity.user_id}).")

    async def _show_outbox(self) -> None:
        lines = await recent_outbox(self.store)
        if not lines:
            self._print("The outbox is empty.")
        for line in lines:
            self._print(
                f"#{line.id} {line.created_at:%H:%M:%S} {line.channel.value:8} "
                f"{line.recipient:24} {line.status.value} ({line.attempts} tries)"
                + (f" {line.subject}" if line.subject else "")
            )

    def _print(self, text: str) -> None:
        self.output.write(text + "\n")
        self.output.flush()
