"""Typed button actions and their compact encoding as Telegram callback data (max 64 bytes).

Menu buttons only move a person through their own conversation, so their data is plain; so
is a page button of a staff list (Previous/Next), which only shows what the presser may see
anyway: the desk checks their permission again on every press.
A staff decision button (approve, release, confirm an offboarding) acts on a request, so its
data carries a signature under the server's key that binds the action to the chat the card
was sent to: changed data, or a card copied into another chat, no longer verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from flows.keys import KeyedHasher, message


class MenuChoice(StrEnum):
    REGISTER = "register"
    FORGOT_PASSWORD = "password"
    ACTIVATION_CODE = "activation"
    HELP = "help"
    RESEND_CODE = "resend"
    CHANGE_CONTACT = "contact"
    CANCEL = "cancel"
    LANGUAGE_NL = "lang_nl"
    LANGUAGE_EN = "lang_en"
    REQUEST_CODE = "req_code"
    HAVE_CODE = "have_code"
    SKIP = "skip"


@dataclass(frozen=True)
class Menu:
    choice: MenuChoice


class Listing(StrEnum):
    """A staff list that is shown a page at a time."""

    EMPLOYEES = "e"
    PENDING = "p"
    CODES = "c"
    REFUSALS = "r"


MAX_PAGE = 99_999
"""A page number beyond any real list; larger data is malformed."""


@dataclass(frozen=True)
class Page:
    """Show page ``number`` (from 1) of ``listing``."""

    listing: Listing
    number: int


@dataclass(frozen=True)
class Decide:
    """A manager's verdict on registration request ``request_id`` (the row id, not its #N)."""

    request_id: int
    approve: bool


@dataclass(frozen=True)
class Release:
    """Staff's verdict on activation-code request ``request_id`` (the row id)."""

    request_id: int
    release: bool


@dataclass(frozen=True)
class Offboard:
    """A second manager's verdict on pending offboarding request ``request_id`` (the row id)."""

    request_id: int
    confirm: bool


class SecurityChoice(StrEnum):
    """What a ``/security`` button does (two-step verification, issue 13)."""

    BY_SMS = "s"
    BY_APP = "a"
    TURN_OFF = "o"
    NEW_CODES = "n"
    HIDE_CODES = "h"
    """The recovery codes' message is edited to say they were shown (they are written down)."""


@dataclass(frozen=True)
class Security:
    """A ``/security`` button: it acts on account ``owner`` (``Owner.key``), and only from
    the chat its card was sent to while that chat still acts for that account."""

    owner: str
    choice: SecurityChoice


StaffAction = Decide | Release | Offboard | Security
"""The actions whose buttons are signed (each acts on a request or an account)."""

ButtonAction = Menu | Page | StaffAction


@dataclass(frozen=True)
class Signed:
    """A staff button as it was pressed: its action and the signature its data carried
    (empty when it carried none, as data from before buttons were signed)."""

    action: StaffAction
    signature: str


Pressed = Menu | Page | Signed
"""What a press's data decodes to; a :class:`Signed` one still has to be verified."""

ButtonSigner = Callable[[StaffAction], str]
"""Turns a staff action into the callback data of a button for one particular chat."""

SIGNATURE_LENGTH = 16
"""Characters of signature (96 bits): "d:" + an 11-digit id + ":a:" + 16 stays far below 64."""

_SIGNATURE_LABEL = "button"


def encode(action: ButtonAction) -> str:
    """The unsigned data of ``action``; a staff button's data is :func:`signed` instead."""
    if isinstance(action, Menu):
        return f"m:{action.choice.value}"
    if isinstance(action, Page):
        return f"p:{action.listing.value}:{action.number}"
    if isinstance(action, Release):
        return f"c:{action.request_id}:{'r' if action.release else 'x'}"
    if isinstance(action, Offboard):
        return f"o:{action.request_id}:{'y' if action.confirm else 'n'}"
    if isinstance(action, Security):
        return f"t:{action.owner}:{action.choice.value}"
    return f"d:{action.request_id}:{'a' if action.approve else 'r'}"


def _signed_text(action: StaffAction, chat_id: int) -> str:
    return message(encode(action), chat_id)


def signed(hasher: KeyedHasher, action: StaffAction, chat_id: int) -> str:
    """The callback data of ``action``'s button on a card sent to chat ``chat_id``."""
    signature = hasher.sign(_SIGNATURE_LABEL, _signed_text(action, chat_id), SIGNATURE_LENGTH)
    return f"{encode(action)}:{signature}"


def signer(hasher: KeyedHasher, chat_id: int) -> ButtonSigner:
    """Signs staff buttons for the card that goes to ``chat_id``."""
    return lambda action: signed(hasher, action, chat_id)


def verified(hasher: KeyedHasher, pressed: Signed, chat_id: int) -> bool:
    """Whether ``pressed`` came from a card the desk sent to ``chat_id``, unchanged.

    Only a full-length signature counts, so a shortened one cannot be guessed more cheaply.
    """
    if len(pressed.signature) != SIGNATURE_LENGTH:
        return False
    return hasher.signature_ok(
        _SIGNATURE_LABEL, _signed_text(pressed.action, chat_id), pressed.signature
    )


def _security(owner: str, choice: str) -> Security | None:
    if not (2 <= len(owner) <= 13 and owner.isascii() and owner[0].isalpha()):
        return None
    if not owner[1:].isdigit():
        return None
    try:
        return Security(owner, SecurityChoice(choice))
    except ValueError:
        return None


def _staff_action(kind: str, number: str, verdict: str) -> StaffAction | None:
    if kind == "t":
        return _security(number, verdict)
    if not (number.isascii() and number.isdigit() and len(number) < 12):
        return None
    if kind == "d" and verdict in {"a", "r"}:
        return Decide(int(number), verdict == "a")
    if kind == "c" and verdict in {"r", "x"}:
        return Release(int(number), verdict == "r")
    if kind == "o" and verdict in {"y", "n"}:
        return Offboard(int(number), verdict == "y")
    return None


def _page(rest: str) -> Page | None:
    listing, _, number = rest.partition(":")
    if not (number.isascii() and number.isdigit() and len(number) <= len(str(MAX_PAGE))):
        return None
    try:
        page = Page(Listing(listing), int(number))
    except ValueError:
        return None
    return page if 1 <= page.number <= MAX_PAGE else None


def decode(data: str | None) -> Pressed | None:
    """Parse callback data; anything malformed gives ``None``.

    A staff action decodes with the signature it carried (none for data from before buttons
    were signed); the caller verifies it against the chat the press came from.
    """
    if not data:
        return None
    kind, _, rest = data.partition(":")
    if kind == "m":
        try:
            return Menu(MenuChoice(rest))
        except ValueError:
            return None
    if kind == "p":
        return _page(rest)
    number, _, rest = rest.partition(":")
    verdict, _, signature = rest.partition(":")
    action = _staff_action(kind, number, verdict)
    return None if action is None else Signed(action, signature)
