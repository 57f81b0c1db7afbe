"""Channel-neutral input and output of a flow. Adapters translate to and from these."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from flows import message_limits


class EventKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    CONTACT = "contact"
    UNSUPPORTED = "unsupported"
    """A sticker, photo, voice note, ...: anything the desk cannot read."""


@dataclass(frozen=True)
class Sender:
    user_id: int
    display_name: str = ""
    language_code: str | None = None


@dataclass(frozen=True)
class Event:
    chat_id: int
    sender: Sender
    kind: EventKind
    text: str = ""
    """The message text; for a command, the arguments after the command word."""
    command: str | None = None
    """Lower-case command word without the slash and without any @botname."""
    button_data: str | None = None
    phone: str | None = None
    """For a shared contact: the phone number Telegram vouches for."""
    is_private_chat: bool = True
    update_id: int | None = None
    """The channel's id for this update, where it has one: redeliveries are ignored."""
    typed: str = ""
    """Exactly what the person typed (a command's too): at a step that asks for a secret,
    everything typed is that secret, even when it starts with "/"."""
    pressed_had_buttons: bool = True
    """For a button press: whether the pressed message still shows buttons (Telegram
    refuses to clear the buttons of a message that has none: "message is not modified")."""

    @classmethod
    def from_text(cls, chat_id: int, sender: Sender, text: str) -> Event:
        """Turn typed text into a TEXT or COMMAND event, the way every channel does."""
        stripped = text.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            word, _, rest = stripped[1:].partition(" ")
            command = word.split("@", 1)[0].lower()
            return cls(
                chat_id,
                sender,
                EventKind.COMMAND,
                text=rest.strip(),
                command=command,
                typed=stripped,
            )
        return cls(chat_id, sender, EventKind.TEXT, text=stripped, typed=stripped)

    def as_typed_text(self) -> Event:
        """This command as plain text: what a secret step reads."""
        return replace(self, kind=EventKind.TEXT, text=self.typed, command=None)


@dataclass(frozen=True)
class Button:
    label: str
    data: str


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: Keyboard = ()
    qr: str | None = None
    """Shown as a QR code before the text (a pairing link, an ``otpauth://`` URI): a photo
    in Telegram, block characters in a terminal."""


@dataclass
class Outcome:
    """What the adapter must do in the chat the event came from, after the store committed."""

    replies: list[Reply] = field(default_factory=list)
    callback_notice: str | None = None
    """Short notice for a button press (Telegram shows it as a toast)."""
    clear_pressed_buttons: bool = False
    """Remove the buttons from the pressed message, so it cannot be pressed twice."""
    edit_pressed: Reply | None = None
    """Show this in place of the pressed message, text and buttons (a grid of toggles
    redrawn); where that message cannot be edited, it comes as a new message instead."""
    delete_message: bool = False
    """Delete the message the person just sent (e.g. one that holds a secret)."""
    steady_timing: bool = False
    """The answer must take as long whether or not an account exists: the desk holds it
    back to the policy's steady answer time (the store's work differs between the paths)."""
    wait_before_answer: float = 0.0
    """Seconds to hold the answer back (after the store committed): verification for an
    account that many chats failed at is slowed down."""

    def kept(self) -> dict[str, Any]:
        """What must be carried out in the chat, as JSON, to repeat it after a crash (the
        waits are not kept: they were held the first time)."""
        return {
            "replies": [
                {
                    "text": r.text,
                    "buttons": [[[b.label, b.data] for b in row] for row in r.buttons],
                    "qr": r.qr,
                }
                for r in self.replies
            ],
            "callback_notice": self.callback_notice,
            "clear_pressed_buttons": self.clear_pressed_buttons,
            "delete_message": self.delete_message,
            "edit_pressed": None
            if self.edit_pressed is None
            else {
                "text": self.edit_pressed.text,
                "buttons": [[[b.label, b.data] for b in row] for row in self.edit_pressed.buttons],
            },
        }

    @classmethod
    def from_kept(cls, kept: dict[str, Any]) -> Outcome:
        edit = kept.get("edit_pressed")
        return cls(
            edit_pressed=None
            if not edit
            else Reply(
                str(edit["text"]),
                tuple(tuple(Button(str(b[0]), str(b[1])) for b in row) for row in edit["buttons"]),
            ),
            replies=[
                Reply(
                    str(r["text"]),
                    tuple(tuple(Button(str(b[0]), str(b[1])) for b in row) for row in r["buttons"]),
                    r.get("qr"),
                )
                for r in kept.get("replies", [])
            ],
            callback_notice=kept.get("callback_notice"),
            clear_pressed_buttons=bool(kept.get("clear_pressed_buttons")),
            delete_message=bool(kept.get("delete_message")),
        )

    def fitted(self) -> Outcome:
        """This outcome within Telegram's limits: a reply over 4,096 characters becomes
        several messages split between lines (its buttons on the last), a toast over 200 is
        cut. The desk applies it to every outcome, so no flow has to."""
        replies: list[Reply] = []
        for reply in self.replies:
            parts = message_limits.split(reply.text)
            if len(parts) == 1:
                replies.append(reply)
                continue
            replies.append(Reply(parts[0], qr=reply.qr))
            replies.extend(Reply(part) for part in parts[1:-1])
            replies.append(Reply(parts[-1], reply.buttons))
        return replace(
            self, replies=replies, callback_notice=message_limits.notice(self.callback_notice)
        )
