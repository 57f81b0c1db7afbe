"""Encryption at rest under the server key, for what must be kept but must not be readable.

The webhook inbox keeps each update until it is handled (see :mod:`bot.webhook`), and an
update may hold a password or code someone typed. It is kept sealed: Fernet (AES-128-CBC
with HMAC-SHA256, from the ``cryptography`` package) under a key derived from the server key
(``KeyedHasher.derived_keys``), which is never in the store. A stolen database file, or its
WAL, shows no typed text.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from flows.keys import KeyedHasher

_LABEL = "inbox-seal"


class CannotUnseal(Exception):
    """Sealed under a key this server no longer has, or changed."""


class Sealer:
    """Seals JSON values; opens what the current or an older server key sealed."""

    def __init__(self, hasher: KeyedHasher) -> None:
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(key)) for key in hasher.derived_keys(_LABEL)]
        )

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()

    def unseal(self, token: str) -> dict[str, Any]:
        try:
            value = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError):
            raise CannotUnseal("not sealed under any of this server's keys") from None
        if not isinstance(value, dict):
            raise CannotUnseal("the sealed value is not an update")
        return value
