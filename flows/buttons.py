"""Typed button actions and their compact encoding as Telegram callback data (max 64 bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True)
class Menu:
    choice: MenuChoice


@dataclass(frozen=True)
class Decide:
    """A manager's verdict on registration request ``request_id`` (the row id, not its #N)."""

    request_id: int
    approve: bool


ButtonAction = Menu | Decide


def encode(action: ButtonAction) -> str:
    if isinstance(action, Menu):
        return f"m:{action.choice.value}"
    return f"d:{action.request_id}:{'a' if action.approve else 'r'}"


def decode(data: str | None) -> ButtonAction | None:
    """Parse callback data; anything tampered or from an old version gives ``None``."""
    if not data:
        return None
    kind, _, rest = data.partition(":")
    if kind == "m":
        try:
            return Menu(MenuChoice(rest))
        except ValueError:
            return None
    if kind == "d":
        number, _, verdict = rest.partition(":")
        if number.isdigit() and verdict in {"a", "r"} and len(number) < 12:
            return Decide(int(number), verdict == "a")
    return None
