"""Encryption at rest under the server key, for what must be kept but must not be readable.

The webhook inbox keeps each update until it is handled (see :mod:`bot.webhook`), and an
update may hold a password or code someone typed; the outbox keeps a code's mail or SMS
until it is delivered. Both are kept sealed: Fernet (AES-128-CBC with HMAC-SHA256, see
:mod:`storage.sealing`) under keys derived from the server key
(``KeyedHasher.derived_keys``), one per purpose, never in the store. A stolen database
file, or its WAL, shows no typed text and no code.
"""

from __future__ import annotations

import json
from typing import Any

from flows.keys import KeyedHasher
from storage.sealing import CannotUnseal, FernetSealer

__all__ = ["CannotUnseal", "Sealer", "outbox_sealer"]

_LABEL = "inbox-seal"
_OUTBOX_LABEL = "outbox-seal"


def outbox_sealer(hasher: KeyedHasher) -> FernetSealer:
    """Seals the body of every sensitive outbox row (given to the ``Store`` by ``bot.app``)."""
    return FernetSealer(hasher.derived_keys(_OUTBOX_LABEL))


class Sealer:
    """Seals JSON values; opens what the current or an older server key sealed."""

    def __init__(self, hasher: KeyedHasher) -> None:
        self._text = FernetSealer(hasher.derived_keys(_LABEL))

    def seal(self, value: dict[str, Any]) -> str:
        return self._text.seal(json.dumps(value, ensure_ascii=False))

    def unseal(self, token: str) -> dict[str, Any]:
        try:
            value = json.loads(self._text.unseal(token))
        except ValueError:
            raise CannotUnseal("not sealed under any of this server's keys") from None
        if not isinstance(value, dict):
            raise CannotUnseal("the sealed value is not an update")
        return value
