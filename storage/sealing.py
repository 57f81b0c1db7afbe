"""Sealed text at rest: what the store must keep for a while but must not show.

An outbox row that holds a code (``sensitive``: a code mail or SMS) keeps its body sealed
until the worker delivers it: Fernet (AES-128-CBC with HMAC-SHA256, from the
``cryptography`` package) under keys the store is given at composition (``bot.app`` derives
them from the server key), never kept in the store itself. A stolen database file, or its
WAL, shows no code. The same sealing keeps the webhook inbox (``bot.sealing``).

The store only sees the small :class:`Sealer` protocol; :class:`FernetSealer` is the one
implementation. A sealed value is marked (:data:`SEALED_PREFIX`), so a row written in clear
by an earlier version is still read as it is.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED_PREFIX = "sealed:v1:"
"""Begins every sealed value the store keeps (a Fernet token follows)."""


class CannotUnseal(Exception):
    """Sealed under a key this server no longer has, or changed."""


class Sealer(Protocol):
    """Seals text under keys outside the store; opens what it (or an older key) sealed."""

    def seal(self, text: str) -> str: ...

    def unseal(self, token: str) -> str:
        """The text ``token`` was sealed from, or :class:`CannotUnseal`."""
        ...


class FernetSealer:
    """Fernet under the first key; every key (the current one first) opens."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a sealer needs at least one key")
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(key)) for key in keys])

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def unseal(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise CannotUnseal("not sealed under any of this server's keys") from None


def seal_text(sealer: Sealer, text: str) -> str:
    """``text`` as the store keeps it sealed: marked, then the sealer's token."""
    return SEALED_PREFIX + sealer.seal(text)


def is_sealed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(SEALED_PREFIX)


def open_text(sealer: Sealer | None, stored: str) -> str:
    """The clear text of ``stored``: opened when sealed, as it is otherwise (written in clear,
    or already redacted). :class:`CannotUnseal` when sealed and ``sealer`` cannot open it."""
    if not is_sealed(stored):
        return stored
    if sealer is None:
        raise CannotUnseal("sealed, and this store was given no sealer")
    return sealer.unseal(stored[len(SEALED_PREFIX) :])
