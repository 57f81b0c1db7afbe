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
    REQUEST_CODE = "req_code"
    HAVE_CODE = "have_code"
    SKIP = "skip"


@dataclass(frozen=True)
class Menu:
    choice: MenuChoice


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


ButtonAction = Menu | Decide | Release


def encode(action: ButtonAction) -> str:
    if isinstance(action, Menu):
        return f"m:{action.choice.value}"
    if isinstance(action, Release):
        return f"c:{action.request_id}:{'r' if action.release else 'x'}"
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
    number, _, verdict = rest.partition(":")
    if not (number.isdigit() and len(number) < 12):
        return None
    if kind == "d" and verdict in {"a", "r"}:
        return Decide(int(number), verdict == "a")
    if kind == "c" and verdict in {"r", "x"}:
        return Release(int(number), verdict == "r")
    return None
